// Kernel dispatch: the scalar table, CPU feature detection and the choice of the
// table in use (best supported, DSM_KERNELS=<isa> or force()).
//
// Adding an instruction set: define `const KernelTable& <isa>_table();` in
// src/kernels/<arch>/..._<isa>.cpp, declare it below and add one line to
// kCandidates (best first) with the cpu_features() flag that guards it. A table
// may leave entries null; they are filled from the scalar table. Its from_float
// entries must produce the same bytes as the scalar ones (the activation
// rounding decides whether logits match llama.cpp).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "kernels/kernels.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include "kernels/scalar/scalar.hpp"
#include "quant/quant.hpp"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace dsm::kernels {

// Tables of the other instruction sets (src/kernels/x86, src/kernels/arm).
#if defined(__x86_64__)
const KernelTable& amx_table();
const KernelTable& avx512_table();
const KernelTable& avxvnni_table();
const KernelTable& avx2_table();
// Asks Linux for the AMX tile state (granted per process); false if refused.
bool amx_permitted();
#endif
#if defined(__aarch64__)
const KernelTable& i8mm_table();
const KernelTable& dotprod_table();
#endif

namespace {

struct Candidate {
    std::string_view isa;
    const KernelTable& (*table)();
    bool (*supported)();
};

// Best first; "scalar" must stay last.
constexpr Candidate kCandidates[] = {
#if defined(__x86_64__)
    {"amx", amx_table, [] { return cpu_features().amx; }},
    {"avx512", avx512_table, [] { return cpu_features().avx512; }},
    {"avxvnni", avxvnni_table, [] { return cpu_features().avxvnni; }},
    {"avx2", avx2_table, [] { return cpu_features().avx2; }},
#endif
#if defined(__aarch64__)
    {"i8mm", i8mm_table, [] { return cpu_features().i8mm; }},
    {"dotprod", dotprod_table, [] { return cpu_features().dotprod; }},
#endif
    {"scalar", scalar_table, [] { return true; }},
};

KernelTable make_scalar_table() {
    KernelTable t;
    t.isa = "scalar";
    auto set_dot = [&](DType w, VecDotFn f) { t.vec_dot[int(w)] = f; };
    auto set_from = [&](DType a, FromFloatFn f) { t.from_float[int(a)] = f; };
    set_dot(DType::F32, scalar::vec_dot_f32);
    set_dot(DType::F16, scalar::vec_dot_f16);
    set_dot(DType::BF16, scalar::vec_dot_bf16);
    set_dot(DType::Q4_0, scalar::vec_dot_q4_0);
    set_dot(DType::Q4_1, scalar::vec_dot_q4_1);
    set_dot(DType::Q5_0, scalar::vec_dot_q5_0);
    set_dot(DType::Q5_1, scalar::vec_dot_q5_1);
    set_dot(DType::Q8_0, scalar::vec_dot_q8_0);
    set_dot(DType::Q2_K, scalar::vec_dot_q2_k);
    set_dot(DType::Q3_K, scalar::vec_dot_q3_k);
    set_dot(DType::Q4_K, scalar::vec_dot_q4_k);
    set_dot(DType::Q5_K, scalar::vec_dot_q5_k);
    set_dot(DType::Q6_K, scalar::vec_dot_q6_k);
    set_from(DType::F32, scalar::from_float_f32);
    set_from(DType::F16, scalar::from_float_f16);
    set_from(DType::BF16, scalar::from_float_bf16);
    set_from(DType::Q8_0, quantize_q8_0_activations);
    set_from(DType::Q8_1, quantize_q8_1_activations);
    set_from(DType::Q8_K, quantize_q8_k_activations);
    t.attn_scores[0] = scalar::attn_scores_f32;
    t.attn_scores[1] = scalar::attn_scores_f16;
    t.attn_values[0] = scalar::attn_values_f32;
    t.attn_values[1] = scalar::attn_values_f16;
    t.swiglu = scalar::swiglu;
    t.softmax = scalar::softmax;
    return t;
}

#if defined(__x86_64__) || defined(__i386__)
// clang 14's __builtin_cpu_supports does not know "f16c": read CPUID leaf 1, ECX bit 29.
bool cpu_has_f16c() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
}

