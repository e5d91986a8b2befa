#include "core/sio/socket.hpp"

#include "core/eio/session.hpp"
#include "core/sio/server.hpp"

namespace socketio::sio {

Socket::Socket(std::string id, Namespace& nsp, eio::Session& session)
    : id_(std::move(id)), nsp_(nsp), session_(session)
{
}

const std::string& Socket::nsp_name() const noexcept
{
    return nsp_.name();
}

Adapter& Socket::adapter() noexcept
{
    return nsp_.adapter();
}

std::string Socket::event_payload(std::string_view event,
                                  std::string_view args_json) const
{
    /* ["event",a,b]: the name goes in front of the arguments */
    std::string payload = "[";
    append_json_string(payload, event);
    std::size_t open = args_json.find('[');
    std::string_view inner = open == std::string_view::npos
                                 ? std::string_view("]")
                                 : args_json.substr(open + 1);
    std::size_t first = inner.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && inner[first] != ']') {
        payload.push_back(',');
    }
    payload.append(inner);
    return payload;
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
    send_packet(PacketType::event, std::nullopt,
                event_payload(event, args_json), {});
}

void Socket::emit_binary(std::string_view event, std::string_view args_json,
                         const std::vector<std::string>& buffers)
{
    send_packet(PacketType::event, std::nullopt,
                event_payload(event, args_json), buffers);
}

void Socket::emit_with_ack(std::string_view event, std::string_view args_json,
                           AckCallback cb)
{
    std::uint64_t id = next_ack_++;
    acks_.emplace(id, std::move(cb));
    send_packet(PacketType::event, id, event_payload(event, args_json), {});
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
}

void Socket::leave(std::string_view room)
{
    adapter().remove(*this, room);
}

}  // namespace socketio::sio
