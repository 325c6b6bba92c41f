// Value model of the Jinja interpreter used for chat templates.
// It follows Python/Jinja2 semantics where templates can observe them: undefined vs
// none, Python str()/repr() formatting, truthiness, int/float arithmetic and
// insertion-ordered dicts. Strings are UTF-8; lengths and indices count code points.
// Containers are shared (immutable, except namespace objects) so copying a Value is
// cheap; every container records its nesting depth so that no value can become deep
// enough to overflow the stack when it is printed, compared or destroyed.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace dsm::jinja {

// Containers deeper than this are refused (at creation and when traversed).
inline constexpr int kMaxValueDepth = 128;

class Value;
struct ArrayData;
struct ObjectData;
class Callable;

using ArrayPtr = std::shared_ptr<const ArrayData>;
using ObjectPtr = std::shared_ptr<ObjectData>;
using CallablePtr = std::shared_ptr<Callable>;

class Value {
public:
    enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, Array, Object, Callable };

    Value() : data_(UndefinedTag{}) {}
    Value(bool b) : data_(b) {}
    Value(int64_t i) : data_(i) {}
    Value(int i) : data_(int64_t{i}) {}
    Value(double f) : data_(f) {}
    Value(std::string s) : data_(std::make_shared<const std::string>(std::move(s))) {}
    Value(const char* s) : Value(std::string(s)) {}
    Value(ArrayPtr a) : data_(std::move(a)) {}
    Value(ObjectPtr o) : data_(std::move(o)) {}
    Value(CallablePtr c) : data_(std::move(c)) {}

    // `hint` says what was looked up ("'foo'", "'dict object' has no attribute 'x'") so
    // that a later misuse can report it.
    static Value undefined(std::string hint = {});
    static Value none() { return Value(NoneTag{}); }
    // A markupsafe.Markup string (from |safe or |escape): `+` escapes the other operand.
    static Value markup(std::string s) {
        Value v(std::move(s));
        v.markup_ = true;
        return v;
    }

    Kind kind() const { return static_cast<Kind>(data_.index()); }
    bool is_undefined() const { return kind() == Kind::Undefined; }
    bool is_none() const { return kind() == Kind::None; }
    bool is_bool() const { return kind() == Kind::Bool; }
    bool is_int() const { return kind() == Kind::Int; }
    bool is_float() const { return kind() == Kind::Float; }
    bool is_number() const { return is_int() || is_float() || is_bool(); }
    bool is_string() const { return kind() == Kind::String; }
    bool is_markup() const { return markup_; }
    bool is_array() const { return kind() == Kind::Array; }
    bool is_object() const { return kind() == Kind::Object; }
    bool is_callable() const { return kind() == Kind::Callable; }

    bool as_bool() const { return std::get<bool>(data_); }
    int64_t as_int() const { return std::get<int64_t>(data_); }
    double as_float() const { return std::get<double>(data_); }
    // Numeric value of a bool, int or float (Python treats bool as int).
    double as_number() const;
    const std::string& as_string() const { return *std::get<StrPtr>(data_); }
    const ArrayData& as_array() const { return *std::get<ArrayPtr>(data_); }
    const ArrayPtr& array_ptr() const { return std::get<ArrayPtr>(data_); }
    ObjectData& as_object() const { return *std::get<ObjectPtr>(data_); }
    const ObjectPtr& object_ptr() const { return std::get<ObjectPtr>(data_); }
    Callable& as_callable() const { return *std::get<CallablePtr>(data_); }
    const std::string& undefined_hint() const;

    // Nesting depth of containers (0 for scalars).
    int depth() const;
    // True when both refer to the same container / callable (Python `is`).
    bool same_as(const Value& other) const;

private:
    using StrPtr = std::shared_ptr<const std::string>;
    struct UndefinedTag {
        StrPtr hint;
    };
    struct NoneTag {};
    explicit Value(NoneTag t) : data_(t) {}

    // Order matches Kind.
    std::variant<UndefinedTag, NoneTag, bool, int64_t, double, StrPtr, ArrayPtr, ObjectPtr, CallablePtr> data_;
    bool markup_ = false;
};

// HTML escaping as markupsafe does it (& < > " ').
std::string html_escape(const std::string& s);

struct ArrayData {
    std::vector<Value> items;
    bool is_tuple = false;  // only changes how it prints: (1, 2) instead of [1, 2]
    int depth = 1;
};

// Insertion-ordered map (Python dict) or a Jinja namespace(). Keys are strings or
// other hashable scalars (int, float, bool, none); 1, 1.0 and true are the same key.
struct ObjectData {
    std::vector<std::pair<Value, Value>> entries;
    bool is_namespace = false;
    bool is_loop = false;  // the `loop` variable: its keys are attributes, as in a namespace
    int depth = 1;  // of a dict (dicts are immutable); a namespace counts as 1

    const Value* find(std::string_view key) const;
    const Value* find_key(const Value& key) const;
    void set(Value key, Value value);  // replaces an existing key in place
    void clear() { entries.clear(); }
};

// Arguments of a call: positional, then keyword.
struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> named;

    const Value* named_arg(std::string_view name) const;
};

class Interpreter;

// Anything a template can call: macros, global functions, loop.cycle.
class Callable {
public:
    virtual ~Callable() = default;
    virtual Value call(Interpreter& in, CallArgs& args) = 0;
    virtual std::string name() const = 0;
};

// Containers are built through these so their depth is checked.
Value make_array(std::vector<Value> items, bool is_tuple = false);
// Throws dsm::Error for an unhashable key (list, dict, ...).
Value make_object(std::vector<std::pair<Value, Value>> entries);
bool is_hashable_key(const Value& key);

// Python semantics.
bool truthy(const Value& v);
std::string to_str(const Value& v);    // str(v); undefined prints as ""
std::string repr(const Value& v);      // repr(v)
std::string type_name(const Value& v); // Python type name, for error messages
bool equals(const Value& a, const Value& b);
// <0, 0, >0 like a three-way compare; throws dsm::Error for unorderable types.
int compare(const Value& a, const Value& b);
std::string format_float(double d);  // Python repr(float)

struct JsonOptions {
    int indent = -1;               // < 0: single line
    std::string indent_str;        // used when non-empty (indent given as a string)
    std::optional<std::string> item_separator;  // unset: Python's default for the indent mode
    std::optional<std::string> key_separator;
    bool sort_keys = false;
    bool ensure_ascii = false;
};
// Python json.dumps(v, ...). Throws dsm::Error for values JSON cannot hold.
std::string to_json(const Value& v, const JsonOptions& opt = {});

// Data from the caller. Object key order is that of the json type (ordered_json keeps
// insertion order, json sorts keys).
Value from_json(const nlohmann::json& j);
Value from_json(const nlohmann::ordered_json& j);

// ---- UTF-8 helpers (lenient: an invalid byte counts as one code point) -------------
// Byte offsets of each code point start, plus s.size() at the end.
std::vector<size_t> utf8_offsets(std::string_view s);
size_t utf8_length(std::string_view s);
std::vector<uint32_t> utf8_decode(std::string_view s);
// The first code point of a non-empty `s`.
uint32_t utf8_first(std::string_view s);
void utf8_append(std::string& out, uint32_t cp);
// Python str.isspace() for one code point.
bool is_py_space(uint32_t cp);

}  // namespace dsm::jinja
