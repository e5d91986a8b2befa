/*
 * The query string of an Engine.IO request (engine.io-protocol "Transports"
 * and "Handshake": EIO, transport, sid), decoded as the reference server's
 * URLSearchParams does: percent escapes and '+' decoded, the last
 * occurrence of a name wins.
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace socketio::eio {

struct Query {
    std::optional<std::string> eio;
    std::optional<std::string> transport;
    std::optional<std::string> sid;
};

Query parse_query(std::string_view args);

/* application/x-www-form-urlencoded decoding of one name or value */
std::string url_decode(std::string_view s);

}  // namespace socketio::eio
