#include "runtime/kv_cache.hpp"

#include <cstring>

namespace dsm {

KvCache::KvCache(const HParams& hp, int n_ctx, KvCacheType type)
    : n_ctx_(n_ctx), type_(type), width_(hp.kv_cache_width()), elem_(type == KvCacheType::F16 ? 2 : 4) {
    data_.resize(size_t(hp.n_layer) * size_t(n_ctx) * size_t(width_) * elem_);
}

void KvCache::write(int64_t layer, int64_t pos, int64_t col, const float* src, int64_t n) {
    uint8_t* dst = data_.data() + offset(layer, pos) + size_t(col) * elem_;
    if (type_ == KvCacheType::F32) {
        std::memcpy(dst, src, size_t(n) * 4);
    } else {
        uint16_t* h = reinterpret_cast<uint16_t*>(dst);
        for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
    }
}

void KvCache::read(int64_t layer, int64_t pos0, int64_t count, int64_t col, int64_t n, float* dst) const {
    for (int64_t p = 0; p < count; ++p) {
        const uint8_t* src = data_.data() + offset(layer, pos0 + p) + size_t(col) * elem_;
        float* out = dst + p * n;
        if (type_ == KvCacheType::F32) {
            std::memcpy(out, src, size_t(n) * 4);
        } else {
            const uint16_t* h = reinterpret_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_f32(h[i]);
        }
    }
}

}  // namespace dsm
