#include "convert/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace dsm::convert {
namespace {

using nlohmann::json;

struct DTypeEntry {
    StDType type;
    std::string_view name;
    size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {StDType::F64, "F64", 8},   {StDType::F32, "F32", 4},         {StDType::F16, "F16", 2},
    {StDType::BF16, "BF16", 2}, {StDType::F8_E4M3, "F8_E4M3", 1}, {StDType::F8_E5M2, "F8_E5M2", 1},
    {StDType::I64, "I64", 8},   {StDType::I32, "I32", 4},         {StDType::I16, "I16", 2},
    {StDType::I8, "I8", 1},     {StDType::U8, "U8", 1},           {StDType::BOOL, "BOOL", 1},
};

[[noreturn]] void fail(const std::string& file, const std::string& what) { throw Error(file + ": " + what); }

[[noreturn]] void fail_tensor(const std::string& file, const std::string& name, const std::string& what) {
    throw Error(file + ": tensor '" + name + "': " + what);
}

// One header entry, checked for types, ranges and arithmetic overflow.
StTensor parse_entry(const std::string& file, const std::string& name, const json& v) {
    if (!v.is_object()) fail_tensor(file, name, "header entry is not a JSON object");
    StTensor t;
    t.name = name;

    const auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) fail_tensor(file, name, "missing or non-string \"dtype\"");
    const auto parsed = st_dtype_from_name(dt->get_ref<const std::string&>());
    if (!parsed) fail_tensor(file, name, "unknown dtype '" + dt->get<std::string>() + "'");
    t.dtype = *parsed;

    const auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) fail_tensor(file, name, "missing or non-array \"shape\"");
    if (sh->size() > 8) fail_tensor(file, name, "shape has " + std::to_string(sh->size()) + " dimensions (at most 8)");
    uint64_t count = 1;
    for (const json& d : *sh) {
        if (!d.is_number_unsigned())
            fail_tensor(file, name, "shape " + sh->dump() + " has a non-integer or negative dimension");
        const uint64_t n = d.get<uint64_t>();
        if (n > (1ull << 62) || __builtin_mul_overflow(count, n, &count) || count > (1ull << 62))
            fail_tensor(file, name, "shape " + sh->dump() + " is too large");
        t.shape.push_back(int64_t(n));
    }

    const auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
        fail_tensor(file, name, "\"data_offsets\" must be two non-negative integers [begin, end]");
    t.begin = (*off)[0].get<uint64_t>();
    t.end = (*off)[1].get<uint64_t>();
    if (t.end < t.begin)
        fail_tensor(file, name,
                    "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] end before begin");

    uint64_t want = 0;
    if (__builtin_mul_overflow(count, uint64_t(st_dtype_size(t.dtype)), &want))
        fail_tensor(file, name, "shape " + sh->dump() + " is too large");
    if (want != t.bytes())
        fail_tensor(file, name,
                    "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] hold " +
                        std::to_string(t.bytes()) + " bytes, but dtype " + std::string(st_dtype_name(t.dtype)) +
                        " x shape " + sh->dump() + " needs " + std::to_string(want));
    return t;
}

}  // namespace

std::string_view st_dtype_name(StDType t) {
    for (const auto& e : kDTypes)
        if (e.type == t) return e.name;
    return "?";
}

std::optional<StDType> st_dtype_from_name(std::string_view name) {
    for (const auto& e : kDTypes)
        if (e.name == name) return e.type;
    return std::nullopt;
}

size_t st_dtype_size(StDType t) {
    for (const auto& e : kDTypes)
        if (e.type == t) return e.size;
    return 1;
}

int64_t StTensor::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

