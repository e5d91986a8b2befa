/*
 * The records workers exchange through the log (core/cluster/records.hpp):
 * the first byte picks the kind (0 and those past the last: a kind nobody
 * knows), the rest is the body. Decoding never crashes nor reads past the
 * body; what decodes encodes again to the same bytes (the encoding is
 * canonical), and those decode to an equal value.
 */
#include "core/cluster/records.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    using namespace socketio::cluster;
    if (size < 1) {
        return 0;
    }
    auto type = static_cast<std::uint16_t>(data[0] % (rec_last + 1));
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

    auto error = records::visit(type, body, [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        Body again;
        m.encode(again);
        std::string bytes = again.bytes();
        if (bytes != body) {
            std::abort();
        }
        auto d = T::decode(bytes);
        if (!d.ok() || !(*d == m)) {
            std::abort();
        }
    });
    if (error && (type < rec_first || type > rec_last)
        && *error != DecodeError::unknown_kind)
    {
        std::abort();
    }
    return 0;
}
