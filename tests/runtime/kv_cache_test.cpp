// KV cache layout: each KV head's keys and values are contiguous streams of rows, and
// writes and reads that cross stream boundaries land in the right places.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "runtime/kv_cache.hpp"

namespace dsm {
namespace {

HParams gqa_params() {
    HParams hp;
    hp.arch = Arch::Qwen2;
    hp.n_layer = 2;
    hp.n_head = 4;
    hp.n_head_kv = 2;
    hp.head_dim_k = 3;
    hp.head_dim_v = 5;
    return hp;
}

// The value stored for (layer, pos, col): distinct, and exact in fp16.
float value(int64_t layer, int64_t pos, int64_t col) { return float(layer * 1000 + pos * 20 + col); }

TEST(KvCache, HeadsAreContiguousStreams) {
    const HParams hp = gqa_params();
    const int n_ctx = 7;
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16}) {
        KvCache cache(hp, n_ctx, type);
        ASSERT_EQ(cache.width(), 2 * (3 + 5));
        ASSERT_EQ(cache.n_streams(), 4);
        std::vector<float> row(size_t(cache.width()));
        for (int64_t layer = 0; layer < hp.n_layer; ++layer)
            for (int64_t pos = 0; pos < n_ctx; ++pos) {
                for (int64_t c = 0; c < cache.width(); ++c) row[size_t(c)] = value(layer, pos, c);
                // Keys of both heads in one write, values in two that split the second head.
                cache.write(layer, pos, 0, row.data(), 6);
                cache.write(layer, pos, 6, row.data() + 6, 7);
                cache.write(layer, pos, 13, row.data() + 13, 3);
            }
        const int64_t starts[] = {0, 3, 6, 11};
        for (int64_t layer = 0; layer < hp.n_layer; ++layer)
            for (int64_t s = 0; s < 4; ++s) {
                const int64_t w = cache.stream_width(s);
                ASSERT_EQ(w, s < 2 ? 3 : 5);
                for (int64_t pos = 0; pos < n_ctx; ++pos)
                    for (int64_t i = 0; i < w; ++i) {
                        const size_t at = size_t(pos * w + i);
                        float got;
                        if (type == KvCacheType::F32) {
                            got = static_cast<const float*>(cache.stream(layer, s))[at];
                        } else {
                            got = fp16_to_f32(static_cast<const uint16_t*>(cache.stream(layer, s))[at]);
                        }
                        ASSERT_EQ(got, value(layer, pos, starts[s] + i)) << "layer " << layer << " stream " << s;
                    }
            }
        // A read across all four streams, from the middle of the first.
        std::vector<float> out(size_t(3 * 12));
        cache.read(1, 2, 3, 2, 12, out.data());
        for (int64_t p = 0; p < 3; ++p)
            for (int64_t i = 0; i < 12; ++i) ASSERT_EQ(out[size_t(p * 12 + i)], value(1, 2 + p, 2 + i));
    }
}

TEST(KvCache, RejectsValuesOutsideTheCache) {
    KvCache cache(gqa_params(), 4, KvCacheType::F16);
    std::vector<float> row(size_t(cache.width()) + 1, 1.0f);
    EXPECT_THROW(cache.write(0, 0, 0, row.data(), cache.width() + 1), Error);  // one value too many
    EXPECT_THROW(cache.write(0, 4, 0, row.data(), 3), Error);                  // position past n_ctx
    EXPECT_THROW(cache.read(1, 3, 2, 0, 3, row.data()), Error);                // rows 3 and 4 of 4
    EXPECT_NO_THROW(cache.write(1, 3, cache.width() - 1, row.data(), 1));
}

TEST(KvCache, MlaKeepsOneLatentStream) {
    HParams hp;
    hp.arch = Arch::DeepSeek2;
    hp.n_layer = 1;
    hp.kv_lora_rank = 8;
    hp.qk_rope = 4;
    KvCache cache(hp, 5, KvCacheType::F32);
    ASSERT_EQ(cache.n_streams(), 1);
    ASSERT_EQ(cache.stream_width(0), 12);
    std::vector<float> row(12);
    for (int64_t c = 0; c < 12; ++c) row[size_t(c)] = value(0, 3, c);
    cache.write(0, 3, 0, row.data(), 12);
    EXPECT_EQ(std::memcmp(static_cast<const float*>(cache.stream(0, 0)) + 3 * 12, row.data(), 12 * 4), 0);
}

}  // namespace
}  // namespace dsm
