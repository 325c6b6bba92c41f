#include "formats/gguf_writer.hpp"

#include <cstring>
#include <memory>

#include "core/error.hpp"

namespace dsm::gguf {
namespace {

class Out {
public:
    explicit Out(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
        if (!f_) throw Error("cannot create '" + path + "'");
    }
    ~Out() {
        if (f_) std::fclose(f_);
    }
    void bytes(const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, f_) != n) throw Error("write to '" + path_ + "' failed (disk full?)");
        pos_ += n;
    }
    template <typename T>
    void pod(T v) { bytes(&v, sizeof v); }
    void str(const std::string& s) {
        pod<uint64_t>(s.size());
        bytes(s.data(), s.size());
    }
    void pad(uint64_t align) {
        static const uint8_t zeros[64] = {};
        while (pos_ % align) bytes(zeros, size_t(std::min<uint64_t>(64, align - pos_ % align)));
    }
    void close() {
        if (std::fclose(f_) != 0) {
            f_ = nullptr;
            throw Error("closing '" + path_ + "' failed");
        }
        f_ = nullptr;
    }
    uint64_t pos() const { return pos_; }

private:
    std::string path_;
    FILE* f_;
    uint64_t pos_ = 0;
};

void write_value(Out& o, const Value& v) {
    switch (v.type) {
        case ValueType::U8: o.pod<uint8_t>(uint8_t(v.num.u)); break;
        case ValueType::I8: o.pod<int8_t>(int8_t(v.num.i)); break;
        case ValueType::U16: o.pod<uint16_t>(uint16_t(v.num.u)); break;
        case ValueType::I16: o.pod<int16_t>(int16_t(v.num.i)); break;
        case ValueType::U32: o.pod<uint32_t>(uint32_t(v.num.u)); break;
        case ValueType::I32: o.pod<int32_t>(int32_t(v.num.i)); break;
        case ValueType::U64: o.pod<uint64_t>(v.num.u); break;
        case ValueType::I64: o.pod<int64_t>(v.num.i); break;
        case ValueType::F32: o.pod<float>(float(v.num.f)); break;
        case ValueType::F64: o.pod<double>(v.num.f); break;
        case ValueType::BOOL: o.pod<uint8_t>(v.num.b ? 1 : 0); break;
        case ValueType::STRING: o.str(v.str); break;
        case ValueType::ARRAY:
            o.pod<uint32_t>(uint32_t(v.elem_type));
            o.pod<uint64_t>(v.arr.size());
            for (const Value& e : v.arr) write_value(o, e);
            break;
    }
}

Value scalar(ValueType t) {
    Value v;
    v.type = t;
    return v;
}

}  // namespace

void Writer::put(const std::string& key, Value v) {
    for (auto& kv : kv_)
        if (kv.first == key) {
            kv.second = std::move(v);
            return;
        }
    kv_.emplace_back(key, std::move(v));
}

void Writer::remove(const std::string& key) {
    std::erase_if(kv_, [&](const auto& kv) { return kv.first == key; });
}

