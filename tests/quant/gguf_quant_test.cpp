// Real data: the quantized test models were made by llama-quantize (c392e509,
// no importance matrix) from the F32 files next to them. Quantizing the same F32
// tensors must give the same bytes, and dequantizing llama.cpp's tensors must
// land close to the F32 originals and to each other.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/testdata.hpp"
#include "formats/gguf.hpp"
#include "quant/quant.hpp"

namespace dsm {
namespace {

std::string model_path(const std::string& name) { return (test::testdata_dir() / "models" / name).string(); }

std::vector<float> dequantize_tensor(const gguf::TensorInfo& t) {
    std::vector<float> out(size_t(t.n_elements()));
    const size_t rb = row_bytes(t.type, t.ne[0]);
    for (int64_t r = 0; r < t.rows(); ++r)
        dequantize_row(t.type, t.data + r * rb, out.data() + r * t.ne[0], t.ne[0]);
    return out;
}

// sqrt(sum (a-b)^2 / sum b^2)
double rel_rms_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double se = 0, sb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        sb += double(b[i]) * b[i];
    }
    return std::sqrt(se / sb);
}

struct RequantStats {
    int tensors = 0;
    size_t blocks = 0, differing_blocks = 0;
};

// Re-quantizes every quantized tensor of `quant` whose name passes `select` from
// the F32 file and counts the blocks that differ from llama-quantize's.
template <typename Select>
RequantStats requantize(const gguf::File& f32, const gguf::File& quant, Select select) {
    RequantStats s;
    for (const gguf::TensorInfo& t : quant.tensors()) {
        if (t.type == DType::F32 || !select(t)) continue;
        const gguf::TensorInfo* src = f32.find_tensor(t.name);
        EXPECT_NE(src, nullptr) << t.name;
        if (!src) continue;
        EXPECT_EQ(src->type, DType::F32);
        EXPECT_EQ(src->ne, t.ne);
        const int64_t n = t.ne[0];
        const size_t rb = row_bytes(t.type, n), bb = info(t.type).block_bytes;
        std::vector<uint8_t> row(rb);
        for (int64_t r = 0; r < t.rows(); ++r) {
            const float* x = reinterpret_cast<const float*>(src->data) + r * n;
            if (t.type == DType::Q8_0)
                quantize_q8_0_reference(x, row.data(), n);
            else
                quantize_row(t.type, x, row.data(), n);
            for (size_t b = 0; b < rb / bb; ++b)
                s.differing_blocks += std::memcmp(row.data() + b * bb, t.data + r * rb + b * bb, bb) != 0;
            s.blocks += rb / bb;
        }
        ++s.tensors;
    }
    return s;
}

TEST(GgufQuant, RequantizingKjvLlamaReproducesLlamaQuantize) {
    DSM_REQUIRE_TESTDATA();
    const auto f32 = gguf::File::open(model_path("kjv-llama.f32.gguf"));
    const auto all = [](const gguf::TensorInfo&) { return true; };
    for (const char* quant : {"kjv-llama.q4_k_m.gguf", "kjv-llama.q4_0.gguf", "kjv-llama.q8_0.gguf"}) {
        const auto q = gguf::File::open(model_path(quant));
        const RequantStats s = requantize(*f32, *q, all);
        EXPECT_EQ(s.tensors, 44) << quant;  // 6 layers x 7 matrices + token_embd + output
        EXPECT_GT(s.blocks, 10000u) << quant;
        EXPECT_EQ(s.differing_blocks, 0u) << quant;
    }
}

// kjv-ds2.q4_k_m adds Q5_K (attn_output) and 3-D expert tensors.
TEST(GgufQuant, RequantizingKjvDs2ReproducesLlamaQuantize) {
    DSM_REQUIRE_TESTDATA();
    const auto f32 = gguf::File::open(model_path("kjv-ds2.f32.gguf"));
    const auto q = gguf::File::open(model_path("kjv-ds2.q4_k_m.gguf"));
    int q5k = 0, q6k = 0;
    for (const auto& t : q->tensors()) {
        q5k += t.type == DType::Q5_K;
        q6k += t.type == DType::Q6_K;
    }
    EXPECT_GT(q5k, 0);
    EXPECT_GT(q6k, 0);
    // Every Q5_K / Q6_K tensor plus all of layer 1 (Q4_K, including experts).
    const RequantStats s = requantize(*f32, *q, [](const gguf::TensorInfo& t) {
        return t.type == DType::Q5_K || t.type == DType::Q6_K || t.name.rfind("blk.1.", 0) == 0;
    });
    EXPECT_GE(s.tensors, q5k + q6k + 5);
    EXPECT_EQ(s.differing_blocks, 0u);
}

