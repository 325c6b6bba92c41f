// Safetensors reader: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}),
// then the raw tensor data; offsets are relative to the first byte after the header.
//
// Nothing in a header is trusted: every offset, size, dtype and shape is checked
// against the file before any data is read, and each problem is reported as
// dsm::Error naming the file and the tensor. Data is read with pread, tensor by
// tensor, so a converter touches (and keeps resident) only what it converts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsm::convert {

enum class StDType { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL };

std::string_view st_dtype_name(StDType t);
std::optional<StDType> st_dtype_from_name(std::string_view name);
size_t st_dtype_size(StDType t);

struct StTensor {
    std::string name;
    StDType dtype = StDType::F32;
    std::vector<int64_t> shape;   // PyTorch order: shape[0] is the slowest dimension
    uint64_t begin = 0, end = 0;  // byte range relative to the data section
    int64_t n_elements() const;
    uint64_t bytes() const { return end - begin; }
};

// Largest header accepted (the Rust safetensors crate uses the same 100 MB limit).
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

struct StHeader {
    std::vector<StTensor> tensors;  // in header order
    std::map<std::string, std::string> metadata;
    uint64_t data_offset = 0;  // 8 + N
};

// Validates the header held in bytes[0 .. size) (the 8-byte length and the JSON;
// more bytes after them are ignored) of a file of file_size bytes. `file_name`
// is used in messages.
StHeader parse_safetensors_header(const uint8_t* bytes, size_t size, uint64_t file_size, const std::string& file_name);

class SafetensorsFile {
public:
    // Opens and validates; throws dsm::Error naming the file.
    static std::unique_ptr<SafetensorsFile> open(const std::string& path);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::string& path() const { return path_; }
    const std::vector<StTensor>& tensors() const { return header_.tensors; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    const StTensor* find(std::string_view name) const;

    // Reads `size` bytes starting `offset` bytes into tensor t's data.
    void read(const StTensor& t, uint64_t offset, void* out, size_t size) const;
    // The tensor's whole data.
    std::vector<uint8_t> read_all(const StTensor& t) const;

private:
    SafetensorsFile() = default;
    std::string path_;
    int fd_ = -1;
    StHeader header_;
    std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace dsm::convert