void Writer::set_u32(const std::string& key, uint32_t x) { Value v = scalar(ValueType::U32); v.num.u = x; put(key, v); }
void Writer::set_i32(const std::string& key, int32_t x) { Value v = scalar(ValueType::I32); v.num.i = x; put(key, v); }
void Writer::set_u64(const std::string& key, uint64_t x) { Value v = scalar(ValueType::U64); v.num.u = x; put(key, v); }
void Writer::set_f32(const std::string& key, float x) { Value v = scalar(ValueType::F32); v.num.f = x; put(key, v); }
void Writer::set_bool(const std::string& key, bool x) { Value v = scalar(ValueType::BOOL); v.num.b = x; put(key, v); }
void Writer::set_string(const std::string& key, const std::string& x) {
    Value v = scalar(ValueType::STRING);
    v.str = x;
    put(key, std::move(v));
}
void Writer::set_strings(const std::string& key, const std::vector<std::string>& xs) {
    Value v = scalar(ValueType::ARRAY);
    v.elem_type = ValueType::STRING;
    for (const auto& x : xs) {
        Value e = scalar(ValueType::STRING);
        e.str = x;
        v.arr.push_back(std::move(e));
    }
    put(key, std::move(v));
}
void Writer::set_f32s(const std::string& key, const std::vector<float>& xs) {
    Value v = scalar(ValueType::ARRAY);
    v.elem_type = ValueType::F32;
    for (float x : xs) {
        Value e = scalar(ValueType::F32);
        e.num.f = x;
        v.arr.push_back(e);
    }
    put(key, std::move(v));
}
void Writer::set_i32s(const std::string& key, const std::vector<int32_t>& xs) {
    Value v = scalar(ValueType::ARRAY);
    v.elem_type = ValueType::I32;
    for (int32_t x : xs) {
        Value e = scalar(ValueType::I32);
        e.num.i = x;
        v.arr.push_back(e);
    }
    put(key, std::move(v));
}
void Writer::set_value(const std::string& key, const Value& v) { put(key, v); }

void Writer::add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, DataFn data) {
    for (const auto& t : tensors_)
        if (t.name == name) throw Error("GGUF writer: duplicate tensor '" + name + "'");
    if (ne.empty() || ne.size() > 4) throw Error("GGUF writer: tensor '" + name + "' must have 1 to 4 dimensions");
    int64_t n = 1;
    for (int64_t d : ne) {
        if (d <= 0) throw Error("GGUF writer: tensor '" + name + "' has a non-positive dimension");
        n *= d;
    }
    const DTypeInfo& ti = info(type);
    if (ne[0] % ti.block_size != 0)
        throw Error("GGUF writer: tensor '" + name + "' row length " + std::to_string(ne[0]) +
                    " is not a multiple of the " + std::string(ti.name) + " block size " + std::to_string(ti.block_size));
    tensors_.push_back({name, type, std::move(ne), size_t(n / ti.block_size) * ti.block_bytes, std::move(data)});
}

void Writer::add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, const void* bytes) {
    add_tensor(name, type, std::move(ne), [bytes](uint8_t* out, size_t n) { std::memcpy(out, bytes, n); });
}

void Writer::write(const std::string& path, const std::function<void(size_t, size_t, uint64_t)>& progress) const {
    Out o(path);
    o.bytes("GGUF", 4);
    o.pod<uint32_t>(3);
    o.pod<uint64_t>(tensors_.size());
    const bool has_align = alignment != 32;
    o.pod<uint64_t>(kv_.size() + (has_align ? 1 : 0));
    for (const auto& [key, v] : kv_) {
        if (key == "general.alignment") throw Error("GGUF writer: set Writer::alignment instead of general.alignment");
        o.str(key);
        o.pod<uint32_t>(uint32_t(v.type));
        write_value(o, v);
    }
    if (has_align) {
        o.str("general.alignment");
        o.pod<uint32_t>(uint32_t(ValueType::U32));
        o.pod<uint32_t>(alignment);
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        o.str(t.name);
        o.pod<uint32_t>(uint32_t(t.ne.size()));
        for (int64_t d : t.ne) o.pod<uint64_t>(uint64_t(d));
        o.pod<uint32_t>(uint32_t(t.type));
        o.pod<uint64_t>(offset);
        offset += (t.bytes + alignment - 1) / alignment * alignment;
    }
    o.pad(alignment);
    std::vector<uint8_t> buf;
    uint64_t done = 0;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const auto& t = tensors_[i];
        buf.assign(t.bytes, 0);
        t.data(buf.data(), buf.size());
        o.bytes(buf.data(), buf.size());
        o.pad(alignment);
        done += t.bytes;
        if (progress) progress(i + 1, tensors_.size(), done);
    }
    o.close();
}

}  // namespace dsm::gguf
