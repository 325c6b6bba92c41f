// GGUF reader and writer: real files, a write/read round trip, and malformed input.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "common/testdata.hpp"
#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "formats/gguf_writer.hpp"

namespace dsm::gguf {
namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("dsm_gguf_" + std::to_string(::getpid()) + "_" + name)).string();
}

// Parses bytes and returns the error message ("" if it parsed).
std::string parse_error(const std::string& bytes) {
    try {
        File::parse(MappedFile::from_bytes(bytes.data(), bytes.size()), "mem.gguf");
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

// Little-endian byte builder for hand-made headers.
struct Bytes {
    std::string s;
    template <typename T>
    Bytes& pod(T v) {
        s.append(reinterpret_cast<const char*>(&v), sizeof v);
        return *this;
    }
    Bytes& str(const std::string& x) {
        pod<uint64_t>(x.size());
        s += x;
        return *this;
    }
    Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        s += "GGUF";
        return pod<uint32_t>(version).pod<uint64_t>(n_tensors).pod<uint64_t>(n_kv);
    }
    Bytes& kv_u32(const std::string& k, uint32_t v) { return str(k).pod<uint32_t>(4).pod<uint32_t>(v); }
    Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
        str(name).pod<uint32_t>(uint32_t(ne.size()));
        for (auto d : ne) pod<uint64_t>(d);
        return pod<uint32_t>(type).pod<uint64_t>(offset);
    }
    Bytes& pad_to(size_t align) {
        while (s.size() % align) s += '\0';
        return *this;
    }
    Bytes& zeros(size_t n) {
        s.append(n, '\0');
        return *this;
    }
};

TEST(Gguf, ReadsEveryTestModel) {
    DSM_REQUIRE_TESTDATA();
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(test::testdata_dir() / "models")) {
        if (e.path().extension() != ".gguf") continue;
        auto f = File::open(e.path().string());
        EXPECT_FALSE(f->tensors().empty()) << e.path();
        EXPECT_TRUE(f->get_string("general.architecture").has_value()) << e.path();
        for (const auto& t : f->tensors()) {
            EXPECT_GE(t.data, f->mapping().data() + f->data_offset());
            EXPECT_LE(t.data + t.bytes, f->mapping().data() + f->file_size());
        }
        ++n;
    }
    EXPECT_GE(n, 20);
}

TEST(Gguf, Stories260KMetadata) {
    DSM_REQUIRE_TESTDATA();
    auto f = File::open((test::testdata_dir() / "models/stories260K.gguf").string());
    EXPECT_EQ(f->require_string("general.architecture"), "llama");
    EXPECT_EQ(f->require_int("llama.block_count"), 5);
    EXPECT_EQ(f->require_int("llama.embedding_length"), 64);
    EXPECT_NEAR(f->require_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
    auto tokens = f->get_string_array("tokenizer.ggml.tokens");
    ASSERT_TRUE(tokens);
    EXPECT_EQ(tokens->size(), 512u);
    EXPECT_EQ((*tokens)[1], "<s>");
    const TensorInfo* emb = f->find_tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->ne, (std::vector<int64_t>{64, 512}));
    EXPECT_EQ(emb->type, DType::F32);
    EXPECT_EQ(emb->bytes, 64u * 512u * 4u);
    // Missing and mistyped keys are named in the error.
    EXPECT_THROW(f->require_int("llama.no_such_key"), Error);
    try {
        f->get_int("general.architecture");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("general.architecture"), std::string::npos);
    }
}

TEST(Gguf, WriterRoundTripsAllValueTypes) {
    Writer w;
    w.set_u32("a.u32", 7);
    w.set_i32("a.i32", -3);
    w.set_u64("a.u64", 1ull << 40);
    w.set_f32("a.f32", 1.5f);
    w.set_bool("a.bool", true);
    w.set_string("a.str", "héllo");
    w.set_strings("a.strs", {"x", "", "yz"});
    w.set_f32s("a.f32s", {1, 2, 3});
    w.set_i32s("a.i32s", {-1, 0, 1});
    Value nested;
    nested.type = ValueType::ARRAY;
    nested.elem_type = ValueType::ARRAY;
    for (int i = 0; i < 2; ++i) {
        Value inner;
        inner.type = ValueType::ARRAY;
        inner.elem_type = ValueType::I64;
        for (int j = 0; j <= i; ++j) {
            Value e;
            e.type = ValueType::I64;
            e.num.i = 10 * i + j;
            inner.arr.push_back(e);
        }
        nested.arr.push_back(inner);
    }
    w.set_value("a.nested", nested);
    std::vector<float> data(64 * 3);
    for (size_t i = 0; i < data.size(); ++i) data[i] = float(i);
    w.add_tensor("t.weight", DType::F32, {64, 3}, data.data());
    w.alignment = 64;
    const std::string path = temp_path("rt.gguf");
    w.write(path);

    auto f = File::open(path);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->require_int("a.u32"), 7);
    EXPECT_EQ(f->require_int("a.i32"), -3);
    EXPECT_EQ(f->require_int("a.u64"), int64_t(1) << 40);
    EXPECT_EQ(f->require_float("a.f32"), 1.5);
    EXPECT_EQ(f->get_bool("a.bool"), true);
    EXPECT_EQ(f->require_string("a.str"), "héllo");
    EXPECT_EQ(*f->get_string_array("a.strs"), (std::vector<std::string>{"x", "", "yz"}));
    EXPECT_EQ(*f->get_float_array("a.f32s"), (std::vector<float>{1, 2, 3}));
    EXPECT_EQ(*f->get_int_array("a.i32s"), (std::vector<int64_t>{-1, 0, 1}));
    const Value* n = f->find("a.nested");
    ASSERT_NE(n, nullptr);
    ASSERT_EQ(n->arr.size(), 2u);
    EXPECT_EQ(n->arr[1].arr[1].as_int(), 11);
    const TensorInfo* t = f->find_tensor("t.weight");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->offset % 64, 0u);
    EXPECT_EQ(std::memcmp(t->data, data.data(), data.size() * 4), 0);
    std::filesystem::remove(path);
}

