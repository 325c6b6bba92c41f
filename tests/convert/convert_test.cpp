// dsm convert on every Hugging Face twin of testdata/hf (hf/README.md): F32
// twins give back the GGUF twins' tensors bit for bit and reproduce llama.cpp's
// goldens; BF16 twins give the BF16-rounded values and their own goldens; the
// FP8 twins (128x128 and 16x48 tiles, with an MTP layer to skip) reproduce theirs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "convert/converter.hpp"
#include "convert/safetensors.hpp"
#include "convert_util.hpp"
#include "core/fp16.hpp"
#include "formats/gguf.hpp"
#include "tokenizer/tokenizer.hpp"

namespace dsm::test {
namespace {

std::string convert(const TempDir& tmp, const std::string& folder, const std::string& type = "f32") {
    const std::string out = tmp.file(folder + "." + type + ".gguf");
    convert::ConvertOptions opt;
    opt.type = type;
    opt.n_threads = 2;
    convert::convert_hf_to_gguf(hf_dir(folder).string(), out, opt);
    return out;
}

std::vector<float> as_floats(const gguf::TensorInfo& t) {
    EXPECT_EQ(t.type, DType::F32) << t.name;
    std::vector<float> v(size_t(t.n_elements()));
    std::memcpy(v.data(), t.data, v.size() * 4);
    return v;
}

// Every hyper-parameter key of the GGUF twin is in the converted file with the
// same value (floats compared as float32), and the vocabulary is the same.
void expect_same_metadata(const gguf::File& got, const gguf::File& twin) {
    for (const auto& [key, v] : twin.metadata()) {
        if (key.rfind("general.", 0) == 0 || key == "tokenizer.ggml.scores") continue;
        SCOPED_TRACE(key);
        const gguf::Value* g = got.find(key);
        ASSERT_NE(g, nullptr) << "converted file lacks " << key;
        if (v.type == gguf::ValueType::STRING)
            EXPECT_EQ(g->str, v.str);
        else if (v.type == gguf::ValueType::ARRAY)
            EXPECT_EQ(g->arr.size(), v.arr.size());
        else if (v.is_float())
            EXPECT_EQ(float(g->as_float()), float(v.as_float()));
        else
            EXPECT_EQ(g->as_int(), v.as_int());
    }
    EXPECT_EQ(got.get_string_array("tokenizer.ggml.tokens"), twin.get_string_array("tokenizer.ggml.tokens"));
    EXPECT_EQ(got.get_int_array("tokenizer.ggml.token_type"), twin.get_int_array("tokenizer.ggml.token_type"));
}

class ConvertF32Twin : public ::testing::TestWithParam<std::string> {};

TEST_P(ConvertF32Twin, TensorsBitIdenticalAndGoldensMatch) {
    DSM_REQUIRE_TESTDATA();
    TempDir tmp;
    const std::string name = GetParam();
    const std::string out = convert(tmp, name);
    const auto got = gguf::File::open(out);
    const auto twin = gguf::File::open(model_path(name + ".f32.gguf"));
    ASSERT_EQ(got->tensors().size(), twin->tensors().size());
    for (const auto& t : twin->tensors()) {
        SCOPED_TRACE(t.name);
        const gguf::TensorInfo* g = got->find_tensor(t.name);
        ASSERT_NE(g, nullptr);
        EXPECT_EQ(g->type, DType::F32);
        EXPECT_EQ(g->ne, t.ne);
        ASSERT_EQ(g->bytes, t.bytes);
        EXPECT_EQ(std::memcmp(g->data, t.data, t.bytes), 0) << "tensor data differs";
    }
    expect_same_metadata(*got, *twin);
    expect_goldens(out, testdata_dir() / "golden" / (name + ".f32"));
}

INSTANTIATE_TEST_SUITE_P(Hf, ConvertF32Twin,
                         ::testing::Values("dsllm-tiny", "dsv2lite-tiny", "dsv3-tiny", "dsmoe-tiny"),
                         [](const auto& info) {
                             std::string s = info.param;
                             for (char& c : s)
                                 if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                             return s;
                         });

// BF16 twins: each converted F32 value is the round-to-nearest-even BF16 of the
// GGUF twin's value; the logits match the folder's own goldens.
class ConvertBf16Twin : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(ConvertBf16Twin, ValuesAreRoundedTwinAndGoldensMatch) {
    DSM_REQUIRE_TESTDATA();
    TempDir tmp;
    const auto [folder, twin_name] = GetParam();
    const std::string out = convert(tmp, folder);
    const auto got = gguf::File::open(out);
    const auto twin = gguf::File::open(model_path(twin_name));
    ASSERT_EQ(got->tensors().size(), twin->tensors().size());
    for (const auto& t : twin->tensors()) {
        SCOPED_TRACE(t.name);
        const gguf::TensorInfo* g = got->find_tensor(t.name);
        ASSERT_NE(g, nullptr);
        ASSERT_EQ(g->ne, t.ne);
        const std::vector<float> a = as_floats(*g), b = as_floats(t);
        size_t bad = 0;
        for (size_t i = 0; i < a.size(); ++i) bad += f32_to_bits(a[i]) != f32_to_bits(bf16_to_f32(f32_to_bf16(b[i])));
        EXPECT_EQ(bad, 0u);
    }
    expect_same_metadata(*got, *twin);
    expect_goldens(out, hf_dir(folder) / "golden");
}

INSTANTIATE_TEST_SUITE_P(Hf, ConvertBf16Twin,
                         ::testing::Values(std::pair<std::string, std::string>{"r1qwen-tiny", "r1qwen-tiny.f32.gguf"},
                                           std::pair<std::string, std::string>{"kjv-llama", "kjv-llama.f32.gguf"}),
                         [](const auto& info) {
                             return info.param.first == "kjv-llama" ? "kjv_llama" : "r1qwen_tiny";
                         });

// FP8 twins: MTP layer dropped; the BF16-stored tensors (embeddings, output,
// norms, router) are the rounded twin values, exp_probs_b is exact, and the FP8
// matrices are within the quantization error of the F32 original (hf/README.md:
// at most 3.3e-3); the folder's own goldens are matched.
class ConvertFp8Twin : public ::testing::TestWithParam<std::string> {};

bool stored_as_bf16(const std::string& name) {
    return name == "token_embd.weight" || name == "output.weight" || name.find("norm.weight") != std::string::npos ||
           name.find("ffn_gate_inp") != std::string::npos;
}

TEST_P(ConvertFp8Twin, DequantizedAndGoldensMatch) {
    DSM_REQUIRE_TESTDATA();
    TempDir tmp;
    const std::string folder = GetParam();
    const std::string out = convert(tmp, folder);
    const auto got = gguf::File::open(out);
    const auto twin = gguf::File::open(model_path("dsv3-tiny.f32.gguf"));
    ASSERT_EQ(got->tensors().size(), twin->tensors().size());  // no blk.3 (MTP) tensors
    double worst_fp8 = 0;
    for (const auto& t : twin->tensors()) {
        SCOPED_TRACE(t.name);
        const gguf::TensorInfo* g = got->find_tensor(t.name);
        ASSERT_NE(g, nullptr);
        ASSERT_EQ(g->ne, t.ne);
        const std::vector<float> a = as_floats(*g), b = as_floats(t);
        size_t bad = 0;
        for (size_t i = 0; i < a.size(); ++i) {
            if (stored_as_bf16(t.name))
                bad += f32_to_bits(a[i]) != f32_to_bits(bf16_to_f32(f32_to_bf16(b[i])));
            else if (t.name.find("exp_probs_b") != std::string::npos)
                bad += a[i] != b[i];
            else
                worst_fp8 = std::max(worst_fp8, std::fabs(double(a[i]) - b[i]));
        }
        EXPECT_EQ(bad, 0u);
    }
    EXPECT_LT(worst_fp8, 3.4e-3);
    EXPECT_GT(worst_fp8, 1e-4);  // the FP8 values really are rounded
    expect_same_metadata(*got, *twin);
    expect_goldens(out, hf_dir(folder) / "golden");
}

INSTANTIATE_TEST_SUITE_P(Hf, ConvertFp8Twin, ::testing::Values("dsv3-tiny-fp8", "dsv3-tiny-fp8-blk16x48"),
                         [](const auto& info) {
                             return info.param == "dsv3-tiny-fp8" ? std::string("fp8_128x128")
                                                                  : std::string("fp8_16x48");
                         });

// kjv-llama's tokenizer_config.json carries a chat template; the GGUF gets it.
TEST(Convert, ChatTemplateAndTokenizerKeys) {
    DSM_REQUIRE_TESTDATA();
    TempDir tmp;
    const std::string out = convert(tmp, "kjv-llama");
    const auto cfg = nlohmann::json::parse(read_file(hf_dir("kjv-llama") / "tokenizer_config.json"));
    auto model = Model::load(out);
    EXPECT_EQ(model->chat_template(), cfg["chat_template"].get<std::string>());
    const auto f = gguf::File::open(out);
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), true);
    EXPECT_EQ(f->get_string("general.architecture"), "llama");
    EXPECT_EQ(f->get_int("general.file_type"), 0);
}

