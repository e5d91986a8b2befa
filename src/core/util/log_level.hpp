/*
 * How much a log line matters, for the core's messages to the web server
 * (which maps them to its own levels in one place: the glue's Runtime).
 */
#pragma once

#include <cstdint>

namespace socketio::util {

enum class LogLevel : std::uint8_t {
    error,    /* the server cannot do what it should (a full zone) */
    warn,     /* something outside went wrong (a worker died) */
    notice,   /* something outside is right again (Redis is back) */
    info,     /* a client's fault, or a limit reached: not the server's */
    debug,    /* the ordinary course of things */
};

}  // namespace socketio::util
