#include "chat/jinja/interpreter.hpp"

#include <cmath>
#include <string_view>

#include "core/error.hpp"

namespace dsm::jinja {

namespace {

constexpr std::string_view kErrorPrefix = "chat template error: ";

// An error that already carries its template position.
class PositionedError : public Error {
public:
    using Error::Error;
};

PositionedError positioned(int line, int col, const char* what) {
    std::string_view msg(what);
    if (msg.substr(0, kErrorPrefix.size()) == kErrorPrefix) msg.remove_prefix(kErrorPrefix.size());
    return PositionedError("chat template error at line " + std::to_string(line) + ", column " +
                           std::to_string(col) + ": " + std::string(msg));
}

std::string undefined_message(const Value& v) {
    return v.undefined_hint().empty() ? "value is undefined" : v.undefined_hint();
}

class MacroValue : public Callable {
public:
    MacroValue(const Stmt& def, std::weak_ptr<Scope> closure) : def_(def), closure_(std::move(closure)) {}
    Value call(Interpreter& in, CallArgs& args) override { return in.invoke_macro(def_, closure_, args, Value()); }
    std::string name() const override { return def_.targets[0]; }
    const Stmt& def() const { return def_; }
    const std::weak_ptr<Scope>& closure() const { return closure_; }

private:
    const Stmt& def_;
    std::weak_ptr<Scope> closure_;
};

// The body of a {% call %} block, which the called macro runs as caller(...).
class CallerValue : public Callable {
public:
    CallerValue(const Stmt& block, std::weak_ptr<Scope> scope) : block_(block), scope_(std::move(scope)) {}
    Value call(Interpreter& in, CallArgs& args) override { return in.invoke_macro(block_, scope_, args, Value()); }
    std::string name() const override { return "caller"; }

private:
    const Stmt& block_;
    std::weak_ptr<Scope> scope_;
};

class CycleValue : public Callable {
public:
    explicit CycleValue(size_t index0) : index0_(index0) {}
    Value call(Interpreter& in, CallArgs& args) override {
        if (args.positional.empty()) in.fail("loop.cycle() needs at least one argument");
        return args.positional[index0_ % args.positional.size()];
    }
    std::string name() const override { return "cycle"; }

private:
    size_t index0_;
};

bool int_like(const Value& v) { return v.is_int() || v.is_bool(); }
int64_t to_int(const Value& v) { return v.is_bool() ? (v.as_bool() ? 1 : 0) : v.as_int(); }

}  // namespace

struct ScopeGuard {
    Interpreter& in;
    std::shared_ptr<Scope> saved;
    ScopeGuard(Interpreter& interp, std::shared_ptr<Scope> s) : in(interp), saved(std::move(interp.scope_)) {
        in.scope_ = std::move(s);
    }
    ~ScopeGuard() { in.scope_ = std::move(saved); }
};

struct DepthGuard {
    Interpreter& in;
    explicit DepthGuard(Interpreter& interp) : in(interp) {
        if (++in.depth_ > in.limits_.max_depth) {
            --in.depth_;
            in.fail("nesting deeper than " + std::to_string(in.limits_.max_depth) + " levels (runaway recursion?)");
        }
    }
    ~DepthGuard() { --in.depth_; }
};

// Restores the output buffer when a captured body finishes or throws.
struct OutputGuard {
    std::string*& slot;
    std::string* saved;
    OutputGuard(std::string*& s, std::string* buffer) : slot(s), saved(s) { slot = buffer; }
    ~OutputGuard() { slot = saved; }
};

Interpreter::Interpreter(const Template& tmpl, const Limits& limits) : tmpl_(tmpl), limits_(limits) {}

Interpreter::~Interpreter() {
    for (auto& ns : namespaces_) ns->clear();
}

std::string Interpreter::render(ObjectPtr globals) {
    globals_ = std::move(globals);
    root_scope_ = std::make_shared<Scope>();
    scope_ = root_scope_;
    std::string out;
    OutputGuard og(out_, &out);
    exec_body(tmpl_.body);
    return out;
}

// ---- services ------------------------------------------------------------------------

void Interpreter::charge(uint64_t steps) {
    steps_ += steps;
    if (steps_ > limits_.max_steps)
        fail("template exceeded its budget of " + std::to_string(limits_.max_steps) + " steps (runaway loop?)");
}

void Interpreter::charge_size(const Value& v) {
    if (v.is_string()) charge(v.as_string().size() / 16);
    else if (v.is_array()) charge(v.as_array().items.size());
    else if (v.is_object()) charge(v.as_object().entries.size());
}

void Interpreter::check_size(size_t bytes) const {
    if (bytes > limits_.max_output_bytes)
        fail("template built a string larger than " + std::to_string(limits_.max_output_bytes) + " bytes");
}

void Interpreter::fail(const std::string& msg) const { throw Error(std::string(kErrorPrefix) + msg); }

void Interpreter::append_output(const std::string& s) {
    check_size(out_->size() + s.size());
    charge(s.size() / 16);
    *out_ += s;
}

Value Interpreter::lookup(const std::string& name) const {
    for (Scope* s = scope_.get(); s != nullptr; s = s->parent.get())
        if (Value* v = s->find_local(name)) return *v;
    if (const Value* v = globals_->find(name)) return *v;
    return Value::undefined("'" + name + "' is undefined");
}

void Interpreter::assign(const std::string& name, Value v) { scope_->set(name, std::move(v)); }

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
    if (obj.is_undefined()) fail(undefined_message(obj));
    if (obj.is_object()) {
        if (const Value* v = obj.as_object().find(name)) return *v;
        return Value::undefined("'" + std::string(obj.as_object().is_namespace ? "Namespace" : "dict object") +
                                "' has no attribute '" + name + "'");
    }
    return Value::undefined("'" + type_name(obj) + " object' has no attribute '" + name + "'");
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) fail(undefined_message(obj));
    if (obj.is_object()) {
        if (key.is_string()) return get_attr(obj, key.as_string());
        if (const Value* v = obj.as_object().find_key(key)) return *v;
        return Value::undefined("'dict object' has no element " + repr(key));
    }
    if ((obj.is_array() || obj.is_string()) && int_like(key)) {
        charge_size(obj);
        int64_t i = to_int(key);
        if (obj.is_array()) {
            const auto& items = obj.as_array().items;
            int64_t n = static_cast<int64_t>(items.size());
            if (i < 0) i += n;
            if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
        } else {
            const std::string& s = obj.as_string();
            std::vector<size_t> offs = utf8_offsets(s);
            int64_t n = static_cast<int64_t>(offs.size()) - 1;
            if (i < 0) i += n;
            if (i >= 0 && i < n) return Value(s.substr(offs[i], offs[i + 1] - offs[i]));
        }
        return Value::undefined(type_name(obj) + " index out of range");
    }
    return Value::undefined("'" + type_name(obj) + " object' has no attribute " + repr(key));
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
    if (callee.is_callable()) return callee.as_callable().call(*this, args);
    if (callee.is_undefined()) fail(undefined_message(callee));
    fail("'" + type_name(callee) + "' object is not callable");
}

