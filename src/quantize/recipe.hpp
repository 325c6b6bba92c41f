// Quantization recipes: which type each tensor of a model gets.
//
// The llama.cpp recipes (q4_0, q4_k_m, ...) follow llama-quantize's per-tensor
// choices (llama.cpp c392e509, llama-quant.cpp) so that quantizing the same F32
// file gives the same mixture, and the same bytes: norms, biases, other 1-D
// tensors and the MoE router (ffn_gate_inp) are never quantized; output.weight
// gets Q6_K (or Q8_0); attn_v / ffn_down get more bits in some layers; 8-expert
// models bump attn_k/attn_v to Q8_0 and attn_output to Q5_K; a type whose block
// does not divide the row length falls back (Q4_K -> Q5_0, Q6_K -> Q8_0, ...).
//
// int4-int8 is this project's own recipe (docs/QUANTIZATION.md has the
// measurements behind it): Q4_0 for the bulk of the matrices and Q8_0 for the
// tensors whose error costs the most accuracy per byte.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.hpp"

namespace dsm::quantize {

struct Recipe {
    std::string_view name;  // "q4_k_m"
    uint32_t file_type;     // general.file_type (llama_ftype)
    DType base;             // the type most matrices get
    std::string_view help;
};

// Every recipe, in display order.
const std::vector<Recipe>& recipes();
// Case-insensitive lookup ("Q4_K_M", "q4_k_m", "int4-int8"); nullopt if unknown.
std::optional<Recipe> recipe_from_name(std::string_view name);

// What the recipe logic needs to know about a model.
struct ModelDesc {
    std::string arch;  // general.architecture
    int64_t n_layer = 0;
    int64_t n_head = 0, n_head_kv = 0;
    int64_t n_expert = 0;  // routed experts (0 for dense models)
};

struct TensorDesc {
    std::string name;
    std::vector<int64_t> ne;  // ggml order
};

// A user override: tensors whose name matches `pattern` (ECMAScript regex,
// searched anywhere in the name) get `type` (llama-quantize's --tensor-type).
struct TypeOverride {
    std::string pattern;
    DType type;
};

// Is the tensor a weight matrix that recipes may change? (2-D or 3-D, name ends in
// "weight", not a norm, not the MoE router.)
bool is_quantizable(const TensorDesc& t);

// The type of every tensor, in the given order (the order matters: llama.cpp counts
// attn_v tensors as it meets them). nullopt: not quantizable, keep as it is.
// Throws dsm::Error if a tensor's row length fits no type (not even F16).
std::vector<std::optional<DType>> choose_types(const Recipe& recipe, const ModelDesc& model,
                                               const std::vector<TensorDesc>& tensors, bool has_imatrix,
                                               const std::vector<TypeOverride>& overrides = {});

// llama.cpp's tensor order (its loader's weight map): tensors outside blocks first,
// then blk.0, blk.1, ... numerically, each group sorted by name. Returns indices.
std::vector<size_t> llama_tensor_order(const std::vector<std::string>& names);

}  // namespace dsm::quantize
