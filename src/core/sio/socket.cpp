#include "core/sio/socket.hpp"

#include "core/eio/session.hpp"
#include "core/sio/server.hpp"

namespace socketio::sio {

Socket::Socket(std::string id, Namespace& nsp, eio::Session& session,
               Client* client)
    : id_(std::move(id)), nsp_(nsp), session_(session), client_(client)
{
}

void Socket::after(std::int64_t delay, std::function<void(Socket&)> fn)
{
    if (client_ == nullptr) {
        fn(*this);
        return;
    }
    client_->defer(*this, session_.now() + delay, std::move(fn));
}

const std::string& Socket::nsp_name() const noexcept
{
    return nsp_.name();
}

Adapter& Socket::adapter() noexcept
{
    return nsp_.adapter();
}

void Socket::send_packet(PacketType type, std::optional<std::uint64_t> id,
                         std::string_view payload,
                         const std::vector<std::string>& buffers)
{
    if (!buffers.empty()) {
        type = (type == PacketType::ack) ? PacketType::binary_ack
                                         : PacketType::binary_event;
    }
    session_.send(encode(type, nsp_name(), id, buffers.size(), payload));
    for (const std::string& b : buffers) {
        session_.send(eio::Encoded::binary(b));
    }
}

void Socket::emit(std::string_view event, std::string_view args_json)
{
    emit_binary(event, args_json, {});
}

void Socket::emit_binary(std::string_view event, std::string_view args_json,
                         const std::vector<std::string>& buffers)
{
    if (pid_.empty()) {
        send_packet(PacketType::event, std::nullopt,
                    sio::event_payload(event, args_json), buffers);
        return;
    }

    /*
     * A recoverable socket's events go through the adapter to its own
     * room, as the reference's do: they get an offset and are kept with
     * the broadcasts, in one order, so that a client that comes back has
     * everything after its offset replayed and nothing twice.
     */
    std::vector<eio::EncodedPtr> packets;
    packets.reserve(1 + buffers.size());
    packets.push_back(encode(buffers.empty() ? PacketType::event
                                             : PacketType::binary_event,
                             nsp_name(), std::nullopt, buffers.size(),
                             sio::event_payload(event, args_json)));
    for (const std::string& b : buffers) {
        packets.push_back(eio::Encoded::binary(b));
    }
    BroadcastOptions to_me;
    to_me.rooms.push_back(id_);
    to_me.local = true;
    adapter().broadcast(packets, to_me);
}

void Socket::emit_with_ack(std::string_view event, std::string_view args_json,
                           AckCallback cb)
{
    std::uint64_t id = next_ack_++;
    acks_.emplace(id, std::move(cb));
    send_packet(PacketType::event, id, sio::event_payload(event, args_json), {});
}

void Socket::emit_payload_with_ack(std::string_view payload,
                                   const std::vector<std::string>& buffers,
                                   AckCallback cb)
{
    std::uint64_t id = next_ack_++;
    acks_.emplace(id, std::move(cb));
    send_packet(PacketType::event, id, payload, buffers);
}

void Socket::ack(std::uint64_t id, std::string_view args_json,
                 const std::vector<std::string>& buffers)
{
    send_packet(PacketType::ack, id, args_json, buffers);
}

void Socket::on_ack(const Packet& p)
{
    if (!p.id) {
        return;
    }
    auto it = acks_.find(*p.id);
    if (it == acks_.end()) {
        return;
    }
    AckCallback cb = std::move(it->second);
    acks_.erase(it);
    cb(p);
}

void Socket::join(std::string_view room)
{
    adapter().add(*this, room);
    changed_ = true;
}

void Socket::leave(std::string_view room)
{
    adapter().remove(*this, room);
    changed_ = true;
}

void Socket::disconnect(bool close)
{
    if (client_ != nullptr) {
        client_->disconnect(*this, close);
    }
}

}  // namespace socketio::sio
