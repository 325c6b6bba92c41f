// The dsm command-line tool, driven as a user would: through pipes, checked against
// llama.cpp's goldens where there is one.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "common/testdata.hpp"
#include "formats/gguf.hpp"

namespace dsm::test {
namespace {

struct CliRun {
    int status;
    std::string out;  // stdout
    std::string err;  // stderr
};

// Runs `dsm <args>` with `input` on stdin.
CliRun dsm(const std::string& args, const std::string& input = "") {
    const auto dir = std::filesystem::temp_directory_path();
    const std::string in = (dir / ("dsm_cli_in_" + std::to_string(::getpid()))).string();
    const std::string err = (dir / ("dsm_cli_err_" + std::to_string(::getpid()))).string();
    {
        std::FILE* f = std::fopen(in.c_str(), "wb");
        std::fwrite(input.data(), 1, input.size(), f);
        std::fclose(f);
    }
    const std::string cmd = std::string(DSM_CLI_PATH) + " " + args + " < " + in + " 2> " + err;
    std::FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int status = pclose(p);
    CliRun r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, read_file(err)};
    std::filesystem::remove(in);
    std::filesystem::remove(err);
    return r;
}

std::string model(const std::string& name) { return (testdata_dir() / "models" / name).string(); }

nlohmann::json golden_json(const std::string& m, const std::string& file) {
    return nlohmann::json::parse(read_file(testdata_dir() / "golden" / m / file));
}

TEST(Cli, RunContinuesTheStoryAsLlamaCppDoes) {
    DSM_REQUIRE_TESTDATA();
    const auto tokens = golden_json("stories260K", "prompt_8.tokens.json");
    const auto greedy = golden_json("stories260K", "prompt_8.greedy.json");
    const std::string prompt = tokens["text"];
    const CliRun r = dsm("run -m " + model("stories260K.gguf") + " -p \"" + prompt + "\" -n 32 --temp 0 -t 1");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, prompt + greedy["continuation_text"].get<std::string>() + "\n");
    for (const char* part : {"load", "first token at", "prompt 8 tok", "tok/s", "generated 32 tok", "peak RSS"})
        EXPECT_NE(r.err.find(part), std::string::npos) << part << " missing from: " << r.err;
}

TEST(Cli, RunPrintsGreedyIdsAsLlamaCppDoes) {
    DSM_REQUIRE_TESTDATA();
    const auto tokens = golden_json("dsllm-tiny.f32", "prompt_8.tokens.json")["tokens"].get<std::vector<int>>();
    const auto greedy = golden_json("dsllm-tiny.f32", "prompt_8.greedy.json")["continuation"].get<std::vector<int>>();
    std::string list, expected;
    for (int t : tokens) list += (list.empty() ? "" : ",") + std::to_string(t);
    for (int t : greedy) expected += std::to_string(t) + " ";
    const CliRun r = dsm("run -m " + model("dsllm-tiny.f32.gguf") + " --tokens " + list +
                         " -n 32 --temp 0 --ignore-eos --ids --kv-type f32 -t 1");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected + "\n");
}

// gen-model's two outputs describe the same model: the Hugging Face folder, through
// the converter, gives the tensors (names, shapes, types) of the GGUF gen-model writes.
TEST(Cli, GenModelHfCheckpointConvertsToTheGgufShapes) {
    const auto dir = std::filesystem::temp_directory_path() / ("dsm_gen_hf_" + std::to_string(::getpid()));
    const std::string hf = (dir / "hf").string(), a = (dir / "a.gguf").string(), b = (dir / "b.gguf").string();
    const std::string shape = "--shape deepseek-coder-1.3b --layers 1";
    ASSERT_EQ(dsm("gen-model " + shape + " --hf -o " + hf).status, 0);
    ASSERT_EQ(dsm("gen-model " + shape + " --type q8_0 -o " + a).status, 0);
    const CliRun c = dsm("convert " + hf + " -o " + b + " --type q8_0");
    ASSERT_EQ(c.status, 0) << c.err;
    const auto fa = gguf::File::open(a), fb = gguf::File::open(b);
    ASSERT_EQ(fa->tensors().size(), fb->tensors().size());
    for (const auto& t : fa->tensors()) {
        const auto* u = fb->find_tensor(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        EXPECT_EQ(u->ne, t.ne) << t.name;
        EXPECT_EQ(u->type, t.type) << t.name;
    }
    EXPECT_EQ(fb->get_string("general.architecture"), "llama");
    EXPECT_EQ(fb->get_int("llama.rope.dimension_count"), fa->get_int("llama.rope.dimension_count"));
    std::filesystem::remove_all(dir);
    // MoE shapes have no --hf writer: refused by name, nothing written.
    const CliRun moe = dsm("gen-model --shape deepseek-v2-lite --hf -o " + (dir / "moe").string());
    EXPECT_NE(moe.status, 0);
    EXPECT_NE(moe.err.find("deepseek-v2-lite"), std::string::npos) << moe.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "moe"));
}

