#include "formats/gguf.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace dsm::gguf {
namespace {

constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;
constexpr uint64_t kMaxKeyLength = 65535;

size_t scalar_size(ValueType t) {
    switch (t) {
        case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
        case ValueType::U16: case ValueType::I16: return 2;
        case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
        case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
        default: return 0;
    }
}

// Sequential little-endian reader over the mapping that reports where it failed.
class Cursor {
public:
    Cursor(const uint8_t* data, size_t size, const std::string& name) : p_(data), size_(size), name_(name) {}

    size_t pos() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }

    [[noreturn]] void fail(const std::string& what, size_t at) const {
        throw Error(name_ + ": " + what + " (at byte offset " + std::to_string(at) + ")");
    }
    [[noreturn]] void fail(const std::string& what) const { fail(what, pos_); }

    template <typename T>
    T read(const char* what) {
        if (remaining() < sizeof(T)) fail(std::string("file truncated while reading ") + what);
        T v;
        std::memcpy(&v, p_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::string read_string(const char* what) {
        const size_t at = pos_;
        const uint64_t len = read<uint64_t>(what);
        if (len > remaining())
            fail(std::string(what) + " length " + std::to_string(len) + " runs past the end of the file", at);
        std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
        pos_ += size_t(len);
        return s;
    }

private:
    const uint8_t* p_;
    size_t size_;
    size_t pos_ = 0;
    const std::string& name_;
};

bool valid_value_type(uint32_t t) { return t <= uint32_t(ValueType::F64); }

Value read_value(Cursor& c, ValueType type, const std::string& key, int depth) {
    Value v;
    v.type = type;
    switch (type) {
        case ValueType::U8: v.num.u = c.read<uint8_t>("a u8 value"); break;
        case ValueType::I8: v.num.i = c.read<int8_t>("an i8 value"); break;
        case ValueType::U16: v.num.u = c.read<uint16_t>("a u16 value"); break;
        case ValueType::I16: v.num.i = c.read<int16_t>("an i16 value"); break;
        case ValueType::U32: v.num.u = c.read<uint32_t>("a u32 value"); break;
        case ValueType::I32: v.num.i = c.read<int32_t>("an i32 value"); break;
        case ValueType::U64: v.num.u = c.read<uint64_t>("a u64 value"); break;
        case ValueType::I64: v.num.i = c.read<int64_t>("an i64 value"); break;
        case ValueType::F32: v.num.f = c.read<float>("an f32 value"); break;
        case ValueType::F64: v.num.f = c.read<double>("an f64 value"); break;
        case ValueType::BOOL: {
            const size_t at = c.pos();
            const uint8_t b = c.read<uint8_t>("a bool value");
            if (b > 1) c.fail("key '" + key + "': bool value " + std::to_string(b) + " is not 0 or 1", at);
            v.num.b = b != 0;
            break;
        }
        case ValueType::STRING: v.str = c.read_string("a string value"); break;
        case ValueType::ARRAY: {
            if (depth >= kMaxArrayDepth) c.fail("key '" + key + "': arrays nested too deeply");
            const size_t at = c.pos();
            const uint32_t et = c.read<uint32_t>("an array element type");
            if (!valid_value_type(et))
                c.fail("key '" + key + "': unknown array element type " + std::to_string(et), at);
            v.elem_type = ValueType(et);
            const uint64_t n = c.read<uint64_t>("an array length");
            // Every element takes at least one byte (strings and arrays at least 8), so a
            // count larger than the rest of the file is a lie; refuse before allocating.
            const size_t min_elem = scalar_size(v.elem_type) ? scalar_size(v.elem_type) : 8;
            if (n > c.remaining() / min_elem)
                c.fail("key '" + key + "': array of " + std::to_string(n) + " elements runs past the end of the file", at);
            v.arr.reserve(size_t(std::min<uint64_t>(n, 1u << 16)));
            for (uint64_t i = 0; i < n; ++i) v.arr.push_back(read_value(c, v.elem_type, key, depth + 1));
            break;
        }
    }
    return v;
}

[[noreturn]] void wrong_type(const std::string& path, std::string_view key, const Value& v, const char* want) {
    throw Error(path + ": metadata key '" + std::string(key) + "' has type " +
                std::string(value_type_name(v.type)) + ", expected " + want);
}

}  // namespace

std::string_view value_type_name(ValueType t) {
    switch (t) {
        case ValueType::U8: return "u8";
        case ValueType::I8: return "i8";
        case ValueType::U16: return "u16";
        case ValueType::I16: return "i16";
        case ValueType::U32: return "u32";
        case ValueType::I32: return "i32";
        case ValueType::F32: return "f32";
        case ValueType::BOOL: return "bool";
        case ValueType::STRING: return "string";
        case ValueType::ARRAY: return "array";
        case ValueType::U64: return "u64";
        case ValueType::I64: return "i64";
        case ValueType::F64: return "f64";
    }
    return "?";
}

bool Value::is_int() const {
    switch (type) {
        case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16:
        case ValueType::U32: case ValueType::I32: case ValueType::U64: case ValueType::I64: return true;
        default: return false;
    }
}

bool Value::is_float() const { return type == ValueType::F32 || type == ValueType::F64; }

int64_t Value::as_int() const {
    switch (type) {
        case ValueType::U8: case ValueType::U16: case ValueType::U32: case ValueType::U64:
            return num.u > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                          : int64_t(num.u);
        case ValueType::BOOL: return num.b ? 1 : 0;
        default: return num.i;
    }
}

double Value::as_float() const { return is_float() ? num.f : double(as_int()); }

int64_t TensorInfo::n_elements() const {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    return n;
}

std::unique_ptr<File> File::open(const std::string& path) {
    return parse(MappedFile::open(path), path);
}

std::unique_ptr<File> File::parse(std::shared_ptr<const MappedFile> mem, const std::string& name) {
    auto f = std::unique_ptr<File>(new File());
    f->path_ = name;
    f->mem_ = std::move(mem);
    Cursor c(f->mem_->data(), f->mem_->size(), f->path_);

    const size_t magic_at = c.pos();
    const uint32_t magic = c.read<uint32_t>("the magic number");
    if (std::memcmp(&magic, "GGUF", 4) != 0) c.fail("not a GGUF file (bad magic)", magic_at);
    const size_t version_at = c.pos();
    f->version_ = c.read<uint32_t>("the version");
    if (f->version_ != 2 && f->version_ != 3)
        c.fail("unsupported GGUF version " + std::to_string(f->version_) + " (supported: 2, 3)", version_at);
    const size_t counts_at = c.pos();
    const uint64_t n_tensors = c.read<uint64_t>("the tensor count");
    const uint64_t n_kv = c.read<uint64_t>("the metadata count");
    // A key-value pair takes at least 8+4+1 bytes, a tensor entry at least 8+4+8+4+8.
    if (n_kv > c.remaining() / 13) c.fail("metadata count " + std::to_string(n_kv) + " exceeds the file size", counts_at);
    if (n_tensors > c.remaining() / 32)
        c.fail("tensor count " + std::to_string(n_tensors) + " exceeds the file size", counts_at);

    for (uint64_t i = 0; i < n_kv; ++i) {
        const size_t key_at = c.pos();
        std::string key = c.read_string("a metadata key");
        if (key.empty() || key.size() > kMaxKeyLength) c.fail("metadata key of invalid length " + std::to_string(key.size()), key_at);
        if (f->kv_index_.count(key)) c.fail("duplicate metadata key '" + key + "'", key_at);
        const size_t type_at = c.pos();
        const uint32_t type = c.read<uint32_t>("a metadata value type");
        if (!valid_value_type(type))
            c.fail("metadata key '" + key + "' has unknown value type " + std::to_string(type), type_at);
        Value v = read_value(c, ValueType(type), key, 0);
        f->kv_index_.emplace(key, f->kv_.size());
        f->kv_.emplace_back(std::move(key), std::move(v));
    }

    if (const Value* a = f->find("general.alignment")) {
        if (a->type != ValueType::U32) wrong_type(f->path_, "general.alignment", *a, "u32");
        const uint64_t al = a->num.u;
        if (al == 0 || (al & (al - 1)) != 0)
            throw Error(f->path_ + ": general.alignment " + std::to_string(al) + " is not a power of two");
        f->alignment_ = al;
    }

    std::vector<size_t> info_at;
    for (uint64_t i = 0; i < n_tensors; ++i) {
        TensorInfo t;
        const size_t at = c.pos();
        info_at.push_back(at);
        t.name = c.read_string("a tensor name");
        if (t.name.empty()) c.fail("tensor #" + std::to_string(i) + " has an empty name", at);
        if (f->tensor_index_.count(t.name)) c.fail("duplicate tensor name '" + t.name + "'", at);
        const uint32_t n_dims = c.read<uint32_t>("a tensor's dimension count");
        if (n_dims == 0 || n_dims > kMaxDims)
            c.fail("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)", at);
        int64_t n_elem = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t ne = c.read<uint64_t>("a tensor dimension");
            if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max()) ||
                uint64_t(n_elem) > uint64_t(std::numeric_limits<int64_t>::max()) / ne)
                c.fail("tensor '" + t.name + "' has invalid dimension " + std::to_string(ne), at);
            n_elem *= int64_t(ne);
            t.ne.push_back(int64_t(ne));
        }
        const size_t type_at = c.pos();
        const uint32_t type = c.read<uint32_t>("a tensor type");
        const auto ti = dtype_info(type);
        if (!ti) c.fail("tensor '" + t.name + "' has unknown type id " + std::to_string(type), type_at);
        t.type = DType(type);
        if (t.ne[0] % ti->block_size != 0)
            c.fail("tensor '" + t.name + "' row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                   std::string(ti->name) + " block size " + std::to_string(ti->block_size), at);
        const uint64_t blocks = uint64_t(n_elem / ti->block_size);
        if (blocks > std::numeric_limits<uint64_t>::max() / ti->block_bytes)
            c.fail("tensor '" + t.name + "' is too large", at);
        t.bytes = size_t(blocks * ti->block_bytes);
        t.offset = c.read<uint64_t>("a tensor data offset");
        f->tensor_index_.emplace(t.name, f->tensors_.size());
        f->tensors_.push_back(std::move(t));
    }

    const uint64_t pos = c.pos();
    f->data_offset_ = (pos + f->alignment_ - 1) / f->alignment_ * f->alignment_;
    const uint64_t size = f->mem_->size();
    if (!f->tensors_.empty() && f->data_offset_ > size)
        throw Error(f->path_ + ": file truncated before the tensor data (data section would start at byte offset " +
                    std::to_string(f->data_offset_) + ", file has " + std::to_string(size) + " bytes)");

    // Each tensor must be aligned, inside the file, and not overlap another.
    std::vector<size_t> order(f->tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = 0; i < f->tensors_.size(); ++i) {
        TensorInfo& t = f->tensors_[i];
        if (t.offset % f->alignment_ != 0)
            c.fail("tensor '" + t.name + "' data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                   std::to_string(f->alignment_), info_at[i]);
        if (t.offset > size - f->data_offset_ || t.bytes > size - f->data_offset_ - t.offset)
            c.fail("tensor '" + t.name + "' data (" + std::to_string(t.bytes) + " bytes at data offset " +
                   std::to_string(t.offset) + ") lies outside the file of " + std::to_string(size) + " bytes", info_at[i]);
        t.data = f->mem_->data() + f->data_offset_ + t.offset;
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return f->tensors_[a].offset < f->tensors_[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo& prev = f->tensors_[order[k - 1]];
        const TensorInfo& cur = f->tensors_[order[k]];
        if (prev.offset + prev.bytes > cur.offset)
            c.fail("tensor '" + cur.name + "' data overlaps tensor '" + prev.name + "'", info_at[order[k]]);
    }
    return f;
}

const Value* File::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::optional<int64_t> File::get_int(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_int() && v->type != ValueType::BOOL) wrong_type(path_, key, *v, "an integer");
    return v->as_int();
}

