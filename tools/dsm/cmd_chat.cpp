// dsm chat: interactive multi-turn chat with the model's chat template.
//
// Each turn renders the whole conversation with the template, tokenizes it, and
// evaluates only what the KV cache does not already hold (the longest common token
// prefix is kept), so history is never recomputed. Where a template rewrites history
// (DeepSeek-R1 drops earlier reasoning) only the tokens after the first difference
// are evaluated again. Reads stdin line by line when it is not a terminal.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"
#include "commands.hpp"

namespace dsm::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

// Splits streamed reply text into reasoning (<think>...</think>) and answer.
class ThinkFilter {
public:
    ThinkFilter(bool show, bool starts_inside, bool color) : show_(show), inside_(starts_inside), color_(color) {
        if (inside_) enter();
    }
    void feed(const std::string& text) {
        buf_ += text;
        for (;;) {
            const std::string tag = inside_ ? "</think>" : "<think>";
            const size_t at = buf_.find(tag);
            if (at == std::string::npos) {
                // Keep a possible partial tag back.
                const size_t keep = std::min(buf_.size(), tag.size() - 1);
                emit(buf_.substr(0, buf_.size() - keep));
                buf_.erase(0, buf_.size() - keep);
                return;
            }
            emit(buf_.substr(0, at));
            buf_.erase(0, at + tag.size());
            inside_ ? leave() : enter();
        }
    }
    void finish() {
        emit(buf_);
        buf_.clear();
        if (inside_) leave();
    }

private:
    void emit(const std::string& s) {
        if (s.empty() || (inside_ && !show_)) return;
        std::fputs(s.c_str(), stdout);
        std::fflush(stdout);
    }
    void enter() {
        inside_ = true;
        if (show_) std::fputs(color_ ? "\033[2m<think>" : "<think>", stdout);
        else std::fputs("(thinking...)", stdout);
        std::fflush(stdout);
    }
    void leave() {
        inside_ = false;
        if (show_) std::fputs(color_ ? "</think>\033[0m" : "</think>", stdout);
        else std::fputs(color_ ? "\r\033[K" : "\n", stdout);
        std::fflush(stdout);
    }
    bool show_, inside_, color_;
    std::string buf_;
};

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    size_t k = 0;
    while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
    return k;
}

}  // namespace

