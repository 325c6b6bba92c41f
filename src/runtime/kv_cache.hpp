// The KV cache of one context: per layer and position, either the keys and values
// of every KV head (llama, qwen2, deepseek) or, for MLA (deepseek2), only the
// compressed latent and the shared rotary key: kv_lora_rank + rope values a token.
//
// A layer keeps its values in streams, each [n_ctx][stream width] contiguous: one per
// KV head for the keys, then one per KV head for the values, or the one latent stream
// for MLA. Attention reads a head's rows as one sequential run of memory, which the
// hardware prefetchers follow (rows of all heads interleaved left each head a few lines
// per row, and decode at a 4096-token context read the cache at half the speed).
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
    int64_t width() const { return width_; }        // values per token and layer, all streams
    uint64_t bytes() const { return uint64_t(data_.size()); }
    size_t elem_bytes() const { return elem_; }

    // Stream s of a layer: its row for position p starts stream_width(s) * p elements
    // (of the cache type) after stream(layer, s).
    int64_t n_streams() const { return int64_t(widths_.size()); }
    int64_t stream_width(int64_t s) const { return widths_[size_t(s)]; }
    const void* stream(int64_t layer, int64_t s) const { return data_.data() + stream_offset(layer, s); }

    // Writes n values at offset `col` of the token's values for (layer, pos) (the
    // streams' widths side by side: keys of every head, then values, for GQA).
    void write(int64_t layer, int64_t pos, int64_t col, const float* src, int64_t n);
    // Reads n values at offset `col` of positions pos0..pos0+count-1 into dst (row stride n).
    void read(int64_t layer, int64_t pos0, int64_t count, int64_t col, int64_t n, float* dst) const;

private:
    size_t stream_offset(int64_t layer, int64_t s) const {
        return (size_t(layer) * size_t(width_) + size_t(starts_[size_t(s)])) * size_t(n_ctx_) * elem_;
    }
    // Calls fn(byte offset, count, values so far) for the pieces of [col, col + n) of a
    // position, one per stream it crosses.
    template <typename Fn>
    void pieces(int64_t layer, int64_t pos, int64_t col, int64_t n, Fn fn) const;

    int n_ctx_;
    KvCacheType type_;
    int64_t width_;
    size_t elem_;
    std::vector<int64_t> widths_, starts_;  // per stream: values per position, first column
    std::vector<uint8_t> data_;
};

}  // namespace dsm
