#include "core/eio/packet.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using namespace socketio::eio;

namespace {

/* An exact-size heap copy, so that ASan sees any read past the input. */
struct Heap {
    explicit Heap(std::string_view s) : bytes(s.begin(), s.end()) {}
    std::string_view view() const { return {bytes.data(), bytes.size()}; }
    std::vector<char> bytes;
};

std::string type_name(PacketType t)
{
    return std::string(1, static_cast<char>(t));
}

}  // namespace

/* --- decode_text --- */

TEST(EioPacket, DecodeTextEachType)
{
    struct {
        const char* in;
        PacketType type;
        const char* data;
    } cases[] = {
        {"0{\"sid\":\"x\"}", PacketType::open, "{\"sid\":\"x\"}"},
        {"1", PacketType::close, ""},
        {"2", PacketType::ping, ""},
        {"2probe", PacketType::ping, "probe"},
        {"3", PacketType::pong, ""},
        {"3probe", PacketType::pong, "probe"},
        {"4", PacketType::message, ""},
        {"4hello", PacketType::message, "hello"},
        {"4\xe2\x82\xac\x1e", PacketType::message, "\xe2\x82\xac\x1e"},
        {"5", PacketType::upgrade, ""},
        {"6", PacketType::noop, ""},
    };
    for (const auto& c : cases) {
        Heap in(c.in);
        Packet p;
        p.binary = true;
        ASSERT_TRUE(decode_text(in.view(), p)) << c.in;
        EXPECT_EQ(type_name(p.type), type_name(c.type)) << c.in;
        EXPECT_FALSE(p.binary);
        EXPECT_EQ(p.data, c.data);
        /* a view into the input, not a copy */
        EXPECT_EQ(p.data.data(), in.view().data() + 1);
    }
}

TEST(EioPacket, DecodeTextRejects)
{
    for (std::string_view bad : {std::string_view(""), std::string_view("7"),
                                 std::string_view("9x"), std::string_view("b4"),
                                 std::string_view("/"), std::string_view(" 4"),
                                 std::string_view("\x1e"),
                                 std::string_view("\0", 1)}) {
        Heap in(bad);
        Packet p;
        EXPECT_FALSE(decode_text(in.view(), p)) << bad;
    }
}

/* --- decode_payload --- */

TEST(EioPacket, DecodePayloadSpecExamples)
{
    /* engine.io-protocol "Payload" */
    DecodedPayload out;
    Heap a("4hello\x1e" "4world");
    ASSERT_TRUE(decode_payload(a.view(), out));
    ASSERT_EQ(out.packets.size(), 2u);
    EXPECT_EQ(out.packets[0].type, PacketType::message);
    EXPECT_EQ(out.packets[0].data, "hello");
    EXPECT_FALSE(out.packets[0].binary);
    EXPECT_EQ(out.packets[1].data, "world");

    Heap b("4hello\x1e" "bAQIDBA==");
    ASSERT_TRUE(decode_payload(b.view(), out));
    ASSERT_EQ(out.packets.size(), 2u);
    EXPECT_EQ(out.packets[0].data, "hello");
    EXPECT_FALSE(out.packets[0].binary);
    EXPECT_EQ(out.packets[1].type, PacketType::message);
    EXPECT_TRUE(out.packets[1].binary);
    EXPECT_EQ(out.packets[1].data, std::string("\x01\x02\x03\x04"));
}

