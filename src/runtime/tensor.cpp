#include <sstream>

#include "dsm/dsm.hpp"

namespace dsm {

std::string_view element_type_name(ElementType t) { return t == ElementType::F32 ? "f32" : "i32"; }

Tensor::Tensor(ElementType type, std::vector<int64_t> shape) : type_(type), shape_(std::move(shape)) {
    for (int64_t d : shape_)
        if (d < 0) throw Error("Tensor: negative dimension in shape " + shape_string());
    data_.assign(size_t(numel()), 0u);
}

Tensor Tensor::tokens(std::span<const int32_t> ids) {
    Tensor t(ElementType::I32, {int64_t(ids.size())});
    std::copy(ids.begin(), ids.end(), t.i32());
    return t;
}

int64_t Tensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape_) n *= d;
    return n;
}

std::string Tensor::shape_string() const {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < shape_.size(); ++i) s << (i ? ", " : "") << shape_[i];
    s << "]";
    return s.str();
}

float* Tensor::f32() {
    if (type_ != ElementType::F32) throw Error("Tensor: f32() on an i32 tensor");
    return reinterpret_cast<float*>(data_.data());
}
const float* Tensor::f32() const { return const_cast<Tensor*>(this)->f32(); }
int32_t* Tensor::i32() {
    if (type_ != ElementType::I32) throw Error("Tensor: i32() on an f32 tensor");
    return reinterpret_cast<int32_t*>(data_.data());
}
const int32_t* Tensor::i32() const { return const_cast<Tensor*>(this)->i32(); }

uint64_t ModelInfo::kv_bytes_per_token(KvCacheType t) const {
    return kv_elems_per_token * (t == KvCacheType::F16 ? 2 : 4);
}

}  // namespace dsm
