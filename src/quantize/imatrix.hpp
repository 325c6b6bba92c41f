// Importance matrices: for every weight matrix, the mean of x² over the inputs x it
// multiplied, per input column (and per expert for expert stacks). Quantizing with
// them weights each column's error by how large its inputs are.
//
// File format: llama.cpp's legacy imatrix.dat (what llama-imatrix writes and
// llama-quantize --imatrix reads), all little-endian:
//   int32 n_entries
//   n_entries x { int32 len; char name[len]; int32 ncall; int32 nval; float v[nval] }
//   int32 chunks; int32 len; char dataset[len]          (optional trailer)
// with v = mean(x²) * ncall (a reader divides by ncall). For an expert stack,
// nval = cols * n_expert and expert e's columns are v[e*cols .. (e+1)*cols).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace dsm::quantize {

struct ImatrixEntry {
    int32_t ncall = 0;          // chunks that contributed
    std::vector<float> values;  // mean x² per column (already divided by ncall)
};

struct Imatrix {
    std::map<std::string, ImatrixEntry> entries;
    int32_t chunks = 0;   // chunks of text the statistics came from
    std::string dataset;  // calibration file name

    // Throws dsm::Error naming the file on truncation, bad sizes or non-finite values.
    static Imatrix load(const std::string& path);
    void save(const std::string& path) const;

    // The importance of tensor `name` with `n` values (cols x matrices), or nullptr if
    // absent. Throws if the entry has another size.
    const float* find(const std::string& name, size_t n) const;
};

struct ImatrixOptions {
    int n_ctx = 256;              // tokens per chunk (each starts with BOS)
    int n_chunks = -1;            // -1: all whole chunks of the text
    int n_threads = 0;            // 0: all cores
    bool process_output = false;  // also collect output.weight (llama-imatrix --process-output)
    std::string dataset;          // recorded in the file
    // Called after each chunk: (done, total).
    std::function<void(int, int)> progress;
    std::function<void(const std::string&)> log;  // warnings
};

// Runs the text through the model chunk by chunk (as llama-imatrix does: the
// whole text tokenized with BOS, cut into n_ctx pieces, each piece's first token
// replaced by BOS) and collects the inputs of every blk.* weight product. Entries
// with experts that never received a token are dropped, as llama-imatrix does.
Imatrix compute_imatrix(const std::string& model_path, const std::string& text, const ImatrixOptions& options);

}  // namespace dsm::quantize
