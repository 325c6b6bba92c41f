#include "core/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace dsm {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        throw Error(path + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path + ": not a regular file");
    }
    std::shared_ptr<MappedFile> m(new MappedFile());
    m->size_ = size_t(st.st_size);
    if (m->size_ > 0) {
        void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            throw Error(path + ": mmap failed: " + std::strerror(e));
        }
        m->data_ = static_cast<const uint8_t*>(p);
        m->mapped_ = true;
    }
    ::close(fd);  // the mapping keeps the file referenced
    return m;
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(const void* data, size_t size) {
    std::shared_ptr<MappedFile> m(new MappedFile());
    m->owned_.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + size);
    m->data_ = m->owned_.data();
    m->size_ = size;
    return m;
}

MappedFile::~MappedFile() {
    if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::prefetch() const {
    if (mapped_) ::madvise(const_cast<uint8_t*>(data_), size_, MADV_WILLNEED);
}

void MappedFile::release(const void* p, size_t n) const {
    if (!mapped_ || n == 0) return;
    const auto page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (uintptr_t(p) + page - 1) & ~(page - 1), end = (uintptr_t(p) + n) & ~(page - 1);
    if (begin < end) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

bool MappedFile::lock() const {
    return mapped_ && ::mlock(data_, size_) == 0;
}

}  // namespace dsm
