// Jinja2 filters, tests and global functions, with the behaviour they have in
// Hugging Face's sandboxed environment (including HF's own `tojson`, `raise_exception`
// and `strftime_now`).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <unordered_map>

#include "chat/jinja/builtin_helpers.hpp"

namespace dsm::jinja {

namespace {

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);
using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);

// ---- shared pieces -------------------------------------------------------------------

// Jinja's attribute getter for filters: "a.b.0" walks dict keys and list indices.
Value attr_path(Interpreter& in, Value obj, const std::string& path) {
    size_t start = 0;
    while (true) {
        size_t dot = path.find('.', start);
        std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        bool numeric = !part.empty() && part.size() < 18 && std::all_of(part.begin(), part.end(), [](char c) {
            return c >= '0' && c <= '9';
        });
        obj = in.get_item(obj, numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
        if (dot == std::string::npos) return obj;
        start = dot + 1;
    }
}

// Sort/compare key: optional attribute, lower-cased strings unless case sensitive.
Value key_of(Interpreter& in, const Value& item, const std::string* attribute, bool case_sensitive) {
    Value k = attribute ? attr_path(in, item, *attribute) : item;
    if (!case_sensitive && k.is_string()) return Value(py_lower(k.as_string()));
    return k;
}

std::vector<Value> sorted_items(Interpreter& in, std::vector<Value> items, std::vector<Value> keys, bool reverse) {
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    in.charge(items.size() * 8);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return reverse ? compare(keys[b], keys[a]) < 0 : compare(keys[a], keys[b]) < 0;
    });
    std::vector<Value> out;
    out.reserve(items.size());
    for (size_t i : order) out.push_back(std::move(items[i]));
    return out;
}

// Python int(str, base): sign, optional 0x/0o/0b prefix matching the base (base 0
// picks it from the prefix), digits with single underscores between them.
bool parse_int(const std::string& text, int base, int64_t* out) {
    std::string s = py_strip(text, nullptr, true, true);
    size_t i = 0;
    bool neg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i + 1 < s.size() && s[i] == '0') {
        char p = static_cast<char>(s[i + 1] | 0x20);
        int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
        if (prefix_base != 0 && (base == 0 || base == prefix_base)) {
            base = prefix_base;
            i += 2;
            if (i < s.size() && s[i] == '_') ++i;
        }
    }
    if (base == 0) {
        base = 10;
        // Base 0 rejects leading zeros such as "012".
        size_t first_nonzero = s.find_first_not_of("0_", i);
        if (s[i] == '0' && first_nonzero != std::string::npos) return false;
    }
    if (i >= s.size()) return false;
    int64_t v = 0;
    bool prev_digit = false;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (c == '_' && prev_digit && i + 1 < s.size() && s[i + 1] != '_') {
            prev_digit = false;
            continue;
        }
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'z') ? c - 'a' + 10 : (c >= 'A' && c <= 'Z') ? c - 'A' + 10 : 99;
        if (d >= base) return false;
        if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
        prev_digit = true;
    }
    if (!prev_digit) return false;
    *out = neg ? -v : v;
    return true;
}

bool parse_float(const std::string& text, double* out) {
    std::string s = py_strip(text, nullptr, true, true);
    std::string lower = py_lower(s);
    if (lower == "inf" || lower == "+inf" || lower == "infinity" || lower == "+infinity") return *out = HUGE_VAL, true;
    if (lower == "-inf" || lower == "-infinity") return *out = -HUGE_VAL, true;
    if (lower == "nan" || lower == "+nan" || lower == "-nan") return *out = NAN, true;
    std::string clean;
    for (char c : s) {
        if (c == '_') continue;
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return false;
        clean += c;
    }
    if (clean.empty()) return false;
    char* end = nullptr;
    *out = std::strtod(clean.c_str(), &end);
    return end == clean.c_str() + clean.size();
}

// ---- filters -------------------------------------------------------------------------

Value f_abs(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "abs", {});
    if (v.is_int() || v.is_bool()) {
        int64_t i = v.is_bool() ? v.as_bool() : v.as_int();
        if (i == INT64_MIN) in.fail("integer overflow");
        return Value(i < 0 ? -i : i);
    }
    if (v.is_float()) return Value(std::fabs(v.as_float()));
    in.fail("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "attr", {"name"});
    const std::string& name = *arg_str(in, a, 0, "name", true);
    // Python getattr: a dict's keys are not attributes.
    if (v.is_object() && !v.as_object().is_namespace && !v.as_object().is_loop)
        return Value::undefined("'dict object' has no attribute '" + name + "'");
    return in.get_attr(v, name);
}

