/*
 * Engine.IO v4 packets: engine.io-protocol "Protocol" section, "Packet
 * encoding" (one type digit then the data; binary messages travel raw in a
 * WebSocket binary frame, or as "b" + base64 inside a polling payload) and
 * "Payload" (packets joined by the record separator \x1e).
 */
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::eio {

enum class PacketType : char {
    open = '0',
    close = '1',
    ping = '2',
    pong = '3',
    message = '4',
    upgrade = '5',
    noop = '6',
};

inline constexpr char record_separator = '\x1e';

/* A received packet; `data` views the input it was decoded from. */
struct Packet {
    PacketType type;
    bool binary = false;
    std::string_view data;
};

/* One text packet (a WebSocket text frame, or a polling segment). */
bool decode_text(std::string_view in, Packet& out) noexcept;

/*
 * A received polling payload. Binary segments are decoded from base64 into
 * `storage`, which the packets' views then point into.
 */
struct DecodedPayload {
    std::vector<Packet> packets;
    std::vector<std::string> storage;
};

bool decode_payload(std::string_view in, DecodedPayload& out);

/*
 * An encoded outgoing packet, immutable and shared: built once however
 * many sockets it goes to. The buffer keeps room in front of the packet
 * for the WebSocket frame header, written once too, so that a WebSocket
 * write is one contiguous span and a polling write is the packet itself.
 */
class Encoded {
public:
    /* Start a text packet: append its data to the returned string... */
    static std::string start_text(PacketType type, std::size_t reserve = 0);
    /* ...then seal it. */
    static std::shared_ptr<const Encoded> finish_text(std::string buf);

    static std::shared_ptr<const Encoded> text(PacketType type,
                                               std::string_view data = {});
    static std::shared_ptr<const Encoded> binary(std::string_view data);

    /*
     * A packet whose frame lives elsewhere (in the shared broadcast log),
     * kept there by `keep` until this is dropped or materialize()d.
     */
    static std::shared_ptr<const Encoded> view(std::string_view ws_frame,
                                               std::shared_ptr<const void> keep);

    bool is_binary() const noexcept { return binary_; }
    PacketType type() const noexcept;

    /* The Engine.IO packet: type digit and data, or the raw bytes. */
    std::string_view packet() const noexcept
    {
        return frame_.substr(header_len_);
    }

    /* The same, as one whole WebSocket frame. */
    std::string_view ws_frame() const noexcept { return frame_; }

    /* A view becomes a private copy, and lets go of what kept its bytes. */
    void materialize() const;
    bool is_view() const noexcept { return keep_ != nullptr; }

    /* headroom for the largest server frame header */
    static constexpr std::size_t headroom = 10;

    Encoded(std::string buf, bool binary);
    Encoded(std::string_view ws_frame, std::shared_ptr<const void> keep);

    Encoded(const Encoded&) = delete;
    Encoded& operator=(const Encoded&) = delete;

private:
    /* every Encoded is shared and immutable but for where its bytes are */
    mutable std::string buf_;
    mutable std::string_view frame_;
    mutable std::shared_ptr<const void> keep_;
    std::size_t header_len_;
    bool binary_;
};

/* The length of the header of a server frame starting at `frame`. */
std::size_t ws_header_length(std::string_view frame) noexcept;

using EncodedPtr = std::shared_ptr<const Encoded>;

/* A polling payload of the given packets, binary ones as "b" + base64. */
std::string encode_payload(const std::vector<EncodedPtr>& packets);

}  // namespace socketio::eio
