/*
 * Socket.IO v5 packets: decoding as the reference parser
 * (socket.io-parser's Decoder.decodeString and isPayloadValid) accepts
 * and refuses, split_event, args_array and the encoder's bytes.
 */
#include "core/sio/handler.hpp"
#include "core/sio/packet.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using namespace socketio::sio;

namespace {

/* An exact-size heap copy, so that ASan sees any read past the input. */
struct Heap {
    explicit Heap(std::string_view s) : bytes(s.begin(), s.end()) {}
    std::string_view view() const { return {bytes.data(), bytes.size()}; }
    std::vector<char> bytes;
};

DecodeError dec(std::string_view in, Packet& p)
{
    Heap h(in);
    return decode(h.view(), p);
}

DecodeError dec(std::string_view in)
{
    Packet p;
    return dec(in, p);
}

const char* name(DecodeError e)
{
    switch (e) {
    case DecodeError::none: return "none";
    case DecodeError::unknown_type: return "unknown_type";
    case DecodeError::bad_attachments: return "bad_attachments";
    case DecodeError::too_many_attachments: return "too_many_attachments";
    case DecodeError::bad_id: return "bad_id";
    case DecodeError::bad_json: return "bad_json";
    case DecodeError::invalid_payload: return "invalid_payload";
    }
    return "?";
}

#define EXPECT_DECODE(in, err) EXPECT_STREQ(name(dec(in)), name(DecodeError::err)) << (in)

std::string t(PacketType type)
{
    return std::string(1, static_cast<char>(type));
}

}  // namespace

/* --- decode: what is accepted --- */