Value f_string_op(Interpreter& in, const Value& v, CallArgs& a, const char* name, std::string (*op)(const std::string&)) {
    check_args(in, a, name, {});
    return Value(op(to_str(v)));
}
Value f_upper(Interpreter& in, const Value& v, CallArgs& a) { return f_string_op(in, v, a, "upper", py_upper); }
Value f_lower(Interpreter& in, const Value& v, CallArgs& a) { return f_string_op(in, v, a, "lower", py_lower); }
Value f_title(Interpreter& in, const Value& v, CallArgs& a) { return f_string_op(in, v, a, "title", jinja_title); }
Value f_capitalize(Interpreter& in, const Value& v, CallArgs& a) {
    return f_string_op(in, v, a, "capitalize", py_capitalize);
}
Value f_escape(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "escape", {});
    return v.is_markup() ? v : Value::markup(html_escape(to_str(v)));
}

Value f_forceescape(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "forceescape", {});
    return Value::markup(html_escape(to_str(v)));
}

Value f_string(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "string", {});
    return Value(to_str(v));
}

Value f_safe(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "safe", {});
    return v.is_markup() ? v : Value::markup(to_str(v));
}

Value f_trim(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "trim", {"chars"});
    return Value(py_strip(to_str(v), arg_str(in, a, 0, "chars", false), true, true));
}

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "replace", {"old", "new", "count"});
    const Value* old_v = arg(a, 0, "old");
    const Value* new_v = arg(a, 1, "new");
    if (!old_v || !new_v) in.fail("replace() needs 'old' and 'new'");
    return Value(py_replace(in, to_str(v), to_str(*old_v), to_str(*new_v), arg_int(in, a, 2, "count", -1)));
}

Value f_length(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "length", {});
    switch (v.kind()) {
        case Value::Kind::Undefined: return Value(0);
        case Value::Kind::String: return Value(static_cast<int64_t>(utf8_length(v.as_string())));
        case Value::Kind::Array: return Value(static_cast<int64_t>(v.as_array().items.size()));
        case Value::Kind::Object:
            if (!v.as_object().is_namespace) return Value(static_cast<int64_t>(v.as_object().entries.size()));
            break;
        default: break;
    }
    in.fail("object of type '" + type_name(v) + "' has no len()");
}

Value f_default(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "default", {"default_value", "boolean"});
    const Value* dflt = arg(a, 0, "default_value");
    if (v.is_undefined() || (arg_bool(a, 1, "boolean", false) && !truthy(v))) return dflt ? *dflt : Value("");
    return v;
}

Value f_first(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "first", {});
    std::vector<Value> items = in.iterate(v);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "last", {});
    std::vector<Value> items = in.iterate(v);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_int(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "int", {"default", "base"});
    const Value* dflt = arg(a, 0, "default");
    int64_t base = arg_int(in, a, 1, "base", 10);
    if (base == 1 || base < 0 || base > 36) in.fail("int() base must be >= 2 and <= 36, or 0");
    if (v.is_int() || v.is_bool()) return Value(v.is_bool() ? int64_t{v.as_bool()} : v.as_int());
    double d;
    if (v.is_float()) d = v.as_float();
    else if (v.is_string()) {
        int64_t i;
        if (parse_int(v.as_string(), static_cast<int>(base), &i)) return Value(i);
        if (!parse_float(v.as_string(), &d)) return dflt ? *dflt : Value(0);
    } else {
        return dflt ? *dflt : Value(0);
    }
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return dflt ? *dflt : Value(0);
    return Value(static_cast<int64_t>(d));
}

Value f_float(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "float", {"default"});
    const Value* dflt = arg(a, 0, "default");
    if (v.is_number()) return Value(v.as_number());
    double d;
    if (v.is_string() && parse_float(v.as_string(), &d)) return Value(d);
    return dflt ? *dflt : Value(0.0);
}

