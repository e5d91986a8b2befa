/*
 * MessagePack (core/redis/msgpack.hpp): any bytes as one value, as the
 * adapter's broadcast message and as a request. Decoding never crashes
 * nor reads past the input; a decoded value encodes to bytes that decode
 * to the same value (and encode to the same bytes again); a decoded
 * broadcast encodes to a message that decodes to the same broadcast.
 *
 * The one exception is Socket.IO's own ambiguity: a map that reads
 * {"_placeholder":true,...} but was not a binary is, once encoded, taken
 * for one (as socket.io-parser would). Inputs holding such a map only
 * have to decode again.
 */
#include "core/redis/msgpack.hpp"

#include <boost/json/parse.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

namespace json = boost::json;
using namespace socketio::redis::msgpack;

/* objects with "_placeholder": true */
std::size_t placeholders(const json::value& v)
{
    std::size_t n = 0;
    if (const auto* a = v.if_array()) {
        for (const auto& e : *a) {
            n += placeholders(e);
        }
    } else if (const auto* o = v.if_object()) {
        const auto* mark = o->if_contains("_placeholder");
        n += mark != nullptr && mark->is_bool() && mark->get_bool();
        for (const auto& kv : *o) {
            n += placeholders(kv.value());
        }
    }
    return n;
}

void check_value(std::string_view in)
{
    auto d = decode(in);
    if (!d) {
        if (describe(d.error()).empty()) {
            std::abort();
        }
        return;
    }
    std::string bytes;
    encode(bytes, d->json, d->attachments);
    auto again = decode(bytes);
    if (!again) {
        std::abort();
    }
    if (placeholders(d->json) != d->attachments.size()) {
        return;                    /* a map that looks like a binary */
    }
    if (!(again->json == d->json) || again->attachments != d->attachments) {
        std::abort();
    }
    std::string twice;
    encode(twice, again->json, again->attachments);
    if (twice != bytes) {
        std::abort();
    }
}

/* our own output, as deep as a broadcast's data may be */
json::value parse_deep(std::string_view text)
{
    json::parse_options opt;
    opt.max_depth = 128;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, {}, opt);
    if (ec) {
        std::abort();
    }
    return v;
}

void check_broadcast(std::string_view in)
{
    auto d = decode_broadcast(in);
    if (!d) {
        return;
    }
    std::string bytes;
    if (encode_broadcast(bytes, *d)) {
        std::abort();               /* what we read, we can write */
    }
    auto again = decode_broadcast(bytes);
    if (!again) {
        std::abort();
    }
    const Broadcast& a = *d;
    const Broadcast& b = *again;
    int type = a.packet.type == 5 ? 2 : a.packet.type == 6 ? 3 : a.packet.type;
    if (b.uid != a.uid || b.packet.type != type || b.packet.nsp != a.packet.nsp
        || b.packet.id != a.packet.id || b.opts.rooms != a.opts.rooms
        || b.opts.except != a.opts.except || !(b.opts.flags == a.opts.flags))
    {
        std::abort();
    }
    json::value data = parse_deep(a.packet.data);
    if (placeholders(data) != a.packet.attachments.size()) {
        return;
    }
    /* the same value (keys may come in JavaScript's order the second time) */
    if (!(parse_deep(b.packet.data) == data)
        || b.packet.attachments != a.packet.attachments)
    {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check_value(in);
    check_broadcast(in);
    (void)decode_request(in);
    return 0;
}