std::vector<Value> Interpreter::iterate(const Value& v) {
    std::vector<Value> items;
    switch (v.kind()) {
        case Value::Kind::Undefined: break;
        case Value::Kind::Array: items = v.as_array().items; break;
        case Value::Kind::Object:
            if (v.as_object().is_namespace) fail("'Namespace' object is not iterable");
            for (const auto& [k, val] : v.as_object().entries) items.emplace_back(k);
            break;
        case Value::Kind::String: {
            const std::string& s = v.as_string();
            std::vector<size_t> offs = utf8_offsets(s);
            for (size_t i = 0; i + 1 < offs.size(); ++i) items.emplace_back(s.substr(offs[i], offs[i + 1] - offs[i]));
            break;
        }
        default: fail("'" + type_name(v) + "' object is not iterable");
    }
    charge(items.size());
    return items;
}

Value Interpreter::make_namespace(std::vector<std::pair<Value, Value>> entries) {
    auto o = std::make_shared<ObjectData>();
    o->is_namespace = true;
    for (auto& [k, v] : entries) o->set(std::move(k), std::move(v));
    namespaces_.push_back(o);
    return Value(o);
}

Value Interpreter::invoke_macro(const Stmt& def, const std::weak_ptr<Scope>& closure, CallArgs& args,
                                const Value& caller) {
    DepthGuard dg(*this);
    const std::string name = def.kind == StmtKind::Macro ? "macro '" + def.targets[0] + "'" : "caller()";
    if (args.positional.size() > def.params.size())
        fail(name + " takes " + std::to_string(def.params.size()) + " argument(s), " +
             std::to_string(args.positional.size()) + " given");
    for (const auto& [k, v] : args.named) {
        bool known = false;
        for (size_t i = 0; i < def.params.size(); ++i) {
            if (def.params[i].name != k) continue;
            if (i < args.positional.size()) fail(name + " got multiple values for argument '" + k + "'");
            known = true;
        }
        if (!known) fail(name + " got an unexpected keyword argument '" + k + "'");
    }
    auto scope = std::make_shared<Scope>();
    scope->parent = closure.lock();
    if (!scope->parent) scope->parent = root_scope_;
    ScopeGuard sg(*this, scope);
    for (size_t i = 0; i < def.params.size(); ++i) {
        const Param& p = def.params[i];
        if (i < args.positional.size()) scope->set(p.name, args.positional[i]);
        else if (const Value* v = args.named_arg(p.name)) scope->set(p.name, *v);
        else if (p.default_value) scope->set(p.name, eval(*p.default_value));
        else scope->set(p.name, Value::undefined("parameter '" + p.name + "' was not provided"));
    }
    if (!caller.is_undefined()) scope->set("caller", caller);
    return Value(capture(def.body));
}

