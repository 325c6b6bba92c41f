// Python string, dict and list methods that chat templates call (`s.split('x')`,
// `d.items()`, ...). Jinja's immutable sandbox forbids the mutating ones (append,
// update, pop), so they are simply absent here.
#include <algorithm>

#include <utf8proc.h>

#include "chat/jinja/builtin_helpers.hpp"

namespace dsm::jinja {

namespace {

// Code points of `s` as byte ranges.
struct Chars {
    explicit Chars(const std::string& str) : s(str), offs(utf8_offsets(str)) {}
    size_t size() const { return offs.size() - 1; }
    std::string_view at(size_t i) const { return std::string_view(s).substr(offs[i], offs[i + 1] - offs[i]); }
    uint32_t cp(size_t i) const { return utf8_first(at(i)); }
    const std::string& s;
    std::vector<size_t> offs;
};

bool in_set(const std::vector<uint32_t>& set, uint32_t cp) { return std::find(set.begin(), set.end(), cp) != set.end(); }

bool is_line_break(uint32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || cp == 0x1c || cp == 0x1d || cp == 0x1e ||
           cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

utf8proc_category_t category(uint32_t cp) { return utf8proc_category(static_cast<utf8proc_int32_t>(cp)); }
bool is_cased(uint32_t cp) {
    auto c = category(cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}
bool is_alpha(uint32_t cp) {
    auto c = category(cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}
bool is_numeric(uint32_t cp) {
    auto c = category(cp);
    return c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
}
bool is_decimal(uint32_t cp) { return category(cp) == UTF8PROC_CATEGORY_ND; }

// Maps every code point of `s` (simple one-to-one case mappings).
template <class Fn>
std::string map_chars(const std::string& s, Fn fn) {
    std::string out;
    out.reserve(s.size());
    Chars c(s);
    for (size_t i = 0; i < c.size(); ++i) {
        std::string_view ch = c.at(i);
        uint32_t cp = c.cp(i);
        uint32_t mapped = fn(i, cp);
        if (mapped == cp || (ch.size() == 1 && static_cast<unsigned char>(ch[0]) >= 0x80)) out += ch;  // keep invalid bytes
        else utf8_append(out, mapped);
    }
    return out;
}

uint32_t upper_cp(uint32_t cp) { return static_cast<uint32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cp))); }
uint32_t lower_cp(uint32_t cp) { return static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))); }
uint32_t title_cp(uint32_t cp) { return static_cast<uint32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(cp))); }

// Code point index -> clamped index, as Python slices do for start/end arguments.
size_t clamp_index(int64_t i, size_t n) {
    auto len = static_cast<int64_t>(n);
    if (i < 0) i = std::max<int64_t>(0, i + len);
    return static_cast<size_t>(std::min(i, len));
}

// s[start:end] in code points, for the optional start/end of find/startswith/...
std::string sub_range(Interpreter& in, const std::string& s, const CallArgs& args, size_t first_index) {
    const Value* start = arg(args, first_index, "start");
    const Value* end = arg(args, first_index + 1, "end");
    if ((!start || start->is_none()) && (!end || end->is_none())) return s;
    Chars c(s);
    size_t b = clamp_index(arg_int(in, args, first_index, "start", 0), c.size());
    size_t e = clamp_index(arg_int(in, args, first_index + 1, "end", static_cast<int64_t>(c.size())), c.size());
    if (e <= b) return "";
    return s.substr(c.offs[b], c.offs[e] - c.offs[b]);
}

bool affix_match(Interpreter& in, const std::string& s, const Value& affix, bool prefix) {
    auto test = [&](const Value& v) {
        if (!v.is_string()) in.fail(std::string(prefix ? "startswith" : "endswith") + " first arg must be str or a tuple of str");
        const std::string& a = v.as_string();
        if (a.size() > s.size()) return false;
        return prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
    };
    if (affix.is_array()) {
        for (const Value& v : affix.as_array().items)
            if (test(v)) return true;
        return false;
    }
    return test(affix);
}

// Code point index of `needle` in `hay` (byte search then converted), or -1.
int64_t py_find(const std::string& hay, const std::string& needle, bool reverse) {
    size_t pos = reverse ? hay.rfind(needle) : hay.find(needle);
    if (pos == std::string::npos) return -1;
    return static_cast<int64_t>(utf8_length(std::string_view(hay).substr(0, pos)));
}

