/*
 * UTF-8 well-formedness (RFC 3629 section 4): RFC 6455 section 8.1 requires
 * text messages and close reasons to be valid UTF-8, else close with 1007.
 */
#pragma once

#include <string_view>

namespace socketio::util {

/* Rejects overlongs, surrogates, code points above U+10FFFF, truncation. */
bool valid_utf8(std::string_view s) noexcept;

}  // namespace socketio::util
