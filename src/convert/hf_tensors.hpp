// The weights of a Hugging Face checkpoint (one or several safetensors files) and
// their mapping onto GGUF tensors: renames, llama.cpp's q/k rotary permutation,
// expert stacking (collected across shards), FP8 block scales, MTP layers skipped.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convert/hf_config.hpp"
#include "convert/safetensors.hpp"

namespace dsm::convert {

// Every safetensors file of a checkpoint folder: model.safetensors, or the shards
// model.safetensors.index.json names (the index is checked against the files).
class HfWeights {
public:
    static HfWeights open(const std::string& dir);

    struct Ref {
        const SafetensorsFile* file;
        const StTensor* tensor;
    };
    const std::map<std::string, Ref>& tensors() const { return by_name_; }
    const Ref* find(const std::string& name) const;

private:
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, Ref> by_name_;
};

// One source matrix (or vector) of a GGUF tensor.
struct SourcePart {
    HfWeights::Ref weight;
    std::optional<HfWeights::Ref> scale;  // FP8 weight_scale_inv, if any
};

struct PlannedTensor {
    std::string name;               // GGUF name
    std::vector<int64_t> ne;        // ggml order
    std::vector<SourcePart> parts;  // one, or one per expert (stacked along ne[2])
    int64_t permute_heads = 0;      // llama.cpp q/k row permutation over this many heads (0: none)

    int64_t cols() const { return ne[0]; }
    int64_t rows_per_part() const { return ne.size() >= 2 ? ne[1] : 1; }
    // What the permutation reorders: the rows of a matrix, the elements of a bias.
    int64_t permuted_length() const { return ne.size() >= 2 ? ne[1] : ne[0]; }
};

// Maps every checkpoint tensor onto the GGUF tensors of the architecture, in GGUF
// order (token_embd, blocks, output_norm, output). Unknown tensors, missing
// tensors, inconsistent shapes and bad FP8 scales throw dsm::Error naming the
// HF tensor and its file.
std::vector<PlannedTensor> plan_tensors(const HfConfig& config, const HfWeights& weights);

// Row length of a checkpoint tensor (all of it, for a vector).
int64_t part_cols(const StTensor& t);

// Decodes rows [r0, r0 + n) of one part into n * cols floats, converting
// BF16/F16/F64/F8 and applying FP8 block scales. `raw` points at row r0's bytes;
// `scales` is the part's decoded weight_scale_inv (empty if none).
void decode_rows(const HfConfig& config, const SourcePart& part, const uint8_t* raw, const std::vector<float>& scales,
                 int64_t r0, int64_t n, float* out);

// The source row of GGUF row r under llama.cpp's q/k permutation over n_head heads.
int64_t permuted_row(int64_t r, int64_t rows, int64_t n_head);

}  // namespace dsm::convert
