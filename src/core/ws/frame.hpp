/*
 * WebSocket framing vocabulary: RFC 6455 section 5.2 (base framing) and
 * section 7.4 (status codes).
 */
#pragma once

#include <cstdint>

namespace socketio::ws {

enum class Opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xa,
};

namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t no_status = 1005;     /* never sent on the wire */
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
}  // namespace close_code

/* Section 7.4.1/7.4.2: may this code appear in a received close frame? */
constexpr bool valid_close_code(std::uint16_t code) noexcept
{
    if (code >= 3000 && code <= 4999) {
        return true;
    }
    switch (code) {
    case 1000: case 1001: case 1002: case 1003:
    case 1007: case 1008: case 1009: case 1010: case 1011:
    case 1012: case 1013: case 1014:
        return true;
    default:
        return false;
    }
}

inline constexpr std::size_t max_control_payload = 125;
inline constexpr std::size_t max_header_size = 14;

}  // namespace socketio::ws
