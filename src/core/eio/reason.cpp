#include "core/eio/reason.hpp"

namespace socketio::eio {

namespace {

using util::LogLevel;

/*
 * A client's fault or a limit it hit is logged at info (the README's
 * promise for bad input: a line, but not the server's error); what
 * happens every day (a client leaves, a phone drops) at debug.
 */
constexpr ReasonInfo reasons[reason_count] = {
    {"transport close", LogLevel::debug, 1000, "", "transport_close"},
    {"transport error", LogLevel::info, 1000, "", "transport_error"},
    {"ping timeout", LogLevel::debug, 1000, "", "ping_timeout"},
    {"parse error", LogLevel::info, 1000, "", "parse_error"},
    {"transport buffer full", LogLevel::info, 1008, "slow reader",
     "slow_reader"},
    {"rate limit", LogLevel::info, 1008, "message rate exceeded",
     "rate_limit"},
    {"server shutting down", LogLevel::debug, 1000, "", "shutdown"},
    {"forced close", LogLevel::debug, 1000, "", "server_close"},
    {"connect timeout", LogLevel::info, 1000, "", "connect_timeout"},
};

}  // namespace

const ReasonInfo& info(Reason r) noexcept
{
    auto i = static_cast<std::size_t>(r);
    return reasons[i < reason_count ? i : 0];
}

bool recoverable(Reason r) noexcept
{
    switch (r) {
    case Reason::transport_close:
    case Reason::transport_error:
    case Reason::ping_timeout:
    case Reason::server_shutdown:
    case Reason::forced_close:
        return true;
    default:
        /* a client that broke the protocol or the limits, or never
           connected, is not promised its state back */
        return false;
    }
}

}  // namespace socketio::eio
