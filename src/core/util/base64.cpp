#include "core/util/base64.hpp"

#include <array>
#include <cstdint>

namespace socketio::util {
namespace {

constexpr char standard_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_decode_table()
{
    std::array<std::int8_t, 256> t{};
    for (auto& v : t) {
        v = -1;
    }
    for (int i = 0; i < 64; i++) {
        t[static_cast<unsigned char>(standard_alphabet[i])] =
            static_cast<std::int8_t>(i);
    }
    return t;
}

constexpr auto decode_table = make_decode_table();

void encode_with(const char* alphabet, bool pad, std::string_view in,
                 std::string& out)
{
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t n = in.size();
    out.reserve(out.size() + (n + 2) / 3 * 4);

    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
        out.push_back(alphabet[v & 63]);
    }

    if (n - i == 1) {
        std::uint32_t v = p[i] << 16;
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        if (pad) {
            out.append("==");
        }
    } else if (n - i == 2) {
        std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
        if (pad) {
            out.push_back('=');
        }
    }
}

}  // namespace

void base64_encode(std::string_view in, std::string& out)
{
    encode_with(standard_alphabet, true, in, out);
}

std::string base64url_encode(std::string_view in)
{
    std::string out;
    encode_with(url_alphabet, false, in, out);
    return out;
}

std::optional<std::string> base64_decode(std::string_view in)
{
    if (in.size() % 4 != 0) {
        return std::nullopt;
    }

    std::size_t pad = 0;
    if (!in.empty() && in.back() == '=') {
        pad = (in.size() >= 2 && in[in.size() - 2] == '=') ? 2 : 1;
    }

    std::string out;
    out.reserve(in.size() / 4 * 3);

    for (std::size_t i = 0; i < in.size(); i += 4) {
        bool last = (i + 4 == in.size());
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 4; k++) {
            unsigned char c = static_cast<unsigned char>(in[i + k]);
            if (last && c == '=' && k >= 4 - pad) {
                v <<= 6;
                continue;
            }
            std::int8_t d = decode_table[c];
            if (d < 0) {
                return std::nullopt;
            }
            v = (v << 6) | static_cast<std::uint32_t>(d);
        }
        out.push_back(static_cast<char>((v >> 16) & 0xff));
        if (!last || pad < 2) {
            out.push_back(static_cast<char>((v >> 8) & 0xff));
        }
        if (!last || pad < 1) {
            out.push_back(static_cast<char>(v & 0xff));
        }
    }

    return out;
}

}  // namespace socketio::util