TEST(EioPacket, DecodePayloadSinglePacketsAndControlTypes)
{
    DecodedPayload out;
    ASSERT_TRUE(decode_payload("1", out));
    ASSERT_EQ(out.packets.size(), 1u);
    EXPECT_EQ(out.packets[0].type, PacketType::close);

    ASSERT_TRUE(decode_payload("3\x1e" "4a\x1e" "6\x1e" "1", out));
    ASSERT_EQ(out.packets.size(), 4u);
    EXPECT_EQ(out.packets[0].type, PacketType::pong);
    EXPECT_EQ(out.packets[1].data, "a");
    EXPECT_EQ(out.packets[2].type, PacketType::noop);
    EXPECT_EQ(out.packets[3].type, PacketType::close);

    /* an empty message is a packet too */
    ASSERT_TRUE(decode_payload("4\x1e" "4", out));
    ASSERT_EQ(out.packets.size(), 2u);
    EXPECT_EQ(out.packets[0].data, "");
}

TEST(EioPacket, DecodePayloadEmptyBinary)
{
    /* "b" and nothing: the reference decodes an empty buffer */
    DecodedPayload out;
    ASSERT_TRUE(decode_payload("b", out));
    ASSERT_EQ(out.packets.size(), 1u);
    EXPECT_TRUE(out.packets[0].binary);
    EXPECT_EQ(out.packets[0].data, "");
}

TEST(EioPacket, DecodePayloadMalformed)
{
    for (std::string_view bad : {
             std::string_view(""),
             std::string_view("\x1e"),
             std::string_view("4a\x1e"),
             std::string_view("\x1e" "4a"),
             std::string_view("4a\x1e\x1e" "4b"),
             std::string_view("4a\x1e" "7"),
             std::string_view("x"),
             std::string_view("4a\x1e" "bAQI"),
             std::string_view("bAQIDBA="),
             std::string_view("bAQIDBA==="),
             std::string_view("b!!!!"),
             std::string_view("bAQ-_"),
             std::string_view("4a\x1e" "bAQIDBA==\x1e"),
         }) {
        Heap in(bad);
        DecodedPayload out;
        out.packets.push_back({PacketType::noop, false, "stale"});
        EXPECT_FALSE(decode_payload(in.view(), out)) << bad;
    }
}

TEST(EioPacket, DecodePayloadReusesTheOutput)
{
    DecodedPayload out;
    ASSERT_TRUE(decode_payload("bAQ==\x1e" "bAg==", out));
    ASSERT_TRUE(decode_payload("4x", out));
    ASSERT_EQ(out.packets.size(), 1u);
    EXPECT_TRUE(out.storage.empty());
}

TEST(EioPacket, DecodePayloadManyBinariesKeepTheirViews)
{
    /* enough segments to reallocate `storage` if it were not reserved,
       long enough not to fit in a short string */
    std::string in;
    std::vector<std::string> raw;
    for (int i = 0; i < 100; i++) {
        std::string r(40 + i, static_cast<char>(i));
        raw.push_back(r);
        if (!in.empty()) {
            in.push_back('\x1e');
        }
        if (i % 3 == 0) {
            in += "4text" + std::to_string(i);
            raw.back() = "text" + std::to_string(i);
        } else {
            in += "b" + socketio::eio::encode_payload({Encoded::binary(r)})
                            .substr(1);
        }
    }
    DecodedPayload out;
    ASSERT_TRUE(decode_payload(in, out));
    ASSERT_EQ(out.packets.size(), 100u);
    for (int i = 0; i < 100; i++) {
        EXPECT_EQ(out.packets[i].binary, i % 3 != 0) << i;
        EXPECT_EQ(out.packets[i].data, raw[i]) << i;
    }
}

