/*
 * UTF-8 well-formedness (RFC 3629 section 4): RFC 6455 section 8.1 requires
 * text messages and close reasons to be valid UTF-8, else close with 1007.
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace socketio::util {

/* Rejects overlongs, surrogates, code points above U+10FFFF, truncation. */
bool valid_utf8(std::string_view s) noexcept;

/*
 * The text with each ill-formed sequence replaced by U+FFFD, as a UTF-8
 * decoder (TextDecoder, Node's Buffer#toString) reads it; nullopt when it
 * was valid already.
 */
std::optional<std::string> repair_utf8(std::string_view s);

}  // namespace socketio::util
