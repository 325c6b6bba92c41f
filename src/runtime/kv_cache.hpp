// The KV cache of one context: per layer and position, either the keys and values
// of every KV head (llama, qwen2, deepseek) or, for MLA (deepseek2), only the
// compressed latent and the shared rotary key: kv_lora_rank + rope values a token.
#pragma once
#include <cstdint>
#include <vector>

#include "core/fp16.hpp"
#include "dsm/dsm.hpp"
#include "models/hparams.hpp"

namespace dsm {

class KvCache {
public:
    KvCache(const HParams& hp, int n_ctx, KvCacheType type);

    int n_ctx() const { return n_ctx_; }
    KvCacheType type() const { return type_; }
    int64_t width() const { return width_; }        // values per token and layer
    uint64_t bytes() const { return uint64_t(data_.size()); }

    // Writes n values at offset `col` of the row for (layer, pos).
    void write(int64_t layer, int64_t pos, int64_t col, const float* src, int64_t n);
    // Reads n values at offset `col` of rows pos0..pos0+count-1 into dst (row stride n).
    void read(int64_t layer, int64_t pos0, int64_t count, int64_t col, int64_t n, float* dst) const;
    // Raw row pointer (elements of the cache type).
    const void* row(int64_t layer, int64_t pos) const { return data_.data() + offset(layer, pos); }

private:
    size_t offset(int64_t layer, int64_t pos) const {
        return (size_t(layer) * size_t(n_ctx_) + size_t(pos)) * size_t(width_) * elem_;
    }
    int n_ctx_;
    KvCacheType type_;
    int64_t width_;
    size_t elem_;
    std::vector<uint8_t> data_;
};

}  // namespace dsm