Value f_round(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "round", {"precision", "method"});
    int64_t precision = arg_int(in, a, 0, "precision", 0);
    const std::string* method = arg_str(in, a, 1, "method", false);
    std::string m = method ? *method : "common";
    if (m != "common" && m != "ceil" && m != "floor") in.fail("method must be 'common', 'ceil' or 'floor'");
    if (!v.is_number()) in.fail("round() needs a number, got " + type_name(v));
    if (m == "common" && !v.is_float()) return Value(v.is_bool() ? int64_t{v.as_bool()} : v.as_int());
    double x = v.as_number();
    precision = std::clamp<int64_t>(precision, -308, 308);
    if (m == "common" && precision >= 0 && std::isfinite(x)) {
        // Python rounds the exact binary value half-to-even, as printf does.
        char buf[400];
        std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
        return Value(std::strtod(buf, nullptr));
    }
    double scale = std::pow(10.0, static_cast<double>(precision));
    double y = x * scale;
    double r = m == "ceil" ? std::ceil(y) : m == "floor" ? std::floor(y) : std::nearbyint(y);
    return Value(r / scale);
}

Value f_items(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "items", {});
    if (v.is_undefined()) return make_array({});
    if (!v.is_object() || v.as_object().is_namespace) in.fail("can only get item pairs from a mapping");
    Value result;
    call_method(in, v, "items", a, &result);
    return result;
}

Value f_list(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "list", {});
    return make_array(in.iterate(v));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "join", {"d", "attribute"});
    const Value* sep_v = arg(a, 0, "d");
    std::string sep = sep_v ? to_str(*sep_v) : "";
    const std::string* attribute = arg_str(in, a, 1, "attribute", false);
    std::string out;
    bool first = true;
    for (const Value& item : in.iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += to_str(attribute ? attr_path(in, item, *attribute) : item);
        in.check_size(out.size());
    }
    in.charge(out.size() / 16);
    return Value(std::move(out));
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "reverse", {});
    if (!v.is_string() && !v.is_array()) in.fail("argument to reverse is not iterable");
    std::vector<Value> items = in.iterate(v);
    std::reverse(items.begin(), items.end());
    if (!v.is_string()) return make_array(std::move(items));
    std::string out;
    for (const Value& c : items) out += c.as_string();
    return Value(std::move(out));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "sort", {"reverse", "case_sensitive", "attribute"});
    bool reverse = arg_bool(a, 0, "reverse", false);
    bool case_sensitive = arg_bool(a, 1, "case_sensitive", false);
    const std::string* attribute = arg_str(in, a, 2, "attribute", false);
    std::vector<Value> items = in.iterate(v);
    std::vector<Value> keys;
    for (const Value& item : items) keys.push_back(key_of(in, item, attribute, case_sensitive));
    return make_array(sorted_items(in, std::move(items), std::move(keys), reverse));
}

Value f_dictsort(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "dictsort", {"case_sensitive", "by", "reverse"});
    bool case_sensitive = arg_bool(a, 0, "case_sensitive", false);
    const std::string* by = arg_str(in, a, 1, "by", false);
    bool reverse = arg_bool(a, 2, "reverse", false);
    size_t pos = 0;
    if (by && *by == "value") pos = 1;
    else if (by && *by != "key") in.fail("dictsort: 'by' must be 'key' or 'value'");
    CallArgs none;
    Value pairs = f_items(in, v, none);
    std::vector<Value> items = pairs.as_array().items;
    std::vector<Value> keys;
    for (const Value& p : items) keys.push_back(key_of(in, p.as_array().items[pos], nullptr, case_sensitive));
    return make_array(sorted_items(in, std::move(items), std::move(keys), reverse));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "unique", {"case_sensitive", "attribute"});
    bool case_sensitive = arg_bool(a, 0, "case_sensitive", false);
    const std::string* attribute = arg_str(in, a, 1, "attribute", false);
    std::vector<Value> out, seen;
    for (const Value& item : in.iterate(v)) {
        Value k = key_of(in, item, attribute, case_sensitive);
        in.charge(seen.size() / 4 + 1);
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, k); })) continue;
        seen.push_back(k);
        out.push_back(item);
    }
    return make_array(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
    check_args(in, a, want_max ? "max" : "min", {"case_sensitive", "attribute"});
    bool case_sensitive = arg_bool(a, 0, "case_sensitive", false);
    const std::string* attribute = arg_str(in, a, 1, "attribute", false);
    std::vector<Value> items = in.iterate(v);
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    Value best_key = key_of(in, items[0], attribute, case_sensitive);
    for (size_t i = 1; i < items.size(); ++i) {
        Value k = key_of(in, items[i], attribute, case_sensitive);
        int c = compare(k, best_key);
        if (want_max ? c > 0 : c < 0) {
            best = i;
            best_key = k;
        }
    }
    return items[best];
}
Value f_max(Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, false); }

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "sum", {"attribute", "start"});
    const std::string* attribute = arg_str(in, a, 0, "attribute", false);
    const Value* start = arg(a, 1, "start");
    Value total = start ? *start : Value(0);
    for (const Value& item : in.iterate(v)) {
        Value x = attribute ? attr_path(in, item, *attribute) : item;
        if (!total.is_number() || !x.is_number()) in.fail("sum() supports numbers only, got " + type_name(x));
        if (total.is_float() || x.is_float()) {
            total = Value(total.as_number() + x.as_number());
        } else {
            int64_t r;
            int64_t t = total.is_bool() ? total.as_bool() : total.as_int();
            int64_t y = x.is_bool() ? x.as_bool() : x.as_int();
            if (__builtin_add_overflow(t, y, &r)) in.fail("integer overflow");
            total = Value(r);
        }
    }
    return total;
}

