// Recursive-descent parser with Jinja2's grammar and operator precedence
// (jinja2/parser.py): condexpr < or < and < not < compare < + - < ~ < * / // % < **
// < unary < primary/postfix, with filters and tests binding to a unary operand.
#include <string_view>

#include "chat/jinja/ast.hpp"
#include "chat/jinja/lexer.hpp"
#include "core/error.hpp"

namespace dsm::jinja {

namespace {

// How an error message names a token.
std::string token_text(const Token& t) {
    switch (t.type) {
        case Tok::Text: return "template text";
        case Tok::VarBegin: return "'{{'";
        case Tok::VarEnd: return "'}}'";
        case Tok::BlockBegin: return "'{%'";
        case Tok::BlockEnd: return "'%}'";
        case Tok::Name:
        case Tok::Op: return "'" + t.value + "'";
        case Tok::String: return "string literal";
        case Tok::Int:
        case Tok::Float: return "number " + t.value;
        case Tok::Eof: return "end of template";
    }
    return "token";
}

class Parser {
public:
    Parser(std::vector<Token> toks, int max_depth) : toks_(std::move(toks)), max_depth_(max_depth) {}

    std::unique_ptr<Template> run() {
        auto t = std::make_unique<Template>();
        t->body = parse_body({}, nullptr, nullptr);
        return t;
    }

private:
    // ---- token helpers --------------------------------------------------------------
    const Token& cur() const { return toks_[pos_]; }
    const Token& look(size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
    const Token& next() {
        const Token& t = toks_[pos_];
        if (pos_ + 1 < toks_.size()) ++pos_;
        return t;
    }
    bool is_op(std::string_view op) const { return cur().type == Tok::Op && cur().value == op; }
    bool is_name(std::string_view n) const { return cur().type == Tok::Name && cur().value == n; }
    bool skip_op(std::string_view op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(std::string_view n) {
        if (!is_name(n)) return false;
        next();
        return true;
    }

    [[noreturn]] void fail(const Token& t, const std::string& what) const {
        throw Error(syntax_error_message(t.line, t.col, what));
    }
    [[noreturn]] void unexpected(const std::string& expected) const {
        fail(cur(), "expected " + expected + ", got " + token_text(cur()));
    }

    void expect_op(std::string_view op) {
        if (!skip_op(op)) unexpected("'" + std::string(op) + "'");
    }
    std::string expect_name() {
        if (cur().type != Tok::Name) unexpected("a name");
        return next().value;
    }
    void expect_block_end() {
        if (cur().type != Tok::BlockEnd) unexpected("'%}'");
        next();
    }

    // Bounds recursion so that hostile input cannot exhaust the stack.
    struct DepthGuard {
        Parser& p;
        DepthGuard(Parser& parser, const Token& at) : p(parser) {
            if (++p.depth_ > p.max_depth_)
                p.fail(at, "nesting deeper than " + std::to_string(p.max_depth_) + " levels");
        }
        ~DepthGuard() { --p.depth_; }
    };

    // Left-associative chains (a + b + c, x.y.z, v|f|g) are built by loops, not
    // recursion, yet each link adds a tree level; they count against the same budget
    // so that no tree gets deep enough to overflow the stack when evaluated or freed.
    struct ChainGuard {
        Parser& p;
        int links = 0;
        explicit ChainGuard(Parser& parser) : p(parser) {}
        void grow(const Token& at) {
            ++links;
            if (++p.depth_ > p.max_depth_)
                p.fail(at, "nesting deeper than " + std::to_string(p.max_depth_) + " levels");
        }
        ~ChainGuard() { p.depth_ -= links; }
    };

    ExprPtr node(ExprKind kind, const Token& at) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = at.line;
        e->col = at.col;
        return e;
    }
    StmtPtr stmt(StmtKind kind, const Token& at) {
        auto s = std::make_unique<Stmt>();
        s->kind = kind;
        s->line = at.line;
        s->col = at.col;
        return s;
    }

    // ---- statements -----------------------------------------------------------------

    // Parses until a block tag named in `ends`; leaves the position after that name
    // and stores it in *ended. `opener` is the tag that started this body.
    Body parse_body(std::initializer_list<std::string_view> ends, std::string* ended, const Token* opener) {
        Body body;
        while (true) {
            const Token& t = cur();
            if (t.type == Tok::Text) {
                auto s = stmt(StmtKind::Text, t);
                s->text = next().value;
                body.push_back(std::move(s));
            } else if (t.type == Tok::VarBegin) {
                next();
                auto s = stmt(StmtKind::Output, t);
                s->expr = parse_tuple(true, {});
                if (cur().type != Tok::VarEnd) unexpected("'}}'");
                next();
                body.push_back(std::move(s));
            } else if (t.type == Tok::BlockBegin) {
                const Token& name = look();
                if (name.type == Tok::Name) {
                    for (std::string_view e : ends) {
                        if (name.value == e) {
                            next();
                            next();
                            *ended = std::string(e);
                            return body;
                        }
                    }
                }
                next();
                body.push_back(parse_statement(ends, opener));
            } else if (t.type == Tok::Eof) {
                if (opener == nullptr) return body;
                fail(t, "unexpected end of template: the '" + opener->value + "' block opened at line " +
                            std::to_string(opener->line) + ", column " + std::to_string(opener->col) +
                            " needs {% " + std::string(*ends.begin()) + " %}");
            } else {
                fail(t, "unexpected " + token_text(t));
            }
        }
    }

    StmtPtr parse_statement(std::initializer_list<std::string_view> ends, const Token* opener) {
        const Token& t = cur();
        if (t.type != Tok::Name) unexpected("a statement name after '{%'");
        DepthGuard guard(*this, t);
        const std::string& n = t.value;
        if (n == "if") return parse_if();
        if (n == "for") return parse_for();
        if (n == "set") return parse_set();
        if (n == "macro") return parse_macro();
        if (n == "call") return parse_call_block();
        if (n == "filter") return parse_filter_block();
        if (n == "with") return parse_with();
        if (n == "generation") return parse_simple_block(StmtKind::Scope, "endgeneration");
        if (n == "break" || n == "continue") {
            if (loop_depth_ == 0) fail(t, "'" + n + "' outside of a loop");
            auto s = stmt(n == "break" ? StmtKind::Break : StmtKind::Continue, t);
            next();
            expect_block_end();
            return s;
        }
        if (n == "include" || n == "import" || n == "from" || n == "extends" || n == "block" || n == "do" ||
            n == "autoescape" || n == "raw" || n == "trans")
            fail(t, "'" + n + "' is not supported in chat templates");
        std::string msg = "unexpected '" + n + "'";
        if (opener != nullptr) {
            msg += " (expected";
            for (std::string_view e : ends) msg += " '" + std::string(e) + "'";
            msg += " for the '" + opener->value + "' at line " + std::to_string(opener->line) + ", column " +
                   std::to_string(opener->col) + ")";
        } else if (n.rfind("end", 0) == 0 || n == "else" || n == "elif") {
            msg += " without a matching opening tag";
        } else {
            msg = "unknown tag '" + n + "'";
        }
        fail(t, msg);
    }

    StmtPtr parse_if() {
        const Token& opener = next();
        auto s = stmt(StmtKind::If, opener);
        ExprPtr cond = parse_tuple(false, {});
        expect_block_end();
        while (true) {
            std::string ended;
            Body body = parse_body({"elif", "else", "endif"}, &ended, &opener);
            s->branches.emplace_back(std::move(cond), std::move(body));
            if (ended == "elif") {
                cond = parse_tuple(false, {});
                expect_block_end();
                continue;
            }
            expect_block_end();
            if (ended == "else") {
                s->else_body = parse_body({"endif"}, &ended, &opener);
                expect_block_end();
            }
            return s;
        }
    }

    // `a`, `a, b` or `(a, b)`.
    std::vector<std::string> parse_target_names() {
        std::vector<std::string> names;
        bool paren = skip_op("(");
        do {
            if (paren && is_op(")")) break;
            names.push_back(expect_name());
        } while (skip_op(","));
        if (paren) expect_op(")");
        return names;
    }

    StmtPtr parse_for() {
        const Token& opener = next();
        auto s = stmt(StmtKind::For, opener);
        s->targets = parse_target_names();
        if (!skip_name("in")) unexpected("'in'");
        s->expr = parse_tuple(false, {"recursive", "if"});
        if (skip_name("if")) s->cond = parse_expression(true);
        if (is_name("recursive")) fail(cur(), "recursive loops are not supported");
        expect_block_end();
        std::string ended;
        ++loop_depth_;
        const size_t loop_refs_before = loop_refs_;
        s->body = parse_body({"endfor", "else"}, &ended, &opener);
        s->uses_loop = loop_refs_ != loop_refs_before;
        --loop_depth_;
        expect_block_end();
        if (ended == "else") {
            s->else_body = parse_body({"endfor"}, &ended, &opener);
            expect_block_end();
        }
        return s;
    }

    StmtPtr parse_set() {
        const Token& opener = next();
        if (cur().type == Tok::Name && look().type == Tok::Op && look().value == ".") {
            auto s = stmt(StmtKind::Set, opener);
            s->targets.push_back(next().value);
            next();
            s->attr = expect_name();
            expect_op("=");
            s->expr = parse_tuple(true, {});
            expect_block_end();
            return s;
        }
        std::vector<std::string> names = parse_target_names();
        if (skip_op("=")) {
            auto s = stmt(StmtKind::Set, opener);
            s->targets = std::move(names);
            s->expr = parse_tuple(true, {});
            expect_block_end();
            return s;
        }
        if (names.size() != 1) unexpected("'='");
        auto s = stmt(StmtKind::SetBlock, opener);
        s->targets = std::move(names);
        if (is_op("|")) {
            next();
            parse_filter_chain(s->filters);
        }
        expect_block_end();
        std::string ended;
        s->body = parse_body({"endset"}, &ended, &opener);
        expect_block_end();
        return s;
    }

    std::vector<Param> parse_signature() {
        std::vector<Param> params;
        expect_op("(");
        while (!is_op(")")) {
            if (!params.empty()) {
                expect_op(",");
                if (is_op(")")) break;
            }
            const Token& at = cur();
            Param p;
            p.name = expect_name();
            if (skip_op("=")) p.default_value = parse_expression(true);
            else if (!params.empty() && params.back().default_value)
                fail(at, "parameter without a default follows a parameter with a default");
            params.push_back(std::move(p));
        }
        next();
        return params;
    }

    StmtPtr parse_macro() {
        const Token& opener = next();
        auto s = stmt(StmtKind::Macro, opener);
        s->targets.push_back(expect_name());
        s->params = parse_signature();
        expect_block_end();
        int saved_loops = loop_depth_;
        loop_depth_ = 0;  // break/continue cannot reach a loop outside the macro
        std::string ended;
        s->body = parse_body({"endmacro"}, &ended, &opener);
        loop_depth_ = saved_loops;
        expect_block_end();
        return s;
    }

    StmtPtr parse_call_block() {
        const Token& opener = next();
        auto s = stmt(StmtKind::CallBlock, opener);
        if (is_op("(")) s->params = parse_signature();
        s->expr = parse_expression(true);
        if (s->expr->kind != ExprKind::Call) fail(opener, "expected a macro call after 'call'");
        expect_block_end();
        int saved_loops = loop_depth_;
        loop_depth_ = 0;
        std::string ended;
        s->body = parse_body({"endcall"}, &ended, &opener);
        loop_depth_ = saved_loops;
        expect_block_end();
        return s;
    }

    StmtPtr parse_filter_block() {
        const Token& opener = next();
        auto s = stmt(StmtKind::FilterBlock, opener);
        parse_filter_chain(s->filters);
        expect_block_end();
        std::string ended;
        s->body = parse_body({"endfilter"}, &ended, &opener);
        expect_block_end();
        return s;
    }

    StmtPtr parse_with() {
        const Token& opener = next();
        auto s = stmt(StmtKind::With, opener);
        while (cur().type != Tok::BlockEnd) {
            if (!s->assigns.empty()) expect_op(",");
            std::string name = expect_name();
            expect_op("=");
            s->assigns.emplace_back(std::move(name), parse_expression(true));
        }
        expect_block_end();
        std::string ended;
        s->body = parse_body({"endwith"}, &ended, &opener);
        expect_block_end();
        return s;
    }

    StmtPtr parse_simple_block(StmtKind kind, std::string_view end) {
        const Token& opener = next();
        auto s = stmt(kind, opener);
        expect_block_end();
        std::string ended;
        s->body = parse_body({end}, &ended, &opener);
        expect_block_end();
        return s;
    }

    // ---- expressions ----------------------------------------------------------------

    bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
        const Token& t = cur();
        if (t.type == Tok::VarEnd || t.type == Tok::BlockEnd || t.type == Tok::Eof) return true;
        if (t.type == Tok::Op && t.value == ")") return true;
        if (t.type == Tok::Name)
            for (std::string_view e : extra_end)
                if (t.value == e) return true;
        return false;
    }

    ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                        bool explicit_parens = false) {
        const Token& start = cur();
        std::vector<ExprPtr> items;
        bool is_tuple = false;
        while (true) {
            if (!items.empty()) expect_op(",");
            if (is_tuple_end(extra_end)) break;
            items.push_back(parse_expression(with_condexpr));
            if (is_op(",")) is_tuple = true;
            else break;
        }
        if (!is_tuple) {
            if (!items.empty()) return std::move(items[0]);
            if (!explicit_parens) unexpected("an expression");
        }
        auto e = node(ExprKind::Tuple, start);
        e->children = std::move(items);
        return e;
    }

    ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