// ---- statements ------------------------------------------------------------------------

Interpreter::Flow Interpreter::exec_body(const Body& body) {
    for (const auto& s : body) {
        Flow f = exec(*s);
        if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
}

std::string Interpreter::capture(const Body& body) {
    std::string buffer;
    OutputGuard og(out_, &buffer);
    exec_body(body);
    return buffer;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
    try {
        DepthGuard dg(*this);
        charge(1);
        return exec_inner(s);
    } catch (const PositionedError&) {
        throw;
    } catch (const Error& e) {
        throw positioned(s.line, s.col, e.what());
    }
}

Interpreter::Flow Interpreter::exec_inner(const Stmt& s) {
    switch (s.kind) {
        case StmtKind::Text: append_output(s.text); return Flow::Normal;
        case StmtKind::Output: append_output(to_str(eval(*s.expr))); return Flow::Normal;
        case StmtKind::If:
            for (const auto& [cond, body] : s.branches)
                if (truthy(eval(*cond))) return exec_body(body);
            return exec_body(s.else_body);
        case StmtKind::For: return exec_for(s);
        case StmtKind::Set: exec_set(s); return Flow::Normal;
        case StmtKind::SetBlock: assign(s.targets[0], apply_filter_chain(s.filters, Value(capture(s.body)))); return Flow::Normal;
        case StmtKind::Macro:
            assign(s.targets[0], Value(CallablePtr(std::make_shared<MacroValue>(s, scope_))));
            return Flow::Normal;
        case StmtKind::CallBlock: {
            const Expr& call_expr = *s.expr;
            Value callee = eval(*call_expr.children[0]);
            auto* macro = callee.is_callable() ? dynamic_cast<MacroValue*>(&callee.as_callable()) : nullptr;
            if (macro == nullptr) fail("{% call %} needs a macro, got " + type_name(callee));
            CallArgs args;
            eval_args(call_expr, 1, args);
            Value caller(CallablePtr(std::make_shared<CallerValue>(s, scope_)));
            append_output(to_str(invoke_macro(macro->def(), macro->closure(), args, caller)));
            return Flow::Normal;
        }
        case StmtKind::FilterBlock: append_output(to_str(apply_filter_chain(s.filters, Value(capture(s.body))))); return Flow::Normal;
        case StmtKind::With: {
            auto scope = std::make_shared<Scope>();
            scope->parent = scope_;
            for (const auto& [name, expr] : s.assigns) scope->set(name, eval(*expr));  // values see the outer scope
            ScopeGuard sg(*this, scope);
            return exec_body(s.body);
        }
        case StmtKind::Scope: return exec_body(s.body);
        case StmtKind::Break: return Flow::Break;
        case StmtKind::Continue: return Flow::Continue;
    }
    return Flow::Normal;
}

void Interpreter::bind_targets(Scope& scope, const std::vector<std::string>& targets, const Value& item) {
    if (targets.size() == 1) {
        scope.set(targets[0], item);
        return;
    }
    if (!item.is_array() || item.as_array().items.size() != targets.size())
        fail("cannot unpack " + type_name(item) + " into " + std::to_string(targets.size()) + " variables");
    for (size_t i = 0; i < targets.size(); ++i) scope.set(targets[i], item.as_array().items[i]);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
    std::vector<Value> items = iterate(eval(*s.expr));
    const std::shared_ptr<Scope> outer = scope_;
    if (s.cond) {  // `for x in xs if cond`: loop.* then describe the filtered items
        std::vector<Value> kept;
        for (auto& item : items) {
            auto scope = std::make_shared<Scope>();
            scope->parent = outer;
            bind_targets(*scope, s.targets, item);
            ScopeGuard sg(*this, scope);
            if (truthy(eval(*s.cond))) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    if (items.empty()) {
        auto scope = std::make_shared<Scope>();
        scope->parent = outer;
        ScopeGuard sg(*this, scope);
        return exec_body(s.else_body);  // break/continue here belong to an enclosing loop
    }
    const size_t n = items.size();
    for (size_t i = 0; i < n; ++i) {
        charge(1);
        // Each iteration gets a fresh scope: Jinja does not carry `set` across iterations.
        auto scope = std::make_shared<Scope>();
        scope->parent = outer;
        bind_targets(*scope, s.targets, items[i]);
        ScopeGuard sg(*this, scope);
        if (!s.uses_loop) {
            if (exec_body(s.body) == Flow::Break) break;
            continue;
        }
        auto loop = std::make_shared<ObjectData>();
        loop->is_loop = true;
        const auto size = static_cast<int64_t>(n), idx = static_cast<int64_t>(i);
        loop->entries = {
            {"index", Value(idx + 1)},
            {"index0", Value(idx)},
            {"revindex", Value(size - idx)},
            {"revindex0", Value(size - idx - 1)},
            {"first", Value(i == 0)},
            {"last", Value(i + 1 == n)},
            {"length", Value(size)},
            {"depth", Value(1)},
            {"depth0", Value(0)},
            {"previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item")},
            {"nextitem", i + 1 < n ? items[i + 1] : Value::undefined("there is no next item")},
            {"cycle", Value(CallablePtr(std::make_shared<CycleValue>(i)))},
        };
        loop->depth = 1 + std::max(loop->entries[9].second.depth(), loop->entries[10].second.depth());
        scope->set("loop", Value(ObjectPtr(std::move(loop))));
        if (exec_body(s.body) == Flow::Break) break;
    }
    return Flow::Normal;
}

void Interpreter::exec_set(const Stmt& s) {
    if (!s.attr.empty()) {
        Value target = lookup(s.targets[0]);
        if (!target.is_object() || !target.as_object().is_namespace)
            fail("cannot assign attribute '" + s.attr + "' on '" + s.targets[0] + "', which is not a namespace");
        Value v = eval(*s.expr);
        target.as_object().set(s.attr, std::move(v));
        return;
    }
    Value v = eval(*s.expr);
    if (s.targets.size() == 1) {
        assign(s.targets[0], std::move(v));
        return;
    }
    bind_targets(*scope_, s.targets, v);
}

Value Interpreter::apply_filter_chain(const std::vector<ExprPtr>& filters, Value v) {
    for (const auto& f : filters) {
        CallArgs args;
        eval_args(*f, 1, args);
        v = apply_filter(*this, f->name, v, args);
    }
    return v;
}

// ---- expressions -----------------------------------------------------------------------

Value Interpreter::eval(const Expr& e) {
    try {
        DepthGuard dg(*this);
        charge(1);
        return eval_inner(e);
    } catch (const PositionedError&) {
        throw;
    } catch (const Error& ex) {
        throw positioned(e.line, e.col, ex.what());
    }
}

void Interpreter::eval_args(const Expr& e, size_t first, CallArgs& args) {
    for (size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i]));
    for (const auto& [name, expr] : e.kwargs) args.named.emplace_back(name, eval(*expr));
}

