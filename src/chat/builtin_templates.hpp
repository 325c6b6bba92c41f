// Jinja sources of the built-in chat templates (see ChatTemplate::builtin).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace dsm {

// Source of a builtin template or alias; nullptr for an unknown name.
const char* builtin_template_source(std::string_view name);
// Canonical names (without aliases).
std::vector<std::string> builtin_template_names();

}  // namespace dsm
