/*
 * Why an Engine.IO session closes (engine.io-protocol; the reasons the
 * reference server's `close` event gives, and Socket.IO's disconnect
 * reasons built on them), and what the module does with each, in one
 * table: the text handlers are given, the level the close is logged at,
 * the WebSocket close frame that tells the client, and the status page's
 * counter.
 */
#pragma once

#include "core/util/log_level.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace socketio::eio {

enum class Reason : std::uint8_t {
    transport_close,    /* the client closed, or its connection went */
    transport_error,    /* a transport misused (two GETs at once) or lost
                           in the middle of a poll */
    ping_timeout,       /* no pong, or no request, in time */
    parse_error,        /* a packet that does not parse */
    slow_reader,        /* over socketio_output_limit unsent */
    rate_limit,         /* over socketio_message_rate */
    server_shutdown,    /* the worker is going (reload, quit) */
    forced_close,       /* the server closed it (a handler) */
    connect_timeout,    /* no Socket.IO CONNECT in time */
};

inline constexpr std::size_t reason_count = 9;

struct ReasonInfo {
    std::string_view text;          /* as the reference says it */
    util::LogLevel level;           /* of the line that says it closed */
    std::uint16_t close_code;       /* of the WebSocket close frame */
    std::string_view close_reason;  /* ...and its reason: the client's
                                       only way to learn why */
    std::string_view counter;       /* the status page's name for it */
};

const ReasonInfo& info(Reason r) noexcept;

inline std::string_view text(Reason r) noexcept { return info(r).text; }

/* Whether Socket.IO keeps the sockets of a session closed for it, for
   their clients to recover (the reference's RECOVERABLE_DISCONNECT_REASONS:
   the connection went, not the client nor the server's handler). */
bool recoverable(Reason r) noexcept;

}  // namespace socketio::eio
