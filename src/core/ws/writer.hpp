/*
 * Server-to-client frames: RFC 6455 section 5.2. A server never masks
 * (section 5.1), so a frame is a 2 to 10 byte header and the payload as is;
 * keeping them apart lets one encoded payload go to many sockets with only
 * the header written per socket.
 */
#pragma once

#include "core/ws/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace socketio::ws {

inline constexpr std::size_t max_server_header = 10;

/* Writes a FIN frame header for `len` payload bytes; returns its size. */
std::size_t write_header(char* out, Opcode op, std::uint64_t len) noexcept;

/* A whole close frame; code 1005 means "no status" (empty payload). */
std::string close_frame(std::uint16_t code, std::string_view reason = {});

/* A whole ping or pong frame; the payload is cut to 125 bytes. */
std::string control_frame(Opcode op, std::string_view payload);

}  // namespace socketio::ws
