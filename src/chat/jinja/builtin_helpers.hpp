// Internal helpers shared by the filter, test and method implementations.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja/interpreter.hpp"
#include "chat/jinja/value.hpp"

namespace dsm::jinja {

// Argument `index` (positional) or `name` (keyword); null if not given.
inline const Value* arg(const CallArgs& args, size_t index, std::string_view name) {
    if (index < args.positional.size()) return &args.positional[index];
    return args.named_arg(name);
}

// Rejects more positional arguments than `names`, and unknown keywords.
inline void check_args(Interpreter& in, const CallArgs& args, std::string_view fn,
                       std::initializer_list<std::string_view> names) {
    if (args.positional.size() > names.size())
        in.fail(std::string(fn) + "() takes at most " + std::to_string(names.size()) + " argument(s), " +
                std::to_string(args.positional.size()) + " given");
    for (const auto& [k, v] : args.named) {
        bool known = false;
        for (std::string_view n : names) known = known || n == k;
        if (!known) in.fail(std::string(fn) + "() got an unexpected keyword argument '" + k + "'");
    }
}

inline bool arg_bool(const CallArgs& args, size_t index, std::string_view name, bool dflt) {
    const Value* v = arg(args, index, name);
    return v ? truthy(*v) : dflt;
}

inline int64_t arg_int(Interpreter& in, const CallArgs& args, size_t index, std::string_view name, int64_t dflt) {
    const Value* v = arg(args, index, name);
    if (!v || v->is_none()) return dflt;
    if (v->is_int()) return v->as_int();
    if (v->is_bool()) return v->as_bool() ? 1 : 0;
    in.fail("argument '" + std::string(name) + "' must be an integer, got " + type_name(*v));
}

// A required or optional string argument (null when absent or None).
inline const std::string* arg_str(Interpreter& in, const CallArgs& args, size_t index, std::string_view name,
                                  bool required) {
    const Value* v = arg(args, index, name);
    if (!v || v->is_none()) {
        if (required) in.fail("missing argument '" + std::string(name) + "'");
        return nullptr;
    }
    if (!v->is_string()) in.fail("argument '" + std::string(name) + "' must be a string, got " + type_name(*v));
    return &v->as_string();
}

// ---- Python str operations (strings.cpp). Case mappings are Unicode's simple
// (one-to-one) mappings, so the few one-to-many ones of Python (ß -> SS) differ. ----
std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right);
std::vector<std::string> py_split(const std::string& s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> py_rsplit(const std::string& s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> py_splitlines(const std::string& s, bool keepends);
std::string py_replace(Interpreter& in, const std::string& s, const std::string& old, const std::string& repl,
                       int64_t count);
std::string py_upper(const std::string& s);
std::string py_lower(const std::string& s);
std::string py_title(const std::string& s);
std::string py_capitalize(const std::string& s);
std::string jinja_title(const std::string& s);  // the `title` filter
bool py_isupper(const std::string& s);
bool py_islower(const std::string& s);
bool is_word_char(uint32_t cp);  // Python regex \w

Value strings_to_list(std::vector<std::string> parts);

}  // namespace dsm::jinja