// select / reject / selectattr / rejectattr.
Value select_impl(Interpreter& in, const Value& v, CallArgs& a, bool with_attr, bool keep) {
    if (!a.named.empty()) in.fail("select filters take positional arguments only");
    if (!truthy(v)) return make_array({});  // Jinja skips falsy input (none, undefined)
    size_t next = 0;
    const std::string* attribute = nullptr;
    if (with_attr) {
        if (a.positional.empty() || !a.positional[0].is_string()) in.fail("missing attribute name");
        attribute = &a.positional[next++].as_string();
    }
    const std::string* test = nullptr;
    if (next < a.positional.size()) {
        if (!a.positional[next].is_string()) in.fail("test name must be a string");
        test = &a.positional[next++].as_string();
    }
    CallArgs test_args;
    test_args.positional.assign(a.positional.begin() + static_cast<std::ptrdiff_t>(next), a.positional.end());
    std::vector<Value> out;
    for (const Value& item : in.iterate(v)) {
        Value x = attribute ? attr_path(in, item, *attribute) : item;
        bool pass = test ? apply_test(in, *test, x, test_args) : truthy(x);
        if (pass == keep) out.push_back(item);
    }
    return make_array(std::move(out));
}
Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); }

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
    std::vector<Value> out;
    if (!truthy(v)) return make_array({});  // Jinja skips falsy input (none, undefined)
    if (const Value* attribute = a.named_arg("attribute")) {
        if (!attribute->is_string() || !a.positional.empty()) in.fail("map(attribute=...) takes a string name");
        const Value* dflt = a.named_arg("default");
        for (const Value& item : in.iterate(v)) {
            Value x = attr_path(in, item, attribute->as_string());
            out.push_back(x.is_undefined() && dflt ? *dflt : x);
        }
        return make_array(std::move(out));
    }
    if (a.positional.empty() || !a.positional[0].is_string()) in.fail("map() needs a filter name or attribute=");
    std::string filter = a.positional[0].as_string();
    CallArgs rest;
    rest.positional.assign(a.positional.begin() + 1, a.positional.end());
    rest.named = a.named;
    for (const Value& item : in.iterate(v)) {
        CallArgs call_args = rest;
        out.push_back(apply_filter(in, filter, item, call_args));
    }
    return make_array(std::move(out));
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "batch", {"linecount", "fill_with"});
    int64_t n = arg_int(in, a, 0, "linecount", 0);
    if (n <= 0) in.fail("batch() needs a positive line count");
    const Value* fill = arg(a, 1, "fill_with");
    std::vector<Value> out, row;
    for (const Value& item : in.iterate(v)) {
        row.push_back(item);
        if (static_cast<int64_t>(row.size()) == n) {
            out.push_back(make_array(std::move(row)));
            row.clear();
        }
    }
    if (!row.empty()) {
        while (fill && !fill->is_none() && static_cast<int64_t>(row.size()) < n) row.push_back(*fill);
        out.push_back(make_array(std::move(row)));
    }
    return make_array(std::move(out));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "indent", {"width", "first", "blank"});
    const Value* width = arg(a, 0, "width");
    std::string pad;
    if (width && width->is_string()) pad = width->as_string();
    else pad.assign(static_cast<size_t>(std::clamp<int64_t>(arg_int(in, a, 0, "width", 4), 0, 1 << 16)), ' ');
    bool first = arg_bool(a, 1, "first", false), blank = arg_bool(a, 2, "blank", false);
    std::vector<std::string> lines = py_splitlines(to_str(v) + "\n", false);
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) out += '\n';
        if ((i > 0 || first) && (blank || !lines[i].empty())) out += pad;
        out += lines[i];
        in.check_size(out.size());
    }
    return Value(std::move(out));
}

