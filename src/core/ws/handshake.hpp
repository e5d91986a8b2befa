/*
 * The opening handshake's key exchange: RFC 6455 section 4.2.1 (the
 * client's Sec-WebSocket-Key) and section 4.2.2 (Sec-WebSocket-Accept).
 */
#pragma once

#include <string>
#include <string_view>

namespace socketio::ws {

/* A key is the base64 of 16 bytes (section 4.1, item 7). */
bool valid_client_key(std::string_view key);

/* base64(SHA-1(key + the protocol GUID)) */
std::string accept_key(std::string_view client_key);

}  // namespace socketio::ws