// str.format with {} / {0} / {name} fields, optional !r / !s and no format spec.
std::string py_format(Interpreter& in, const std::string& fmt, const CallArgs& args) {
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
        char c = fmt[i];
        if (c == '}') {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i;
            else in.fail("single '}' encountered in format string");
            out += '}';
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out += '{';
            ++i;
            continue;
        }
        size_t close = fmt.find('}', i);
        if (close == std::string::npos) in.fail("single '{' encountered in format string");
        std::string field = fmt.substr(i + 1, close - i - 1);
        i = close;
        char conversion = 0;
        if (size_t bang = field.find('!'); bang != std::string::npos) {
            if (bang + 2 != field.size()) in.fail("unsupported conversion in format string");
            conversion = field[bang + 1];
            field.resize(bang);
        }
        if (field.find(':') != std::string::npos) in.fail("format specs are not supported in str.format");
        const Value* v = nullptr;
        if (field.empty()) {
            v = auto_index < args.positional.size() ? &args.positional[auto_index] : nullptr;
            ++auto_index;
        } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
            size_t k = field.size() > 9 ? SIZE_MAX : std::stoul(field);
            v = k < args.positional.size() ? &args.positional[k] : nullptr;
        } else {
            v = args.named_arg(field);
        }
        if (!v) in.fail("no value for format field '{" + field + "}'");
        out += conversion == 'r' ? repr(*v) : to_str(*v);
        in.check_size(out.size());
    }
    return out;
}

bool classify(const std::string& s, bool (*pred)(uint32_t)) {
    std::vector<uint32_t> cps = utf8_decode(s);
    return !cps.empty() && std::all_of(cps.begin(), cps.end(), pred);
}

bool string_method(Interpreter& in, const std::string& s, const std::string& name, CallArgs& args, Value* result) {
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        check_args(in, args, name, {"chars"});
        *result = Value(py_strip(s, arg_str(in, args, 0, "chars", false), name != "rstrip", name != "lstrip"));
    } else if (name == "split" || name == "rsplit") {
        check_args(in, args, name, {"sep", "maxsplit"});
        const std::string* sep = arg_str(in, args, 0, "sep", false);
        int64_t maxsplit = arg_int(in, args, 1, "maxsplit", -1);
        *result = strings_to_list(name == "split" ? py_split(s, sep, maxsplit) : py_rsplit(s, sep, maxsplit));
    } else if (name == "splitlines") {
        check_args(in, args, name, {"keepends"});
        *result = strings_to_list(py_splitlines(s, arg_bool(args, 0, "keepends", false)));
    } else if (name == "startswith" || name == "endswith") {
        check_args(in, args, name, {"prefix", "start", "end"});
        const Value* affix = arg(args, 0, "prefix");
        if (!affix) in.fail(name + "() takes at least 1 argument");
        *result = Value(affix_match(in, sub_range(in, s, args, 1), *affix, name == "startswith"));
    } else if (name == "replace") {
        check_args(in, args, name, {"old", "new", "count"});
        *result = Value(py_replace(in, s, *arg_str(in, args, 0, "old", true), *arg_str(in, args, 1, "new", true),
                                   arg_int(in, args, 2, "count", -1)));
    } else if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
        check_args(in, args, name, {"sub", "start", "end"});
        const std::string& sub = *arg_str(in, args, 0, "sub", true);
        std::string hay = sub_range(in, s, args, 1);
        int64_t offset = 0;
        if (const Value* start = arg(args, 1, "start"); start && !start->is_none())
            offset = static_cast<int64_t>(clamp_index(arg_int(in, args, 1, "start", 0), utf8_length(s)));
        if (name == "count") {
            int64_t n = 0;
            if (sub.empty()) n = static_cast<int64_t>(utf8_length(hay)) + 1;
            else
                for (size_t p = hay.find(sub); p != std::string::npos; p = hay.find(sub, p + sub.size())) ++n;
            *result = Value(n);
        } else {
            int64_t i = py_find(hay, sub, name[0] == 'r');
            if (i < 0 && name.find("index") != std::string::npos) in.fail("substring not found");
            *result = Value(i < 0 ? i : i + offset);
        }
    } else if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
        check_args(in, args, name, {});
        *result = Value(name == "upper" ? py_upper(s) : name == "lower" ? py_lower(s) : name == "title" ? py_title(s) : py_capitalize(s));
    } else if (name == "join") {
        check_args(in, args, name, {"iterable"});
        const Value* items = arg(args, 0, "iterable");
        if (!items) in.fail("join() takes exactly one argument");
        std::string out;
        size_t i = 0;
        for (const Value& v : in.iterate(*items)) {
            if (!v.is_string()) in.fail("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(v) + " found");
            if (i++) out += s;
            out += v.as_string();
            in.check_size(out.size());
        }
        *result = Value(std::move(out));
    } else if (name == "format") {
        *result = Value(py_format(in, s, args));
    } else if (name == "isspace") {
        *result = Value(classify(s, [](uint32_t c) { return is_py_space(c); }));
    } else if (name == "isdigit" || name == "isdecimal") {
        *result = Value(classify(s, is_decimal));
    } else if (name == "isnumeric") {
        *result = Value(classify(s, is_numeric));
    } else if (name == "isalpha") {
        *result = Value(classify(s, is_alpha));
    } else if (name == "isalnum") {
        *result = Value(classify(s, [](uint32_t c) { return is_alpha(c) || is_numeric(c); }));
    } else if (name == "isupper" || name == "islower") {
        *result = Value(name == "isupper" ? py_isupper(s) : py_islower(s));
    } else {
        return false;
    }
    return true;
}

}  // namespace

