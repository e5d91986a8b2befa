/*
 * MessagePack: https://github.com/msgpack/msgpack/blob/master/spec.md,
 * read in full and written as notepack.io 3.0.1 writes it, the codec of
 * @socket.io/redis-adapter 8.3 and @socket.io/redis-emitter 5.1.
 *
 * Our own codec rather than libmsgpack-cxx, because what the module has
 * and wants is not a msgpack object tree: it is a Socket.IO payload (JSON
 * text plus binary attachments) and Boost.JSON values. This codec goes
 * between those and msgpack in one step, with msgpack's binaries standing
 * as Socket.IO placeholders ({"_placeholder":true,"num":N}, the bytes in
 * attachments, in document order), so that a decoded packet is a
 * BINARY_EVENT ready for the clients. And it returns errors instead of
 * throwing: what comes from Redis is input from other machines.
 *
 * Decoding checks every count and length against the bytes left before it
 * allocates, caps nesting, and caps the binaries (each costs a placeholder
 * object and a string: some hundred bytes for two of input). What else a
 * hostile message can cost is about 40 times its size, transiently (a
 * 3-byte map {"":nil} becomes a JSON object): the member bounds messages
 * by its largest payload.
 *
 * Choices where msgpack says more than JSON (notepack.io's reading is what
 * a Node.js member would have passed on to its clients, through
 * JSON.stringify):
 *   - integers: int64, and uint64 beyond INT64_MAX (exact, where Node
 *     rounds to a double);
 *   - floats: a double; one with an integer value within int64 as that
 *     integer (JavaScript has one number type and prints 2.0 as 2);
 *     NaN and the infinities as null (JSON.stringify's answer);
 *   - ext -1, the timestamp (notepack's Date) of 32, 64 or 96 bits, and
 *     notepack's old fixext 8 of type 0 (a Date in milliseconds): the ISO
 *     string Date#toJSON writes, null beyond the range of a Date;
 *   - ext 8/16/32 of type 0 (notepack's old ArrayBuffer): a binary;
 *   - every other ext, among them notepack's old `undefined` (fixext 1 of
 *     type 0): null;
 *   - maps: in JavaScript's key order (integer-like keys first, ascending,
 *     as the object notepack builds lists them), binaries numbered in that
 *     order: the JSON and the placeholders a Node.js server would send;
 *   - map keys: strings; an integer within +-2^53, nil, true and false as
 *     JavaScript names them as property keys ("12", "null", "true"); any
 *     other key is an error (bad_key), and so is a key twice
 *     (duplicate_key: a placeholder would be lost with the value it
 *     replaces);
 *   - strings that are not UTF-8: repaired with U+FFFD, as Node's decoder
 *     reads them (the text goes to WebSocket clients, which must get
 *     UTF-8); util::repair_utf8 writes one U+FFFD for a run of bad bytes
 *     where Node sometimes writes several (e0 82: Node two, we one).
 */
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace socketio::redis::msgpack {

enum class Error : std::uint8_t {
    /* reading msgpack */
    truncated,       /* a value, a length or a count runs past the end */
    trailing,        /* bytes after the value */
    bad_byte,        /* 0xc1, which the format never uses */
    too_deep,        /* arrays and maps nested beyond max_depth */
    too_long,        /* a string or container beyond what Boost.JSON holds */
    bad_key,         /* a map key that is not a string (see above) */
    duplicate_key,
    too_many_attachments,  /* binaries beyond max_attachments */
    /* writing from JSON text */
    bad_json,
    /* the adapter's messages */
    bad_message,     /* not the [uid, packet, opts] array */
    bad_uid,         /* uid not a string */
    bad_packet,      /* packet not a map, or its type, nsp or id wrong */
    bad_data,        /* packet.data not an array */
    bad_opts,        /* opts or opts.flags not a map */
    bad_rooms,       /* rooms or except not an array of strings or integers */
};

std::string_view describe(Error e) noexcept;

/* A decoded value, or why there is none. */
template <typename T>
class Decoded {
public:
    Decoded(T value) noexcept(std::is_nothrow_move_constructible_v<T>)
        : v_(std::move(value)) {}
    Decoded(Error e) noexcept : v_(e) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
    T& operator*() & noexcept { return *std::get_if<0>(&v_); }
    T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
    const T* operator->() const noexcept { return std::get_if<0>(&v_); }
    T* operator->() noexcept { return std::get_if<0>(&v_); }
    Error error() const noexcept
    {
        const Error* e = std::get_if<1>(&v_);
        return e != nullptr ? *e : Error::bad_message;
    }

private:
    std::variant<T, Error> v_;
};

struct Limits {
    /* arrays and maps within each other. A client's JSON is 32 deep at
       most (Boost.JSON's default, which Socket.IO packets are parsed
       with), and a broadcast puts it two deeper: room to spare. */
    std::size_t max_depth = 64;
    /* binaries in one message, those dropped included; Socket.IO has no
       such limit between servers, but a message with thousands is not
       traffic, it is a way to make a small message cost 100 times its
       size */
    std::size_t max_attachments = 10000;
};

/* A value as Socket.IO carries it: JSON with placeholders for binaries. */
struct Document {
    boost::json::value json;
    std::vector<std::string> attachments;
};

/*
 * One msgpack value, the whole input (bytes after it are an error, as for
 * notepack). The JSON is allocated from `sp` (a monotonic resource makes a
 * decode one allocation or a few).
 */
Decoded<Document> decode(std::string_view bytes, const Limits& limits = {},
                         boost::json::storage_ptr sp = {});

/*
 * Appends `v` as notepack.io would write the same JavaScript value:
 * integers (and doubles with an integer value, below 2^64) in the smallest
 * form it picks (positive ones always unsigned), other numbers as float 64,
 * str 8/16/32 by length, objects as maps with JavaScript's key order
 * (integer-like keys first, ascending). A placeholder whose num names one
 * of `attachments` is written as that bin; any other stays a map.
 * Attachments not named are not written. Never fails.
 */
void encode(std::string& out, const boost::json::value& v,
            const std::vector<std::string>& attachments = {});

/*
 * The adapter's requests and responses: JSON text when the first byte is
 * '{', else msgpack (BROADCAST requests and BROADCAST_ACK responses), as
 * RedisAdapter#onrequest tells them apart. Binaries only come from msgpack.
 * JSON numbers are read exactly (see encode_broadcast).
 */
Decoded<Document> decode_request(std::string_view bytes,
                                 const Limits& limits = {});

/* --- the broadcast message: msgpack [uid, packet, opts] --- */

struct BroadcastPacket {
    /* the Socket.IO packet type, 0 to 6, as published: 2 (EVENT) even
       when the data holds binaries, so send a BINARY_EVENT whenever
       `attachments` is not empty */
    int type = 2;
    std::string nsp = "/";
    /* JSON text of an array, ["event", ...args], with a placeholder for
       each binary; the binaries in `attachments`, numbered from 0 */
    std::string data = "[]";
    std::vector<std::string> attachments;
    std::optional<std::uint64_t> id;
};

struct BroadcastOptions {
    std::vector<std::string> rooms;    /* none: the whole namespace */
    std::vector<std::string> except;
    boost::json::object flags;         /* volatile, compress, local, ... */
};

struct Broadcast {
    std::string uid;                   /* the publisher; "emitter" for one */
    BroadcastPacket packet;
    BroadcastOptions opts;
};

/*
 * Appends the message as RedisAdapter#broadcast publishes it:
 * [uid, {type, data, nsp[, id]}, {rooms, except, flags}]. A packet type of
 * 5 (BINARY_EVENT) or 6 (BINARY_ACK) is written as 2 or 3: the adapter
 * publishes the packet before socket.io-parser makes it binary, and
 * receivers decide by the bins they find. The keys go in the adapter's
 * order (the emitter writes opts as rooms, flags, except: readers do not
 * care). `data` is parsed with every number read exactly (Boost.JSON 1.81
 * alone reads one double in four a unit off in the last place).
 *
 * bad_json when `data` is not a JSON array Boost.JSON reads, or is nested
 * so deep that decode_broadcast with the default Limits would refuse the
 * message; out is left as it was. (sio::Packet::raw may hold a lone UTF-16
 * surrogate escape, which Boost.JSON refuses and sio::decode repaired in
 * Packet::json: pass serialize(json) for such a packet.)
 */
std::optional<Error> encode_broadcast(std::string& out, const Broadcast& b);

/*
 * A message from the adapter's channel `<key>#<nsp>#[<room>#]`, from a
 * Node.js server, an emitter or another member. A packet without nsp is
 * in "/" (as RedisAdapter#onmessage reads it); rooms given as numbers
 * (the adapter allows them) become their decimal text. Keys of the
 * packet and opts maps the adapter does not use are read and dropped.
 */
Decoded<Broadcast> decode_broadcast(std::string_view bytes,
                                    const Limits& limits = {});

}  // namespace socketio::redis::msgpack
