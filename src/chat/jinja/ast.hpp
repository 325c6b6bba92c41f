// Syntax tree of a parsed template. Nodes are generic records (kind + children)
// rather than a class per construct; the interpreter switches on the kind.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja/value.hpp"

namespace dsm::jinja {

enum class ExprKind {
    Literal,   // literal
    Name,      // name
    GetAttr,   // children[0].name
    GetItem,   // children[0][children[1]]
    Slice,     // children[0][children[1]:children[2]:children[3]], parts may be null
    Call,      // children[0](children[1..], kwargs)
    Filter,    // children[0] | name(children[1..], kwargs); children[0] is null in filter blocks
    Test,      // children[0] is name(children[1..], kwargs)
    Not,       // not children[0]
    Neg,       // -children[0]
    Pos,       // +children[0]
    Binary,    // children[0] name children[1], name in + - * / // % ** ~
    And,       // children[0] and children[1]
    Or,        // children[0] or children[1]
    Compare,   // children[0] ops[0] children[1] ops[1] children[2] ...
    CondExpr,  // children[1] if children[0] else children[2] (children[2] may be null)
    List,      // [children...]
    Tuple,     // (children...)
    Dict,      // {children[0]: children[1], ...}
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind;
    int line = 0, col = 0;
    Value literal;
    std::string name;
    std::vector<ExprPtr> children;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;
};

enum class StmtKind {
    Text,         // text
    Output,       // {{ expr }}
    If,           // branches (cond, body) ..., else_body
    For,          // for targets in expr [if cond]: body, else_body
    Set,          // set targets = expr | set targets[0].attr = expr
    SetBlock,     // set targets[0] [| filters]: body
    Macro,        // macro targets[0](params): body
    CallBlock,    // call(params) expr: body
    FilterBlock,  // filter filters: body
    With,         // with assigns: body
    Scope,        // a body run in place ({% generation %})
    Break,
    Continue,
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Param {
    std::string name;
    ExprPtr default_value;  // may be null
};

struct Stmt {
    StmtKind kind;
    int line = 0, col = 0;
    std::string text;
    ExprPtr expr;
    ExprPtr cond;
    std::vector<std::string> targets;
    std::string attr;
    std::vector<std::pair<ExprPtr, Body>> branches;
    Body body;
    Body else_body;
    std::vector<Param> params;
    std::vector<ExprPtr> filters;
    std::vector<std::pair<std::string, ExprPtr>> assigns;
    bool uses_loop = true;  // For: the body mentions `loop` (else no loop object is built)
};

struct Template {
    Body body;
};

// Parses template source. Throws dsm::Error with line and column on a syntax error.
// Nesting deeper than max_depth (expressions and blocks) is a syntax error too.
std::unique_ptr<Template> parse_template(const std::string& source, int max_depth);

}  // namespace dsm::jinja
