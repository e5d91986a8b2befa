#include "core/chat/name.hpp"

#include "core/util/utf8.hpp"

#include <cstdint>

namespace socketio::chat {
namespace {

/* One code point at s[i] (valid UTF-8 assumed); its length in `len`. */
std::uint32_t code_point(std::string_view s, std::size_t i,
                         std::size_t& len) noexcept
{
    auto b = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(s[i + k]));
    };
    std::uint32_t c = b(0);
    if (c < 0x80) {
        len = 1;
        return c;
    }
    if (c < 0xe0) {
        len = 2;
        return ((c & 0x1f) << 6) | (b(1) & 0x3f);
    }
    if (c < 0xf0) {
        len = 3;
        return ((c & 0x0f) << 12) | ((b(1) & 0x3f) << 6) | (b(2) & 0x3f);
    }
    len = 4;
    return ((c & 0x07) << 18) | ((b(1) & 0x3f) << 12) | ((b(2) & 0x3f) << 6)
           | (b(3) & 0x3f);
}

/* ECMAScript WhiteSpace and LineTerminator */
bool is_space(std::uint32_t c) noexcept
{
    switch (c) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20:
    case 0xa0: case 0x1680: case 0x2028: case 0x2029: case 0x202f:
    case 0x205f: case 0x3000: case 0xfeff:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200a;
    }
}

/* C0, DEL and C1 */
bool is_control(std::uint32_t c) noexcept
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* The start of the code point that ends at s[end - 1]. */
std::size_t last_start(std::string_view s, std::size_t end) noexcept
{
    std::size_t i = end - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) {
        i--;
    }
    return i;
}

}  // namespace

std::string_view trim(std::string_view s) noexcept
{
    std::size_t begin = 0, len = 0;
    while (begin < s.size() && is_space(code_point(s, begin, len))) {
        begin += len;
    }
    std::size_t end = s.size();
    while (end > begin) {
        std::size_t start = last_start(s, end);
        if (!is_space(code_point(s, start, len))) {
            break;
        }
        end = start;
    }
    return s.substr(begin, end - begin);
}

std::optional<std::string> valid_name(std::string_view raw)
{
    if (!util::valid_utf8(raw)) {
        return std::nullopt;
    }

    std::string_view name = trim(raw);

    std::size_t chars = 0, len = 0;
    for (std::size_t i = 0; i < name.size(); i += len) {
        if (is_control(code_point(name, i, len))) {
            return std::nullopt;
        }
        chars++;
    }

    if (chars < 1 || chars > max_name_chars) {
        return std::nullopt;
    }
    return std::string(name);
}

}  // namespace socketio::chat
