// The AVX-VNNI table: AVX2 plus vpdpbusd on 256-bit registers (Intel Alder Lake and
// later client CPUs, which have no AVX-512). It is the AVX2 table with Q4_0 and Q8_0
// packed at load into groups of 8 rows (x86/layouts.hpp, lane r = row r), read
// directly by decode and prompts alike (groups_avx2.hpp). One vpdpbusd multiplies 4
// levels of 8 rows by 4 activation bytes and adds them into 32 bits, where AVX2 needs
// vpmaddubsw and vpmaddwd, and for Q8_0's signed levels even 16-bit lanes. Q8_0 levels
// are stored + 128 (unsigned) and Q4_0's are 0..15; the prepared tokens start each
// block's sum at -bias * sum(x) (x86::prepare_q8_0), so every integer sum is exact.
// (A vpdpbusd decode kernel for the AVX2 table's packed Q4_K measured no faster than
// its vpmaddubsw one: Q4_K stays the AVX2 table's.)
#include "kernels/kernels.hpp"
#include "kernels/x86/groups_avx2.hpp"
#include "quant/blocks.hpp"

namespace dsm::kernels {

const KernelTable& avx2_table();

namespace avxvnni {
namespace {

using namespace x86::groups;

KernelTable make_table() {
    KernelTable t = avx2_table();
    t.isa = "avxvnni";
    set_packed_legacy<BlockQ4_0, 4, true>(t, DType::Q4_0);
    set_packed_legacy<BlockQ8_0, 8, true>(t, DType::Q8_0);
    return t;
}

}  // namespace
}  // namespace avxvnni

const KernelTable& avxvnni_table() {
    static const KernelTable table = avxvnni::make_table();
    return table;
}

}  // namespace dsm::kernels