// AVX-VNNI: vpdpbusd on VEX-encoded 256-bit registers (CPUID leaf 7 subleaf 1, EAX bit 4).
bool cpu_has_avx_vnni() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4)) != 0;
}

// AMX-TILE and AMX-INT8 (CPUID leaf 7, EDX bits 24, 25), with the OS saving the tile
// state (XCR0 bits 17, 18).
bool cpu_has_amx_int8() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || (d & (3u << 24)) != (3u << 24)) return false;
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    asm volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    return (xcr0_lo & (3u << 17)) == (3u << 17);
}
#endif

CpuFeatures detect_features() {
    CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    f.avxvnni = f.avx2 && cpu_has_avx_vnni();
    f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16");
#if defined(__x86_64__) && defined(__linux__)
    f.amx = f.avx512 && cpu_has_amx_int8() && amx_permitted();
#endif
#elif defined(__aarch64__) && defined(__linux__)
    // Bit numbers of the Linux arm64 ABI (asm/hwcap.h).
    constexpr unsigned long kFphp = 1ul << 9, kAsimdhp = 1ul << 10, kAsimddp = 1ul << 20;
    constexpr unsigned long kI8mm2 = 1ul << 13;
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    f.dotprod = (hw & kAsimddp) && (hw & kFphp) && (hw & kAsimdhp);
    f.i8mm = f.dotprod && (hw2 & kI8mm2);
#endif
    return f;
}

// The merged tables of every supported candidate (best first) and the current choice.
struct Registry {
    struct Entry {
        std::string_view isa;
        KernelTable table;
    };
    std::vector<Entry> entries;
    std::atomic<const KernelTable*> current{nullptr};

    Registry() {
        const KernelTable& base = scalar_table();
        for (const Candidate& c : kCandidates) {
            if (!c.supported()) continue;
            KernelTable t = c.table();
            for (int i = 0; i < kMaxTypeId; ++i) {
                if (!t.vec_dot[i]) t.vec_dot[i] = base.vec_dot[i];
                if (!t.from_float[i]) t.from_float[i] = base.from_float[i];
            }
            for (int i = 0; i < 2; ++i) {
                if (!t.attn_scores[i]) t.attn_scores[i] = base.attn_scores[i];
                if (!t.attn_values[i]) t.attn_values[i] = base.attn_values[i];
            }
            if (!t.swiglu) t.swiglu = base.swiglu;
            if (!t.softmax) t.softmax = base.softmax;
            entries.push_back({c.isa, t});
        }
        current = &entries.front().table;
        if (const char* env = std::getenv("DSM_KERNELS"); env && *env) {
            if (const KernelTable* t = lookup(env))
                current = t;
            else
                std::fprintf(stderr, "dsm: DSM_KERNELS=%s is not available on this CPU, using %.*s\n", env,
                             int(entries.front().isa.size()), entries.front().isa.data());
        }
    }

    const KernelTable* lookup(std::string_view isa) const {
        if (isa == "auto") return &entries.front().table;
        for (const Entry& e : entries)
            if (e.isa == isa) return &e.table;
        return nullptr;
    }
};

Registry& registry() {
    static Registry r;
    return r;
}

}  // namespace

DType activation_type(DType weight) {
    switch (weight) {
    case DType::F32: return DType::F32;
    case DType::F16: return DType::F16;
    case DType::BF16: return DType::BF16;
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: return DType::Q8_0;
    case DType::Q4_1: case DType::Q5_1: return DType::Q8_1;
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
        return DType::Q8_K;
    default:
        throw Error("no dot-product kernel for weight type " + std::string(dtype_name(weight)));
    }
}

const KernelTable& scalar_table() {
    static const KernelTable table = make_scalar_table();
    return table;
}

const KernelTable& active() { return *registry().current.load(std::memory_order_acquire); }

bool force(std::string_view isa) {
    Registry& r = registry();
    const KernelTable* t = r.lookup(isa);
    if (!t) return false;
    r.current.store(t, std::memory_order_release);
    return true;
}

std::vector<std::string_view> available() {
    std::vector<std::string_view> names;
    for (const auto& e : registry().entries) names.push_back(e.isa);
    return names;
}

const KernelTable* find(std::string_view isa) { return registry().lookup(isa); }

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = detect_features();
    return f;
}

}  // namespace dsm::kernels
