// Tensor element types, numbered as in the GGUF file format (ggml_type ids) so a
// type id read from a file maps directly onto DType.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dsm {

enum class DType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
};

struct DTypeInfo {
    std::string_view name;   // as llama.cpp prints it: "f32", "q4_K", ...
    int64_t block_size;      // elements per block (1 for plain types)
    size_t block_bytes;      // bytes per block
    bool quantized;          // block-quantized (needs dequantize to read)
};

// Information about a type id from a file; nullopt for ids this engine does not know.
std::optional<DTypeInfo> dtype_info(uint32_t id);
// Same for a known DType (never fails).
const DTypeInfo& info(DType t);
std::string_view dtype_name(DType t);
// Parses a type name case-insensitively ("q4_k", "Q8_0", "f16").
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes used by a row of n elements; n must be a multiple of the block size.
inline size_t row_bytes(DType t, int64_t n) {
    const DTypeInfo& i = info(t);
    return size_t(n / i.block_size) * i.block_bytes;
}

}  // namespace dsm
