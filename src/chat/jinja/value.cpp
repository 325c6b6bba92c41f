#include "chat/jinja/value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_map>

namespace dsm::jinja {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw Error("chat template error: " + msg); }

void check_depth(int depth) {
    if (depth > kMaxValueDepth)
        fail("value nested deeper than " + std::to_string(kMaxValueDepth) + " levels");
}

}  // namespace

// ---- Value ---------------------------------------------------------------------

Value Value::undefined(std::string hint) {
    Value v;
    std::get<UndefinedTag>(v.data_).hint = std::make_shared<const std::string>(std::move(hint));
    return v;
}

const std::string& Value::undefined_hint() const {
    static const std::string empty;
    const auto& hint = std::get<UndefinedTag>(data_).hint;
    return hint ? *hint : empty;
}

double Value::as_number() const {
    switch (kind()) {
        case Kind::Bool: return as_bool() ? 1.0 : 0.0;
        case Kind::Int: return static_cast<double>(as_int());
        case Kind::Float: return as_float();
        default: fail("expected a number, got " + type_name(*this));
    }
}

int Value::depth() const {
    if (is_array()) return as_array().depth;
    if (is_object()) return as_object().is_namespace ? 1 : as_object().depth;
    return 0;
}

bool Value::same_as(const Value& other) const {
    if (kind() != other.kind()) return false;
    switch (kind()) {
        case Kind::Array: return array_ptr() == other.array_ptr();
        case Kind::Object: return object_ptr() == other.object_ptr();
        case Kind::Callable: return std::get<CallablePtr>(data_) == std::get<CallablePtr>(other.data_);
        case Kind::String: return as_string() == other.as_string();
        default: return equals(*this, other);
    }
}

const Value* ObjectData::find(std::string_view key) const {
    for (const auto& [k, v] : entries)
        if (k.is_string() && k.as_string() == key) return &v;
    return nullptr;
}

const Value* ObjectData::find_key(const Value& key) const {
    if (key.is_string()) return find(std::string_view(key.as_string()));
    for (const auto& [k, v] : entries)
        if (!k.is_string() && equals(k, key)) return &v;
    return nullptr;
}

void ObjectData::set(Value key, Value value) {
    for (auto& [k, v] : entries) {
        if (k.is_string() == key.is_string() && equals(k, key)) {
            v = std::move(value);
            return;
        }
    }
    entries.emplace_back(std::move(key), std::move(value));
}

std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

bool is_hashable_key(const Value& key) {
    return key.is_string() || key.is_number() || key.is_none();
}

const Value* CallArgs::named_arg(std::string_view name) const {
    for (const auto& [k, v] : named)
        if (k == name) return &v;
    return nullptr;
}

Value make_array(std::vector<Value> items, bool is_tuple) {
    int d = 0;
    for (const auto& v : items) d = std::max(d, v.depth());
    check_depth(d + 1);
    auto a = std::make_shared<ArrayData>();
    a->items = std::move(items);
    a->is_tuple = is_tuple;
    a->depth = d + 1;
    return Value(ArrayPtr(std::move(a)));
}

namespace {

// Text that is equal for equal keys (1, 1.0 and true share one).
std::string key_identity(const Value& k) {
    if (k.is_string()) return "s" + k.as_string();
    if (k.is_none()) return "n";
    if (k.is_int() || k.is_bool()) return "i" + std::to_string(k.is_bool() ? int64_t{k.as_bool()} : k.as_int());
    double f = k.as_float();
    if (f == std::floor(f) && std::fabs(f) < 9.2e18) return "i" + std::to_string(static_cast<int64_t>(f));
    return "f" + format_float(f);
}

}  // namespace

Value make_object(std::vector<std::pair<Value, Value>> entries) {
    auto o = std::make_shared<ObjectData>();
    std::unordered_map<std::string, size_t> position;  // a repeated key keeps its first slot
    int d = 0;
    for (auto& [k, v] : entries) {
        if (!is_hashable_key(k)) fail("unhashable type: '" + type_name(k) + "'");
        d = std::max(d, v.depth());
        auto [it, inserted] = position.emplace(key_identity(k), o->entries.size());
        if (inserted) o->entries.emplace_back(std::move(k), std::move(v));
        else o->entries[it->second].second = std::move(v);
    }
    check_depth(d + 1);
    o->depth = d + 1;
    return Value(std::move(o));
}

// ---- Python semantics ------------------------------------------------------------