StHeader parse_safetensors_header(const uint8_t* bytes, size_t size, uint64_t file_size, const std::string& file) {
    if (size < 8 || file_size < 8) fail(file, "not a safetensors file: shorter than the 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
    if (n > kMaxSafetensorsHeader)
        fail(file, "header length " + std::to_string(n) + " exceeds the " + std::to_string(kMaxSafetensorsHeader) +
                       "-byte limit (not a safetensors file, or corrupt)");
    if (n > file_size - 8)
        fail(file, "header length " + std::to_string(n) + " runs past the end of the " + std::to_string(file_size) +
                       "-byte file (truncated or corrupt)");
    if (n > size - 8) fail(file, "header length " + std::to_string(n) + " exceeds the bytes given");
    if (n < 2 || bytes[8] != '{') fail(file, "header is not a JSON object (must start with '{')");

    json doc;
    try {
        doc = json::parse(bytes + 8, bytes + 8 + n);
    } catch (const json::exception& e) {
        fail(file, std::string("header is not valid JSON: ") + e.what());
    }
    if (!doc.is_object()) fail(file, "header is not a JSON object");

    StHeader h;
    h.data_offset = 8 + n;
    const uint64_t data_size = file_size - h.data_offset;
    for (const auto& [key, value] : doc.items()) {
        if (key == "__metadata__") {
            if (!value.is_object()) fail(file, "\"__metadata__\" is not a JSON object");
            for (const auto& [mk, mv] : value.items()) {
                if (!mv.is_string()) fail(file, "\"__metadata__\" value of '" + mk + "' is not a string");
                h.metadata[mk] = mv.get<std::string>();
            }
            continue;
        }
        StTensor t = parse_entry(file, key, value);
        if (t.end > data_size)
            fail_tensor(file, key,
                        "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                            "] lie outside the file's " + std::to_string(data_size) + " data bytes");
        h.tensors.push_back(std::move(t));
    }

    // No two tensors may share bytes (gaps between them are tolerated).
    std::vector<const StTensor*> by_offset;
    for (const auto& t : h.tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const StTensor* a, const StTensor* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        const StTensor& a = *by_offset[i - 1];
        const StTensor& b = *by_offset[i];
        if (b.begin < a.end)
            fail_tensor(file, b.name,
                        "data_offsets [" + std::to_string(b.begin) + ", " + std::to_string(b.end) +
                            "] overlap tensor '" + a.name + "' [" + std::to_string(a.begin) + ", " +
                            std::to_string(a.end) + "]");
    }
    return h;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
    f->path_ = path;
    f->fd_ = fd;
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw Error(path + ": cannot stat: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
    const uint64_t file_size = uint64_t(st.st_size);

    uint8_t len_bytes[8] = {};
    const size_t got = file_size >= 8 ? 8 : size_t(file_size);
    if (::pread(fd, len_bytes, got, 0) != ssize_t(got)) throw Error(path + ": read failed: " + std::strerror(errno));
    // Validates the length before allocating for the header.
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
    std::vector<uint8_t> head(8);
    std::memcpy(head.data(), len_bytes, 8);
    if (got == 8 && n <= kMaxSafetensorsHeader && n <= file_size - 8) {
        head.resize(size_t(8 + n));
        if (::pread(fd, head.data() + 8, size_t(n), 8) != ssize_t(n))
            throw Error(path + ": read failed: " + std::strerror(errno));
    }
    f->header_ = parse_safetensors_header(head.data(), got == 8 ? head.size() : got, file_size, path);
    for (size_t i = 0; i < f->header_.tensors.size(); ++i) f->index_[f->header_.tensors[i].name] = i;
    return f;
}

SafetensorsFile::~SafetensorsFile() {
    if (fd_ >= 0) ::close(fd_);
}

const StTensor* SafetensorsFile::find(std::string_view name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

void SafetensorsFile::read(const StTensor& t, uint64_t offset, void* out, size_t size) const {
    if (offset > t.bytes() || size > t.bytes() - offset)
        throw Error(path_ + ": tensor '" + t.name + "': read of " + std::to_string(size) + " bytes at " +
                    std::to_string(offset) + " is outside its " + std::to_string(t.bytes()) + " bytes");
    auto* p = static_cast<uint8_t*>(out);
    uint64_t pos = header_.data_offset + t.begin + offset;
    while (size > 0) {
        const ssize_t r = ::pread(fd_, p, size, off_t(pos));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            throw Error(path_ + ": tensor '" + t.name +
                        "': read failed: " + (r < 0 ? std::strerror(errno) : "unexpected end of file"));
        p += r;
        pos += uint64_t(r);
        size -= size_t(r);
    }
}

std::vector<uint8_t> SafetensorsFile::read_all(const StTensor& t) const {
    std::vector<uint8_t> out(size_t(t.bytes()));
    read(t, 0, out.data(), out.size());
    return out;
}

}  // namespace dsm::convert
