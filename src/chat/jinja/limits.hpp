// Bounds on one template render; exceeding any of them is a dsm::Error.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dsm::jinja {

struct Limits {
    uint64_t max_steps = 20'000'000;      // evaluated nodes + loop iterations + produced bytes / 16
    size_t max_output_bytes = 32u << 20;  // also caps every string the template builds
    int max_depth = 500;                  // runtime nesting: expressions, blocks, macro calls
    int max_parse_depth = 256;            // syntactic nesting (and chain length) the parser accepts
};

}  // namespace dsm::jinja