TEST(SioDecode, Connect)
{
    Packet p;
    ASSERT_EQ(dec("0", p), DecodeError::none);
    EXPECT_EQ(t(p.type), t(PacketType::connect));
    EXPECT_EQ(p.nsp, "/");
    EXPECT_FALSE(p.id);
    EXPECT_FALSE(p.has_payload);
    EXPECT_TRUE(p.json.is_null());

    ASSERT_EQ(dec("0{\"token\":\"123\"}", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/");
    EXPECT_TRUE(p.has_payload);
    EXPECT_EQ(p.raw, "{\"token\":\"123\"}");
    EXPECT_EQ(p.json.at("token").as_string(), "123");

    ASSERT_EQ(dec("0/admin,", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/admin");
    EXPECT_FALSE(p.has_payload);

    /* the reference takes a namespace that runs to the end */
    ASSERT_EQ(dec("0/admin", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/admin");

    ASSERT_EQ(dec("0/admin,{\"token\":\"123\"}", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/admin");
    EXPECT_EQ(p.json.at("token").as_string(), "123");

    ASSERT_EQ(dec("0/a/b-c,{}", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/a/b-c");
}

TEST(SioDecode, Disconnect)
{
    Packet p;
    ASSERT_EQ(dec("1", p), DecodeError::none);
    EXPECT_EQ(t(p.type), t(PacketType::disconnect));
    EXPECT_EQ(p.nsp, "/");
    ASSERT_EQ(dec("1/admin,", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/admin");
    EXPECT_FALSE(p.has_payload);
}

TEST(SioDecode, Event)
{
    Packet p;
    ASSERT_EQ(dec("2[\"hello\",1]", p), DecodeError::none);
    EXPECT_EQ(t(p.type), t(PacketType::event));
    EXPECT_EQ(p.nsp, "/");
    EXPECT_FALSE(p.id);
    EXPECT_EQ(p.raw, "[\"hello\",1]");
    EXPECT_EQ(p.attachments, 0u);

    ASSERT_EQ(dec("2/admin,456[\"project:delete\",123]", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/admin");
    ASSERT_TRUE(p.id);
    EXPECT_EQ(*p.id, 456u);
    EXPECT_EQ(p.raw, "[\"project:delete\",123]");

    ASSERT_EQ(dec("20[\"a\"]", p), DecodeError::none);
    EXPECT_EQ(p.id, 0u);

    ASSERT_EQ(dec("2/admin,[\"a\"]", p), DecodeError::none);
    EXPECT_FALSE(p.id);

    /* a numeric event name is allowed */
    ASSERT_EQ(dec("2[42,\"x\"]", p), DecodeError::none);
    ASSERT_EQ(dec("2[4.5]", p), DecodeError::none);

    /* whitespace JSON allows */
    ASSERT_EQ(dec("2 [ \"a\" , 1 ] ", p), DecodeError::none);
    EXPECT_EQ(p.raw, " [ \"a\" , 1 ] ");

    /* the largest id a JavaScript peer can answer exactly */
    ASSERT_EQ(dec("29007199254740992[\"a\"]", p), DecodeError::none);
    EXPECT_EQ(*p.id, 9007199254740992u);
}

TEST(SioDecode, Ack)
{
    Packet p;
    ASSERT_EQ(dec("3/admin,456[]", p), DecodeError::none);
    EXPECT_EQ(t(p.type), t(PacketType::ack));
    EXPECT_EQ(p.nsp, "/admin");
    EXPECT_EQ(*p.id, 456u);
    EXPECT_TRUE(p.json.as_array().empty());

    ASSERT_EQ(dec("31[\"disconnect\",{}]", p), DecodeError::none)
        << "reserved names only matter in events";
}

TEST(SioDecode, ConnectError)
{
    Packet p;
    ASSERT_EQ(dec("4{\"message\":\"Not authorized\"}", p), DecodeError::none);
    EXPECT_EQ(t(p.type), t(PacketType::connect_error));
    ASSERT_EQ(dec("4/admin,\"Not authorized\"", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/admin");
}

TEST(SioDecode, BinaryEventAndAck)
{
    Packet p;
    ASSERT_EQ(dec("51-[\"hello\",{\"_placeholder\":true,\"num\":0}]", p),
              DecodeError::none);
    EXPECT_EQ(t(p.type), t(PacketType::binary_event));
    EXPECT_EQ(p.attachments, 1u);
    EXPECT_EQ(p.nsp, "/");
    EXPECT_TRUE(p.buffers.empty());

    ASSERT_EQ(dec("52-/admin,7[\"a\",{\"_placeholder\":true,\"num\":0},"
                  "{\"_placeholder\":true,\"num\":1}]",
                  p),
              DecodeError::none);
    EXPECT_EQ(p.attachments, 2u);
    EXPECT_EQ(p.nsp, "/admin");
    EXPECT_EQ(*p.id, 7u);

    ASSERT_EQ(dec("61-/admin,456[{\"_placeholder\":true,\"num\":0}]", p),
              DecodeError::none);
    EXPECT_EQ(t(p.type), t(PacketType::binary_ack));
    EXPECT_EQ(p.attachments, 1u);
    EXPECT_EQ(*p.id, 456u);

    ASSERT_EQ(dec("510-[\"a\"]", p), DecodeError::none);
    EXPECT_EQ(p.attachments, 10u);
}

TEST(SioDecode, OutputIsReset)
{
    Packet p;
    ASSERT_EQ(dec("52-/admin,7[\"a\"]", p), DecodeError::none);
    p.buffers.push_back("stale");
    ASSERT_EQ(dec("0", p), DecodeError::none);
    EXPECT_EQ(p.nsp, "/");
    EXPECT_FALSE(p.id);
    EXPECT_EQ(p.attachments, 0u);
    EXPECT_TRUE(p.buffers.empty());
    EXPECT_FALSE(p.has_payload);
}

/* --- decode: what is refused (each refused by the reference too) --- */

TEST(SioDecode, UnknownType)
{
    EXPECT_DECODE("", unknown_type);
    EXPECT_DECODE("7", unknown_type);
    EXPECT_DECODE("9[\"a\"]", unknown_type);
    EXPECT_DECODE("a", unknown_type);
    EXPECT_DECODE("/admin,", unknown_type);
    EXPECT_DECODE(" 2[\"a\"]", unknown_type);
}

TEST(SioDecode, EventPayloadMustBeANamedArray)
{
    EXPECT_DECODE("2{}", invalid_payload);             /* "42{}" on the wire */
    EXPECT_DECODE("2[]", invalid_payload);
    EXPECT_DECODE("2[null]", invalid_payload);
    EXPECT_DECODE("2[true,1]", invalid_payload);
    EXPECT_DECODE("2[{},1]", invalid_payload);
    EXPECT_DECODE("2[[\"a\"]]", invalid_payload);
    EXPECT_DECODE("2\"a\"", invalid_payload);
    EXPECT_DECODE("51-{}", invalid_payload);
    EXPECT_DECODE("51-[]", invalid_payload);
}

TEST(SioDecode, EventPayloadThatIsNotJson)
{
    EXPECT_DECODE("2abc[\"a\"]", bad_json);            /* "42abc[...]" */
    EXPECT_DECODE("2[", bad_json);
    EXPECT_DECODE("2[\"a\"", bad_json);
    EXPECT_DECODE("2[\"a\",]", bad_json);
    EXPECT_DECODE("2['a']", bad_json);
    EXPECT_DECODE("2[\"a\"]x", bad_json);
    EXPECT_DECODE("2[\"a\"][\"b\"]", bad_json);
    EXPECT_DECODE("2 ", bad_json);
    EXPECT_DECODE("0{", bad_json);
    EXPECT_DECODE("2[\"\xff\"]", bad_json) << "not UTF-8";
}

TEST(SioDecode, ReservedEventNames)
{
    for (const char* n : {"connect", "connect_error", "disconnect",
                          "disconnecting", "newListener", "removeListener"}) {
        std::string in = std::string("2[\"") + n + "\",1]";
        EXPECT_DECODE(in, invalid_payload);
        in = std::string("2/admin,1[\"") + n + "\"]";
        EXPECT_DECODE(in, invalid_payload);
        in = std::string("51-[\"") + n + "\",{\"_placeholder\":true,\"num\":0}]";
        EXPECT_DECODE(in, invalid_payload);
    }
    /* names that only look like them are fine */
    EXPECT_DECODE("2[\"Connect\"]", none);
    EXPECT_DECODE("2[\"disconnect \"]", none);
    EXPECT_DECODE("2[\"connection\"]", none);
}

TEST(SioDecode, DisconnectCarriesNothing)
{
    EXPECT_DECODE("1{}", invalid_payload);
    EXPECT_DECODE("1/admin,{}", invalid_payload);
    EXPECT_DECODE("1\"bye\"", invalid_payload);
    EXPECT_DECODE("1[]", invalid_payload);
}

TEST(SioDecode, ConnectPayloadMustBeAnObject)
{
    EXPECT_DECODE("0[]", invalid_payload);
    EXPECT_DECODE("0\"token\"", invalid_payload);
    EXPECT_DECODE("0null", invalid_payload);
    EXPECT_DECODE("4[]", invalid_payload);
    EXPECT_DECODE("3{}", invalid_payload);
    EXPECT_DECODE("3\"a\"", invalid_payload);
}

TEST(SioDecode, IdWithoutPayload)
{
    /* the reference takes an id on any type, and no payload on CONNECT */
    Packet p;
    ASSERT_EQ(dec("0/admin,1", p), DecodeError::none);
    EXPECT_EQ(p.id, 1u);
    EXPECT_FALSE(p.has_payload);
}

TEST(SioDecode, StricterThanTheReference)
{
    /*
     * The reference decodes these with `data` undefined and leaves it to
     * the socket; here an EVENT or ACK must carry its array (handlers
     * index it) and a CONNECT_ERROR its message.
     */
    EXPECT_DECODE("2", invalid_payload);
    EXPECT_DECODE("21", invalid_payload);
    EXPECT_DECODE("2/admin,", invalid_payload);
    EXPECT_DECODE("3", invalid_payload);
    EXPECT_DECODE("31", invalid_payload);
    EXPECT_DECODE("4", invalid_payload);
    EXPECT_DECODE("41", invalid_payload);
    EXPECT_DECODE("51-", invalid_payload);
    EXPECT_DECODE("61-1", invalid_payload);
}

TEST(SioDecode, Attachments)
{
    EXPECT_DECODE("50-[\"a\"]", bad_attachments);
    EXPECT_DECODE("500-[\"a\"]", bad_attachments);
    EXPECT_DECODE("5-[\"a\"]", bad_attachments);
    EXPECT_DECODE("5[\"a\"]", bad_attachments) << "no '-'";
    EXPECT_DECODE("51[\"a\"]", bad_attachments);
    EXPECT_DECODE("5", bad_attachments);
    EXPECT_DECODE("5a-[\"a\"]", bad_attachments);
    EXPECT_DECODE("51a-[\"a\"]", bad_attachments);
    EXPECT_DECODE("6-1[]", bad_attachments);
    EXPECT_DECODE("511-[\"a\"]", too_many_attachments);
    EXPECT_DECODE("599-[\"a\"]", too_many_attachments);
    EXPECT_DECODE("6100000-[]", too_many_attachments);
    /* too long a count to be a number at all: refused either way */
    EXPECT_NE(dec("51234567-[\"a\"]"), DecodeError::none);
    EXPECT_NE(dec("599999999999999999999999-[\"a\"]"), DecodeError::none);
}

TEST(SioDecode, AckIdsBeyondWhatJavaScriptCounts)
{
    EXPECT_DECODE("29007199254740993[\"a\"]", bad_id);
    EXPECT_DECODE("299999999999999999999[\"a\"]", bad_id);
    EXPECT_DECODE("31844674407370955161600[]", bad_id);
}

TEST(SioDecode, EveryPrefixAndSuffix)
{
    /* cut at every byte: nothing reads past the input, and a cut packet
       is never taken for a whole one unless it is one */
    for (std::string full : {
             std::string("2/admin,456[\"project:delete\",{\"a\":[1,2]},\"x\"]"),
             std::string("52-/admin,7[\"a\",{\"_placeholder\":true,\"num\":0},"
                         "{\"_placeholder\":true,\"num\":1}]"),
             std::string("0/admin,{\"token\":\"\xe2\x82\xac\"}"),
             std::string("3/admin,456[]"),
         }) {
        for (std::size_t n = 0; n <= full.size(); n++) {
            Packet p;
            DecodeError e = dec(std::string_view(full).substr(0, n), p);
            if (n == full.size()) {
                EXPECT_EQ(e, DecodeError::none);
            } else if (full[0] != '0' && n > full.find('[')) {
                /* inside the JSON array */
                EXPECT_NE(e, DecodeError::none) << full.substr(0, n);
            }
            (void) dec(std::string_view(full).substr(n));
        }
    }
}

/* --- split_event / args_array --- */

TEST(SioSplitEvent, Plain)
{
    auto t = split_event("[\"hello\",1,\"two\"]");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, "\"hello\"");
    EXPECT_EQ(t->rest, ",1,\"two\"]");

    t = split_event("[\"hello\"]");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, "\"hello\"");
    EXPECT_EQ(t->rest, "]");
}

TEST(SioSplitEvent, Whitespace)
{
    auto t = split_event(" \t\r\n[ \n\"hello\"\t , 1 ] \n");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, "\"hello\"");
    EXPECT_EQ(t->rest, ", 1 ] \n");

    t = split_event("[ 42 ,\"x\"]");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, "42");
    EXPECT_EQ(t->rest, ",\"x\"]");
}

TEST(SioSplitEvent, EscapedQuotes)
{
    auto t = split_event(R"(["a\"b,c]",1])");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, R"("a\"b,c]")");
    EXPECT_EQ(t->rest, ",1]");

    t = split_event(R"(["a\\",1])");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, R"("a\\")");
    EXPECT_EQ(t->rest, ",1]");

    t = split_event(R"(["\\\"",[1]])");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, R"("\\\"")");
    EXPECT_EQ(t->rest, ",[1]]");

    t = split_event(R"(["\u0022",2])");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, R"("\u0022")");
}

TEST(SioSplitEvent, Numbers)
{
    auto t = split_event("[1]");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, "1");
    EXPECT_EQ(t->rest, "]");
    t = split_event("[-1.5e3,{}]");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name_json, "-1.5e3");
    EXPECT_EQ(t->rest, ",{}]");
}

TEST(SioSplitEvent, Refused)
{
    for (std::string_view bad :
         {"", " ", "{}", "\"a\"", "[", "[\"a", "[\"a\\\"]", "[\"a\" x]",
          "[\"a\"", "[\"a\\", "[ ", "[1"}) {
        Heap h(bad);
        EXPECT_FALSE(split_event(h.view())) << bad;
    }
}

TEST(SioSplitEvent, EveryPrefix)
{
    const std::string full = R"( [ "a\"b\\" , {"k":"v\""}, 2 ] )";
    for (std::size_t n = 0; n <= full.size(); n++) {
        Heap h(std::string_view(full).substr(0, n));
        auto t = split_event(h.view());
        if (t) {
            EXPECT_EQ(t->name_json, R"("a\"b\\")") << n;
        }
        Heap tail(std::string_view(full).substr(n));
        (void) split_event(tail.view());
    }
    EXPECT_TRUE(split_event(full));
}

TEST(SioArgsArray, FromRest)
{
    EXPECT_EQ(args_array("]"), "[]");
    EXPECT_EQ(args_array(""), "[]");
    EXPECT_EQ(args_array(",1,2]"), "[1,2]");
    EXPECT_EQ(args_array(", 1 ,\"x\" ] "), "[ 1 ,\"x\" ] ");
    auto t = split_event("[\"e\",{\"a\":[1,\"]\"]},null]");
    ASSERT_TRUE(t);
    EXPECT_EQ(args_array(t->rest), "[{\"a\":[1,\"]\"]},null]");
}

/* --- Event --- */

TEST(SioEvent, Accessors)
{
    Packet p;
    ASSERT_EQ(dec("2/chat,12[\"say \\\"hi\\\"\",1,{\"a\":true}]", p),
              DecodeError::none);
    auto t = split_event(p.raw);
    ASSERT_TRUE(t);
    Event ev(p, *t);
    EXPECT_EQ(ev.name(), "say \"hi\"");
    EXPECT_EQ(ev.name_json(), "\"say \\\"hi\\\"\"");
    EXPECT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev.arg(0), boost::json::value(1));
    EXPECT_TRUE(ev.arg(1).at("a").as_bool());
    EXPECT_TRUE(ev.arg(2).is_null());
    EXPECT_TRUE(ev.arg(1000).is_null());
    EXPECT_EQ(ev.rest(), ",1,{\"a\":true}]");
    EXPECT_EQ(ev.ack_id(), 12u);
    EXPECT_TRUE(ev.buffers().empty());

    ASSERT_EQ(dec("2[7]", p), DecodeError::none);
    t = split_event(p.raw);
    Event numeric(p, *t);
    EXPECT_EQ(numeric.name(), "7");
    EXPECT_EQ(numeric.size(), 0u);
    EXPECT_FALSE(numeric.ack_id());
}

/* --- encode --- */

TEST(SioEncode, Bytes)
{
    auto e = encode(PacketType::connect, "/", std::nullopt, 0,
                    "{\"sid\":\"x\"}");
    EXPECT_EQ(e->packet(), "40{\"sid\":\"x\"}");
    EXPECT_FALSE(e->is_binary());

    e = encode(PacketType::connect, "/custom", std::nullopt, 0,
               "{\"sid\":\"x\"}");
    EXPECT_EQ(e->packet(), "40/custom,{\"sid\":\"x\"}");

    e = encode(PacketType::connect, "", std::nullopt, 0, "");
    EXPECT_EQ(e->packet(), "40");

    e = encode(PacketType::disconnect, "/admin", std::nullopt, 0, "");
    EXPECT_EQ(e->packet(), "41/admin,");

    e = encode(PacketType::event, "/", 12, 0, "[\"a\"]");
    EXPECT_EQ(e->packet(), "4212[\"a\"]");

    e = encode(PacketType::ack, "/admin", 0, 0, "[]");
    EXPECT_EQ(e->packet(), "43/admin,0[]");

    e = encode(PacketType::connect_error, "/x", std::nullopt, 0,
               "{\"message\":\"Invalid namespace\"}");
    EXPECT_EQ(e->packet(), "44/x,{\"message\":\"Invalid namespace\"}");

    e = encode(PacketType::binary_event, "/", std::nullopt, 2,
               "[\"a\",{\"_placeholder\":true,\"num\":0}]");
    EXPECT_EQ(e->packet(), "452-[\"a\",{\"_placeholder\":true,\"num\":0}]");

    e = encode(PacketType::binary_ack, "/admin", 3, 1, "[]");
    EXPECT_EQ(e->packet(), "461-/admin,3[]");

    /* the WebSocket frame is ready too */
    e = encode(PacketType::event, "/", std::nullopt, 0, "[\"a\"]");
    EXPECT_EQ(e->ws_frame(), std::string("\x81\x07" "42[\"a\"]"));
}

TEST(SioEncode, StartPacket)
{
    std::string buf = start_packet(PacketType::event, "/n", 5, 0, 10);
    buf += "[\"x\"]";
    auto e = socketio::eio::Encoded::finish_text(std::move(buf));
    EXPECT_EQ(e->packet(), "42/n,5[\"x\"]");
}

TEST(SioEncode, WhatIsEncodedDecodesTheSame)
{
    struct {
        PacketType type;
        std::string nsp;
        std::optional<std::uint64_t> id;
        std::size_t attachments;
        std::string payload;
    } cases[] = {
        {PacketType::connect, "/", std::nullopt, 0, ""},
        {PacketType::connect, "/a", std::nullopt, 0, "{\"k\":1}"},
        {PacketType::disconnect, "/a", std::nullopt, 0, ""},
        {PacketType::event, "/", 0, 0, "[\"e\",1]"},
        {PacketType::event, "/a", 99, 0, "[\"e\"]"},
        {PacketType::ack, "/", 7, 0, "[]"},
        {PacketType::connect_error, "/a", std::nullopt, 0, "{\"message\":\"m\"}"},
        {PacketType::binary_event, "/a", 3, 10, "[\"e\"]"},
        {PacketType::binary_ack, "/", 1, 1, "[1]"},
    };
    for (const auto& c : cases) {
        auto e = encode(c.type, c.nsp, c.id, c.attachments, c.payload);
        std::string_view wire = e->packet().substr(1);   /* after eio's '4' */
        Packet p;
        ASSERT_EQ(dec(wire, p), DecodeError::none) << wire;
        EXPECT_EQ(t(p.type), t(c.type));
        EXPECT_EQ(p.nsp, c.nsp);
        EXPECT_EQ(p.id, c.id);
        EXPECT_EQ(p.attachments, c.attachments);
        EXPECT_EQ(p.raw, c.payload);
    }
}

TEST(SioEncode, JsonStrings)
{
    auto js = [](std::string_view s) {
        std::string out;
        append_json_string(out, s);
        return out;
    };
    EXPECT_EQ(js(""), "\"\"");
    EXPECT_EQ(js("plain"), "\"plain\"");
    EXPECT_EQ(js("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
    EXPECT_EQ(js("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
    EXPECT_EQ(js(std::string("\0\x01\x1f", 3)), "\"\\u0000\\u0001\\u001f\"");
    EXPECT_EQ(js("\x7f"), "\"\x7f\"");
    EXPECT_EQ(js("\xe2\x82\xac"), "\"\xe2\x82\xac\"");

    /* every ASCII character goes through JSON and back */
    std::string all;
    for (int c = 0; c < 128; c++) {
        all.push_back(static_cast<char>(c));
    }
    auto v = boost::json::parse(js(all));
    EXPECT_EQ(v.as_string(), all);
}

TEST(SioDecode, MutatedPacketsAreDecodedOrRefusedCleanly)
{
    /* valid packets with bytes changed, dropped or added: decode either
       refuses them or gives a packet that is consistent with its rules */
    const std::vector<std::string> seeds = {
        "0/admin,{\"token\":\"123\"}",
        "2/admin,456[\"project:delete\",123]",
        "52-/admin,7[\"a\",{\"_placeholder\":true,\"num\":0}]",
        "3/admin,456[]",
        "4{\"message\":\"x\"}",
        "1/admin,",
    };
    const std::string alphabet = "0123456789-/,[]{}\":abc \\\xff\xc3";
    std::minstd_rand gen(5);
    for (int round = 0; round < 20000; round++) {
        std::string in = seeds[gen() % seeds.size()];
        int edits = 1 + static_cast<int>(gen() % 3);
        for (int e = 0; e < edits; e++) {
            std::size_t pos = in.empty() ? 0 : gen() % in.size();
            char c = alphabet[gen() % alphabet.size()];
            switch (gen() % 3) {
            case 0:
                if (!in.empty()) in[pos] = c;
                break;
            case 1:
                if (!in.empty()) in.erase(pos, 1);
                break;
            default:
                in.insert(in.begin() + static_cast<std::ptrdiff_t>(pos), c);
            }
        }
        Packet p;
        if (dec(in, p) != DecodeError::none) {
            continue;
        }
        bool binary = p.type == PacketType::binary_event
                      || p.type == PacketType::binary_ack;
        EXPECT_EQ(binary, p.attachments > 0) << in;
        EXPECT_LE(p.attachments, max_attachments) << in;
        EXPECT_EQ(p.nsp.empty() || p.nsp[0] == '/', true) << in;
        if (p.type == PacketType::event || p.type == PacketType::binary_event) {
            ASSERT_TRUE(p.json.is_array()) << in;
            ASSERT_FALSE(p.json.as_array().empty()) << in;
            auto t = split_event(p.raw);
            ASSERT_TRUE(t) << in;
            Event ev(p, *t);
            (void) ev.name();
            EXPECT_EQ(boost::json::parse(args_array(ev.rest())).as_array().size(),
                      ev.size())
                << in;
        }
    }
}

TEST(SioSplitEvent, AgreesWithTheJsonParserOnEveryValidEvent)
{
    for (std::string payload :
         {"[1e5]", "[-0.5,1]", "[0]", "[\"\\\\\",1]", "[\"a\\u0022b\"]",
          "[ \"x\"\n]", "\r\n\t[\r\n\t\"x\"\r\n\t,\r\n\t1\r\n\t]\r\n\t",
          "[\"a\",{\"b\":\"]\"}]", "[\"\xe2\x82\xac\",\"\\\"\"]",
          "[\"a\\/b\"]", "[12345678901234567890]", "[1E-7,[]]"}) {
        SCOPED_TRACE(payload);
        Packet p;
        ASSERT_EQ(dec("2" + payload, p), DecodeError::none);
        auto t = split_event(p.raw);
        ASSERT_TRUE(t);
        /* the name as written parses to the name */
        auto name = boost::json::parse(t->name_json);
        EXPECT_EQ(name, p.json.as_array()[0]);
        /* and the arguments to the arguments */
        auto args = boost::json::parse(args_array(t->rest)).as_array();
        const auto& all = p.json.as_array();
        ASSERT_EQ(args.size() + 1, all.size());
        for (std::size_t i = 0; i < args.size(); i++) {
            EXPECT_EQ(args[i], all[i + 1]);
        }
    }
}

/* JSON.stringify escapes a lone surrogate; the reference server takes it */
TEST(SioPacketSurrogates, LoneSurrogateEscapesAreAccepted)
{
    socketio::sio::Packet p;
    ASSERT_EQ(socketio::sio::decode(R"(2["message","half \ud83d!"])", p),
              socketio::sio::DecodeError::none);
    EXPECT_EQ(std::string(p.json.as_array()[1].as_string()),
              "half \xef\xbf\xbd!");
    EXPECT_EQ(p.raw, R"(["message","half \ud83d!"])") << "passed on as sent";

    ASSERT_EQ(socketio::sio::decode(R"(2["login","An\udc00na"])", p),
              socketio::sio::DecodeError::none);
    EXPECT_EQ(std::string(p.json.as_array()[1].as_string()),
              "An\xef\xbf\xbdna");

    /* a proper pair is left alone, and an escaped backslash is no escape */
    ASSERT_EQ(socketio::sio::decode(R"(2["m","\ud83d\ude00","\\ud800"])", p),
              socketio::sio::DecodeError::none);
    EXPECT_EQ(std::string(p.json.as_array()[1].as_string()),
              "\xf0\x9f\x98\x80");
    EXPECT_EQ(std::string(p.json.as_array()[2].as_string()), "\\ud800");
}