bool truthy(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined:
        case Value::Kind::None: return false;
        case Value::Kind::Bool: return v.as_bool();
        case Value::Kind::Int: return v.as_int() != 0;
        case Value::Kind::Float: return v.as_float() != 0.0;
        case Value::Kind::String: return !v.as_string().empty();
        case Value::Kind::Array: return !v.as_array().items.empty();
        case Value::Kind::Object: return v.as_object().is_namespace || !v.as_object().entries.empty();
        case Value::Kind::Callable: return true;
    }
    return false;
}

std::string format_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    // Shortest round-trip digits, then Python's layout rule: fixed notation when the
    // decimal exponent is in [-4, 16), scientific otherwise.
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    std::string sci(buf, res.ptr);
    std::string sign;
    if (sci[0] == '-') {
        sign = "-";
        sci.erase(0, 1);
    }
    size_t epos = sci.find('e');
    std::string mant = sci.substr(0, epos);
    int exp = std::stoi(sci.substr(epos + 1));
    std::string digits;
    for (char c : mant)
        if (c != '.') digits += c;
    if (exp >= -4 && exp < 16) {
        std::string out;
        if (exp < 0) {
            out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
        } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
            out = digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0') + ".0";
        } else {
            out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." + digits.substr(static_cast<size_t>(exp) + 1);
        }
        return sign + out;
    }
    std::string out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return sign + out + ebuf;
}

namespace {

void repr_string(std::string& out, const std::string& s) {
    bool has_single = s.find('\'') != std::string::npos;
    bool has_double = s.find('"') != std::string::npos;
    char quote = (has_single && !has_double) ? '"' : '\'';
    out += quote;
    std::vector<size_t> offs = utf8_offsets(s);
    for (size_t i = 0; i + 1 < offs.size(); ++i) {
        std::string_view ch(s.data() + offs[i], offs[i + 1] - offs[i]);
        uint32_t cp = utf8_first(ch);
        char buf[16];
        if (ch[0] == quote || ch[0] == '\\') {
            out += '\\';
            out += ch[0];
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad) {
            std::snprintf(buf, sizeof buf, "\\x%02x", cp);
            out += buf;
        } else if (cp == 0x2028 || cp == 0x2029) {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
            out += buf;
        } else {
            out += ch;
        }
    }
    out += quote;
}

void repr_into(std::string& out, const Value& v, int depth) {
    check_depth(depth);
    switch (v.kind()) {
        case Value::Kind::String: repr_string(out, v.as_string()); return;
        case Value::Kind::Array: {
            const ArrayData& a = v.as_array();
            out += a.is_tuple ? '(' : '[';
            for (size_t i = 0; i < a.items.size(); ++i) {
                if (i) out += ", ";
                repr_into(out, a.items[i], depth + 1);
            }
            if (a.is_tuple && a.items.size() == 1) out += ',';
            out += a.is_tuple ? ')' : ']';
            return;
        }
        case Value::Kind::Object: {
            const ObjectData& o = v.as_object();
            if (o.is_namespace) out += "<Namespace ";
            out += '{';
            bool first = true;
            for (const auto& [k, val] : o.entries) {
                if (!first) out += ", ";
                first = false;
                repr_into(out, k, depth + 1);
                out += ": ";
                repr_into(out, val, depth + 1);
            }
            out += '}';
            if (o.is_namespace) out += '>';
            return;
        }
        case Value::Kind::Undefined: out += "Undefined"; return;
        default: out += to_str(v); return;
    }
}

}  // namespace

std::string repr(const Value& v) {
    std::string out;
    repr_into(out, v, 0);
    return out;
}

std::string to_str(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined: return "";
        case Value::Kind::None: return "None";
        case Value::Kind::Bool: return v.as_bool() ? "True" : "False";
        case Value::Kind::Int: return std::to_string(v.as_int());
        case Value::Kind::Float: return format_float(v.as_float());
        case Value::Kind::String: return v.as_string();
        case Value::Kind::Callable: return "<function " + v.as_callable().name() + ">";
        default: return repr(v);
    }
}

std::string type_name(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::Undefined: return "Undefined";
        case Value::Kind::None: return "NoneType";
        case Value::Kind::Bool: return "bool";
        case Value::Kind::Int: return "int";
        case Value::Kind::Float: return "float";
        case Value::Kind::String: return "str";
        case Value::Kind::Array: return v.as_array().is_tuple ? "tuple" : "list";
        case Value::Kind::Object: return v.as_object().is_namespace ? "Namespace" : "dict";
        case Value::Kind::Callable: return "function";
    }
    return "?";
}

