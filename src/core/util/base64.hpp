/*
 * Base64 (RFC 4648 section 4) for Engine.IO binary packets over polling
 * ("b" + base64, engine.io-protocol "Packet encoding") and the WebSocket
 * accept key; URL-safe alphabet (section 5) for session ids.
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace socketio::util {

/* Appends the padded standard encoding of `in` to `out`. */
void base64_encode(std::string_view in, std::string& out);

inline std::string base64_encode(std::string_view in)
{
    std::string out;
    base64_encode(in, out);
    return out;
}

/* URL-safe alphabet, no padding: what goes in a query string untouched. */
std::string base64url_encode(std::string_view in);

/*
 * Strict decoding of the padded standard alphabet: any other character,
 * a bad length or bad padding yields nullopt, never a partial result.
 */
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace socketio::util
