// Helpers for the converter/quantizer tests: temporary folders, golden logits
// comparison for any GGUF, and a small safetensors writer for malformed inputs.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/testdata.hpp"
#include "dsm/dsm.hpp"

namespace dsm::test {

namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        path_ = fs::temp_directory_path() /
                ("dsm-convert-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

inline fs::path hf_dir(const std::string& folder) { return testdata_dir() / "hf" / folder; }
inline std::string model_path(const std::string& name) { return (testdata_dir() / "models" / name).string(); }

// Compares a GGUF's logits and greedy continuations with a golden folder
// (prompt_{1,8,40}.*): |Δ| <= 1e-4 + 1e-5|logit| (testdata README section 7), and
// greedy tokens up to the first step whose golden margin is below 1e-3.
inline void expect_goldens(const std::string& gguf, const fs::path& golden_dir) {
    auto model = Model::load(gguf);
    const int64_t n_vocab = model->info().n_vocab;
    for (int k : {1, 8, 40}) {
        SCOPED_TRACE(golden_dir.string() + " prompt_" + std::to_string(k));
        const std::string stem = "prompt_" + std::to_string(k);
        const auto tj = nlohmann::json::parse(read_file(golden_dir / (stem + ".tokens.json")));
        const auto tokens = tj["tokens"].get<std::vector<int32_t>>();
        const std::vector<float> want = read_f32(golden_dir / (stem + ".logits.f32"));
        const auto gj = nlohmann::json::parse(read_file(golden_dir / (stem + ".greedy.json")));
        const auto continuation = gj["continuation"].get<std::vector<int32_t>>();
        const auto margins = gj["margins"].get<std::vector<float>>();
        ASSERT_EQ(int64_t(want.size()), int64_t(tokens.size()) * n_vocab);
        if (tj.contains("text")) {  // the embedded tokenizer gives the golden's tokens
            EXPECT_EQ(model->tokenize(tj["text"].get<std::string>(), true, false), tokens);
        }

        auto ctx = model->create_context({.n_ctx = 256, .n_threads = 2, .kv_type = KvCacheType::F32});
        ctx->set_input("input_ids", Tensor::tokens(tokens));
        ctx->invoke();
        const Tensor& out = ctx->get_output("logits");
        ASSERT_EQ(out.numel(), int64_t(want.size()));
        double worst = -1;
        int64_t worst_at = 0;
        for (int64_t i = 0; i < out.numel(); ++i) {
            const double excess =
                std::fabs(double(out.f32()[i]) - want[size_t(i)]) - (1e-4 + 1e-5 * std::fabs(want[size_t(i)]));
            if (excess > worst) worst = excess, worst_at = i;
        }
        EXPECT_LE(worst, 0.0) << "logit " << worst_at % n_vocab << " of row " << worst_at / n_vocab
                              << " exceeds the tolerance by " << worst;

        ctx->clear();
        std::vector<int32_t> got;
        SamplerParams greedy;
        greedy.temperature = 0;
        ctx->generate(
            tokens, int(continuation.size()), greedy,
            [&](int32_t t) {
                got.push_back(t);
                return true;
            },
            true);
        ASSERT_EQ(got.size(), continuation.size());
        for (size_t j = 0; j < got.size() && margins[j] >= 1e-3f; ++j)
            ASSERT_EQ(got[j], continuation[j]) << "greedy step " << j;
    }
}

// One tensor of a hand-made safetensors file.
struct StEntry {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
};

// Writes entries contiguously (in the given order) with a correct header; `edit`
// may change the header JSON first, to make it lie.
inline void write_safetensors(const std::string& path, const std::vector<StEntry>& entries,
                              const std::function<void(nlohmann::json&)>& edit = nullptr) {
    nlohmann::json h = nlohmann::json::object();
    h["__metadata__"] = {{"format", "pt"}};
    uint64_t off = 0;
    for (const auto& e : entries) {
        h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {off, off + e.data.size()}}};
        off += e.data.size();
    }
    if (edit) edit(h);
    std::string text = h.dump();
    while (text.size() % 8) text += ' ';
    std::ofstream f(path, std::ios::binary);
    const uint64_t n = text.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(text.data(), std::streamsize(text.size()));
    for (const auto& e : entries) f.write(reinterpret_cast<const char*>(e.data.data()), std::streamsize(e.data.size()));
}

inline std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
    std::vector<uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
}

}  // namespace dsm::test