namespace {

bool equals_at(const Value& a, const Value& b, int depth) {
    check_depth(depth);
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.as_number() == b.as_number();
        int64_t x = a.is_bool() ? a.as_bool() : a.as_int();
        int64_t y = b.is_bool() ? b.as_bool() : b.as_int();
        return x == y;
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Value::Kind::Undefined:
        case Value::Kind::None: return true;
        case Value::Kind::String: return a.as_string() == b.as_string();
        case Value::Kind::Array: {
            const auto& x = a.as_array().items;
            const auto& y = b.as_array().items;
            if (a.as_array().is_tuple != b.as_array().is_tuple || x.size() != y.size()) return false;
            for (size_t i = 0; i < x.size(); ++i)
                if (!equals_at(x[i], y[i], depth + 1)) return false;
            return true;
        }
        case Value::Kind::Object: {
            const ObjectData& x = a.as_object();
            const ObjectData& y = b.as_object();
            if (x.is_namespace || y.is_namespace) return a.same_as(b);
            if (x.entries.size() != y.entries.size()) return false;
            for (const auto& [k, v] : x.entries) {
                const Value* other = y.find_key(k);
                if (!other || !equals_at(v, *other, depth + 1)) return false;
            }
            return true;
        }
        default: return a.same_as(b);
    }
}

int compare_at(const Value& a, const Value& b, int depth) {
    check_depth(depth);
    if (a.is_number() && b.is_number()) {
        if (a.is_int() && b.is_int()) return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
        double x = a.as_number(), y = b.as_number();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
        int c = a.as_string().compare(b.as_string());
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.is_array() && b.is_array() && a.as_array().is_tuple == b.as_array().is_tuple) {
        const auto& x = a.as_array().items;
        const auto& y = b.as_array().items;
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (equals_at(x[i], y[i], depth + 1)) continue;
            return compare_at(x[i], y[i], depth + 1);
        }
        return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
    }
    fail("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

}  // namespace

bool equals(const Value& a, const Value& b) { return equals_at(a, b, 0); }
int compare(const Value& a, const Value& b) { return compare_at(a, b, 0); }

// ---- JSON -------------------------------------------------------------------------

namespace {

void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
    out += '"';
    std::vector<size_t> offs = utf8_offsets(s);
    for (size_t i = 0; i + 1 < offs.size(); ++i) {
        std::string_view ch(s.data() + offs[i], offs[i + 1] - offs[i]);
        uint32_t cp = utf8_first(ch);
        char buf[16];
        switch (cp) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\b': out += "\\b"; continue;
            case '\f': out += "\\f"; continue;
            default: break;
        }
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
            if (cp >= 0x10000) {  // UTF-16 surrogate pair, as Python writes it
                uint32_t c = cp - 0x10000;
                std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
            } else {
                std::snprintf(buf, sizeof buf, "\\u%04x", cp);
            }
            out += buf;
        } else {
            out += ch;
        }
    }
    out += '"';
}

void json_into(std::string& out, const Value& v, const JsonOptions& opt, int level) {
    check_depth(level);
    const bool pretty = opt.indent >= 0 || !opt.indent_str.empty();
    const std::string item_sep = opt.item_separator.value_or(pretty ? "," : ", ");
    const std::string key_sep = opt.key_separator.value_or(": ");
    auto newline = [&](int lvl) {
        if (!pretty) return;
        out += '\n';
        for (int i = 0; i < lvl; ++i)
            out += opt.indent_str.empty() ? std::string(static_cast<size_t>(opt.indent), ' ') : opt.indent_str;
    };
    switch (v.kind()) {
        case Value::Kind::None: out += "null"; return;
        case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
        case Value::Kind::Int: out += std::to_string(v.as_int()); return;
        case Value::Kind::Float: {
            double d = v.as_float();
            if (std::isnan(d)) out += "NaN";
            else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
            else out += format_float(d);
            return;
        }
        case Value::Kind::String: json_string(out, v.as_string(), opt.ensure_ascii); return;
        case Value::Kind::Array: {
            const auto& items = v.as_array().items;
            if (items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += item_sep;
                newline(level + 1);
                json_into(out, items[i], opt, level + 1);
            }
            newline(level);
            out += ']';
            return;
        }
        case Value::Kind::Object: {
            const ObjectData& o = v.as_object();
            if (o.is_namespace) break;
            if (o.entries.empty()) {
                out += "{}";
                return;
            }
            // Python's json turns scalar keys into strings: 1 -> "1", true -> "true".
            std::vector<std::pair<std::string, const Value*>> entries;
            for (const auto& [k, val] : o.entries) {
                std::string key = k.is_string() ? k.as_string()
                                  : k.is_none() ? "null"
                                  : k.is_bool() ? (k.as_bool() ? "true" : "false")
                                                : to_str(k);
                entries.emplace_back(std::move(key), &val);
            }
            if (opt.sort_keys)
                std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            out += '{';
            for (size_t i = 0; i < entries.size(); ++i) {
                if (i) out += item_sep;
                newline(level + 1);
                json_string(out, entries[i].first, opt.ensure_ascii);
                out += key_sep;
                json_into(out, *entries[i].second, opt, level + 1);
            }
            newline(level);
            out += '}';
            return;
        }
        default: break;
    }
    fail("Object of type " + type_name(v) + " is not JSON serializable");
}