    ExprPtr parse_condexpr() {
        DepthGuard guard(*this, cur());
        ExprPtr expr = parse_or();
        ChainGuard chain(*this);
        while (is_name("if")) {
            chain.grow(cur());
            const Token& at = next();
            auto e = node(ExprKind::CondExpr, at);
            e->children.push_back(parse_or());
            e->children.push_back(std::move(expr));
            e->children.push_back(skip_name("else") ? parse_condexpr() : nullptr);
            expr = std::move(e);
        }
        return expr;
    }

    ExprPtr parse_or() {
        ExprPtr left = parse_and();
        ChainGuard chain(*this);
        while (is_name("or")) {
            chain.grow(cur());
            auto e = node(ExprKind::Or, next());
            e->children.push_back(std::move(left));
            e->children.push_back(parse_and());
            left = std::move(e);
        }
        return left;
    }

    ExprPtr parse_and() {
        ExprPtr left = parse_not();
        ChainGuard chain(*this);
        while (is_name("and")) {
            chain.grow(cur());
            auto e = node(ExprKind::And, next());
            e->children.push_back(std::move(left));
            e->children.push_back(parse_not());
            left = std::move(e);
        }
        return left;
    }

    ExprPtr parse_not() {
        if (is_name("not")) {
            DepthGuard guard(*this, cur());
            auto e = node(ExprKind::Not, next());
            e->children.push_back(parse_not());
            return e;
        }
        return parse_compare();
    }