Value strings_to_list(std::vector<std::string> parts) {
    std::vector<Value> items;
    items.reserve(parts.size());
    for (auto& p : parts) items.emplace_back(std::move(p));
    return make_array(std::move(items));
}

std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right) {
    Chars c(s);
    std::vector<uint32_t> set;
    if (chars) set = utf8_decode(*chars);
    auto strip_it = [&](size_t i) { return chars ? in_set(set, c.cp(i)) : is_py_space(c.cp(i)); };
    size_t b = 0, e = c.size();
    if (left)
        while (b < e && strip_it(b)) ++b;
    if (right)
        while (e > b && strip_it(e - 1)) --e;
    return s.substr(c.offs[b], c.offs[e] - c.offs[b]);
}

std::vector<std::string> py_split(const std::string& s, const std::string* sep, int64_t maxsplit) {
    std::vector<std::string> out;
    if (sep) {
        if (sep->empty()) throw Error("chat template error: empty separator");
        size_t pos = 0;
        while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
            size_t hit = s.find(*sep, pos);
            if (hit == std::string::npos) break;
            out.push_back(s.substr(pos, hit - pos));
            pos = hit + sep->size();
        }
        out.push_back(s.substr(pos));
        return out;
    }
    Chars c(s);
    size_t i = 0, n = c.size();
    while (true) {
        while (i < n && is_py_space(c.cp(i))) ++i;
        if (i >= n) break;
        if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
            out.push_back(s.substr(c.offs[i]));
            break;
        }
        size_t j = i;
        while (j < n && !is_py_space(c.cp(j))) ++j;
        out.push_back(s.substr(c.offs[i], c.offs[j] - c.offs[i]));
        i = j;
    }
    return out;
}

std::vector<std::string> py_rsplit(const std::string& s, const std::string* sep, int64_t maxsplit) {
    if (maxsplit < 0) return py_split(s, sep, maxsplit);
    std::vector<std::string> out;
    if (sep) {
        if (sep->empty()) throw Error("chat template error: empty separator");
        size_t end = s.size();
        while (static_cast<int64_t>(out.size()) < maxsplit && end >= sep->size()) {
            size_t hit = s.rfind(*sep, end - sep->size());
            if (hit == std::string::npos) break;
            out.push_back(s.substr(hit + sep->size(), end - hit - sep->size()));
            end = hit;
        }
        out.push_back(s.substr(0, end));
    } else {
        Chars c(s);
        size_t j = c.size();
        while (true) {
            while (j > 0 && is_py_space(c.cp(j - 1))) --j;
            if (j == 0) break;
            if (static_cast<int64_t>(out.size()) >= maxsplit) {
                out.push_back(s.substr(0, c.offs[j]));
                break;
            }
            size_t i = j;
            while (i > 0 && !is_py_space(c.cp(i - 1))) --i;
            out.push_back(s.substr(c.offs[i], c.offs[j] - c.offs[i]));
            j = i;
        }
    }
    std::reverse(out.begin(), out.end());
    return out;
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
    std::vector<std::string> out;
    Chars c(s);
    size_t start = 0, i = 0, n = c.size();
    while (i < n) {
        uint32_t cp = c.cp(i);
        if (!is_line_break(cp)) {
            ++i;
            continue;
        }
        size_t eol = i + 1;
        if (cp == '\r' && eol < n && c.cp(eol) == '\n') ++eol;
        size_t stop = keepends ? eol : i;
        out.push_back(s.substr(c.offs[start], c.offs[stop] - c.offs[start]));
        start = i = eol;
    }
    if (start < n) out.push_back(s.substr(c.offs[start]));
    return out;
}

