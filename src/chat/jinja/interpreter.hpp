// Tree-walking interpreter for parsed templates. Every render is bounded: a step
// budget (each node, loop iteration and produced byte counts), a recursion limit and
// an output size limit, each reported as dsm::Error instead of hanging or crashing.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja/ast.hpp"
#include "chat/jinja/limits.hpp"
#include "chat/jinja/value.hpp"

namespace dsm::jinja {

struct Scope;

class Interpreter {
public:
    Interpreter(const Template& tmpl, const Limits& limits);
    ~Interpreter();
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;

    // Renders with `globals` as the outermost variables.
    std::string render(ObjectPtr globals);

    // ---- services for filters, tests, methods and global functions ----------------
    void charge(uint64_t steps);
    // Charges for work proportional to the size of `v` (bytes / 16, items).
    void charge_size(const Value& v);
    // Throws if a string of `bytes` bytes would exceed the size limit.
    void check_size(size_t bytes) const;
    [[noreturn]] void fail(const std::string& msg) const;
    // Python getattr/getitem as Jinja's sandbox does them.
    Value get_attr(const Value& obj, const std::string& name);
    Value get_item(const Value& obj, const Value& key);
    Value call(const Value& callee, CallArgs& args);
    // Items of a for loop or filter input: list items, dict keys, string characters.
    std::vector<Value> iterate(const Value& v);
    Value make_namespace(std::vector<std::pair<Value, Value>> entries);

    // Used by the macro/caller callables.
    Value invoke_macro(const Stmt& def, const std::weak_ptr<Scope>& closure, CallArgs& args,
                       const Value& caller);

private:
    enum class Flow { Normal, Break, Continue };

    Flow exec_body(const Body& body);
    Flow exec(const Stmt& s);
    Flow exec_inner(const Stmt& s);
    Flow exec_for(const Stmt& s);
    void bind_targets(Scope& scope, const std::vector<std::string>& targets, const Value& item);
    void exec_set(const Stmt& s);
    std::string capture(const Body& body);
    Value apply_filter_chain(const std::vector<ExprPtr>& filters, Value v);

    Value eval(const Expr& e);
    Value eval_inner(const Expr& e);
    Value eval_call(const Expr& e);
    Value eval_binary(const Expr& e, const Value& a, const Value& b);
    Value eval_compare(const Expr& e);
    Value eval_slice(const Expr& e);
    void eval_args(const Expr& e, size_t first, CallArgs& args);

    Value lookup(const std::string& name) const;
    void assign(const std::string& name, Value v);
    void append_output(const std::string& s);

    const Template& tmpl_;
    Limits limits_;
    uint64_t steps_ = 0;
    int depth_ = 0;
    ObjectPtr globals_;
    std::shared_ptr<Scope> root_scope_;  // template-level variables
    std::shared_ptr<Scope> scope_;       // innermost scope while running
    std::string* out_ = nullptr;         // where output goes (captures swap it)
    std::vector<ObjectPtr> namespaces_;  // cleared at the end to break reference cycles

    friend struct ScopeGuard;
    friend struct DepthGuard;
};

struct Scope {
    std::shared_ptr<Scope> parent;
    std::vector<std::pair<std::string, Value>> vars;

    Value* find_local(const std::string& name) {
        for (auto& [k, v] : vars)
            if (k == name) return &v;
        return nullptr;
    }
    void set(const std::string& name, Value v) {
        if (Value* slot = find_local(name)) *slot = std::move(v);
        else vars.emplace_back(name, std::move(v));
    }
};

// ---- builtins (builtins.cpp) ---------------------------------------------------------
Value apply_filter(Interpreter& in, const std::string& name, const Value& input, CallArgs& args);
bool apply_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);
// Python methods of str, dict and list. Returns false when `obj` has no such method.
bool call_method(Interpreter& in, const Value& obj, const std::string& name, CallArgs& args, Value* result);
// range, namespace, dict, raise_exception, strftime_now.
void install_globals(ObjectData& globals);
// `needle in haystack`.
bool contains(Interpreter& in, const Value& haystack, const Value& needle);

}  // namespace dsm::jinja
