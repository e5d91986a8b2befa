/*
 * Connection state recovery (Socket.IO 4.6+; socket.io-protocol v5
 * "Connection state recovery", as the reference implements it in
 * socket.io lib/socket.ts, lib/namespace.ts and socket.io-adapter's
 * SessionAwareAdapter): the CONNECT answer gives a private id (pid); each
 * recoverable event (an EVENT or BINARY_EVENT with no ack id) carries an
 * offset as its last argument; a client that comes back with
 * {pid, offset} in its CONNECT auth gets the same socket id, its rooms and
 * its handler state, and the events it missed before the CONNECT answer.
 *
 * Socket.IO knows the wire; where sockets are kept and missed events found
 * is the Recovery's (the cluster node keeps them in the zone's log, so
 * that any worker restores them, across reloads too).
 */
#pragma once

#include "core/eio/packet.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace socketio::sio {

/* Why a CONNECT with a pid got a fresh socket (the status page counts
   each; README "Connection state recovery" lists them). */
enum class Refusal : std::uint8_t {
    malformed,        /* pid or offset not of our shape */
    unknown_pid,      /* no socket kept under it (never, or forgotten) */
    expired,          /* away longer than socketio_recovery_window */
    other_namespace,  /* kept for another namespace */
    in_use,           /* its socket is still connected (the server has
                         not seen its old connection go yet) */
    offset_gone,      /* the offset is not in the log's history (too old,
                         or not one of ours) */
    too_much_missed,  /* more missed than socketio_output_limit */
    count
};

std::string_view describe(Refusal r) noexcept;
/* Its name on the status page. */
std::string_view counter(Refusal r) noexcept;

/* A socket found again: its saved bytes (Client::save_socket) and what it
   missed, in order, as packets ready to send. */
struct Kept {
    std::string socket;
    std::vector<eio::EncodedPtr> missed;
    /* log deliveries to the socket start here (what the client already
       has or was replayed is not delivered again) */
    std::uint64_t live_from = 0;
};

class Recovery {
public:
    virtual ~Recovery() = default;

    /* A fresh socket's private id. */
    virtual std::string issue() = 0;
    /* Where a fresh socket starts: what it is sent from then on is
       replayed to it if its client comes back with no offset. */
    virtual std::uint64_t floor() = 0;
    /* A socket as it is now: `live` when it connected or changed (so
       that it is found even if its worker dies), not live when its
       connection closed for a reason the client may come back from. */
    virtual void persist(std::string_view pid, std::uint64_t floor,
                         std::string_view nsp,
                         const std::vector<std::string>& rooms,
                         std::string_view socket, bool live) = 0;
    /* A socket that may not come back (a deliberate disconnect). */
    virtual void forget(std::string_view pid) = 0;
    /* The socket kept under `pid` for namespace `nsp`, with what it
       missed after `offset` (none: after it connected); the pid restores
       nothing more. */
    virtual std::variant<Kept, Refusal> restore(
        std::string_view nsp, std::string_view pid,
        std::optional<std::string_view> offset) = 0;
    /* A CONNECT was answered: recovered, or a fresh socket and why. */
    virtual void count(std::optional<Refusal> refused) = 0;
};

/* The pid's shape: 20 characters of base64url (15 random bytes, as the
   reference's base64id and our session ids). */
inline constexpr std::size_t pid_length = 20;
bool pid_shaped(std::string_view pid) noexcept;

/* An offset as it goes to clients, and back (nullopt: not one of ours). */
std::string offset_text(std::uint64_t offset);
std::optional<std::uint64_t> offset_value(std::string_view text) noexcept;

/*
 * The Engine.IO message of a recoverable packet (EVENT or BINARY_EVENT,
 * no ack id) with `offset` as its last argument; nullopt for any other
 * packet, which carries no offset.
 */
std::optional<eio::EncodedPtr> with_offset(const eio::Encoded& packet,
                                           std::string_view offset);

}  // namespace socketio::sio