int cmd_chat(int argc, char** argv) {
    CLI::App app{"Chat with a model", "dsm chat"};
    std::string path, tmpl_name, system, kv = "f16";
    int n_predict = 1024, threads = 0, n_ctx = 0;
    bool show_thinking = false, verbose = false;
    SamplerParams sp;
    LoadOptions load_options;
    add_load_options(app, load_options);
    app.add_option("-m,--model", path, "GGUF model file")->required();
    app.add_option("--template", tmpl_name,
                   "chat template: the model's (default), or a builtin name (deepseek, deepseek2, deepseek3, "
                   "deepseek-r1, chatml, qwen2, qwen2.5), or 'raw' (no template: text is fed as is)");
    app.add_option("--system", system, "system message");
    app.add_option("-n,--n-predict", n_predict, "most tokens per reply")->capture_default_str();
    app.add_option("-t,--threads", threads, "threads (default: all cores)");
    app.add_option("-c,--ctx", n_ctx, "context length (default: the model's, at most 4096)");
    app.add_option("--kv-type", kv, "KV cache type")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
    app.add_flag("--show-thinking", show_thinking, "show R1 reasoning (<think> ... </think>) dimmed instead of hiding it");
    app.add_flag("-v,--verbose", verbose, "print per-turn token counts and speed on stderr");
    add_sampling_options(app, sp);
    CLI11_PARSE(app, argc, argv);

    auto model = Model::load(path, load_options);
    if (!model->has_tokenizer()) throw Error(path + ": the model carries no tokenizer; chat needs one");
    ContextParams cp;
    cp.n_threads = threads;
    cp.n_ctx = n_ctx;
    cp.kv_type = kv == "f32" ? KvCacheType::F32 : KvCacheType::F16;
    auto ctx = model->create_context(cp);
    const Model::SpecialTokens sp_tok = model->special_tokens();

    std::optional<ChatTemplate> tmpl;
    if (tmpl_name.empty()) {
        const std::string src = model->chat_template();
        if (!src.empty()) tmpl = ChatTemplate::from_source(src);
        else {
            std::fprintf(stderr, "note: the model has no chat template; using 'chatml' (--template to choose)\n");
            tmpl = ChatTemplate::builtin("chatml");
        }
    } else if (tmpl_name != "raw") {
        tmpl = ChatTemplate::builtin(tmpl_name);
    }
    nlohmann::json extra = {{"bos_token", sp_tok.bos >= 0 ? model->token_to_piece(sp_tok.bos) : ""},
                            {"eos_token", sp_tok.eos >= 0 ? model->token_to_piece(sp_tok.eos) : ""}};
    const bool interactive = isatty(STDIN_FILENO);
    const bool color = isatty(STDOUT_FILENO);
    std::signal(SIGINT, on_sigint);

    std::vector<ChatMessage> history;
    if (!system.empty()) history.push_back({"system", system, ""});
    std::vector<int32_t> fed;  // every token given to the context so far (the cache, plus a pending one)
    std::string raw_text;      // for --template raw: the whole conversation text

    auto render = [&](bool add_generation_prompt) {
        if (!tmpl) return raw_text;
        return tmpl->render(history, add_generation_prompt, extra);
    };
    auto tokenize_prompt = [&](const std::string& text) {
        std::vector<int32_t> ids = model->tokenize(text, false, true);
        if (sp_tok.add_bos && sp_tok.bos >= 0 && (ids.empty() || ids[0] != sp_tok.bos)) ids.insert(ids.begin(), sp_tok.bos);
        return ids;
    };

    if (interactive)
        std::fprintf(stderr, "dsm chat — %s. /reset clears the conversation, /exit quits, Ctrl-C stops a reply.\n",
                     model->info().architecture.c_str());
    std::string line;
    for (;;) {
        if (interactive) {
            std::fputs(color ? "\033[1m> \033[0m" : "> ", stdout);
            std::fflush(stdout);
        }
        g_interrupted = 0;
        if (!std::getline(std::cin, line)) break;
        if (line.empty()) continue;
        if (line == "/exit" || line == "/quit") break;
        if (line == "/reset") {
            history.clear();
            if (!system.empty()) history.push_back({"system", system, ""});
            fed.clear();
            raw_text.clear();
            ctx->clear();
            std::printf("[conversation reset]\n");
            std::fflush(stdout);
            continue;
        }
        history.push_back({"user", line, ""});
        raw_text += line;
        const std::string prompt_text = render(true);
        const std::vector<int32_t> want = tokenize_prompt(prompt_text);
        // Keep what the cache already holds; evaluate the rest.
        const size_t keep = common_prefix(fed, want);
        if (keep < fed.size()) {
            const size_t k = std::min<size_t>(keep, size_t(ctx->n_past()));
            ctx->truncate(int(k));
            fed.resize(k);
        }
        std::vector<int32_t> todo(want.begin() + int64_t(fed.size()), want.end());
        if (int(fed.size() + todo.size()) >= ctx->n_ctx()) {
            std::printf("[context full (%d tokens): /reset to start over]\n", ctx->n_ctx());
            history.pop_back();
            continue;
        }
        fed.insert(fed.end(), todo.begin(), todo.end());

        // R1-style templates open the reply with "<think>" already.
        const size_t last = prompt_text.find_last_not_of(" \n");
        const bool starts_in_think = last != std::string::npos && last >= 6 && prompt_text.compare(last - 6, 7, "<think>") == 0;
        ThinkFilter filter(show_thinking, starts_in_think, color);
        auto stream = model->text_stream();
        std::vector<int32_t> reply;
        const GenerateStats st = ctx->generate(todo, n_predict, sp, [&](int32_t tok) {
            fed.push_back(tok);
            if (model->is_end_of_generation(tok)) return false;
            reply.push_back(tok);
            filter.feed(stream->push(tok));
            return g_interrupted == 0;
        });
        filter.feed(stream->flush());
        filter.finish();
        std::string answer = model->detokenize(reply, true);
        if (starts_in_think) answer = "<think>\n" + answer;
        std::printf("%s\n", g_interrupted ? " [stopped]" : "");
        history.push_back({"assistant", answer, ""});
        raw_text += answer;
        if (verbose || interactive)
            std::fprintf(stderr, "[%zu new prompt tokens, %d generated, %.1f tok/s | context %d/%d]\n", todo.size(),
                         st.n_generated, st.generate_seconds > 0 ? st.n_generated / st.generate_seconds : 0.0,
                         ctx->n_past() + 1, ctx->n_ctx());
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace dsm::cli