TEST(EioPacket, DecodePayloadEveryPrefix)
{
    /* cut at every byte: each prefix decodes or is refused, without reading
       past it; a prefix ending in a separator is an empty segment */
    const std::string full = "4hello\x1e" "bAQIDBA==\x1e" "2\x1e" "4\xe2\x82\xac";
    for (std::size_t n = 0; n <= full.size(); n++) {
        Heap in(std::string_view(full).substr(0, n));
        DecodedPayload out;
        bool ok = decode_payload(in.view(), out);

        std::string_view prefix = in.view();
        std::size_t last = prefix.rfind('\x1e');
        std::string_view seg = last == std::string_view::npos
                                   ? prefix
                                   : prefix.substr(last + 1);
        bool expected = !seg.empty()
                        && (seg[0] != 'b' || (seg.size() - 1) % 4 == 0);
        EXPECT_EQ(ok, expected) << n;
        if (ok) {
            std::size_t segs = 1;
            for (char c : prefix) {
                segs += c == '\x1e';
            }
            EXPECT_EQ(out.packets.size(), segs) << n;
        }
    }

    /* and every suffix */
    for (std::size_t n = 0; n <= full.size(); n++) {
        Heap in(std::string_view(full).substr(n));
        DecodedPayload out;
        (void) decode_payload(in.view(), out);
    }
}

/* --- Encoded --- */

TEST(EioPacket, EncodedText)
{
    auto p = Encoded::text(PacketType::message, "hello");
    EXPECT_FALSE(p->is_binary());
    EXPECT_EQ(p->type(), PacketType::message);
    EXPECT_EQ(p->packet(), "4hello");
    EXPECT_EQ(p->ws_frame(), std::string("\x81\x06" "4hello"));

    auto ping = Encoded::text(PacketType::ping);
    EXPECT_EQ(ping->type(), PacketType::ping);
    EXPECT_EQ(ping->packet(), "2");
    EXPECT_EQ(ping->ws_frame(), std::string("\x81\x01" "2"));

    auto probe = Encoded::text(PacketType::pong, "probe");
    EXPECT_EQ(probe->packet(), "3probe");
}

TEST(EioPacket, EncodedStartAndFinish)
{
    std::string buf = Encoded::start_text(PacketType::message, 3);
    buf += "abc";
    auto p = Encoded::finish_text(std::move(buf));
    EXPECT_EQ(p->packet(), "4abc");
    EXPECT_EQ(p->ws_frame(), std::string("\x81\x04" "4abc"));
    EXPECT_EQ(p->type(), PacketType::message);
}

TEST(EioPacket, EncodedBinary)
{
    auto p = Encoded::binary(std::string("\x01\x02\x00\xff", 4));
    EXPECT_TRUE(p->is_binary());
    EXPECT_EQ(p->type(), PacketType::message);
    /* raw bytes: no type digit over WebSocket */
    EXPECT_EQ(p->packet(), std::string("\x01\x02\x00\xff", 4));
    EXPECT_EQ(p->ws_frame(), std::string("\x82\x04\x01\x02\x00\xff", 6));

    auto empty = Encoded::binary("");
    EXPECT_EQ(empty->packet(), "");
    EXPECT_EQ(empty->ws_frame(), std::string("\x82\x00", 2));
}

