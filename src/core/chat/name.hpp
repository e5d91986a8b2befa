/*
 * What a chat name is (shared/chat-contract.md, "Who is who"): a string,
 * trimmed of leading and trailing white space as JavaScript's trim() does,
 * 1 to 64 characters, no control characters.
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace socketio::chat {

inline constexpr std::size_t max_name_chars = 64;

/* The trimmed name, or nullopt when it is not one. */
std::optional<std::string> valid_name(std::string_view raw);

/* White space as ECMAScript's trim() sees it, at both ends. */
std::string_view trim(std::string_view s) noexcept;

}  // namespace socketio::chat
