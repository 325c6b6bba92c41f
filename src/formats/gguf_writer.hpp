// GGUF writer (version 3). Metadata and the tensor table are declared first; tensor
// data is produced on demand by callbacks while writing, so a converter streams one
// tensor at a time and never holds the whole model.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "formats/gguf.hpp"

namespace dsm::gguf {

class Writer {
public:
    // Fills `out` (exactly the tensor's byte size) with the tensor's data.
    using DataFn = std::function<void(uint8_t* out, size_t bytes)>;

    void set_u32(const std::string& key, uint32_t v);
    void set_i32(const std::string& key, int32_t v);
    void set_u64(const std::string& key, uint64_t v);
    void set_f32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, const std::string& v);
    void set_strings(const std::string& key, const std::vector<std::string>& v);
    void set_f32s(const std::string& key, const std::vector<float>& v);
    void set_i32s(const std::string& key, const std::vector<int32_t>& v);
    // Copies a value read from another file.
    void set_value(const std::string& key, const Value& v);
    void remove(const std::string& key);

    // ne in ggml order (ne[0] = row length).
    void add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, DataFn data);
    void add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, const void* bytes);

    // Writes the file; calls `progress(i, n, bytes_done)` after each tensor if set.
    void write(const std::string& path,
               const std::function<void(size_t, size_t, uint64_t)>& progress = nullptr) const;

    size_t tensor_count() const { return tensors_.size(); }
    uint32_t alignment = 32;

private:
    struct PendingTensor {
        std::string name;
        DType type;
        std::vector<int64_t> ne;
        size_t bytes;
        DataFn data;
    };
    void put(const std::string& key, Value v);
    std::vector<std::pair<std::string, Value>> kv_;
    std::vector<PendingTensor> tensors_;
};

}  // namespace dsm::gguf
