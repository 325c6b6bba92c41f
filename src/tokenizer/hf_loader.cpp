// Tokenizer::from_hf_json / from_hf_files: builds the pipeline from a Hugging Face
// tokenizer.json (+ tokenizer_config.json). Only the BPE model is supported.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace dsm {

namespace {

using json = nlohmann::json;
using namespace tok;

constexpr int kMaxDepth = 16;           // nesting of Sequence components
constexpr int64_t kMaxTokenId = 1 << 24;

[[noreturn]] void fail(const std::string& what) { throw Error("tokenizer.json: " + what); }

const json* member(const json& j, const char* key) {
    if (!j.is_object()) return nullptr;
    const auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string get_string(const json& j, const char* key, const std::string& def = "") {
    const json* v = member(j, key);
    if (!v) return def;
    if (!v->is_string()) fail(std::string("'") + key + "' must be a string");
    return v->get<std::string>();
}

bool get_bool(const json& j, const char* key, bool def) {
    const json* v = member(j, key);
    if (!v) return def;
    if (!v->is_boolean()) fail(std::string("'") + key + "' must be a boolean");
    return v->get<bool>();
}

size_t get_size(const json& j, const char* key, size_t def) {
    const json* v = member(j, key);
    if (!v) return def;
    if (!v->is_number_unsigned()) fail(std::string("'") + key + "' must be a non-negative integer");
    return v->get<size_t>();
}

const json& get_array(const json& j, const char* key) {
    const json* v = member(j, key);
    if (!v || !v->is_array()) fail(std::string("'") + key + "' must be an array");
    return *v;
}

std::string type_of(const json& j, const char* what) {
    if (!j.is_object()) fail(std::string(what) + " must be an object");
    return get_string(j, "type");
}

Pattern parse_pattern(const json& j) {
    if (const json* s = member(j, "String"); s && s->is_string()) return Pattern::literal(s->get<std::string>());
    if (const json* r = member(j, "Regex"); r && r->is_string()) return Pattern::regex(r->get<std::string>());
    fail("pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

PrependScheme parse_prepend_scheme(const json& j) {
    const std::string s = get_string(j, "prepend_scheme");
    if (s.empty()) return get_bool(j, "add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
    if (s == "always") return PrependScheme::Always;
    if (s == "first") return PrependScheme::First;
    if (s == "never") return PrependScheme::Never;
    fail("unknown prepend_scheme '" + s + "'");
}

// Metaspace's replacement character.
std::string replacement(const json& j) {
    std::string r = get_string(j, "replacement", "\xE2\x96\x81");
    if (r.empty()) fail("Metaspace replacement must not be empty");
    return r;
}

struct Builder {
    Tokenizer::Impl& m;
    bool sentencepiece_normalizer = false;  // saw Prepend("▁") / Metaspace (for to_vocab_spec)

    void normalizer(const json& j, int depth) {
        if (depth > kMaxDepth) fail("normalizers nested too deeply");
        const std::string t = type_of(j, "normalizer");
        if (t == "Sequence") {
            for (const json& n : get_array(j, "normalizers")) normalizer(n, depth + 1);
        } else if (t == "NFC") {
            m.normalizers.push_back(make_unicode_normalizer(NormForm::NFC));
        } else if (t == "NFD") {
            m.normalizers.push_back(make_unicode_normalizer(NormForm::NFD));
        } else if (t == "NFKC") {
            m.normalizers.push_back(make_unicode_normalizer(NormForm::NFKC));
        } else if (t == "NFKD") {
            m.normalizers.push_back(make_unicode_normalizer(NormForm::NFKD));
        } else if (t == "Lowercase") {
            m.normalizers.push_back(make_lowercase_normalizer());
        } else if (t == "Replace") {
            const json* p = member(j, "pattern");
            if (!p) fail("Replace normalizer without a pattern");
            m.normalizers.push_back(make_replace_normalizer(parse_pattern(*p), get_string(j, "content")));
        } else if (t == "Prepend") {
            const std::string p = get_string(j, "prepend");
            sentencepiece_normalizer |= p == "\xE2\x96\x81";
            m.normalizers.push_back(make_prepend_normalizer(p));
        } else {
            fail("unsupported normalizer type '" + t + "'");
        }
    }

    void pre_tokenizer(const json& j, int depth) {
        if (depth > kMaxDepth) fail("pre-tokenizers nested too deeply");
        const std::string t = type_of(j, "pre_tokenizer");
        if (t == "Sequence") {
            for (const json& p : get_array(j, "pretokenizers")) pre_tokenizer(p, depth + 1);
        } else if (t == "Split") {
            const json* p = member(j, "pattern");
            if (!p) fail("Split pre-tokenizer without a pattern");
            static const std::pair<const char*, SplitBehavior> kBehaviors[] = {
                {"Removed", SplitBehavior::Removed}, {"Isolated", SplitBehavior::Isolated},
                {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
                {"MergedWithNext", SplitBehavior::MergedWithNext}, {"Contiguous", SplitBehavior::Contiguous}};
            const std::string b = get_string(j, "behavior");
            const auto it = std::find_if(std::begin(kBehaviors), std::end(kBehaviors),
                                         [&](const auto& kv) { return b == kv.first; });
            if (it == std::end(kBehaviors)) fail("unknown Split behavior '" + b + "'");
            m.pre_tokenizers.push_back(make_split(parse_pattern(*p), it->second, get_bool(j, "invert", false)));
        } else if (t == "ByteLevel") {
            m.byte_level = true;
            m.pre_tokenizers.push_back(make_byte_level(get_bool(j, "add_prefix_space", true), get_bool(j, "use_regex", true)));
        } else if (t == "Digits") {
            m.pre_tokenizers.push_back(make_digits(get_bool(j, "individual_digits", false)));
        } else if (t == "Metaspace") {
            const PrependScheme scheme = parse_prepend_scheme(j);
            sentencepiece_normalizer |= scheme != PrependScheme::Never;
            m.pre_tokenizers.push_back(make_metaspace(replacement(j), scheme, get_bool(j, "split", true)));
        } else {
            fail("unsupported pre_tokenizer type '" + t + "'");
        }
    }

    void decoder(const json& j, int depth) {
        if (depth > kMaxDepth) fail("decoders nested too deeply");
        const std::string t = type_of(j, "decoder");
        if (t == "Sequence") {
            for (const json& d : get_array(j, "decoders")) decoder(d, depth + 1);
        } else if (t == "ByteLevel") {
            m.decoders.push_back(make_byte_level_decoder());
        } else if (t == "Metaspace") {
            m.decoders.push_back(make_metaspace_decoder(replacement(j), parse_prepend_scheme(j)));
        } else if (t == "ByteFallback") {
            m.decoders.push_back(make_byte_fallback_decoder());
        } else if (t == "Fuse") {
            m.decoders.push_back(make_fuse_decoder());
        } else if (t == "Strip") {
            m.decoders.push_back(make_strip_decoder(get_string(j, "content", " "), get_size(j, "start", 0), get_size(j, "stop", 0)));
        } else if (t == "Replace") {
            const json* p = member(j, "pattern");
            if (!p) fail("Replace decoder without a pattern");
            m.decoders.push_back(make_replace_decoder(parse_pattern(*p), get_string(j, "content")));
        } else {
            fail("unsupported decoder type '" + t + "'");
        }
    }

    int32_t token_id(const std::string& text) const {
        const auto it = m.vocab.find(text);
        if (it != m.vocab.end()) return it->second;
        for (size_t id = 0; id < m.tokens.size(); ++id)
            if (m.tokens[id].added && m.tokens[id].text == text) return int32_t(id);
        return -1;
    }

    // Ids a post-processor adds before and after the text.
    void post_processor(const json& j, int depth) {
        if (depth > kMaxDepth) fail("post-processors nested too deeply");
        const std::string t = type_of(j, "post_processor");
        if (t == "Sequence") {
            for (const json& p : get_array(j, "processors")) post_processor(p, depth + 1);
        } else if (t == "TemplateProcessing") {
            const json* specials = member(j, "special_tokens");
            bool after_text = false;
            for (const json& item : get_array(j, "single")) {
                if (member(item, "Sequence")) {
                    after_text = true;
                    continue;
                }
                const json* st = member(item, "SpecialToken");
                if (!st) fail("TemplateProcessing item must be a Sequence or a SpecialToken");
                const std::string name = get_string(*st, "id");
                const json* entry = specials ? member(*specials, name.c_str()) : nullptr;
                if (!entry) fail("TemplateProcessing special token '" + name + "' is not defined");
                for (const json& id : get_array(*entry, "ids")) {
                    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= int64_t(m.tokens.size()))
                        fail("TemplateProcessing id out of range for '" + name + "'");
                    (after_text ? m.suffix : m.prefix).push_back(id.get<int32_t>());
                }
            }
        } else if (t == "BertProcessing" || t == "RobertaProcessing") {
            for (const char* key : {"cls", "sep"}) {
                const json& pair = get_array(j, key);
                if (pair.size() != 2 || !pair[1].is_number_integer()) fail(t + " '" + key + "' must be [token, id]");
                const int64_t id = pair[1].get<int64_t>();
                if (id < 0 || id >= int64_t(m.tokens.size())) fail(t + " id out of range");
                (key[0] == 'c' ? m.prefix : m.suffix).push_back(int32_t(id));
            }
        } else if (t != "ByteLevel") {
            fail("unsupported post_processor type '" + t + "'");
        }
    }

    void model(const json& j) {
        if (!j.is_object()) fail("'model' must be an object");
        const std::string t = get_string(j, "type", "BPE");
        if (t != "BPE") fail("unsupported model type '" + t + "' (only BPE)");
        if (!get_string(j, "continuing_subword_prefix").empty() || !get_string(j, "end_of_word_suffix").empty())
            fail("BPE continuing_subword_prefix / end_of_word_suffix are not supported");
        const json* vocab = member(j, "vocab");
        if (!vocab || !vocab->is_object()) fail("model.vocab must be an object");
        for (const auto& [text, id] : vocab->items()) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxTokenId)
                fail("model.vocab id of '" + text + "' out of range");
            m.vocab.emplace(text, id.get<int32_t>());
        }
    }
};

void build_merges(Tokenizer::Impl& m, const json& model) {
    for (const json& merge : get_array(model, "merges")) {
        if (merge.is_string()) {
            const std::string& s = merge.get_ref<const std::string&>();
            const size_t sp = s.find(' ', 1);
            if (sp == std::string::npos) fail("merge '" + s + "' is not \"left right\"");
            m.bpe->add_merge(std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1));
        } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
            m.bpe->add_merge(merge[0].get_ref<const std::string&>(), merge[1].get_ref<const std::string&>());
        } else {
            fail("a merge must be \"left right\" or [\"left\", \"right\"]");
        }
    }
}

std::vector<AddedToken> parse_added_tokens(const json& j) {
    std::vector<AddedToken> out;
    const json* arr = member(j, "added_tokens");
    if (!arr) return out;
    if (!arr->is_array()) fail("'added_tokens' must be an array");
    for (const json& a : *arr) {
        const json* id = member(a, "id");
        if (!id || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= kMaxTokenId)
            fail("added token without a valid id");
        AddedToken t;
        t.id = id->get<int32_t>();
        t.content = get_string(a, "content");
        t.special = get_bool(a, "special", false);
        t.lstrip = get_bool(a, "lstrip", false);
        t.rstrip = get_bool(a, "rstrip", false);
        t.single_word = get_bool(a, "single_word", false);
        t.normalized = get_bool(a, "normalized", !t.special);
        out.push_back(std::move(t));
    }
    return out;
}

// A token in tokenizer_config.json: a string, {"content": ...} or null.
std::string config_token(const json& cfg, const char* key) {
    const json* v = member(cfg, key);
    if (!v) return {};
    if (v->is_string()) return v->get<std::string>();
    if (v->is_object()) return get_string(*v, "content");
    fail(std::string("tokenizer_config '") + key + "' must be a string or an object");
}

void apply_config(Builder& b, const json& cfg, const json* post) {
    Tokenizer::Impl& m = b.m;
    auto id_of = [&](const char* key) {
        const std::string text = config_token(cfg, key);
        return text.empty() ? -1 : b.token_id(text);
    };
    m.bos = id_of("bos_token");
    m.eos = id_of("eos_token");
    m.unk = id_of("unk_token");
    m.pad = id_of("pad_token");
    m.clean_up_spaces = get_bool(cfg, "clean_up_tokenization_spaces", false);
    if (const json* ct = member(cfg, "chat_template")) {
        if (ct->is_string()) {
            m.chat_template = ct->get<std::string>();
        } else if (ct->is_array()) {  // named templates: take "default", else the first
            for (const json& t : *ct)
                if (m.chat_template.empty() || get_string(t, "name") == "default") m.chat_template = get_string(t, "template");
        }
    }
    // Like transformers' Llama/Qwen tokenizers, explicit add_*_token settings win over
    // the post-processor (DeepSeek-V3's post-processor adds nothing, yet its config
    // asks for BOS).
    const json* add_bos = member(cfg, "add_bos_token");
    const json* add_eos = member(cfg, "add_eos_token");
    if (add_bos || add_eos) {
        if (get_bool(cfg, "add_bos_token", false) && m.bos >= 0) m.prefix = {m.bos};
        if (get_bool(cfg, "add_eos_token", false) && m.eos >= 0) m.suffix = {m.eos};
    } else if (post) {
        b.post_processor(*post, 0);
        // Without a config naming them, the template's tokens are BOS and EOS.
        if (m.bos < 0 && !m.prefix.empty()) m.bos = m.prefix.front();
        if (m.eos < 0 && !m.suffix.empty()) m.eos = m.suffix.back();
    }
}

json parse_json(std::string_view text, const char* what) {
    try {
        return json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
        throw Error(std::string(what) + ": invalid JSON: " + e.what());
    }
}

std::string read_text_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("tokenizer: cannot open '" + path + "'");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) throw Error("tokenizer: cannot read '" + path + "'");
    return ss.str();
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_hf_json(std::string_view tokenizer_json, std::string_view tokenizer_config_json) {
    const json j = parse_json(tokenizer_json, "tokenizer.json");
    const json cfg = tokenizer_config_json.empty() ? json::object() : parse_json(tokenizer_config_json, "tokenizer_config.json");
    if (!j.is_object()) fail("top level must be an object");
    if (!cfg.is_object()) throw Error("tokenizer_config.json: top level must be an object");
    auto m = std::make_unique<Impl>();
    try {
        Builder b{*m};
        const json* model = member(j, "model");
        if (!model) fail("no 'model'");
        b.model(*model);
        const std::vector<AddedToken> added = parse_added_tokens(j);

        int64_t n = 0;
        for (const auto& [text, id] : m->vocab) n = std::max<int64_t>(n, id + 1);
        for (const AddedToken& a : added) n = std::max<int64_t>(n, a.id + 1);
        // Ids may have gaps, but not so many that a tiny file allocates a huge table.
        if (n > 2 * int64_t(m->vocab.size() + added.size()) + 1024) fail("token ids are too sparse");
        m->tokens.resize(size_t(n));
        for (auto& t : m->tokens) t.type = kUnused;  // gaps stay unused
        for (const auto& [text, id] : m->vocab) {
            m->tokens[size_t(id)].text = text;
            m->tokens[size_t(id)].type = kNormal;
        }
        for (const AddedToken& a : added) {
            m->tokens[size_t(a.id)].text = a.content;
            m->tokens[size_t(a.id)].type = a.special ? kControl : kUserDefined;
        }

        BpeModel::Options opt;
        opt.byte_fallback = get_bool(*model, "byte_fallback", false);
        opt.fuse_unk = get_bool(*model, "fuse_unk", false);
        opt.ignore_merges = get_bool(*model, "ignore_merges", false);
        if (const std::string unk = get_string(*model, "unk_token"); !unk.empty()) {
            const auto it = m->vocab.find(unk);
            if (it == m->vocab.end()) fail("unk_token '" + unk + "' is not in the vocab");
            opt.unk = it->second;
            m->tokens[size_t(opt.unk)].type = kUnknown;
        }
        if (opt.byte_fallback) {
            for (auto& t : m->tokens)
                if (t.type == kNormal && t.text.size() == 6 && t.text.compare(0, 3, "<0x") == 0 && t.text[5] == '>')
                    t.type = kByte;
        }
        m->bpe = std::make_unique<BpeModel>(m->vocab, opt);
        build_merges(*m, *model);

        if (const json* n = member(j, "normalizer")) b.normalizer(*n, 0);
        if (const json* p = member(j, "pre_tokenizer")) b.pre_tokenizer(*p, 0);
        if (const json* d = member(j, "decoder")) {
            b.decoder(*d, 0);
            m->has_decoder = true;
        }
        m->register_added_tokens(added);
        apply_config(b, cfg, member(j, "post_processor"));
        if (m->unk < 0) m->unk = opt.unk;

        std::vector<std::string> regexes;
        for (const auto& p : m->pre_tokenizers)
            if (const Regex* r = p->split_regex()) regexes.push_back(r->pattern());
        m->pre_name = pre_tokenizer_name(regexes, m->byte_level);
        m->spm_space_prefix = b.sentencepiece_normalizer;
        m->finish_special_tokens();
    } catch (const json::exception& e) {
        fail(std::string("malformed: ") + e.what());
    }
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(m)));
}

std::unique_ptr<Tokenizer> Tokenizer::from_hf_files(const std::string& tokenizer_json_path,
                                                    const std::string& tokenizer_config_path) {
    const std::string j = read_text_file(tokenizer_json_path);
    const std::string c = tokenizer_config_path.empty() ? std::string() : read_text_file(tokenizer_config_path);
    return from_hf_json(j, c);
}

}  // namespace dsm
