/*
 * Socket.IO v5 packets: socket.io-protocol "Packet format" (type digit,
 * attachment count and '-', namespace and ',', ack id, JSON payload) and
 * "Exchange protocol" for which payload each type may carry, checked as
 * the reference parser does (socketio/socket.io packages/socket.io-parser,
 * Decoder.isPayloadValid).
 */
#pragma once

#include "core/eio/packet.hpp"

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::sio {

enum class PacketType : char {
    connect = '0',
    disconnect = '1',
    event = '2',
    ack = '3',
    connect_error = '4',
    binary_event = '5',
    binary_ack = '6',
};

/* What went wrong in a packet: bad input, so a value, not an exception. */
enum class DecodeError {
    none,
    unknown_type,
    bad_attachments,
    too_many_attachments,
    bad_id,
    bad_json,
    invalid_payload,
};

std::string_view decode_error_message(DecodeError e) noexcept;

/* Attachments beyond this are refused (the reference's maxAttachments). */
inline constexpr std::size_t max_attachments = 10;

struct Packet {
    PacketType type = PacketType::event;
    std::string nsp = "/";
    std::optional<std::uint64_t> id;
    std::size_t attachments = 0;
    /* The payload as received, and parsed; `json` is null when absent. */
    std::string raw;
    boost::json::value json;
    bool has_payload = false;
    /* binary attachments, in order, once they have all arrived */
    std::vector<std::string> buffers;
};

DecodeError decode(std::string_view in, Packet& out);

/*
 * A binary packet's placeholders ({"_placeholder":true,"num":N}) each
 * name one of its `attachments`, as the reference parser demands when it
 * puts the packet back together ("illegal attachments" otherwise).
 */
bool placeholders_valid(const boost::json::value& v, std::size_t attachments);

/*
 * An event's payload is a JSON array whose first element is the event
 * name. Splits the text there so that handlers can pass the arguments on
 * byte for byte: `rest` is what follows the name (",1,2]" or "]").
 */
struct EventText {
    std::string_view name_json;   /* the name as written, quotes included */
    std::string_view rest;
};

std::optional<EventText> split_event(std::string_view payload) noexcept;

/* An event's payload: the name in front of the arguments' array text,
   event_payload("ev", "[1,2]") == "[\"ev\",1,2]". */
std::string event_payload(std::string_view event, std::string_view args_json);

/* The arguments alone as a JSON array text: "[1,2]" or "[]". */
std::string args_array(std::string_view rest);

/*
 * Builds the Engine.IO message carrying a Socket.IO packet; `payload` is
 * JSON text appended as is (empty: none).
 */
eio::EncodedPtr encode(PacketType type, std::string_view nsp,
                       std::optional<std::uint64_t> id,
                       std::size_t attachments, std::string_view payload);

/* The same, for callers that write the payload into the buffer directly. */
std::string start_packet(PacketType type, std::string_view nsp,
                         std::optional<std::uint64_t> id,
                         std::size_t attachments, std::size_t reserve = 0);

/* JSON text of a string (quotes and escapes as JSON.stringify writes). */
void append_json_string(std::string& out, std::string_view s);

}  // namespace socketio::sio
