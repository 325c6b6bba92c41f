// `dsm convert`: a Hugging Face checkpoint folder (config.json,
// generation_config.json, tokenizer.json + tokenizer_config.json, safetensors in
// F32/F16/BF16/FP8, single or sharded) to a GGUF file that llama.cpp and this
// engine load. Tensors are streamed one at a time (peak memory is about the
// largest tensor, not the model), optionally quantized with a recipe on the way.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace dsm::convert {

struct ConvertOptions {
    std::string type = "f32";  // f32, f16, bf16, q8_0, q4_0, q4_k_m, ... (quantize recipes)
    int n_threads = 0;         // 0: all cores
    std::string name;          // general.name (default: the folder's name)
    // After each tensor: (tensors done, tensors total, bytes done, bytes total).
    std::function<void(size_t, size_t, uint64_t, uint64_t)> progress;
    std::function<void(const std::string&)> log;  // warnings
};

struct ConvertResult {
    std::string architecture;  // GGUF architecture
    size_t n_tensors = 0;
    uint64_t file_bytes = 0;
    std::map<std::string, int> tensors_by_type;
};

// Throws dsm::Error naming the file and tensor on any problem with the checkpoint.
ConvertResult convert_hf_to_gguf(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& options);

}  // namespace dsm::convert