std::optional<double> File::get_float(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_int() && !v->is_float()) wrong_type(path_, key, *v, "a number");
    return v->as_float();
}

std::optional<bool> File::get_bool(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (v->type == ValueType::BOOL) return v->num.b;
    if (v->is_int()) return v->as_int() != 0;
    wrong_type(path_, key, *v, "bool");
}

std::optional<std::string> File::get_string(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != ValueType::STRING) wrong_type(path_, key, *v, "string");
    return v->str;
}

int64_t File::require_int(std::string_view key) const {
    auto v = get_int(key);
    if (!v) throw Error(path_ + ": missing required metadata key '" + std::string(key) + "'");
    return *v;
}

double File::require_float(std::string_view key) const {
    auto v = get_float(key);
    if (!v) throw Error(path_ + ": missing required metadata key '" + std::string(key) + "'");
    return *v;
}

std::string File::require_string(std::string_view key) const {
    auto v = get_string(key);
    if (!v) throw Error(path_ + ": missing required metadata key '" + std::string(key) + "'");
    return *v;
}

std::optional<std::vector<std::string>> File::get_string_array(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != ValueType::ARRAY || v->elem_type != ValueType::STRING) wrong_type(path_, key, *v, "array of string");
    std::vector<std::string> out;
    out.reserve(v->arr.size());
    for (const Value& e : v->arr) out.push_back(e.str);
    return out;
}

std::optional<std::vector<float>> File::get_float_array(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != ValueType::ARRAY || (v->elem_type != ValueType::F32 && v->elem_type != ValueType::F64))
        wrong_type(path_, key, *v, "array of f32");
    std::vector<float> out;
    out.reserve(v->arr.size());
    for (const Value& e : v->arr) out.push_back(float(e.num.f));
    return out;
}

std::optional<std::vector<int64_t>> File::get_int_array(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (v->type != ValueType::ARRAY) wrong_type(path_, key, *v, "array of integers");
    std::vector<int64_t> out;
    out.reserve(v->arr.size());
    for (const Value& e : v->arr) {
        if (!e.is_int() && e.type != ValueType::BOOL) wrong_type(path_, key, *v, "array of integers");
        out.push_back(e.as_int());
    }
    return out;
}

}  // namespace dsm::gguf
