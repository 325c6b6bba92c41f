#include "runtime/kv_cache.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "kernels/kernels.hpp"

namespace dsm {

KvCache::KvCache(const HParams& hp, int n_ctx, KvCacheType type)
    : n_ctx_(n_ctx), type_(type), width_(hp.kv_cache_width()), elem_(type == KvCacheType::F16 ? 2 : 4) {
    if (hp.is_mla()) {
        widths_ = {width_};
    } else {
        widths_.assign(size_t(hp.n_head_kv), hp.head_dim_k);
        widths_.insert(widths_.end(), size_t(hp.n_head_kv), hp.head_dim_v);
    }
    int64_t start = 0;
    for (int64_t w : widths_) starts_.push_back(start), start += w;
    if (start != width_) throw Error("KV cache: stream widths do not add up to the cache width");
    data_.resize(size_t(hp.n_layer) * size_t(n_ctx) * size_t(width_) * elem_);
}

template <typename Fn>
void KvCache::pieces(int64_t layer, int64_t pos, int64_t col, int64_t n, Fn fn) const {
    if (col < 0 || n < 0 || col + n > width_ || pos < 0 || pos >= n_ctx_)
        throw Error("KV cache: values [" + std::to_string(col) + ", " + std::to_string(col + n) + ") at position " +
                    std::to_string(pos) + " are outside the cache's " + std::to_string(width_) + " x " +
                    std::to_string(n_ctx_));
    // The first stream that holds column col: the last whose start is not after it.
    size_t s = size_t(std::upper_bound(starts_.begin(), starts_.end(), col) - starts_.begin()) - 1;
    for (int64_t done = 0; done < n; ++s) {
        const int64_t at = col + done - starts_[s], count = std::min(n - done, widths_[s] - at);
        fn(stream_offset(layer, int64_t(s)) + (size_t(pos) * size_t(widths_[s]) + size_t(at)) * elem_, count, done);
        done += count;
    }
}

void KvCache::write(int64_t layer, int64_t pos, int64_t col, const float* src, int64_t n) {
    // fp16 through the kernel table's conversion: the same bytes as f32_to_fp16, vectorised.
    const kernels::FromFloatFn to_f16 = kernels::active().from_float[int(DType::F16)];
    pieces(layer, pos, col, n, [&](size_t offset, int64_t count, int64_t done) {
        uint8_t* dst = data_.data() + offset;
        if (type_ == KvCacheType::F32)
            std::memcpy(dst, src + done, size_t(count) * 4);
        else
            to_f16(src + done, dst, count);
    });
}

void KvCache::read(int64_t layer, int64_t pos0, int64_t count, int64_t col, int64_t n, float* dst) const {
    for (int64_t p = 0; p < count; ++p) {
        float* out = dst + p * n;
        pieces(layer, pos0 + p, col, n, [&](size_t offset, int64_t c, int64_t done) {
            const uint8_t* src = data_.data() + offset;
            if (type_ == KvCacheType::F32) {
                std::memcpy(out + done, src, size_t(c) * 4);
            } else {
                const auto* h = reinterpret_cast<const uint16_t*>(src);
                for (int64_t i = 0; i < c; ++i) out[done + i] = fp16_to_f32(h[i]);
            }
        });
    }
}

}  // namespace dsm
