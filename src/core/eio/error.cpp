#include "core/eio/error.hpp"

namespace socketio::eio {

std::string_view error_message(Error e) noexcept
{
    switch (e) {
    case Error::unknown_transport:
        return "Transport unknown";
    case Error::unknown_sid:
        return "Session ID unknown";
    case Error::bad_handshake_method:
        return "Bad handshake method";
    case Error::bad_request:
        return "Bad request";
    case Error::forbidden:
        return "Forbidden";
    case Error::unsupported_protocol_version:
        return "Unsupported protocol version";
    }
    return "Bad request";
}

std::string error_body(Error e)
{
    std::string body = "{\"code\":";
    body += std::to_string(static_cast<int>(e));
    body += ",\"message\":\"";
    body += error_message(e);
    body += "\"}";
    return body;
}

}  // namespace socketio::eio
