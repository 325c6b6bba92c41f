#include <sys/resource.h>

#include <cstdio>
#include <sstream>

#include "commands.hpp"
#include "dsm/dsm.hpp"

namespace dsm::cli {

void add_load_options(CLI::App& app, LoadOptions& o) {
    app.add_flag_callback("--no-repack", [&o] { o.repack = false; },
                 "read every weight in place from the mapped file (zero copy) instead of packing the ones this "
                 "CPU's kernels read faster into private memory at load");
    app.add_flag("--huge-pages", o.huge_pages, "put packed weights on transparent huge pages (faster decode, slower load)");
    app.add_flag("--mlock", o.lock_memory, "lock the model file's pages in memory");
}

long long peak_rss_bytes() {
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    return (long long)ru.ru_maxrss * 1024;  // Linux reports KiB
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
    return buf;
}

std::vector<int> parse_token_list(const std::string& s) {
    std::vector<int> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        size_t pos = 0;
        long v = 0;
        try {
            v = std::stol(item, &pos);
        } catch (const std::exception&) {
            pos = 0;
        }
        while (pos < item.size() && item[pos] == ' ') ++pos;
        if (pos == 0 || pos != item.size()) throw Error("bad token id '" + item + "' in token list '" + s + "'");
        out.push_back(int(v));
    }
    if (out.empty()) throw Error("empty token list");
    return out;
}

}  // namespace dsm::cli