Value Interpreter::eval_inner(const Expr& e) {
    switch (e.kind) {
        case ExprKind::Literal: return e.literal;
        case ExprKind::Name: return lookup(e.name);
        case ExprKind::GetAttr: return get_attr(eval(*e.children[0]), e.name);
        case ExprKind::GetItem: {
            Value obj = eval(*e.children[0]);
            return get_item(obj, eval(*e.children[1]));
        }
        case ExprKind::Slice: return eval_slice(e);
        case ExprKind::Call: return eval_call(e);
        case ExprKind::Filter: {
            if (!e.children[0]) fail("filter without input");
            Value input = eval(*e.children[0]);
            CallArgs args;
            eval_args(e, 1, args);
            return apply_filter(*this, e.name, input, args);
        }
        case ExprKind::Test: {
            Value v = eval(*e.children[0]);
            CallArgs args;
            eval_args(e, 1, args);
            return Value(apply_test(*this, e.name, v, args));
        }
        case ExprKind::Not: return Value(!truthy(eval(*e.children[0])));
        case ExprKind::Neg:
        case ExprKind::Pos: {
            Value v = eval(*e.children[0]);
            if (v.is_undefined()) fail(undefined_message(v));
            bool neg = e.kind == ExprKind::Neg;
            if (int_like(v)) {
                int64_t i = to_int(v);
                if (neg && i == INT64_MIN) fail("integer overflow");
                return Value(neg ? -i : i);
            }
            if (v.is_float()) return Value(neg ? -v.as_float() : v.as_float());
            fail(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" + type_name(v) + "'");
        }
        case ExprKind::Binary: {
            Value a = eval(*e.children[0]);
            Value b = eval(*e.children[1]);
            return eval_binary(e, a, b);
        }
        case ExprKind::And: {
            Value a = eval(*e.children[0]);
            return truthy(a) ? eval(*e.children[1]) : a;
        }
        case ExprKind::Or: {
            Value a = eval(*e.children[0]);
            return truthy(a) ? a : eval(*e.children[1]);
        }
        case ExprKind::Compare: return eval_compare(e);
        case ExprKind::CondExpr:
            if (truthy(eval(*e.children[0]))) return eval(*e.children[1]);
            return e.children[2] ? eval(*e.children[2]) : Value::undefined("the condition was false and there is no else");
        case ExprKind::List:
        case ExprKind::Tuple: {
            std::vector<Value> items;
            for (const auto& c : e.children) items.push_back(eval(*c));
            return make_array(std::move(items), e.kind == ExprKind::Tuple);
        }
        case ExprKind::Dict: {
            std::vector<std::pair<Value, Value>> entries;
            for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
                Value key = eval(*e.children[i]);
                entries.emplace_back(std::move(key), eval(*e.children[i + 1]));
            }
            return make_object(std::move(entries));
        }
    }
    fail("unknown expression");
}

