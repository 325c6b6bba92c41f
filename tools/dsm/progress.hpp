// A one-line progress bar on stderr for the converter and the quantizer: items
// (tensors, chunks) and optionally bytes. Redrawn in place on a terminal; when
// stderr is a file or pipe only the final line is written.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "commands.hpp"

namespace dsm::cli {

class ProgressBar {
public:
    explicit ProgressBar(std::string what) : what_(std::move(what)), tty_(isatty(STDERR_FILENO) != 0) {}

    // bytes / total_bytes: optional byte counts shown after the items.
    void update(size_t done, size_t total, uint64_t bytes = 0, uint64_t total_bytes = 0) {
        const auto now = std::chrono::steady_clock::now();
        const bool last = done >= total;
        if (!last && (!tty_ || now - last_draw_ < std::chrono::milliseconds(100))) return;
        last_draw_ = now;
        const int width = 30;
        const int filled = total ? int(double(done) / double(total) * width) : width;
        std::string bar(size_t(filled), '=');
        if (filled < width) bar += '>' + std::string(size_t(width - filled - 1), ' ');
        std::fprintf(stderr, "%s[%s] %zu/%zu %s", tty_ ? "\r" : "", bar.c_str(), done, total, what_.c_str());
        if (total_bytes || bytes)
            std::fprintf(stderr, "  %s/%s", human_bytes(double(bytes)).c_str(),
                         human_bytes(double(total_bytes ? total_bytes : bytes)).c_str());
        const double secs = std::chrono::duration<double>(now - start_).count();
        std::fprintf(stderr, "  %.1f s%s", secs, last ? "\n" : "");
        std::fflush(stderr);
    }

private:
    std::string what_;
    bool tty_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace dsm::cli