    ExprPtr parse_compare() {
        const Token& start = cur();
        ExprPtr first = parse_math1();
        ExprPtr cmp;
        while (true) {
            std::string op;
            if (cur().type == Tok::Op && (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
                                          cur().value == "<=" || cur().value == ">" || cur().value == ">=")) {
                op = next().value;
            } else if (is_name("in")) {
                next();
                op = "in";
            } else if (is_name("not") && look().type == Tok::Name && look().value == "in") {
                next();
                next();
                op = "notin";
            } else {
                break;
            }
            if (!cmp) {
                cmp = node(ExprKind::Compare, start);
                cmp->children.push_back(std::move(first));
            }
            cmp->ops.push_back(op);
            cmp->children.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(first);
    }

    template <class Next>
    ExprPtr parse_binary_level(std::initializer_list<std::string_view> ops, Next next_level) {
        ExprPtr left = (this->*next_level)();
        ChainGuard chain(*this);
        while (cur().type == Tok::Op) {
            bool match = false;
            for (std::string_view op : ops) match = match || cur().value == op;
            if (!match) break;
            chain.grow(cur());
            auto e = node(ExprKind::Binary, cur());
            e->name = next().value;
            e->children.push_back(std::move(left));
            e->children.push_back((this->*next_level)());
            left = std::move(e);
        }
        return left;
    }

    ExprPtr parse_math1() { return parse_binary_level({"+", "-"}, &Parser::parse_concat); }
    ExprPtr parse_concat() { return parse_binary_level({"~"}, &Parser::parse_math2); }
    ExprPtr parse_math2() { return parse_binary_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
    ExprPtr parse_pow() { return parse_binary_level({"**"}, &Parser::parse_unary_filtered); }
    ExprPtr parse_unary_filtered() { return parse_unary(true); }

    ExprPtr parse_unary(bool with_filter) {
        DepthGuard guard(*this, cur());
        ExprPtr e;
        if (is_op("-") || is_op("+")) {
            e = node(is_op("-") ? ExprKind::Neg : ExprKind::Pos, cur());
            next();
            e->children.push_back(parse_unary(false));
        } else {
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        if (with_filter) e = parse_filter_expr(std::move(e));
        return e;
    }

    ExprPtr parse_primary() {
        const Token& t = cur();
        switch (t.type) {
            case Tok::Name: {
                next();
                auto e = node(ExprKind::Literal, t);
                if (t.value == "true" || t.value == "True") e->literal = Value(true);
                else if (t.value == "false" || t.value == "False") e->literal = Value(false);
                else if (t.value == "none" || t.value == "None") e->literal = Value::none();
                else {
                    e->kind = ExprKind::Name;
                    e->name = t.value;
                    if (t.value == "loop") ++loop_refs_;
                }
                return e;
            }
            case Tok::String: {
                std::string s;
                while (cur().type == Tok::String) s += next().value;  // adjacent literals join
                auto e = node(ExprKind::Literal, t);
                e->literal = Value(std::move(s));
                return e;
            }
            case Tok::Int:
            case Tok::Float: {
                next();
                auto e = node(ExprKind::Literal, t);
                e->literal = t.type == Tok::Int ? Value(t.int_value) : Value(t.float_value);
                return e;
            }
            case Tok::Op:
                if (t.value == "(") {
                    next();
                    ExprPtr e = parse_tuple(true, {}, true);
                    expect_op(")");
                    return e;
                }
                if (t.value == "[") return parse_list();
                if (t.value == "{") return parse_dict();
                break;
            default: break;
        }
        unexpected("an expression");
    }

    ExprPtr parse_list() {
        auto e = node(ExprKind::List, next());
        while (!is_op("]")) {
            if (!e->children.empty()) {
                expect_op(",");
                if (is_op("]")) break;
            }
            e->children.push_back(parse_expression(true));
        }
        next();
        return e;
    }

    ExprPtr parse_dict() {
        auto e = node(ExprKind::Dict, next());
        while (!is_op("}")) {
            if (!e->children.empty()) {
                expect_op(",");
                if (is_op("}")) break;
            }
            e->children.push_back(parse_expression(true));
            expect_op(":");
            e->children.push_back(parse_expression(true));
        }
        next();
        return e;
    }

    ExprPtr parse_postfix(ExprPtr e) {
        ChainGuard chain(*this);
        while (cur().type == Tok::Op) {
            if (is_op(".") || is_op("[") || is_op("(")) chain.grow(cur());
            if (is_op(".") || is_op("[")) e = parse_subscript(std::move(e));
            else if (is_op("(")) e = parse_call(std::move(e));
            else break;
        }
        return e;
    }

    ExprPtr parse_filter_expr(ExprPtr e) {
        ChainGuard chain(*this);
        while (true) {
            if (is_op("|") || is_name("is") || is_op("(")) chain.grow(cur());
            if (is_op("|")) {
                next();
                std::vector<ExprPtr> chain;
                parse_filter_chain(chain, std::move(e));
                e = std::move(chain.back());
            } else if (is_name("is")) {
                e = parse_test(std::move(e));
            } else if (is_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }

    ExprPtr parse_subscript(ExprPtr obj) {
        const Token& t = next();
        if (t.value == ".") {
            const Token& attr = next();
            if (attr.type == Tok::Name) {
                auto e = node(ExprKind::GetAttr, attr);
                e->name = attr.value;
                e->children.push_back(std::move(obj));
                return e;
            }
            if (attr.type != Tok::Int) fail(attr, "expected a name or number after '.'");
            auto e = node(ExprKind::GetItem, attr);
            auto key = node(ExprKind::Literal, attr);
            key->literal = Value(attr.int_value);
            e->children.push_back(std::move(obj));
            e->children.push_back(std::move(key));
            return e;
        }
        std::vector<ExprPtr> args;
        while (!is_op("]")) {
            if (!args.empty()) expect_op(",");
            args.push_back(parse_subscribed());
        }
        next();
        if (args.empty()) fail(t, "expected a subscript inside '[]'");
        ExprPtr index;
        if (args.size() == 1) {
            index = std::move(args[0]);
        } else {
            index = node(ExprKind::Tuple, t);
            index->children = std::move(args);
        }
        if (index->kind == ExprKind::Slice) {  // obj[a:b:c]: the slice node takes the object
            index->children[0] = std::move(obj);
            return index;
        }
        auto e = node(ExprKind::GetItem, t);
        e->children.push_back(std::move(obj));
        e->children.push_back(std::move(index));
        return e;
    }

    // An index or a slice; a slice is returned as Slice with children[0] empty.
    ExprPtr parse_subscribed() {
        const Token& start = cur();
        ExprPtr first;
        if (!is_op(":")) {
            first = parse_expression(true);
            if (!is_op(":")) return first;
        }
        next();
        auto s = node(ExprKind::Slice, start);
        s->children.push_back(nullptr);
        s->children.push_back(std::move(first));
        s->children.push_back(is_op(":") || is_op("]") || is_op(",") ? nullptr : parse_expression(true));
        if (skip_op(":")) s->children.push_back(is_op("]") || is_op(",") ? nullptr : parse_expression(true));
        else s->children.push_back(nullptr);
        return s;
    }

    void parse_call_args(Expr& e) {
        expect_op("(");
        bool need_comma = false;
        while (!is_op(")")) {
            if (need_comma) {
                expect_op(",");
                if (is_op(")")) break;
            }
            if (is_op("*") || is_op("**")) fail(cur(), "*args and **kwargs are not supported");
            if (cur().type == Tok::Name && look().type == Tok::Op && look().value == "=") {
                std::string key = next().value;
                next();
                e.kwargs.emplace_back(std::move(key), parse_expression(true));
            } else {
                if (!e.kwargs.empty()) fail(cur(), "positional argument follows keyword argument");
                e.children.push_back(parse_expression(true));
            }
            need_comma = true;
        }
        next();
    }

    ExprPtr parse_call(ExprPtr callee) {
        auto e = node(ExprKind::Call, cur());
        e->children.push_back(std::move(callee));
        parse_call_args(*e);
        return e;
    }

    // name(args) | name(args) ...; the first filter's input is `input` (null in filter
    // blocks). Each filter node is appended; the last one holds the whole chain.
    void parse_filter_chain(std::vector<ExprPtr>& out, ExprPtr input = nullptr) {
        bool chained = input != nullptr;
        ChainGuard chain(*this);
        while (true) {
            const Token& at = cur();
            chain.grow(at);
            std::string name = expect_name();
            while (is_op(".")) {
                next();
                name += '.';
                name += expect_name();
            }
            auto f = node(ExprKind::Filter, at);
            f->name = std::move(name);
            if (chained) f->children.push_back(std::move(input));
            else f->children.push_back(nullptr);
            if (is_op("(")) parse_call_args(*f);
            if (chained) input = std::move(f);
            else out.push_back(std::move(f));
            if (!is_op("|")) break;
            next();
        }
        if (chained) out.push_back(std::move(input));
    }

    ExprPtr parse_test(ExprPtr subject) {
        next();  // 'is'
        bool negated = skip_name("not");
        const Token& at = cur();
        auto e = node(ExprKind::Test, at);
        e->name = expect_name();
        while (is_op(".")) {
            next();
            e->name += '.';
            e->name += expect_name();
        }
        e->children.push_back(std::move(subject));
        if (is_op("(")) {
            parse_call_args(*e);
        } else {
            const Token& t = cur();
            bool starts_arg = t.type == Tok::Name || t.type == Tok::String || t.type == Tok::Int ||
                              t.type == Tok::Float || (t.type == Tok::Op && (t.value == "[" || t.value == "{"));
            if (starts_arg && !is_name("else") && !is_name("or") && !is_name("and")) {
                if (is_name("is")) fail(t, "tests cannot be chained with 'is'");
                e->children.push_back(parse_postfix(parse_primary()));
            }
        }
        if (!negated) return e;
        auto n = node(ExprKind::Not, at);
        n->children.push_back(std::move(e));
        return n;
    }

    std::vector<Token> toks_;
    size_t pos_ = 0;
    int depth_ = 0;
    int max_depth_;
    int loop_depth_ = 0;
    size_t loop_refs_ = 0;  // `loop` names seen so far
};

}  // namespace

std::unique_ptr<Template> parse_template(const std::string& source, int max_depth) {
    return Parser(tokenize(source), max_depth).run();
}

}  // namespace dsm::jinja