template <class Json>
Value from_json_at(const Json& j, int depth) {
    check_depth(depth);
    switch (j.type()) {
        case nlohmann::json::value_t::null: return Value::none();
        case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
        case nlohmann::json::value_t::number_integer: return Value(j.template get<int64_t>());
        case nlohmann::json::value_t::number_unsigned: {
            uint64_t u = j.template get<uint64_t>();
            if (u <= static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<int64_t>(u));
            return Value(static_cast<double>(u));
        }
        case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
        case nlohmann::json::value_t::string: return Value(j.template get<std::string>());
        case nlohmann::json::value_t::array: {
            std::vector<Value> items;
            items.reserve(j.size());
            for (const auto& e : j) items.push_back(from_json_at(e, depth + 1));
            return make_array(std::move(items));
        }
        case nlohmann::json::value_t::object: {
            std::vector<std::pair<Value, Value>> entries;
            entries.reserve(j.size());
            for (auto it = j.begin(); it != j.end(); ++it)
                entries.emplace_back(Value(it.key()), from_json_at(it.value(), depth + 1));
            return make_object(std::move(entries));
        }
        default: fail("unsupported JSON value (binary data) in template input");
    }
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& opt) {
    std::string out;
    json_into(out, v, opt, 0);
    return out;
}

Value from_json(const nlohmann::json& j) { return from_json_at(j, 0); }
Value from_json(const nlohmann::ordered_json& j) { return from_json_at(j, 0); }

// ---- UTF-8 --------------------------------------------------------------------------

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid.
size_t utf8_seq_len(std::string_view s, size_t i, uint32_t* cp) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t c;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if ((b & 0xe0) == 0xc0) {
        n = 2;
        c = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
        n = 3;
        c = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
        n = 4;
        c = b & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        auto cb = static_cast<unsigned char>(s[i + k]);
        if ((cb & 0xc0) != 0x80) return 0;
        c = (c << 6) | (cb & 0x3f);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return n;
}

}  // namespace

std::vector<size_t> utf8_offsets(std::string_view s) {
    std::vector<size_t> offs;
    offs.reserve(s.size() + 1);
    size_t i = 0;
    while (i < s.size()) {
        offs.push_back(i);
        uint32_t cp;
        size_t n = utf8_seq_len(s, i, &cp);
        i += n ? n : 1;
    }
    offs.push_back(s.size());
    return offs;
}

size_t utf8_length(std::string_view s) {
    size_t count = 0, i = 0;
    while (i < s.size()) {
        uint32_t cp;
        size_t n = utf8_seq_len(s, i, &cp);
        i += n ? n : 1;
        ++count;
    }
    return count;
}

std::vector<uint32_t> utf8_decode(std::string_view s) {
    std::vector<uint32_t> out;
    size_t i = 0;
    while (i < s.size()) {
        uint32_t cp;
        size_t n = utf8_seq_len(s, i, &cp);
        if (n == 0) {
            cp = static_cast<unsigned char>(s[i]);  // invalid byte stands for itself
            n = 1;
        }
        out.push_back(cp);
        i += n;
    }
    return out;
}

uint32_t utf8_first(std::string_view s) {
    uint32_t cp;
    return utf8_seq_len(s, 0, &cp) ? cp : static_cast<unsigned char>(s[0]);
}

void utf8_append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

bool is_py_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

}  // namespace dsm::jinja
