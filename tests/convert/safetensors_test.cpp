// Safetensors headers that lie, and checkpoints that do not match their config,
// are refused with an error naming the file and the tensor.
#include <gtest/gtest.h>

#include <cstring>

#include "convert/converter.hpp"
#include "convert/safetensors.hpp"
#include "convert_util.hpp"
#include "core/error.hpp"

namespace dsm::test {
namespace {

using convert::SafetensorsFile;

std::vector<StEntry> two_tensors() {
    return {{"a.weight", "F32", {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6})}, {"b.bias", "F32", {2}, f32_bytes({7, 8})}};
}

// The dsm::Error message of opening `path`, or "" if it opened.
std::string open_error(const std::string& path) {
    try {
        SafetensorsFile::open(path);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::string lie(const TempDir& tmp, const std::function<void(nlohmann::json&)>& edit) {
    const std::string path = tmp.file("lie.safetensors");
    write_safetensors(path, two_tensors(), edit);
    return open_error(path);
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string with_length(uint64_t n, const std::string& rest) {
    std::string s(8, '\0');
    std::memcpy(s.data(), &n, 8);
    return s + rest;
}

TEST(Safetensors, ValidFileReads) {
    TempDir tmp;
    const std::string path = tmp.file("ok.safetensors");
    write_safetensors(path, two_tensors());
    const auto f = SafetensorsFile::open(path);
    ASSERT_EQ(f->tensors().size(), 2u);
    const convert::StTensor* a = f->find("a.weight");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(f->read_all(*a), f32_bytes({1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(f->read_all(*f->find("b.bias")), f32_bytes({7, 8}));
    EXPECT_EQ(f->metadata().at("format"), "pt");
}

TEST(Safetensors, OffsetsOutsideFile) {
    TempDir tmp;
    const std::string e = lie(tmp, [](auto& h) { h["b.bias"]["data_offsets"] = {32, 40}; });
    EXPECT_NE(e.find("lie.safetensors"), std::string::npos) << e;
    EXPECT_NE(e.find("'b.bias'"), std::string::npos) << e;
    EXPECT_NE(e.find("outside the file"), std::string::npos) << e;
}

TEST(Safetensors, OverlappingTensors) {
    TempDir tmp;
    const std::string e = lie(tmp, [](auto& h) { h["b.bias"]["data_offsets"] = {16, 24}; });
    EXPECT_NE(e.find("overlap"), std::string::npos) << e;
    EXPECT_NE(e.find("'a.weight'"), std::string::npos) << e;
    EXPECT_NE(e.find("'b.bias'"), std::string::npos) << e;
}

TEST(Safetensors, SizeDisagreesWithDtypeAndShape) {
    TempDir tmp;
    std::string e = lie(tmp, [](auto& h) { h["a.weight"]["shape"] = {3, 3}; });
    EXPECT_NE(e.find("'a.weight'"), std::string::npos) << e;
    EXPECT_NE(e.find("needs 36"), std::string::npos) << e;
    e = lie(tmp, [](auto& h) { h["a.weight"]["dtype"] = "BF16"; });
    EXPECT_NE(e.find("needs 12"), std::string::npos) << e;
}

TEST(Safetensors, BadDtype) {
    TempDir tmp;
    const std::string e = lie(tmp, [](auto& h) { h["a.weight"]["dtype"] = "F42"; });
    EXPECT_NE(e.find("unknown dtype 'F42'"), std::string::npos) << e;
    EXPECT_NE(e.find("'a.weight'"), std::string::npos) << e;
}

TEST(Safetensors, MalformedEntries) {
    TempDir tmp;
    const std::pair<std::function<void(nlohmann::json&)>, const char*> cases[] = {
        {[](auto& h) {
             h["a.weight"]["shape"] = {2, -3};
         },
         "negative"},
        {[](auto& h) {
             h["a.weight"]["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40};
         },
         "too large"},
        {[](auto& h) { h["a.weight"]["data_offsets"] = {0}; }, "data_offsets"},
        {[](auto& h) {
             h["a.weight"]["data_offsets"] = {24, 0};
         },
         "end before begin"},
        {[](auto& h) {
             h["a.weight"]["data_offsets"] = {0.5, 24};
         },
         "data_offsets"},
        {[](auto& h) { h["a.weight"].erase("dtype"); }, "dtype"},
        {[](auto& h) { h["a.weight"] = 5; }, "not a JSON object"},
        {[](auto& h) {
             h["__metadata__"] = {{"format", 1}};
         },
         "__metadata__"},
    };
    for (const auto& [edit, want] : cases) {
        const std::string e = lie(tmp, edit);
        EXPECT_NE(e.find(want), std::string::npos) << "expected '" << want << "' in: " << e;
    }
}

TEST(Safetensors, HeaderLengthAndJson) {
    TempDir tmp;
    const std::string path = tmp.file("h.safetensors");
    write_bytes(path, with_length(uint64_t(1) << 40, "{}"));
    EXPECT_NE(open_error(path).find("exceeds the"), std::string::npos) << open_error(path);
    write_bytes(path, with_length(1000, "{}      "));
    EXPECT_NE(open_error(path).find("runs past the end"), std::string::npos) << open_error(path);
    write_bytes(path, with_length(16, "{\"a\": [1, 2,    "));  // 16 bytes, cut off
    EXPECT_NE(open_error(path).find("not valid JSON"), std::string::npos) << open_error(path);
    write_bytes(path, with_length(8, "[1, 2]  "));
    EXPECT_NE(open_error(path).find("not a JSON object"), std::string::npos) << open_error(path);
    write_bytes(path, "abc");
    EXPECT_NE(open_error(path).find("shorter than"), std::string::npos) << open_error(path);
    EXPECT_NE(open_error(path).find("h.safetensors"), std::string::npos) << open_error(path);
}

// ---- checkpoint-level checks, on copies of the test folders --------------------

// Copies a test folder's JSON files and rewrites its safetensors after `edit`.
void copy_checkpoint(const std::string& folder, const TempDir& dst,
                     const std::function<void(std::vector<StEntry>&)>& edit) {
    for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(hf_dir(folder) / f, dst.path() / f);
    const auto src = SafetensorsFile::open((hf_dir(folder) / "model.safetensors").string());
    std::vector<StEntry> entries;
    for (const auto& t : src->tensors())
        entries.push_back({t.name, std::string(convert::st_dtype_name(t.dtype)), t.shape, src->read_all(t)});
    edit(entries);
    write_safetensors(dst.file("model.safetensors"), entries);
}

std::string convert_error(const TempDir& dir) {
    try {
        convert::convert_hf_to_gguf(dir.path().string(), dir.file("out.gguf"), {});
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

void erase_tensor(std::vector<StEntry>& v, const std::string& name) {
    std::erase_if(v, [&](const StEntry& e) { return e.name == name; });
}

TEST(ConvertErrors, LyingHeaderNamesFile) {
    DSM_REQUIRE_TESTDATA();
    TempDir dir;
    copy_checkpoint("dsllm-tiny", dir, [](auto&) {});
    // Truncate the data: the last tensor's offsets now lie outside the file.
    fs::resize_file(dir.path() / "model.safetensors", fs::file_size(dir.path() / "model.safetensors") - 4);
    const std::string e = convert_error(dir);
    EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;
    EXPECT_NE(e.find("outside the file"), std::string::npos) << e;
}

TEST(ConvertErrors, MissingUnexpectedAndMisshapenTensors) {
    DSM_REQUIRE_TESTDATA();
    {
        TempDir dir;
        copy_checkpoint("dsllm-tiny", dir, [](auto& v) { erase_tensor(v, "model.layers.1.self_attn.k_proj.weight"); });
        const std::string e = convert_error(dir);
        EXPECT_NE(e.find("'model.layers.1.self_attn.k_proj.weight'"), std::string::npos) << e;
    }
    {
        TempDir dir;
        copy_checkpoint("dsllm-tiny", dir, [](auto& v) {
            v.push_back({"model.layers.0.mlp.extra.weight", "F32", {1}, f32_bytes({1})});
        });
        const std::string e = convert_error(dir);
        EXPECT_NE(e.find("unexpected tensor 'model.layers.0.mlp.extra.weight'"), std::string::npos) << e;
    }
    {
        TempDir dir;
        copy_checkpoint("dsllm-tiny", dir, [](auto& v) {
            for (auto& t : v)
                if (t.name == "model.layers.0.mlp.up_proj.weight") t.shape = {64, 128};  // transposed
        });
        const std::string e = convert_error(dir);
        EXPECT_NE(e.find("'model.layers.0.mlp.up_proj.weight' has shape [64, 128], expected [128, 64]"),
                  std::string::npos)
            << e;
    }
}

TEST(ConvertErrors, MissingExpertAndBadFp8Scales) {
    DSM_REQUIRE_TESTDATA();
    {
        TempDir dir;
        copy_checkpoint("dsv3-tiny", dir,
                        [](auto& v) { erase_tensor(v, "model.layers.2.mlp.experts.5.up_proj.weight"); });
        const std::string e = convert_error(dir);
        EXPECT_NE(e.find("'model.layers.2.mlp.experts.5.up_proj.weight'"), std::string::npos) << e;
    }
    {
        TempDir dir;
        copy_checkpoint("dsv3-tiny-fp8-blk16x48", dir,
                        [](auto& v) { erase_tensor(v, "model.layers.1.self_attn.kv_b_proj.weight_scale_inv"); });
        const std::string e = convert_error(dir);
        EXPECT_NE(e.find("FP8 tensor 'model.layers.1.self_attn.kv_b_proj.weight' has no"), std::string::npos) << e;
    }
    {
        TempDir dir;
        copy_checkpoint("dsv3-tiny-fp8-blk16x48", dir, [](auto& v) {
            for (auto& t : v)
                if (t.name == "model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv") {
                    t.shape = {2, 3};  // should be [3, 2]: 40 rows in tiles of 16, 64 columns in tiles of 48
                }
        });
        const std::string e = convert_error(dir);
        EXPECT_NE(
            e.find("'model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv' has shape [2, 3], expected [3, 2]"),
            std::string::npos)
            << e;
    }
}

TEST(ConvertErrors, ShardIndexMustMatchFiles) {
    DSM_REQUIRE_TESTDATA();
    TempDir dir;
    for (const auto& e : fs::directory_iterator(hf_dir("dsv2lite-tiny")))
        if (e.is_regular_file()) fs::copy_file(e.path(), dir.path() / e.path().filename());
    auto index = nlohmann::json::parse(read_file(dir.path() / "model.safetensors.index.json"));
    index["weight_map"]["model.layers.14.mlp.experts.1.up_proj.weight"] = "model-00001-of-00002.safetensors";
    std::ofstream(dir.path() / "model.safetensors.index.json") << index.dump();
    const std::string e = convert_error(dir);
    EXPECT_NE(e.find("model-00002-of-00002.safetensors"), std::string::npos) << e;
    EXPECT_NE(e.find("'model.layers.14.mlp.experts.1.up_proj.weight'"), std::string::npos) << e;
}

TEST(ConvertErrors, BadConfig) {
    DSM_REQUIRE_TESTDATA();
    TempDir dir;
    copy_checkpoint("dsllm-tiny", dir, [](auto&) {});
    auto cfg = nlohmann::json::parse(read_file(dir.path() / "config.json"));
    cfg["architectures"] = {"MistralForCausalLM"};
    std::ofstream(dir.path() / "config.json") << cfg.dump();
    std::string e = convert_error(dir);
    EXPECT_NE(e.find("unsupported architecture 'MistralForCausalLM'"), std::string::npos) << e;
    cfg["architectures"] = {"LlamaForCausalLM"};
    cfg.erase("hidden_size");
    std::ofstream(dir.path() / "config.json") << cfg.dump();
    e = convert_error(dir);
    EXPECT_NE(e.find("missing key 'hidden_size'"), std::string::npos) << e;
    EXPECT_NE(e.find("config.json"), std::string::npos) << e;
}

}  // namespace
}  // namespace dsm::test