TEST(Cli, LogitsMatchTheGolden) {
    DSM_REQUIRE_TESTDATA();
    const auto tokens = golden_json("r1qwen-tiny.f32", "prompt_8.tokens.json")["tokens"].get<std::vector<int>>();
    std::string list;
    for (int t : tokens) list += (list.empty() ? "" : ",") + std::to_string(t);
    const std::string out = (std::filesystem::temp_directory_path() / "dsm_cli_logits.f32").string();
    const CliRun r = dsm("logits -m " + model("r1qwen-tiny.f32.gguf") + " --tokens " + list + " -o " + out);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto got = read_f32(out);
    const auto want = read_f32(testdata_dir() / "golden/r1qwen-tiny.f32/prompt_8.logits.f32");
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4 + 1e-5 * std::fabs(want[i])) << i;
    std::filesystem::remove(out);
}

TEST(Cli, ChatRawContinuationMatchesGolden) {
    DSM_REQUIRE_TESTDATA();
    const auto tokens = golden_json("stories260K", "prompt_8.tokens.json");
    const auto greedy = golden_json("stories260K", "prompt_8.greedy.json");
    const CliRun r = dsm("chat -m " + model("stories260K.gguf") + " --template raw --temp 0 -n 32 -t 1",
                      tokens["text"].get<std::string>() + "\n");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, greedy["continuation_text"].get<std::string>() + "\n");
}

TEST(Cli, ChatKeepsTheCacheBetweenTurnsAndResets) {
    DSM_REQUIRE_TESTDATA();
    const CliRun r = dsm("chat -m " + model("stories260K.gguf") + " --temp 0 -n 12 -t 1 -v",
                      "Once upon a time\nThe cat sat\n/reset\nOnce upon a time\n");
    ASSERT_EQ(r.status, 0) << r.err;
    // Three replies and the reset notice.
    std::vector<std::string> lines;
    for (size_t a = 0, b; (b = r.out.find('\n', a)) != std::string::npos; a = b + 1) lines.push_back(r.out.substr(a, b - a));
    ASSERT_GE(lines.size(), 4u) << r.out;
    const auto reset = std::find(lines.begin(), lines.end(), "[conversation reset]");
    ASSERT_NE(reset, lines.end()) << r.out;
    // After /reset the same question gets the same (greedy) reply.
    const std::string first(lines.front()), again(*(reset + 1));
    EXPECT_EQ(first, again);
    // Turn 2 evaluates only its own tokens: fewer than the whole conversation.
    std::regex stat(R"(\[(\d+) new prompt tokens, (\d+) generated, [0-9.]+ tok/s \| context (\d+)/)");
    std::vector<std::array<int, 3>> turns;
    for (std::sregex_iterator it(r.err.begin(), r.err.end(), stat), end; it != end; ++it)
        turns.push_back({std::stoi((*it)[1]), std::stoi((*it)[2]), std::stoi((*it)[3])});
    ASSERT_EQ(turns.size(), 3u) << r.err;
    EXPECT_LT(turns[1][0], turns[1][2] - turns[0][2] + 1);  // new tokens of turn 2 < its growth + 1
    EXPECT_GT(turns[1][2], turns[0][2] + turns[1][0] - 1);   // the cache kept turn 1
    EXPECT_EQ(turns[2][0], turns[0][0]);                     // after reset: from scratch
}

TEST(Cli, TokenizeBatchMode) {
    DSM_REQUIRE_TESTDATA();
    const auto tokens = golden_json("kjv-llama.f32", "prompt_40.tokens.json");
    nlohmann::json in = {{"text", tokens["text"]}};
    const CliRun r = dsm("tokenize -m " + model("kjv-llama.f32.gguf") + " --batch", in.dump() + "\n");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["ids"], tokens["tokens"]);
}

TEST(Cli, InfoDescribesTheModel) {
    DSM_REQUIRE_TESTDATA();
    const CliRun r = dsm("info " + model("dsv2lite-tiny.q8_0.gguf") + " --ctx 4096");
    ASSERT_EQ(r.status, 0) << r.err;
    for (const char* part : {"architecture:  deepseek2", "kv_lora_rank 32", "q8_0", "compressed MLA latent",
                             "memory at context 4096"})
        EXPECT_NE(r.out.find(part), std::string::npos) << part << " missing from:\n" << r.out;
}

TEST(Cli, BadInputGivesAClearErrorAndExitCode) {
    DSM_REQUIRE_TESTDATA();
    CliRun r = dsm("run -m /nonexistent.gguf -p hi");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("/nonexistent.gguf: cannot open"), std::string::npos) << r.err;
    r = dsm("logits -m " + model("stories260K.gguf") + " --tokens 1,9999 -o /dev/null");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("token id 9999"), std::string::npos) << r.err;
    r = dsm("run -m " + model("stories260K.gguf") + " --tokens 1,x");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("bad token id 'x'"), std::string::npos) << r.err;
    r = dsm("frobnicate");
    EXPECT_EQ(r.status, 2);
}

}  // namespace
}  // namespace dsm::test
