#include "core/util/utf8.hpp"

#include <cstdint>
#include <cstring>

namespace socketio::util {

namespace {

/* The length of the well-formed sequence at p, or 0. */
std::size_t sequence_length(const unsigned char* p, const unsigned char* end)
    noexcept
{
    unsigned char c = *p;
    if (c < 0x80) {
        return 1;
    }

    std::size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }

    if (static_cast<std::size_t>(end - p) <= need || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (std::size_t k = 2; k <= need; k++) {
        if ((p[k] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return need + 1;
}

}  // namespace

std::optional<std::string> repair_utf8(std::string_view s)
{
    if (valid_utf8(s)) {
        return std::nullopt;
    }

    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    std::string out;
    out.reserve(s.size() + 8);

    while (p < end) {
        std::size_t n = sequence_length(p, end);
        if (n == 0) {
            /* one replacement per maximal ill-formed prefix, roughly as
               the WHATWG decoder does: skip its lead and continuations */
            out.append("\xef\xbf\xbd");
            p++;
            while (p < end && (*p & 0xc0) == 0x80) {
                p++;
            }
            continue;
        }
        out.append(reinterpret_cast<const char*>(p), n);
        p += n;
    }
    return out;
}

bool valid_utf8(std::string_view s) noexcept
{
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();

    while (p < end) {
        /* chat traffic is mostly ASCII: skip it eight bytes at a time */
        if (end - p >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                p += 8;
                continue;
            }
        }

        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }

        std::size_t need;
        unsigned char lo = 0x80, hi = 0xbf;   /* bounds of the 2nd byte */

        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0) {
                lo = 0xa0;                    /* overlong */
            } else if (c == 0xed) {
                hi = 0x9f;                    /* surrogates */
            }
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) {
                lo = 0x90;                    /* overlong */
            } else if (c == 0xf4) {
                hi = 0x8f;                    /* above U+10FFFF */
            }
        } else {
            return false;
        }

        if (static_cast<std::size_t>(end - p) <= need) {
            return false;
        }
        if (p[1] < lo || p[1] > hi) {
            return false;
        }
        for (std::size_t k = 2; k <= need; k++) {
            if ((p[k] & 0xc0) != 0x80) {
                return false;
            }
        }
        p += need + 1;
    }

    return true;
}

}  // namespace socketio::util
