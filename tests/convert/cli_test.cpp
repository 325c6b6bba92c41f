// The dsm convert / quantize / imatrix / kld commands end to end (small inputs).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "convert_util.hpp"
#include "formats/gguf.hpp"

namespace dsm::test {
namespace {

struct CliRun {
    int status;
    std::string output;  // stdout and stderr
};

CliRun run_cli(const std::string& args) {
    const std::string cmd = std::string(DSM_CLI_PATH) + " " + args + " 2>&1";
    CliRun r{-1, ""};
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

#define REQUIRE_CLI()                                                                           \
    do {                                                                                        \
        if (!fs::exists(DSM_CLI_PATH)) GTEST_SKIP() << "dsm CLI not built at " << DSM_CLI_PATH; \
    } while (0)

TEST(Cli, ConvertQuantizeImatrixKld) {
    DSM_REQUIRE_TESTDATA();
    REQUIRE_CLI();
    TempDir tmp;
    const std::string f32 = tmp.file("dsv3.gguf"), q = tmp.file("dsv3.q8_0.gguf"), im = tmp.file("im.dat");
    CliRun r = run_cli("convert " + hf_dir("dsv3-tiny-fp8").string() + " -o " + f32 + " -t 2");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("49 tensors"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("deepseek2"), std::string::npos) << r.output;

    const std::string text = (testdata_dir() / "text" / "kjv-heldout.txt").string();
    r = run_cli("imatrix -m " + f32 + " -f " + text + " -o " + im + " --ctx 64 --chunks 2 -t 2");
    ASSERT_EQ(r.status, 0) << r.output;
    r = run_cli("quantize " + f32 + " " + q + " q8_0 --imatrix " + im + " -t 2");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(gguf::File::open(q)->get_int("general.file_type"), 7);

    // Random-weight model, KJV text: only the plumbing is checked here.
    r = run_cli("kld --base " + f32 + " -m " + q + " -f " + text + " --ctx 64 --chunks 2 -t 2");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("mean KLD"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("same top p"), std::string::npos) << r.output;
}

TEST(Cli, ErrorsAreReported) {
    DSM_REQUIRE_TESTDATA();
    REQUIRE_CLI();
    TempDir tmp;
    CliRun r = run_cli("convert " + tmp.path().string() + " -o " + tmp.file("x.gguf"));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
    r = run_cli("quantize " + model_path("dsllm-tiny.f32.gguf") + " " + tmp.file("x.gguf") + " q9_9");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("unknown type 'q9_9'"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace dsm::test
