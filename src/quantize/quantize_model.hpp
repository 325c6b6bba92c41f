// `dsm quantize`: rewrites a GGUF model with the tensor types a recipe chooses.
// Metadata is copied (general.file_type updated, general.quantization_version
// added), 1-D tensors and the MoE router stay as they are, and every matrix is
// quantized row by row on a thread pool, optionally weighted by an importance
// matrix. Tensors are written in llama-quantize's order, so a file quantized
// without importance is byte-identical to llama-quantize's.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "quantize/imatrix.hpp"
#include "quantize/recipe.hpp"

namespace dsm::quantize {

// n floats -> one row of type t: quantize_row, except Q8_0, which uses llama-quantize's
// weight rounding (quantize_q8_0_reference) rather than the activation rounding.
void encode_row(DType t, const float* x, void* out, int64_t n, const float* importance);

struct QuantizeOptions {
    std::string recipe = "q8_0";
    const Imatrix* imatrix = nullptr;
    std::string imatrix_path;  // recorded in the metadata when imatrix is set
    // Importance given to quantize_row: (mean x²)^power. llama-quantize uses 1; 0.5
    // (the default) measured better on the KJV models (docs/QUANTIZATION.md).
    float importance_power = 0.5f;
    int n_threads = 0;  // 0: all cores
    std::vector<TypeOverride> overrides;
    bool allow_requantize = false;  // accept already-quantized input tensors
    std::function<void(size_t done, size_t total, uint64_t bytes)> progress;
    std::function<void(const std::string&)> log;
};

struct QuantizeStats {
    size_t n_tensors = 0;
    uint64_t bytes_in = 0, bytes_out = 0;  // file sizes
    std::map<std::string, int> tensors_by_type;
    size_t with_importance = 0;  // tensors quantized with importance data
};

QuantizeStats quantize_gguf(const std::string& in_path, const std::string& out_path, const QuantizeOptions& options);

}  // namespace dsm::quantize
