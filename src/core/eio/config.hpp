/*
 * What an Engine.IO server is told: the values its open packet announces
 * (engine.io-protocol "Handshake") and the limits it enforces.
 */
#pragma once

#include <cstddef>
#include <cstdint>

namespace socketio::eio {

/* Milliseconds of a monotonic clock, passed in by the caller. */
using Millis = std::int64_t;
inline constexpr Millis never = INT64_MAX;

struct Config {
    Millis ping_interval = 25000;
    Millis ping_timeout = 20000;
    Millis upgrade_timeout = 10000;
    std::size_t max_payload = 1000000;
    /* what a socket may hold unsent before it counts as a slow reader */
    std::size_t max_buffered = 4 * 1024 * 1024;
    bool polling = true;
    bool websocket = true;
    /* messages a session may send per second (0: any number); a burst of
       as many is allowed, beyond it the session is closed */
    std::uint32_t message_rate = 0;
};

}  // namespace socketio::eio