Value Interpreter::eval_call(const Expr& e) {
    const Expr& callee = *e.children[0];
    CallArgs args;
    if (callee.kind == ExprKind::GetAttr) {  // obj.method(...): Python methods win over keys
        Value obj = eval(*callee.children[0]);
        eval_args(e, 1, args);
        Value result;
        if (!obj.is_undefined() && call_method(*this, obj, callee.name, args, &result)) return result;
        return call(get_attr(obj, callee.name), args);
    }
    Value fn = eval(callee);
    eval_args(e, 1, args);
    return call(fn, args);
}

Value Interpreter::eval_compare(const Expr& e) {
    Value left = eval(*e.children[0]);
    for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.children[i + 1]);
        charge_size(left);
        charge_size(right);
        const std::string& op = e.ops[i];
        bool ok;
        if (op == "==") ok = equals(left, right);
        else if (op == "!=") ok = !equals(left, right);
        else if (op == "in") ok = contains(*this, right, left);
        else if (op == "notin") ok = !contains(*this, right, left);
        else {
            if (left.is_undefined()) fail(undefined_message(left));
            if (right.is_undefined()) fail(undefined_message(right));
            int c = compare(left, right);
            ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
        }
        if (!ok) return Value(false);
        left = std::move(right);
    }
    return Value(true);
}