Value f_wordcount(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "wordcount", {});
    int64_t n = 0;
    bool in_word = false;
    for (uint32_t cp : utf8_decode(to_str(v))) {
        bool word = is_word_char(cp);
        if (word && !in_word) ++n;
        in_word = word;
    }
    return Value(n);
}

// HF's override: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
    check_args(in, a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonOptions opt;
    opt.ensure_ascii = arg_bool(a, 0, "ensure_ascii", false);
    if (const Value* indent = arg(a, 1, "indent"); indent && !indent->is_none()) {
        if (indent->is_string()) opt.indent_str = indent->as_string();
        else opt.indent = static_cast<int>(std::clamp<int64_t>(arg_int(in, a, 1, "indent", 0), 0, 1024));
        if (opt.indent_str.empty() && opt.indent < 0) opt.indent = 0;
    }
    if (const Value* seps = arg(a, 2, "separators"); seps && !seps->is_none()) {
        if (!seps->is_array() || seps->as_array().items.size() != 2 || !seps->as_array().items[0].is_string() ||
            !seps->as_array().items[1].is_string())
            in.fail("tojson separators must be a pair of strings");
        opt.item_separator = seps->as_array().items[0].as_string();
        opt.key_separator = seps->as_array().items[1].as_string();
    }
    opt.sort_keys = arg_bool(a, 3, "sort_keys", false);
    std::string out = to_json(v, opt);
    in.check_size(out.size());
    in.charge(out.size() / 16);
    return Value(std::move(out));
}

const std::unordered_map<std::string, FilterFn>& filter_table() {
    static const std::unordered_map<std::string, FilterFn> table = {
        {"abs", f_abs},         {"attr", f_attr},         {"batch", f_batch},
        {"capitalize", f_capitalize}, {"count", f_length}, {"d", f_default},
        {"default", f_default}, {"dictsort", f_dictsort}, {"e", f_escape},
        {"escape", f_escape},   {"first", f_first},       {"float", f_float},
        {"forceescape", f_forceescape}, {"indent", f_indent},  {"int", f_int},
        {"items", f_items},     {"join", f_join},         {"last", f_last},
        {"length", f_length},   {"list", f_list},         {"lower", f_lower},
        {"map", f_map},         {"max", f_max},           {"min", f_min},
        {"reject", f_reject},   {"rejectattr", f_rejectattr}, {"replace", f_replace},
        {"reverse", f_reverse}, {"round", f_round},       {"safe", f_safe},
        {"select", f_select},   {"selectattr", f_selectattr}, {"sort", f_sort},
        {"string", f_string},   {"sum", f_sum},           {"title", f_title},
        {"tojson", f_tojson},   {"trim", f_trim},         {"unique", f_unique},
        {"upper", f_upper},     {"wordcount", f_wordcount},
    };
    return table;
}

// ---- tests ---------------------------------------------------------------------------

const Value& test_operand(Interpreter& in, const CallArgs& a, const char* name) {
    if (a.positional.size() != 1 || !a.named.empty()) in.fail(std::string("test '") + name + "' takes one argument");
    return a.positional[0];
}

bool t_compare(Interpreter& in, const Value& v, CallArgs& a, const char* name, bool (*ok)(int)) {
    const Value& other = test_operand(in, a, name);
    return ok(compare(v, other));
}

bool number_test(Interpreter& in, const Value& v, const char* name) {
    if (!v.is_number()) in.fail(std::string("test '") + name + "' needs a number, got " + type_name(v));
    return true;
}

int64_t int_operand(Interpreter& in, const Value& v, const char* name) {
    number_test(in, v, name);
    if (v.is_float()) in.fail(std::string("test '") + name + "' needs an integer");
    return v.is_bool() ? v.as_bool() : v.as_int();
}

