/*
 * The HTTP-level errors of an Engine.IO server, as the reference server
 * (socketio/socket.io, packages/engine.io, Server.errors) names and numbers
 * them: the body is {"code":N,"message":M}, the status 403 for code 4 and
 * 400 for the others.
 */
#pragma once

#include <string>
#include <string_view>

namespace socketio::eio {

enum class Error {
    unknown_transport = 0,
    unknown_sid = 1,
    bad_handshake_method = 2,
    bad_request = 3,
    forbidden = 4,
    unsupported_protocol_version = 5,
};

std::string_view error_message(Error e) noexcept;

inline int error_status(Error e) noexcept
{
    return e == Error::forbidden ? 403 : 400;
}

/* {"code":N,"message":"..."} */
std::string error_body(Error e);

}  // namespace socketio::eio