Value Interpreter::eval_slice(const Expr& e) {
    if (!e.children[0]) fail("a slice must be the only subscript");
    Value obj = eval(*e.children[0]);
    if (obj.is_undefined()) fail(undefined_message(obj));
    charge_size(obj);
    int64_t parts[3] = {0, 0, 1};
    bool given[3] = {false, false, false};
    for (int k = 0; k < 3; ++k) {
        if (!e.children[k + 1]) continue;
        Value v = eval(*e.children[k + 1]);
        if (v.is_none() || v.is_undefined()) continue;
        if (!int_like(v)) fail("slice indices must be integers or None");
        parts[k] = to_int(v);
        given[k] = true;
    }
    int64_t step = parts[2];
    if (step == 0) fail("slice step cannot be zero");
    if (step == INT64_MIN) fail("slice step out of range");
    std::vector<size_t> offs;
    int64_t n;
    if (obj.is_string()) {
        offs = utf8_offsets(obj.as_string());
        n = static_cast<int64_t>(offs.size()) - 1;
    } else if (obj.is_array()) {
        n = static_cast<int64_t>(obj.as_array().items.size());
    } else {
        fail("'" + type_name(obj) + "' object is not subscriptable with a slice");
    }
    // Python's PySlice_AdjustIndices.
    const int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? n - 1 : n;
    auto adjust = [&](int64_t v, bool has, int64_t dflt) {
        if (!has) return dflt;
        if (v < 0) {
            v = v < -n ? lower : v + n;
            return v < lower ? lower : v;
        }
        return v > upper ? upper : v;
    };
    int64_t start = adjust(parts[0], given[0], step < 0 ? upper : lower);
    int64_t stop = adjust(parts[1], given[1], step < 0 ? lower : upper);
    std::vector<int64_t> idx;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        idx.push_back(i);
        if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
    }
    charge(idx.size());
    if (obj.is_string()) {
        const std::string& s = obj.as_string();
        std::string out;
        for (int64_t i : idx) out.append(s, offs[i], offs[i + 1] - offs[i]);
        return Value(std::move(out));
    }
    std::vector<Value> items;
    for (int64_t i : idx) items.push_back(obj.as_array().items[static_cast<size_t>(i)]);
    return make_array(std::move(items), obj.as_array().is_tuple);
}

