// GGUF reader: memory-maps a file, validates its header, metadata and tensor table,
// and gives zero-copy views of tensor data. Every malformed input is reported as
// dsm::Error naming the file, the key or tensor, and the byte offset.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.hpp"
#include "core/mapped_file.hpp"

namespace dsm::gguf {

enum class ValueType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view value_type_name(ValueType t);

// One metadata value. Scalars are widened (ints to int64/uint64, floats to double);
// arrays keep their element type and hold their elements (nested arrays allowed).
struct Value {
    ValueType type = ValueType::U8;
    ValueType elem_type = ValueType::U8;  // for ARRAY
    union { int64_t i; uint64_t u; double f; bool b; } num{};
    std::string str;
    std::vector<Value> arr;

    bool is_int() const;       // any integer type
    bool is_float() const;     // F32 / F64
    int64_t as_int() const;    // integers (and bool) only
    double as_float() const;   // integers and floats
};

struct TensorInfo {
    std::string name;
    DType type = DType::F32;
    std::vector<int64_t> ne;   // ggml order: ne[0] is the contiguous row length
    uint64_t offset = 0;       // relative to the data section
    const uint8_t* data = nullptr;  // into the mapping
    size_t bytes = 0;
    int64_t n_elements() const;
    int64_t rows() const { return ne.empty() ? 1 : n_elements() / ne[0]; }
};

class File {
public:
    // Opens and validates; throws dsm::Error on any problem.
    static std::unique_ptr<File> open(const std::string& path);
    // Parses from memory (used by the fuzzer); `name` is used in messages.
    static std::unique_ptr<File> parse(std::shared_ptr<const MappedFile> mem, const std::string& name);

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    uint64_t file_size() const { return mem_->size(); }

    // Metadata in file order.
    const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
    const Value* find(std::string_view key) const;

    // Typed getters. The required ones throw "missing key" / "wrong type" errors
    // naming the key; the optional ones return nullopt if the key is absent but still
    // throw if it is present with the wrong type.
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::string> get_string(std::string_view key) const;
    int64_t require_int(std::string_view key) const;
    double require_float(std::string_view key) const;
    std::string require_string(std::string_view key) const;
    // Array getters: nullopt if absent; throw if present with another element type.
    std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
    std::optional<std::vector<float>> get_float_array(std::string_view key) const;
    std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;

    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;

    const MappedFile& mapping() const { return *mem_; }

private:
    std::string path_;
    std::shared_ptr<const MappedFile> mem_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, Value>> kv_;
    std::map<std::string, size_t, std::less<>> kv_index_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace dsm::gguf
