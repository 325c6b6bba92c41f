// Locates ../shared/testdata for tests: $DSM_TESTDATA if set, else the path baked in
// at configure time. Tests that need it call DSM_REQUIRE_TESTDATA() and are skipped
// with a clear message when it is absent.
#pragma once
#include <gtest/gtest.h>

#include <cstring>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace dsm::test {

inline std::filesystem::path testdata_dir() {
    if (const char* env = std::getenv("DSM_TESTDATA"); env && *env) return env;
    return DSM_DEFAULT_TESTDATA;
}

inline bool have_testdata() { return std::filesystem::exists(testdata_dir() / "README.md"); }

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline std::vector<float> read_f32(const std::filesystem::path& p) {
    std::string bytes = read_file(p);
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}

}  // namespace dsm::test

#define DSM_REQUIRE_TESTDATA()                                                              \
    do {                                                                                    \
        if (!::dsm::test::have_testdata())                                                  \
            GTEST_SKIP() << "test data not found at " << ::dsm::test::testdata_dir()        \
                         << " (set DSM_TESTDATA to the shared/testdata folder)";            \
    } while (0)