TEST(Gguf, EveryTruncationIsAnErrorNotACrash) {
    DSM_REQUIRE_TESTDATA();
    const std::string bytes = test::read_file(test::testdata_dir() / "models/dsllm-tiny.f32.gguf");
    // Every prefix inside the header and tensor table, then a stride through the data.
    auto f = File::parse(MappedFile::from_bytes(bytes.data(), bytes.size()), "full");
    const size_t header = f->data_offset();
    for (size_t len = 0; len < bytes.size(); len += (len < header + 64 ? 1 : 4099)) {
        const std::string msg = parse_error(bytes.substr(0, len));
        ASSERT_FALSE(msg.empty()) << "prefix of " << len << " bytes parsed";
        ASSERT_NE(msg.find("mem.gguf"), std::string::npos) << msg;
    }
}

TEST(Gguf, MalformedHeadersAreNamed) {
    auto expect = [](const std::string& bytes, const std::string& needle) {
        const std::string msg = parse_error(bytes);
        EXPECT_NE(msg.find(needle), std::string::npos) << "got: '" << msg << "', wanted '" << needle << "'";
        EXPECT_NE(msg.find("byte offset"), std::string::npos) << msg;
    };
    expect("GGUX" + std::string(20, '\0'), "bad magic");
    expect(Bytes().header(0, 0, 1).s, "unsupported GGUF version 1");
    expect(Bytes().header(0, 1ull << 60).s, "metadata count");
    expect(Bytes().header(1ull << 60, 0).s, "tensor count");
    expect(Bytes().header(0, 1).pod<uint64_t>(1ull << 50).zeros(32).s, "runs past the end");
    expect(Bytes().header(0, 1).str("k").pod<uint32_t>(99).zeros(8).s, "unknown value type 99");
    expect(Bytes().header(0, 2).kv_u32("k", 1).kv_u32("k", 2).s, "duplicate metadata key 'k'");
    expect(Bytes().header(0, 1).str("k").pod<uint32_t>(9).pod<uint32_t>(4).pod<uint64_t>(1ull << 40).s, "array of");
    expect(Bytes().header(0, 1).str("k").pod<uint32_t>(7).pod<uint8_t>(5).s, "bool value 5");
    expect(Bytes().header(1, 0).tensor("t", {32, 1, 1, 1, 1}, 0, 0).zeros(64).s, "5 dimensions");
    expect(Bytes().header(1, 0).tensor("t", {0}, 0, 0).zeros(64).s, "invalid dimension 0");
    expect(Bytes().header(1, 0).tensor("t", {1ull << 40, 1ull << 40}, 0, 0).zeros(64).s, "invalid dimension");
    expect(Bytes().header(1, 0).tensor("t", {32}, 77, 0).zeros(64).s, "unknown type id 77");
    expect(Bytes().header(1, 0).tensor("t", {33}, 8, 0).zeros(64).s, "not a multiple of the q8_0 block size");
    expect(Bytes().header(2, 0).tensor("t", {8}, 0, 0).tensor("t", {8}, 0, 32).zeros(128).s, "duplicate tensor name 't'");
    expect(Bytes().header(1, 0).tensor("t", {8}, 0, 3).pad_to(32).zeros(64).s, "not a multiple of the alignment");
    expect(Bytes().header(1, 0).tensor("t", {1024}, 0, 0).pad_to(32).zeros(64).s, "lies outside the file");
    expect(Bytes().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad_to(32).zeros(128).s,
           "overlaps tensor 'a'");
}

TEST(Gguf, BadAlignmentIsRefused) {
    const std::string msg = parse_error(Bytes().header(0, 1).kv_u32("general.alignment", 24).s);
    EXPECT_NE(msg.find("not a power of two"), std::string::npos) << msg;
}

TEST(Gguf, MissingFileNamesThePath) {
    try {
        File::open("/nonexistent/model.gguf");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf"), std::string::npos);
    }
}

}  // namespace
}  // namespace dsm::gguf