const std::unordered_map<std::string, TestFn>& test_table() {
    static const std::unordered_map<std::string, TestFn> table = {
        {"defined", [](Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }},
        {"undefined", [](Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }},
        {"none", [](Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }},
        {"boolean", [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }},
        {"true", [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }},
        {"false", [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }},
        {"integer", [](Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }},
        {"float", [](Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }},
        {"number", [](Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }},
        {"string", [](Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }},
        {"mapping",
         [](Interpreter&, const Value& v, CallArgs&) {
             return v.is_object() && !v.as_object().is_namespace && !v.as_object().is_loop;
         }},
        {"iterable",
         [](Interpreter&, const Value& v, CallArgs&) {
             return v.is_undefined() || v.is_array() || v.is_string() || (v.is_object() && !v.as_object().is_namespace);
         }},
        {"sequence",
         [](Interpreter&, const Value& v, CallArgs&) {
             return v.is_array() || v.is_string() || (v.is_object() && !v.as_object().is_namespace);
         }},
        {"callable", [](Interpreter&, const Value& v, CallArgs&) { return v.is_callable(); }},
        {"sameas", [](Interpreter& in, const Value& v, CallArgs& a) { return v.same_as(test_operand(in, a, "sameas")); }},
        {"eq", [](Interpreter& in, const Value& v, CallArgs& a) { return equals(v, test_operand(in, a, "eq")); }},
        {"ne", [](Interpreter& in, const Value& v, CallArgs& a) { return !equals(v, test_operand(in, a, "ne")); }},
        {"lt", [](Interpreter& in, const Value& v, CallArgs& a) { return t_compare(in, v, a, "lt", [](int c) { return c < 0; }); }},
        {"le", [](Interpreter& in, const Value& v, CallArgs& a) { return t_compare(in, v, a, "le", [](int c) { return c <= 0; }); }},
        {"gt", [](Interpreter& in, const Value& v, CallArgs& a) { return t_compare(in, v, a, "gt", [](int c) { return c > 0; }); }},
        {"ge", [](Interpreter& in, const Value& v, CallArgs& a) { return t_compare(in, v, a, "ge", [](int c) { return c >= 0; }); }},
        {"in", [](Interpreter& in, const Value& v, CallArgs& a) { return contains(in, test_operand(in, a, "in"), v); }},
        {"odd", [](Interpreter& in, const Value& v, CallArgs&) { return int_operand(in, v, "odd") % 2 != 0; }},
        {"even", [](Interpreter& in, const Value& v, CallArgs&) { return int_operand(in, v, "even") % 2 == 0; }},
        {"divisibleby",
         [](Interpreter& in, const Value& v, CallArgs& a) {
             int64_t d = int_operand(in, test_operand(in, a, "divisibleby"), "divisibleby");
             int64_t x = int_operand(in, v, "divisibleby");
             if (d == 0) in.fail("integer division or modulo by zero");
             return d == -1 || x % d == 0;
         }},
        {"lower", [](Interpreter&, const Value& v, CallArgs&) { return py_islower(to_str(v)); }},
        {"upper", [](Interpreter&, const Value& v, CallArgs&) { return py_isupper(to_str(v)); }},
        {"escaped", [](Interpreter&, const Value&, CallArgs&) { return false; }},
        {"filter", [](Interpreter&, const Value& v, CallArgs&) { return v.is_string() && filter_table().count(v.as_string()) > 0; }},
    };
    return table;
}

// ---- global functions ----------------------------------------------------------------

class BuiltinFunction : public Callable {
public:
    using Fn = Value (*)(Interpreter&, CallArgs&);
    BuiltinFunction(std::string name, Fn fn) : name_(std::move(name)), fn_(fn) {}
    Value call(Interpreter& in, CallArgs& args) override { return fn_(in, args); }
    std::string name() const override { return name_; }

private:
    std::string name_;
    Fn fn_;
};

// Entries of dict(mapping, **kwargs) / namespace(mapping, **kwargs).
std::vector<std::pair<Value, Value>> mapping_args(Interpreter& in, const CallArgs& a, const char* fn) {
    std::vector<std::pair<Value, Value>> entries;
    if (a.positional.size() > 1) in.fail(std::string(fn) + "() takes at most 1 positional argument");
    if (!a.positional.empty()) {
        const Value& m = a.positional[0];
        if (!m.is_object() || m.as_object().is_namespace) in.fail(std::string(fn) + "() argument must be a mapping");
        entries = m.as_object().entries;
    }
    for (const auto& [k, v] : a.named) entries.emplace_back(Value(k), v);
    return entries;
}

