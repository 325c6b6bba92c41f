// Tokenizer::from_vocab (GGUF tokenizer.ggml.* metadata, llama.cpp semantics),
// vocab_from_gguf, Tokenizer::to_vocab_spec, and llama.cpp's pre-tokenizer table.
#include <algorithm>
#include <map>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace dsm {

namespace tok {

namespace {

// The GPT-2 regex of tokenizers' ByteLevel, also llama.cpp's "gpt-2".
const std::string kGpt2 = kGpt2Pattern;
const std::string kGpt2NoTail = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

struct PreEntry {
    std::vector<std::string> names;
    std::vector<std::string> regexes;
    bool ignore_merges = false;
    bool add_bos = false;
    bool clean_spaces = true;  // llama.cpp's clean_spaces default for BPE vocabs
};

// Regexes as the models' tokenizer.json files write them (llama.cpp c392e509 uses
// the same lists; for llama3/qwen2 it rewrites the (?i:...) group by hand).
const std::vector<PreEntry>& pre_table() {
    static const std::vector<PreEntry> table = {
        {{"default"},
         {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2NoTail, "\\p{N}+", "[0-9][0-9][0-9]"}},
        {{"llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral"},
         {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         true, true},
        {{"deepseek-llm"},
         {"[\r\n]",
          // Cased letters (L&), written as escapes: several have singleton canonical
          // decompositions (U+1F7D, U+1FBE, U+2126, U+212A ...) that text tools normalize away.
          "\\s?["
          "A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373"
          "\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481"
          "\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF"
          "\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D"
          "\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC"
          "\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115"
          "\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E"
          "\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F"
          "\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A"
          "\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2"
          "\U000118A0-\U000118DF\U0001E900-\U0001E943"
          "]+",
          "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"},
         false, false, false},
        {{"deepseek-coder"},
         {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"},
         false, false, false},
        {{"deepseek-v3"},
         {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
          "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
         false, false, false},
        {{"qwen2", "deepseek-r1-qwen"},
         {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         false, false, false},
        {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de"}, {kGpt2}},
        {{"starcoder", "refact"}, {"\\p{N}", kGpt2NoTail}},
    };
    return table;
}

const PreEntry* find_pre(std::string_view name) {
    for (const PreEntry& e : pre_table())
        if (std::find(e.names.begin(), e.names.end(), name) != e.names.end()) return &e;
    return nullptr;
}

}  // namespace

std::string pre_tokenizer_name(const std::vector<std::string>& regexes, bool byte_level) {
    if (regexes.empty()) return {};
    for (const PreEntry& e : pre_table()) {
        if (e.regexes != regexes) continue;
        if (e.regexes.front() == kGpt2 && !byte_level) continue;
        return e.names.front();
    }
    return {};
}

}  // namespace tok

// ---- from_vocab -------------------------------------------------------------

using namespace tok;

std::unique_ptr<Tokenizer> Tokenizer::from_vocab(const VocabSpec& spec) {
    const size_t n = spec.tokens.size();
    if (n == 0) throw Error("tokenizer: the vocabulary has no tokens");
    if (n >= size_t(1) << 24) throw Error("tokenizer: vocabulary too large (" + std::to_string(n) + " tokens)");
    if (!spec.scores.empty() && spec.scores.size() < n)
        throw Error("tokenizer: " + std::to_string(spec.scores.size()) + " scores for " + std::to_string(n) + " tokens");
    if (!spec.token_types.empty() && spec.token_types.size() < n)
        throw Error("tokenizer: " + std::to_string(spec.token_types.size()) + " token types for " + std::to_string(n) + " tokens");

    auto m = std::make_unique<Impl>();
    m->tokens.resize(n);
    m->scores.assign(n, 0.0f);
    std::vector<AddedToken> added;
    for (size_t i = 0; i < n; ++i) {
        TokenEntry& e = m->tokens[i];
        e.text = spec.tokens[i];
        e.score = spec.scores.empty() ? 0.0f : spec.scores[i];
        e.type = spec.token_types.empty() ? kNormal : spec.token_types[i];
        m->scores[i] = e.score;
        if (!e.text.empty()) m->vocab.emplace(e.text, int32_t(i));  // duplicates: the first id wins
        // llama.cpp: control and unknown tokens are parsed only with parse_special;
        // user-defined ones always.
        if (e.type == kControl || e.type == kUnknown || e.type == kUserDefined) {
            AddedToken a;
            a.id = int32_t(i);
            a.content = e.text;
            a.special = e.type != kUserDefined;
            added.push_back(std::move(a));
        }
    }
    auto in_range = [&](int32_t id) { return id >= 0 && size_t(id) < n ? id : -1; };

    bool add_bos = false;
    if (spec.model == "llama") {
        // SentencePiece (llm_tokenizer_spm): "▁" for spaces, one before each text fragment.
        m->unk = in_range(spec.unk >= 0 ? spec.unk : 0);
        m->bos = in_range(spec.bos >= 0 ? spec.bos : 1);
        m->eos = in_range(spec.eos >= 0 ? spec.eos : 2);
        m->spm_space_prefix = spec.add_space_prefix.value_or(true);
        if (m->spm_space_prefix) m->normalizers.push_back(make_prepend_normalizer("\xE2\x96\x81"));
        m->normalizers.push_back(make_replace_normalizer(Pattern::literal(" "), "\xE2\x96\x81"));
        m->spm = std::make_unique<SpmModel>(m->vocab, m->scores, m->unk);
        m->decoders.push_back(make_replace_decoder(Pattern::literal("\xE2\x96\x81"), " "));
        m->decoders.push_back(make_byte_fallback_decoder());
        m->decoders.push_back(make_fuse_decoder());
        if (m->spm_space_prefix) m->decoders.push_back(make_strip_decoder(" ", 1, 0));
        add_bos = true;
    } else if (spec.model == "gpt2") {
        const std::string pre = spec.pre.empty() ? "default" : spec.pre;
        const PreEntry* it = find_pre(pre);
        if (!it) throw Error("tokenizer: unknown pre-tokenizer '" + pre + "'");
        m->pre_name = pre;
        m->byte_level = true;
        for (const std::string& r : it->regexes)
            m->pre_tokenizers.push_back(make_split(Pattern::regex(r), SplitBehavior::Isolated, false));
        m->pre_tokenizers.push_back(make_byte_level(false, false));
        m->unk = in_range(spec.unk);
        m->bos = in_range(spec.bos);
        m->eos = in_range(spec.eos);
        BpeModel::Options opt;
        opt.ignore_merges = it->ignore_merges;
        m->bpe = std::make_unique<BpeModel>(m->vocab, opt);
        for (const std::string& merge : spec.merges) {
            const size_t sp = merge.find(' ', 1);
            if (sp == std::string::npos) throw Error("tokenizer: merge '" + merge + "' is not \"left right\"");
            m->bpe->add_merge(std::string_view(merge).substr(0, sp), std::string_view(merge).substr(sp + 1));
        }
        m->decoders.push_back(make_byte_level_decoder());
        m->clean_up_spaces = it->clean_spaces;
        add_bos = it->add_bos;
    } else {
        throw Error("tokenizer: unsupported tokenizer model '" + spec.model + "'");
    }
    m->has_decoder = true;
    m->eot = in_range(spec.eot);
    m->pad = in_range(spec.pad);
    m->chat_template = spec.chat_template;
    m->register_added_tokens(added);

    add_bos = spec.add_bos.value_or(add_bos);
    if (add_bos) {
        if (m->bos < 0) throw Error("tokenizer: add_bos is set but there is no valid BOS token");
        m->prefix = {m->bos};
    }
    if (spec.add_eos.value_or(false)) {
        if (m->eos < 0) throw Error("tokenizer: add_eos is set but there is no valid EOS token");
        m->suffix = {m->eos};
    }
    m->finish_special_tokens();
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(m)));
}

// ---- to_vocab_spec ----------------------------------------------------------

VocabSpec Tokenizer::to_vocab_spec() const {
    const Impl& m = *impl_;
    VocabSpec s;
    const size_t n = m.tokens.size();
    s.tokens.reserve(n);
    s.token_types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const TokenEntry& e = m.tokens[i];
        s.tokens.push_back(e.text.empty() ? "[PAD" + std::to_string(i) + "]" : e.text);
        s.token_types.push_back(e.type);
    }
    if (m.bpe && m.byte_level) {
        if (m.pre_name.empty()) throw Error("tokenizer: the pre-tokenizer matches no llama.cpp pre-tokenizer name");
        s.model = "gpt2";
        s.pre = m.pre_name;
        s.merges.reserve(m.bpe->merges().size());
        for (const auto& [l, r] : m.bpe->merges()) s.merges.push_back(m.tokens[size_t(l)].text + " " + m.tokens[size_t(r)].text);
    } else {
        // SentencePiece shape: the SPM merge needs scores in merge priority order; for
        // a BPE each merged token gets minus the rank of the first merge making it.
        if (m.bpe && (!m.pre_tokenizers.empty() || !m.bpe->options().byte_fallback))
            throw Error("tokenizer: this BPE tokenizer has no SentencePiece (llama) equivalent");
        s.model = "llama";
        s.pre = "default";
        s.add_space_prefix = m.spm_space_prefix;
        if (m.spm) {
            s.scores = m.scores;
        } else {
            s.scores.assign(n, 0.0f);
            std::vector<bool> seen(n, false);
            const auto& merges = m.bpe->merges();
            for (size_t rank = 0; rank < merges.size(); ++rank) {
                const std::string joined = m.tokens[size_t(merges[rank].first)].text + m.tokens[size_t(merges[rank].second)].text;
                const auto it = m.vocab.find(joined);
                if (it == m.vocab.end() || seen[size_t(it->second)]) continue;
                seen[size_t(it->second)] = true;
                s.scores[size_t(it->second)] = -float(rank);
            }
        }
    }
    s.bos = m.bos;
    s.eos = m.eos;
    s.eot = m.eot;
    s.unk = m.unk;
    s.pad = m.pad;
    s.add_bos = add_bos();
    s.add_eos = add_eos();
    s.chat_template = m.chat_template;
    return s;
}

// ---- vocab_from_gguf --------------------------------------------------------

VocabSpec vocab_from_gguf(const gguf::File& f) {
    VocabSpec s;
    s.model = f.require_string("tokenizer.ggml.model");
    s.pre = f.get_string("tokenizer.ggml.pre").value_or("");
    auto tokens = f.get_string_array("tokenizer.ggml.tokens");
    if (!tokens) throw Error(f.path() + ": missing key tokenizer.ggml.tokens");
    s.tokens = std::move(*tokens);
    if (auto scores = f.get_float_array("tokenizer.ggml.scores")) s.scores = std::move(*scores);
    if (auto types = f.get_int_array("tokenizer.ggml.token_type")) {
        s.token_types.reserve(types->size());
        for (const int64_t t : *types) s.token_types.push_back(int32_t(std::clamp<int64_t>(t, 0, 255)));
    }
    if (auto merges = f.get_string_array("tokenizer.ggml.merges")) s.merges = std::move(*merges);
    // Ids are unsigned in GGUF; 0xFFFFFFFF (and anything out of range) means "none".
    auto id = [&](const char* key) {
        const std::optional<int64_t> v = f.get_int(key);
        return v && *v >= 0 && *v < int64_t(s.tokens.size()) ? int32_t(*v) : -1;
    };
    s.bos = id("tokenizer.ggml.bos_token_id");
    s.eos = id("tokenizer.ggml.eos_token_id");
    s.eot = id("tokenizer.ggml.eot_token_id");
    s.unk = id("tokenizer.ggml.unknown_token_id");
    s.pad = id("tokenizer.ggml.padding_token_id");
    s.add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
    s.add_eos = f.get_bool("tokenizer.ggml.add_eos_token");
    s.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix");
    s.chat_template = f.get_string("tokenizer.chat_template").value_or("");
    return s;
}

}  // namespace dsm