Value Interpreter::eval_binary(const Expr& e, const Value& a, const Value& b) {
    const std::string& op = e.name;
    if (op == "~") {
        std::string s = to_str(a) + to_str(b);
        check_size(s.size());
        charge(s.size() / 16);
        return Value(std::move(s));
    }
    if (a.is_undefined()) fail(undefined_message(a));
    if (b.is_undefined()) fail(undefined_message(b));
    auto type_error = [&]() {
        return "unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'";
    };
    const bool ints = int_like(a) && int_like(b);
    const bool nums = a.is_number() && b.is_number();
    if (op == "+") {
        if (ints) {
            int64_t r;
            if (__builtin_add_overflow(to_int(a), to_int(b), &r)) fail("integer overflow");
            return Value(r);
        }
        if (nums) return Value(a.as_number() + b.as_number());
        if (a.is_string() && b.is_string()) {
            check_size(a.as_string().size() + b.as_string().size());
            charge((a.as_string().size() + b.as_string().size()) / 16);
            if (!a.is_markup() && !b.is_markup()) return Value(a.as_string() + b.as_string());
            // markupsafe: Markup + str escapes the str, and the result is Markup.
            return Value::markup((a.is_markup() ? a.as_string() : html_escape(a.as_string())) +
                                 (b.is_markup() ? b.as_string() : html_escape(b.as_string())));
        }
        if (a.is_array() && b.is_array() && a.as_array().is_tuple == b.as_array().is_tuple) {
            std::vector<Value> items = a.as_array().items;
            items.insert(items.end(), b.as_array().items.begin(), b.as_array().items.end());
            charge(items.size());
            return make_array(std::move(items), a.as_array().is_tuple);
        }
        fail(type_error());
    }
    if (op == "-") {
        if (ints) {
            int64_t r;
            if (__builtin_sub_overflow(to_int(a), to_int(b), &r)) fail("integer overflow");
            return Value(r);
        }
        if (nums) return Value(a.as_number() - b.as_number());
        fail(type_error());
    }
    if (op == "*") {
        if (ints) {
            int64_t r;
            if (__builtin_mul_overflow(to_int(a), to_int(b), &r)) fail("integer overflow");
            return Value(r);
        }
        if (nums) return Value(a.as_number() * b.as_number());
        const Value& seq = int_like(a) ? b : a;
        const Value& count_v = int_like(a) ? a : b;
        if (!int_like(count_v) || !(seq.is_string() || seq.is_array())) fail(type_error());
        int64_t count = std::max<int64_t>(0, to_int(count_v));
        size_t unit = seq.is_string() ? seq.as_string().size() : seq.as_array().items.size();
        if (unit != 0 && static_cast<uint64_t>(count) > limits_.max_output_bytes / unit)
            fail("sequence repetition result is too large");
        charge(static_cast<uint64_t>(count) * unit / 16 + 1);
        if (seq.is_string()) {
            std::string out;
            out.reserve(unit * static_cast<size_t>(count));
            for (int64_t i = 0; i < count; ++i) out += seq.as_string();
            return seq.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
        }
        std::vector<Value> items;
        for (int64_t i = 0; i < count; ++i)
            items.insert(items.end(), seq.as_array().items.begin(), seq.as_array().items.end());
        return make_array(std::move(items), seq.as_array().is_tuple);
    }
    if (!nums) {
        if (op == "%" && a.is_string()) fail("printf-style '%' string formatting is not supported");
        fail(type_error());
    }
    if (op == "/") {
        if (b.as_number() == 0.0) fail("division by zero");
        return Value(a.as_number() / b.as_number());
    }
    if (op == "//" || op == "%") {
        if (b.as_number() == 0.0) fail(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
        if (ints) {
            int64_t x = to_int(a), y = to_int(b);
            if (x == INT64_MIN && y == -1) fail("integer overflow");
            int64_t q = x / y, r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) {
                --q;
                r += y;
            }
            return op == "//" ? Value(q) : Value(r);
        }
        // CPython's float_divmod.
        double x = a.as_number(), y = b.as_number();
        double mod = std::fmod(x, y);
        double div = (x - mod) / y;
        if (mod != 0.0) {
            if ((y < 0) != (mod < 0)) {
                mod += y;
                div -= 1.0;
            }
        } else {
            mod = std::copysign(0.0, y);
        }
        if (op == "%") return Value(mod);
        double floordiv = std::copysign(0.0, x / y);
        if (div != 0.0) {
            floordiv = std::floor(div);
            if (div - floordiv > 0.5) floordiv += 1.0;
        }
        return Value(floordiv);
    }
    if (op == "**") {
        if (ints && to_int(b) >= 0) {
            int64_t base = to_int(a), exp = to_int(b), result = 1;
            while (exp > 0) {
                if ((exp & 1) && __builtin_mul_overflow(result, base, &result)) fail("integer overflow");
                exp >>= 1;
                if (exp > 0 && __builtin_mul_overflow(base, base, &base)) fail("integer overflow");
            }
            return Value(result);
        }
        if (a.as_number() == 0.0 && b.as_number() < 0) fail("0.0 cannot be raised to a negative power");
        return Value(std::pow(a.as_number(), b.as_number()));
    }
    fail(type_error());
}

}  // namespace dsm::jinja