Value g_range(Interpreter& in, CallArgs& a) {
    if (!a.named.empty() || a.positional.empty() || a.positional.size() > 3) in.fail("range() takes 1 to 3 integer arguments");
    int64_t v[3] = {0, 0, 1};
    for (size_t i = 0; i < a.positional.size(); ++i) {
        const Value& x = a.positional[i];
        if (!x.is_int() && !x.is_bool()) in.fail("range() arguments must be integers, got " + type_name(x));
        v[a.positional.size() == 1 ? 1 : i] = x.is_bool() ? x.as_bool() : x.as_int();
    }
    int64_t start = v[0], stop = v[1], step = v[2];
    if (step == 0) in.fail("range() arg 3 must not be zero");
    // Jinja's sandbox refuses ranges longer than 100000 items.
    long double count = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                                 : (static_cast<long double>(start) - stop - step - 1) / -step;
    if (count > 100000) in.fail("range too big: the sandbox allows at most 100000 items");
    std::vector<Value> items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.emplace_back(i);
    in.charge(items.size());
    return make_array(std::move(items));
}

Value g_namespace(Interpreter& in, CallArgs& a) { return in.make_namespace(mapping_args(in, a, "namespace")); }
Value g_dict(Interpreter& in, CallArgs& a) { return make_object(mapping_args(in, a, "dict")); }

Value g_raise_exception(Interpreter& in, CallArgs& a) {
    std::string msg = a.positional.empty() ? "" : to_str(a.positional[0]);
    in.fail("raised by the template: " + msg);
}

Value g_strftime_now(Interpreter& in, CallArgs& a) {
    check_args(in, a, "strftime_now", {"format"});
    const std::string& fmt = *arg_str(in, a, 0, "format", true);
    if (fmt.size() > 1024) in.fail("strftime_now() format is too long");
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::string buf(fmt.size() * 16 + 64, '\0');
    size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    buf.resize(n);
    return Value(std::move(buf));
}

}  // namespace

Value apply_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args) {
    in.charge(1);
    in.charge_size(input);
    const auto& table = filter_table();
    auto it = table.find(name);
    if (it == table.end()) in.fail("no filter named '" + name + "'");
    return it->second(in, input, args);
}

bool apply_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args) {
    in.charge(1);
    in.charge_size(v);
    static const std::unordered_map<std::string, std::string> aliases = {
        {"==", "eq"}, {"equalto", "eq"}, {"!=", "ne"}, {"<", "lt"}, {"lessthan", "lt"}, {"<=", "le"},
        {">", "gt"},  {"greaterthan", "gt"}, {">=", "ge"},
    };
    auto alias = aliases.find(name);
    const std::string& key = alias == aliases.end() ? name : alias->second;
    const auto& table = test_table();
    auto it = table.find(key);
    if (it == table.end()) in.fail("no test named '" + name + "'");
    return it->second(in, v, args);
}

bool contains(Interpreter& in, const Value& haystack, const Value& needle) {
    switch (haystack.kind()) {
        case Value::Kind::Undefined: return false;
        case Value::Kind::String:
            if (!needle.is_string())
                in.fail("'in <string>' requires string as left operand, not " + type_name(needle));
            in.charge(haystack.as_string().size() / 16);
            return haystack.as_string().find(needle.as_string()) != std::string::npos;
        case Value::Kind::Array:
            in.charge(haystack.as_array().items.size());
            for (const Value& v : haystack.as_array().items)
                if (equals(v, needle)) return true;
            return false;
        case Value::Kind::Object:
            if (haystack.as_object().is_namespace) break;
            return is_hashable_key(needle) && haystack.as_object().find_key(needle) != nullptr;
        default: break;
    }
    in.fail("argument of type '" + type_name(haystack) + "' is not iterable");
}

void install_globals(ObjectData& globals) {
    auto add = [&](const char* name, BuiltinFunction::Fn fn) {
        globals.set(name, Value(CallablePtr(std::make_shared<BuiltinFunction>(name, fn))));
    };
    add("range", g_range);
    add("namespace", g_namespace);
    add("dict", g_dict);
    add("raise_exception", g_raise_exception);
    add("strftime_now", g_strftime_now);
}

}  // namespace dsm::jinja
