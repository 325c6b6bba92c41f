// Read-only memory mapping of a whole file (or an owned in-memory buffer, for
// tests and the fuzzer), so model weights are used in place without copies.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dsm {

class MappedFile {
public:
    // Maps `path` read-only; throws dsm::Error naming the file if it cannot.
    static std::shared_ptr<MappedFile> open(const std::string& path);
    // Wraps a copy of a buffer.
    static std::shared_ptr<MappedFile> from_bytes(const void* data, size_t size);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    // Asks the kernel to read the mapping ahead (MADV_WILLNEED); a hint only.
    void prefetch() const;
    // Locks the pages in memory (mlock); returns false if the OS refuses.
    bool lock() const;
    // Drops this process's pages of [p, p + n) (MADV_DONTNEED): they leave its resident
    // set and are read again from the page cache or the file if touched later.
    void release(const void* p, size_t n) const;

private:
    MappedFile() = default;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    bool mapped_ = false;
    std::vector<uint8_t> owned_;
};

}  // namespace dsm
