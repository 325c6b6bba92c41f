#include "core/dtype.hpp"

#include <array>
#include <cctype>
#include <string>

#include "quant/blocks.hpp"

namespace dsm {
namespace {

struct Entry {
    DType type;
    DTypeInfo info;
};

constexpr std::array kTypes = {
    Entry{DType::F32, {"f32", 1, 4, false}},
    Entry{DType::F16, {"f16", 1, 2, false}},
    Entry{DType::Q4_0, {"q4_0", kQK4_0, sizeof(BlockQ4_0), true}},
    Entry{DType::Q4_1, {"q4_1", kQK4_1, sizeof(BlockQ4_1), true}},
    Entry{DType::Q5_0, {"q5_0", kQK5_0, sizeof(BlockQ5_0), true}},
    Entry{DType::Q5_1, {"q5_1", kQK5_1, sizeof(BlockQ5_1), true}},
    Entry{DType::Q8_0, {"q8_0", kQK8_0, sizeof(BlockQ8_0), true}},
    Entry{DType::Q8_1, {"q8_1", kQK8_1, sizeof(BlockQ8_1), true}},
    Entry{DType::Q2_K, {"q2_K", kQK_K, sizeof(BlockQ2_K), true}},
    Entry{DType::Q3_K, {"q3_K", kQK_K, sizeof(BlockQ3_K), true}},
    Entry{DType::Q4_K, {"q4_K", kQK_K, sizeof(BlockQ4_K), true}},
    Entry{DType::Q5_K, {"q5_K", kQK_K, sizeof(BlockQ5_K), true}},
    Entry{DType::Q6_K, {"q6_K", kQK_K, sizeof(BlockQ6_K), true}},
    Entry{DType::Q8_K, {"q8_K", kQK_K, sizeof(BlockQ8_K), true}},
    Entry{DType::I8, {"i8", 1, 1, false}},
    Entry{DType::I16, {"i16", 1, 2, false}},
    Entry{DType::I32, {"i32", 1, 4, false}},
    Entry{DType::I64, {"i64", 1, 8, false}},
    Entry{DType::F64, {"f64", 1, 8, false}},
    Entry{DType::BF16, {"bf16", 1, 2, false}},
};

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t id) {
    for (const Entry& e : kTypes)
        if (uint32_t(e.type) == id) return e.info;
    return std::nullopt;
}

const DTypeInfo& info(DType t) {
    for (const Entry& e : kTypes)
        if (e.type == t) return e.info;
    return kTypes[0].info;  // unreachable for valid enum values
}

std::string_view dtype_name(DType t) { return info(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
    std::string lower(name);
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    for (const Entry& e : kTypes) {
        std::string n(e.info.name);
        for (char& c : n) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (n == lower) return e.type;
    }
    return std::nullopt;
}

}  // namespace dsm