// BF16 output from a BF16 checkpoint copies the stored bits (unpermuted matrices);
// norms stay F32.
TEST(Convert, Bf16OutputKeepsCheckpointBits) {
    DSM_REQUIRE_TESTDATA();
    TempDir tmp;
    const std::string out = convert(tmp, "kjv-llama", "bf16");
    const auto f = gguf::File::open(out);
    const auto st = convert::SafetensorsFile::open((hf_dir("kjv-llama") / "model.safetensors").string());
    const std::pair<const char*, const char*> same[] = {
        {"blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"},
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output.weight", "lm_head.weight"},
        {"blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"}};
    for (const auto& [gname, hname] : same) {
        const gguf::TensorInfo* g = f->find_tensor(gname);
        const convert::StTensor* h = st->find(hname);
        ASSERT_TRUE(g && h) << gname;
        EXPECT_EQ(g->type, DType::BF16) << gname;
        ASSERT_EQ(g->bytes, h->bytes()) << gname;
        EXPECT_EQ(std::memcmp(g->data, st->read_all(*h).data(), g->bytes), 0) << gname;
    }
    EXPECT_EQ(f->find_tensor("blk.0.attn_norm.weight")->type, DType::F32);
    EXPECT_EQ(f->find_tensor("blk.0.attn_q.weight")->type, DType::BF16);
    EXPECT_EQ(f->get_int("general.file_type"), 32);  // LLAMA_FTYPE_MOSTLY_BF16
}

// Quantizing while converting gives llama-quantize's mixture: the same tensor
// types as llama.cpp's kjv-llama.q4_k_m.
TEST(Convert, QuantizedOutputHasLlamaQuantizeTypes) {
    DSM_REQUIRE_TESTDATA();
    TempDir tmp;
    const std::string out = convert(tmp, "kjv-llama", "q4_k_m");
    const auto got = gguf::File::open(out);
    const auto ref = gguf::File::open(model_path("kjv-llama.q4_k_m.gguf"));
    ASSERT_EQ(got->tensors().size(), ref->tensors().size());
    for (const auto& t : ref->tensors()) {
        const gguf::TensorInfo* g = got->find_tensor(t.name);
        ASSERT_NE(g, nullptr) << t.name;
        EXPECT_EQ(g->type, t.type) << t.name;
    }
    EXPECT_EQ(got->get_int("general.file_type"), 15);
    EXPECT_NO_THROW(Model::load(out));
}

}  // namespace
}  // namespace dsm::test
