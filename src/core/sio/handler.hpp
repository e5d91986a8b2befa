/*
 * What runs on top of Socket.IO in one namespace: the connection, events
 * and disconnection of socket.io-protocol "Exchange protocol". The chat is
 * one handler, echo another; Socket.IO knows nothing of either.
 */
#pragma once

#include "core/sio/packet.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::sio {

class Socket;

/* An EVENT or BINARY_EVENT, whole (attachments included). */
class Event {
public:
    Event(const Packet& packet, EventText text) noexcept
        : packet_(packet), text_(text) {}

    /* The name; a numeric name is given as its digits. */
    std::string_view name() const noexcept;
    std::size_t size() const noexcept;                     /* arguments */
    const boost::json::value& arg(std::size_t i) const noexcept;

    /* The arguments as sent, byte for byte: ",a,b]" or "]". */
    std::string_view rest() const noexcept { return text_.rest; }
    std::string_view name_json() const noexcept { return text_.name_json; }

    std::optional<std::uint64_t> ack_id() const noexcept { return packet_.id; }
    /* Binary attachments; the arguments hold their placeholders. */
    const std::vector<std::string>& buffers() const noexcept
    {
        return packet_.buffers;
    }

private:
    const Packet& packet_;
    EventText text_;
};

class Handler {
public:
    virtual ~Handler() = default;

    virtual void on_connect(Socket& socket, const boost::json::value& auth) = 0;
    virtual void on_event(Socket& socket, const Event& event) = 0;
    virtual void on_disconnect(Socket& /* socket */,
                               std::string_view /* reason */) {}

    /* A socket restored by connection state recovery: same id, rooms
       and state (restore() gave it back). The reference runs its
       connection handler again, with socket.recovered set: so does this
       default. */
    virtual void on_recovered(Socket& socket, const boost::json::value& auth)
    {
        on_connect(socket, auth);
    }

    /* A socket's state, to carry it to another worker with its session
       (no event is told: the socket stays connected all along). */
    virtual std::string save(const Socket& /* socket */) const { return {}; }
    virtual void restore(Socket& /* socket */, std::string_view /* state */) {}

    /* What a cluster member's fetchSockets() shows as the socket's
       `data`, as JSON text (an object). */
    virtual std::string data_json(const Socket& /* socket */) const
    {
        return "{}";
    }
};

}  // namespace socketio::sio