std::string py_replace(Interpreter& in, const std::string& s, const std::string& old, const std::string& repl,
                       int64_t count) {
    std::string out;
    int64_t done = 0;
    auto room = [&] { return count < 0 || done < count; };
    if (old.empty()) {  // Python inserts `repl` before every code point and at the end
        Chars c(s);
        for (size_t i = 0; i < c.size(); ++i) {
            if (room()) {
                out += repl;
                ++done;
            }
            out += c.at(i);
            in.check_size(out.size());
        }
        if (room()) out += repl;
    } else {
        size_t pos = 0;
        while (room()) {
            size_t hit = s.find(old, pos);
            if (hit == std::string::npos) break;
            out.append(s, pos, hit - pos);
            out += repl;
            in.check_size(out.size());
            pos = hit + old.size();
            ++done;
        }
        out.append(s, pos, std::string::npos);
    }
    in.check_size(out.size());
    in.charge(out.size() / 16);
    return out;
}

std::string py_upper(const std::string& s) {
    return map_chars(s, [](size_t, uint32_t cp) { return upper_cp(cp); });
}

std::string py_lower(const std::string& s) {
    return map_chars(s, [](size_t, uint32_t cp) { return lower_cp(cp); });
}

std::string py_title(const std::string& s) {
    bool prev_cased = false;
    return map_chars(s, [&](size_t, uint32_t cp) {
        uint32_t out = prev_cased ? lower_cp(cp) : title_cp(cp);
        prev_cased = is_cased(cp);
        return out;
    });
}

std::string py_capitalize(const std::string& s) {
    return map_chars(s, [](size_t i, uint32_t cp) { return i == 0 ? title_cp(cp) : lower_cp(cp); });
}

std::string jinja_title(const std::string& s) {
    // Words start after whitespace or one of "-({[<" (Jinja's do_title, not str.title).
    bool word_start = true;
    return map_chars(s, [&](size_t, uint32_t cp) {
        bool sep = is_py_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
        uint32_t out = sep ? cp : (word_start ? upper_cp(cp) : lower_cp(cp));
        word_start = sep;
        return out;
    });
}

bool py_isupper(const std::string& s) {
    bool cased = false;
    for (uint32_t cp : utf8_decode(s)) {
        auto c = category(cp);
        if (c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT) return false;
        cased = cased || c == UTF8PROC_CATEGORY_LU;
    }
    return cased;
}

bool py_islower(const std::string& s) {
    bool cased = false;
    for (uint32_t cp : utf8_decode(s)) {
        auto c = category(cp);
        if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) return false;
        cased = cased || c == UTF8PROC_CATEGORY_LL;
    }
    return cased;
}

bool is_word_char(uint32_t cp) { return cp == '_' || is_alpha(cp) || is_numeric(cp); }

bool call_method(Interpreter& in, const Value& obj, const std::string& name, CallArgs& args, Value* result) {
    in.charge_size(obj);
    if (obj.is_string()) return string_method(in, obj.as_string(), name, args, result);
    if (obj.is_object() && !obj.as_object().is_namespace) {
        const ObjectData& o = obj.as_object();
        if (name == "items" || name == "keys" || name == "values") {
            check_args(in, args, name, {});
            std::vector<Value> items;
            for (const auto& [k, v] : o.entries) {
                if (name == "items") items.push_back(make_array({k, v}, true));
                else items.push_back(name == "keys" ? k : v);
            }
            in.charge(items.size());
            *result = make_array(std::move(items));
            return true;
        }
        if (name == "get") {
            check_args(in, args, name, {"key", "default"});
            const Value* key = arg(args, 0, "key");
            if (!key) in.fail("get() takes at least 1 argument");
            const Value* found = is_hashable_key(*key) ? o.find_key(*key) : nullptr;
            const Value* dflt = arg(args, 1, "default");
            *result = found ? *found : (dflt ? *dflt : Value::none());
            return true;
        }
        return false;
    }
    if (obj.is_array() && (name == "index" || name == "count")) {
        check_args(in, args, name, {"value"});
        const Value* needle = arg(args, 0, "value");
        if (!needle) in.fail(name + "() takes exactly one argument");
        const auto& items = obj.as_array().items;
        in.charge(items.size());
        int64_t n = 0;
        for (size_t i = 0; i < items.size(); ++i) {
            if (!equals(items[i], *needle)) continue;
            if (name == "index") {
                *result = Value(static_cast<int64_t>(i));
                return true;
            }
            ++n;
        }
        if (name == "index") in.fail(repr(*needle) + " is not in list");
        *result = Value(n);
        return true;
    }
    return false;
}

}  // namespace dsm::jinja
