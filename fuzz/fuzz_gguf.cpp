// libFuzzer target for the GGUF reader: any bytes must parse or throw dsm::Error.
#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "formats/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto f = dsm::gguf::File::parse(dsm::MappedFile::from_bytes(data, size), "fuzz.gguf");
        // Touch what a loader would read.
        for (const auto& t : f->tensors()) {
            volatile uint8_t sink = t.bytes ? t.data[t.bytes - 1] : 0;
            (void)sink;
        }
        (void)f->get_string("general.architecture");
    } catch (const dsm::Error&) {
    }
    return 0;
}