// llama.cpp's quantized tensors, dequantized, against the F32 original: within
// each type's expected round-trip error (see quantize_test.cpp); a decoding
// mistake (wrong nibble order, scale bits) gives errors of order 100%.
TEST(GgufQuant, DequantizedLlamaCppTensorsMatchF32) {
    DSM_REQUIRE_TESTDATA();
    const auto f32 = gguf::File::open(model_path("kjv-ds2.f32.gguf"));
    struct Case {
        const char* file;
        const char* tensor;
        DType type;
        double bound;
    };
    const Case cases[] = {
        {"kjv-ds2.q8_0.gguf", "token_embd.weight", DType::Q8_0, 0.006},
        {"kjv-ds2.q4_0.gguf", "blk.0.ffn_down.weight", DType::Q4_0, 0.10},
        {"kjv-ds2.q4_0.gguf", "output.weight", DType::Q6_K, 0.02},
        {"kjv-ds2.q4_k_m.gguf", "blk.1.ffn_up_exps.weight", DType::Q4_K, 0.08},
        {"kjv-ds2.q4_k_m.gguf", "blk.0.attn_output.weight", DType::Q5_K, 0.04},
    };
    for (const Case& c : cases) {
        const auto q = gguf::File::open(model_path(c.file));
        const gguf::TensorInfo* t = q->find_tensor(c.tensor);
        ASSERT_NE(t, nullptr) << c.file << " " << c.tensor;
        ASSERT_EQ(t->type, c.type) << c.tensor;
        const gguf::TensorInfo* ref = f32->find_tensor(c.tensor);
        ASSERT_NE(ref, nullptr);
        const std::vector<float> want(reinterpret_cast<const float*>(ref->data),
                                      reinterpret_cast<const float*>(ref->data) + ref->n_elements());
        const double err = rel_rms_diff(dequantize_tensor(*t), want);
        EXPECT_LT(err, c.bound) << c.file << " " << c.tensor;
        EXPECT_GT(err, c.bound / 10) << c.file << " " << c.tensor;  // really quantized
    }
}

// The three quantizations of dscoder-256 share one F32 parent (not shipped):
// their token embeddings must agree to within the Q4 error.
TEST(GgufQuant, DscoderEmbeddingsAgreeAcrossFormats) {
    DSM_REQUIRE_TESTDATA();
    std::vector<float> rows[3];
    const DType types[3] = {DType::Q8_0, DType::Q4_0, DType::Q4_K};
    const char* files[3] = {"dscoder-256.q8_0.gguf", "dscoder-256.q4_0.gguf", "dscoder-256.q4_k_m.gguf"};
    for (int i = 0; i < 3; ++i) {
        const auto f = gguf::File::open(model_path(files[i]));
        const gguf::TensorInfo* t = f->find_tensor("token_embd.weight");
        ASSERT_NE(t, nullptr) << files[i];
        ASSERT_EQ(t->type, types[i]) << files[i];
        ASSERT_EQ(t->ne, (std::vector<int64_t>{256, 512}));
        rows[i] = dequantize_tensor(*t);
    }
    const double q4_0 = rel_rms_diff(rows[1], rows[0]), q4_k = rel_rms_diff(rows[2], rows[0]);
    EXPECT_LT(q4_0, 0.10);
    EXPECT_LT(q4_k, 0.08);
    EXPECT_GT(q4_0, 0.03);
    EXPECT_GT(q4_k, 0.03);
    // Also row by row: every embedding row is close in all three formats.
    for (int r = 0; r < 512; ++r) {
        const std::vector<float> a(rows[0].begin() + r * 256, rows[0].begin() + (r + 1) * 256);
        const std::vector<float> b(rows[2].begin() + r * 256, rows[2].begin() + (r + 1) * 256);
        ASSERT_LT(rel_rms_diff(b, a), 0.15) << "row " << r;
    }
}

}  // namespace
}  // namespace dsm
