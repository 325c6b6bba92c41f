// libFuzzer target for the safetensors header parser: any bytes must parse or
// throw dsm::Error, and whatever parses must describe byte ranges inside the file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "convert/safetensors.hpp"
#include "core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto h = dsm::convert::parse_safetensors_header(data, size, size, "fuzz.safetensors");
        for (const auto& t : h.tensors) {
            // The parser promises: offsets inside the data, and sized as dtype x shape.
            if (t.end < t.begin || h.data_offset + t.end > size) std::abort();
            if (uint64_t(t.n_elements()) * dsm::convert::st_dtype_size(t.dtype) != t.bytes()) std::abort();
            if (t.bytes()) {
                volatile uint8_t sink = data[h.data_offset + t.end - 1];
                (void)sink;
            }
        }
    } catch (const dsm::Error&) {
    }
    return 0;
}
