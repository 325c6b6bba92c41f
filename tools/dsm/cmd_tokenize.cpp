// dsm tokenize: text -> token ids with a model's vocabulary or a tokenizer.json.
//   dsm tokenize -m model.gguf -p "text"          ids and pieces
//   dsm tokenize --tokenizer tokenizer.json --batch < lines.jsonl
//       reads {"text": ...} per line, writes {"ids": [...]} per line
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "formats/gguf.hpp"
#include "tokenizer/tokenizer.hpp"

namespace dsm::cli {

int cmd_tokenize(int argc, char** argv) {
    CLI::App app{"Tokenize text", "dsm tokenize"};
    std::string model_path, json_path, config_path, text;
    bool batch = false, no_bos = false, special = false, ids_only = false;
    auto* m = app.add_option("-m,--model", model_path, "GGUF file whose vocabulary to use");
    app.add_option("--tokenizer", json_path, "Hugging Face tokenizer.json")->excludes(m);
    app.add_option("--tokenizer-config", config_path, "tokenizer_config.json (default: beside tokenizer.json)");
    app.add_option("-p,--prompt", text, "text to tokenize");
    app.add_flag("--batch", batch, "read JSON lines {\"text\": ...} from stdin, write {\"ids\": [...]} lines");
    app.add_flag("--no-bos", no_bos, "do not add BOS/EOS (add_special = false)");
    app.add_flag("--special", special, "parse special-token text (e.g. <｜User｜>) as special tokens");
    app.add_flag("--ids", ids_only, "print only the ids");
    CLI11_PARSE(app, argc, argv);

    std::unique_ptr<Tokenizer> tok;
    if (!model_path.empty()) {
        auto f = gguf::File::open(model_path);
        tok = Tokenizer::from_vocab(vocab_from_gguf(*f));
    } else if (!json_path.empty()) {
        if (config_path.empty()) {
            const auto dir = json_path.substr(0, json_path.find_last_of('/') + 1);
            std::FILE* probe = std::fopen((dir + "tokenizer_config.json").c_str(), "rb");
            if (probe) {
                std::fclose(probe);
                config_path = dir + "tokenizer_config.json";
            }
        }
        tok = Tokenizer::from_hf_files(json_path, config_path);
    } else {
        throw Error("give -m model.gguf or --tokenizer tokenizer.json");
    }

    if (batch) {
        std::string line;
        for (size_t n = 1; std::getline(std::cin, line); ++n) {
            if (line.empty()) continue;
            nlohmann::json in;
            try {
                in = nlohmann::json::parse(line);
            } catch (const nlohmann::json::exception& e) {
                throw Error("stdin line " + std::to_string(n) + ": invalid JSON: " + e.what());
            }
            if (!in.is_object() || !in.contains("text") || !in["text"].is_string())
                throw Error("stdin line " + std::to_string(n) + ": expected {\"text\": \"...\"}");
            const auto ids = tok->encode(in["text"].get<std::string>(), !no_bos, special);
            std::printf("%s\n", nlohmann::json{{"ids", ids}}.dump().c_str());
        }
        return 0;
    }
    const auto ids = tok->encode(text, !no_bos, special);
    if (ids_only) {
        std::printf("%s\n", nlohmann::json(ids).dump().c_str());
        return 0;
    }
    for (int32_t id : ids)
        std::printf("%6d  %s\n", id,
                    nlohmann::json(tok->token_to_piece(id)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::printf("%zu tokens\n", ids.size());
    return 0;
}

}  // namespace dsm::cli