TEST(EioPacket, EncodedFrameIsHeaderThenPacketForEverySizeClass)
{
    struct Size {
        std::size_t packet;
        std::string header_tail;   /* after the opcode byte */
    };
    std::vector<Size> sizes = {
        {1, std::string("\x01", 1)},
        {125, std::string("\x7d", 1)},
        {126, std::string("\x7e\x00\x7e", 3)},
        {65535, std::string("\x7e\xff\xff", 3)},
        {65536, std::string("\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 9)},
        {70000, std::string("\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 9)},
    };
    for (const Size& s : sizes) {
        SCOPED_TRACE(s.packet);

        /* text: the type digit counts in the frame's length */
        auto t = Encoded::text(PacketType::message,
                               std::string(s.packet - 1, 'x'));
        ASSERT_EQ(t->packet().size(), s.packet);
        std::string head = "\x81" + s.header_tail;
        EXPECT_EQ(t->ws_frame().size(), head.size() + s.packet);
        EXPECT_EQ(t->ws_frame().substr(0, head.size()), head);
        EXPECT_EQ(t->ws_frame().substr(head.size()), t->packet());
        /* one contiguous span: the header sits right before the packet */
        EXPECT_EQ(t->ws_frame().data() + head.size(), t->packet().data());

        auto b = Encoded::binary(std::string(s.packet, '\x07'));
        head = "\x82" + s.header_tail;
        EXPECT_EQ(b->ws_frame().size(), head.size() + s.packet);
        EXPECT_EQ(b->ws_frame().substr(0, head.size()), head);
        EXPECT_EQ(b->ws_frame().data() + head.size(), b->packet().data());
    }
}

/* --- encode_payload --- */

TEST(EioPacket, EncodePayload)
{
    EXPECT_EQ(encode_payload({}), "");
    EXPECT_EQ(encode_payload({Encoded::text(PacketType::message, "hello")}),
              "4hello");
    EXPECT_EQ(encode_payload({Encoded::text(PacketType::message, "hello"),
                              Encoded::text(PacketType::message, "world")}),
              "4hello\x1e" "4world");
    EXPECT_EQ(encode_payload({Encoded::text(PacketType::message, "hello"),
                              Encoded::binary("\x01\x02\x03\x04")}),
              "4hello\x1e" "bAQIDBA==");
    EXPECT_EQ(encode_payload({Encoded::binary(""), Encoded::text(PacketType::ping),
                              Encoded::text(PacketType::close)}),
              "b\x1e" "2\x1e" "1");
}

TEST(EioPacket, EncodeThenDecodeRoundTrip)
{
    std::vector<EncodedPtr> packets;
    for (int i = 0; i < 20; i++) {
        if (i % 2) {
            std::string raw(i * 13, static_cast<char>(0xf0 + i));
            packets.push_back(Encoded::binary(raw));
        } else {
            packets.push_back(
                Encoded::text(PacketType::message, std::string(i * 7, 'm')));
        }
    }
    std::string payload = encode_payload(packets);
    DecodedPayload out;
    ASSERT_TRUE(decode_payload(payload, out));
    ASSERT_EQ(out.packets.size(), packets.size());
    for (std::size_t i = 0; i < packets.size(); i++) {
        EXPECT_EQ(out.packets[i].binary, packets[i]->is_binary());
        std::string_view want = packets[i]->packet();
        if (!packets[i]->is_binary()) {
            want.remove_prefix(1);
        }
        EXPECT_EQ(out.packets[i].data, want) << i;
    }
}

TEST(EioPacket, MutatedPayloadsAreDecodedOrRefusedCleanly)
{
    const std::string seed = "4hello\x1e" "bAQIDBA==\x1e" "2\x1e" "4\xe2\x82\xac";
    const std::string alphabet = "0123456b\x1e=A+/-x";
    std::minstd_rand gen(11);
    for (int round = 0; round < 20000; round++) {
        std::string in = seed;
        int edits = 1 + static_cast<int>(gen() % 4);
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
        Heap h(in);
        DecodedPayload out;
        if (!decode_payload(h.view(), out)) {
            continue;
        }
        /* what decodes encodes back to the same bytes, but for base64
           that has more than one spelling: so compare packet by packet */
        std::size_t segs = 1;
        for (char c : in) {
            segs += c == '\x1e';
        }
        ASSERT_EQ(out.packets.size(), segs) << in;
        for (const Packet& p : out.packets) {
            EXPECT_GE(static_cast<char>(p.type), '0');
            EXPECT_LE(static_cast<char>(p.type), '6');
            EXPECT_TRUE(!p.binary || p.type == PacketType::message);
        }
    }
}

TEST(EioPacket, DecodeTextEveryPrefix)
{
    const std::string full = "4hello \xe2\x82\xac";
    for (std::size_t n = 0; n <= full.size(); n++) {
        Heap in(std::string_view(full).substr(0, n));
        Packet p;
        EXPECT_EQ(decode_text(in.view(), p), n > 0) << n;
        if (n > 0) {
            EXPECT_EQ(p.data, std::string_view(full).substr(1, n - 1));
        }
    }
}
