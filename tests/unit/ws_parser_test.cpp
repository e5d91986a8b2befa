/*
 * ws::Parser: every input is fed whole, split in two at every byte, byte by
 * byte and in random chunk sizes, and must give the same events and the
 * same error whatever the split.
 */
#include "core/ws/parser.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

using socketio::ws::Opcode;
using socketio::ws::ParseError;
using socketio::ws::Parser;
using socketio::ws::ParserSink;

namespace {

constexpr std::uint8_t FIN = 0x80;

/* A client frame: masked unless told, the length in its shortest form
   unless `len_bytes` forces 2 or 8 extended bytes. */
std::string frame(std::uint8_t b0, std::string_view payload,
                  bool masked = true, int len_bytes = -1,
                  std::optional<std::uint64_t> declared = std::nullopt)
{
    static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    std::uint64_t len = declared ? *declared : payload.size();

    std::string out;
    out.push_back(static_cast<char>(b0));
    unsigned char m = masked ? 0x80 : 0;

    if (len_bytes < 0) {
        len_bytes = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
    }
    if (len_bytes == 0) {
        out.push_back(static_cast<char>(m | len));
    } else if (len_bytes == 2) {
        out.push_back(static_cast<char>(m | 126));
        out.push_back(static_cast<char>((len >> 8) & 0xff));
        out.push_back(static_cast<char>(len & 0xff));
    } else {
        out.push_back(static_cast<char>(m | 127));
        for (int i = 7; i >= 0; i--) {
            out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
        }
    }
    if (masked) {
        out.append(reinterpret_cast<const char*>(key), 4);
    }
    for (std::size_t i = 0; i < payload.size(); i++) {
        out.push_back(static_cast<char>(
            payload[i] ^ (masked ? key[i & 3] : 0)));
    }
    return out;
}

std::string text(std::string_view p, bool fin = true)
{
    return frame((fin ? FIN : 0) | 0x1, p);
}
std::string binary(std::string_view p, bool fin = true)
{
    return frame((fin ? FIN : 0) | 0x2, p);
}
std::string cont(std::string_view p, bool fin = true)
{
    return frame((fin ? FIN : 0) | 0x0, p);
}
std::string ping(std::string_view p) { return frame(FIN | 0x9, p); }
std::string pong(std::string_view p) { return frame(FIN | 0xa, p); }

std::string close_payload(std::uint16_t code, std::string_view reason = {})
{
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xff));
    p.append(reason);
    return p;
}
std::string close(std::string_view payload) { return frame(FIN | 0x8, payload); }

class Recorder final : public ParserSink {
public:
    void on_message(bool bin, std::string_view payload) override
    {
        events.push_back((bin ? "binary:" : "text:") + std::string(payload));
    }
    void on_ping(std::string_view payload) override
    {
        events.push_back("ping:" + std::string(payload));
    }
    void on_pong(std::string_view payload) override
    {
        events.push_back("pong:" + std::string(payload));
    }
    void on_close(std::uint16_t code, std::string_view reason) override
    {
        events.push_back("close:" + std::to_string(code) + ":"
                         + std::string(reason));
    }

    std::vector<std::string> events;
};

struct Outcome {
    std::vector<std::string> events;
    std::optional<std::uint16_t> error;
    std::size_t max_buffered = 0;
    bool closed = false;
    std::size_t fed = 0;          /* bytes handed over before the error */
};

/* Feeds `in` cut at the given chunk sizes, each chunk in an exact-size
   heap buffer so that ASan sees any read or write past it. */
Outcome run(std::string_view in, const std::vector<std::size_t>& chunks,
            std::size_t max_message)
{
    Parser parser(max_message);
    Recorder rec;
    Outcome out;
    std::size_t pos = 0;

    for (std::size_t n : chunks) {
        std::vector<char> buf(in.begin() + pos, in.begin() + pos + n);
        auto err = parser.feed(buf.data(), buf.size(), rec);
        pos += n;
        out.max_buffered = std::max(out.max_buffered, parser.buffered());
        if (err) {
            out.error = err->code;
            EXPECT_NE(err->reason, nullptr);
            break;
        }
    }
    out.fed = pos;
    out.events = rec.events;
    out.closed = parser.closed();
    return out;
}

std::vector<std::size_t> whole(std::size_t n) { return {n}; }

std::vector<std::size_t> split_at(std::size_t n, std::size_t at)
{
    return {at, n - at};
}

std::vector<std::size_t> bytewise(std::size_t n)
{
    return std::vector<std::size_t>(n, 1);
}

std::vector<std::size_t> random_chunks(std::size_t n, std::uint32_t seed,
                                       std::size_t max_chunk)
{
    /* a fixed generator and a fixed seed: the same chunks in every run */
    std::minstd_rand gen(seed);
    std::vector<std::size_t> out;
    while (n > 0) {
        std::size_t c = 1 + gen() % max_chunk;
        c = std::min(c, n);
        out.push_back(c);
        n -= c;
    }
    return out;
}

/* The split points tried: all of them for small inputs, the headers and
   the edges and a stride through the middle for big ones. */
std::vector<std::size_t> split_points(std::size_t n)
{
    std::vector<std::size_t> out;
    if (n <= 4096) {
        for (std::size_t i = 0; i <= n; i++) {
            out.push_back(i);
        }
        return out;
    }
    for (std::size_t i = 0; i <= n; i++) {
        if (i < 300 || n - i < 300 || i % 997 == 0) {
            out.push_back(i);
        }
    }
    return out;
}

std::string describe(const std::vector<std::string>& events)
{
    std::string s;
    for (const auto& e : events) {
        s += "[" + (e.size() > 60 ? e.substr(0, 60) + "..." : e) + "] ";
    }
    return s;
}

/*
 * Runs every chunking of `in` and checks each against the expected events
 * and error; returns the outcome of the whole feed.
 */
Outcome check_all(std::string_view in, const std::vector<std::string>& events,
                  std::optional<std::uint16_t> error,
                  std::size_t max_message = 1 << 20, bool bytewise_too = true)
{
    auto check = [&](const Outcome& o, const std::string& how) {
        EXPECT_EQ(o.error, error) << how;
        EXPECT_TRUE(o.events == events)
            << how << "\n got: " << describe(o.events)
            << "\n want: " << describe(events);
    };

    Outcome first = run(in, whole(in.size()), max_message);
    check(first, "whole");

    for (std::size_t at : split_points(in.size())) {
        Outcome o = run(in, split_at(in.size(), at), max_message);
        check(o, "split at " + std::to_string(at));
        if (::testing::Test::HasFailure()) {
            return first;
        }
    }
    if (bytewise_too) {
        check(run(in, bytewise(in.size()), max_message), "byte by byte");
    }
    for (std::uint32_t seed = 1; seed <= 20; seed++) {
        for (std::size_t max_chunk : {3u, 17u, 200u, 5000u}) {
            check(run(in, random_chunks(in.size(), seed, max_chunk),
                      max_message),
                  "random chunks seed " + std::to_string(seed) + " max "
                      + std::to_string(max_chunk));
        }
        if (::testing::Test::HasFailure()) {
            return first;
        }
    }
    return first;
}

std::string binary_pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; i++) {
        s[i] = static_cast<char>((i * 7 + 3) & 0xff);
    }
    return s;
}

/* Valid UTF-8 of exactly n bytes, with characters of every width. */
std::string text_pattern(std::size_t n)
{
    static const char* const pieces[] = {"a", "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9d\x84\x9e", "xyz"};
    std::string s;
    for (std::size_t k = 0; s.size() < n; k++) {
        std::string_view p = pieces[k % 5];
        if (s.size() + p.size() > n) {
            p = "a";
        }
        s.append(p);
    }
    return s;
}

}  // namespace

/* --- messages --- */

TEST(WsParser, TextMessagesOfEverySizeClass)
{
    for (std::size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u, 70000u}) {
        SCOPED_TRACE(n);
        std::string p = text_pattern(n);
        check_all(text(p), {"text:" + p}, std::nullopt);
    }
}

TEST(WsParser, BinaryMessagesOfEverySizeClass)
{
    for (std::size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u, 70000u}) {
        SCOPED_TRACE(n);
        std::string p = binary_pattern(n);
        check_all(binary(p), {"binary:" + p}, std::nullopt);
    }
}

TEST(WsParser, LengthInALongerFormThanNeeded)
{
    check_all(frame(FIN | 0x1, "hi", true, 2), {"text:hi"}, std::nullopt);
    check_all(frame(FIN | 0x2, "hi", true, 8), {"binary:hi"}, std::nullopt);
}

TEST(WsParser, BinaryIsNotCheckedForUtf8)
{
    std::string p = "\xff\xfe\xc0\xaf\xed\xa0\x80";
    check_all(binary(p), {"binary:" + p}, std::nullopt);
}

TEST(WsParser, SeveralMessagesInOneRead)
{
    std::string in = text("one") + binary("\x01\x02") + text("") + text("four");
    check_all(in, {"text:one", "binary:\x01\x02", "text:", "text:four"},
              std::nullopt);
}

TEST(WsParser, FragmentedMessagesWithControlFramesBetween)
{
    std::string in = text("Hel", false) + ping("p1") + cont("lo, ", false)
                     + pong("") + ping("") + cont("world") + text("next");
    check_all(in,
              {"ping:p1", "pong:", "ping:", "text:Hello, world", "text:next"},
              std::nullopt);
}

TEST(WsParser, FragmentedBinaryWithEmptyFragments)
{
    std::string p = binary_pattern(300);
    std::string in = binary("", false) + cont(p.substr(0, 100), false)
                     + ping("x") + cont("", false) + cont(p.substr(100));
    check_all(in, {"ping:x", "binary:" + p}, std::nullopt);
}

TEST(WsParser, BigFragmentedMessage)
{
    std::string p = text_pattern(70000);
    std::string in = text(p.substr(0, 65536), false) + ping("mid")
                     + cont(p.substr(65536, 1), false) + cont(p.substr(65537));
    check_all(in, {"ping:mid", "text:" + p}, std::nullopt);
}

TEST(WsParser, CharacterSplitAcrossFragmentsIsValid)
{
    /* U+20AC and U+1D11E cut between fragments */
    std::string in = text("a\xe2", false) + cont("\x82", false)
                     + cont("\xac\xf0\x9d", false) + ping("")
                     + cont("\x84\x9e");
    check_all(in, {"ping:", "text:a\xe2\x82\xac\xf0\x9d\x84\x9e"},
              std::nullopt);
}

TEST(WsParser, PingAndPongPayloads)
{
    std::string big(125, 'z');
    check_all(ping(big) + pong(std::string("\x00\xff", 2)),
              {"ping:" + big, std::string("pong:\x00\xff", 7)}, std::nullopt);
}

TEST(WsParser, MessageOfExactlyTheMaximum)
{
    std::string p = binary_pattern(1000);
    check_all(binary(p), {"binary:" + p}, std::nullopt, 1000);
    check_all(binary(p.substr(0, 400), false) + cont(p.substr(400)),
              {"binary:" + p}, std::nullopt, 1000);
}

TEST(WsParser, BufferIsNotHeldBetweenMessages)
{
    Parser parser(1 << 20);
    Recorder rec;
    std::string in = text(text_pattern(10000));
    std::vector<char> a(in.begin(), in.begin() + 5000);
    std::vector<char> b(in.begin() + 5000, in.end());
    ASSERT_FALSE(parser.feed(a.data(), a.size(), rec));
    EXPECT_GT(parser.buffered(), 0u);
    ASSERT_FALSE(parser.feed(b.data(), b.size(), rec));
    EXPECT_EQ(parser.buffered(), 0u);
    ASSERT_EQ(rec.events.size(), 1u);
}

/* --- close --- */

TEST(WsParser, CloseWithoutPayload)
{
    Outcome o = check_all(close(""), {"close:1005:"}, std::nullopt);
    EXPECT_TRUE(o.closed);
}

TEST(WsParser, CloseWithCodeOnly)
{
    check_all(close(close_payload(1000)), {"close:1000:"}, std::nullopt);
}

TEST(WsParser, CloseWithCodeAndReason)
{
    check_all(close(close_payload(1001, "going \xc3\xa9")),
              {"close:1001:going \xc3\xa9"}, std::nullopt);
    std::string reason(123, 'r');
    check_all(close(close_payload(4000, reason)), {"close:4000:" + reason},
              std::nullopt);
}

TEST(WsParser, ValidCloseCodes)
{
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                     1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
        SCOPED_TRACE(code);
        check_all(close(close_payload(static_cast<std::uint16_t>(code))),
                  {"close:" + std::to_string(code) + ":"}, std::nullopt);
    }
}

TEST(WsParser, InvalidCloseCodes)
{
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                     5000, 65535}) {
        SCOPED_TRACE(code);
        check_all(close(close_payload(static_cast<std::uint16_t>(code))), {},
                  1002);
    }
}

TEST(WsParser, CloseWithOneBytePayload)
{
    check_all(close("\x03"), {}, 1002);
}

TEST(WsParser, CloseReasonNotUtf8)
{
    check_all(close(close_payload(1000, "bad \xff")), {}, 1007);
    check_all(close(close_payload(1000, "\xc0\xaf")), {}, 1007);
    check_all(close(close_payload(1000, "\xed\xa0\x80")), {}, 1007);
    check_all(close(close_payload(1000, "cut \xe2\x82")), {}, 1007);
}

TEST(WsParser, CloseBetweenFragments)
{
    check_all(text("part", false) + close(close_payload(1000)),
              {"close:1000:"}, std::nullopt);
}

TEST(WsParser, NothingIsReportedAfterClose)
{
    std::string in = text("before") + close(close_payload(1000, "bye"))
                     + text("after") + ping("x")
                     + std::string("\xff\xff garbage", 10);
    Outcome o = check_all(in, {"text:before", "close:1000:bye"},
                          std::nullopt);
    EXPECT_TRUE(o.closed);

    /* and a later read is ignored too */
    Parser parser(1024);
    Recorder rec;
    std::string c = close("");
    ASSERT_FALSE(parser.feed(c.data(), c.size(), rec));
    std::string more = text("late") + std::string("\x0f\x00", 2);
    EXPECT_FALSE(parser.feed(more.data(), more.size(), rec));
    EXPECT_TRUE(parser.closed());
    EXPECT_EQ(rec.events, std::vector<std::string>{"close:1005:"});
}

/* --- protocol errors --- */

TEST(WsParser, ReservedBits)
{
    for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x70}) {
        SCOPED_TRACE(int(rsv));
        check_all(frame(FIN | rsv | 0x1, "x"), {}, 1002);
        check_all(frame(FIN | rsv | 0x9, ""), {}, 1002);
        /* after a good message, the good one is still reported */
        check_all(text("ok") + frame(FIN | rsv | 0x2, "x"), {"text:ok"}, 1002);
    }
}

TEST(WsParser, UnknownOpcodes)
{
    for (std::uint8_t op : {0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf}) {
        SCOPED_TRACE(int(op));
        check_all(frame(FIN | op, "x"), {}, 1002);
    }
}

TEST(WsParser, UnmaskedFrame)
{
    check_all(frame(FIN | 0x1, "hello", false), {}, 1002);
    check_all(frame(FIN | 0x2, std::string(300, 'x'), false), {}, 1002);
    check_all(frame(FIN | 0x9, "", false), {}, 1002);

    /* known from the first 2 bytes, before any length or key */
    Parser parser(1024);
    Recorder rec;
    char two[2] = {char(0x81), 0x7f};
    auto err = parser.feed(two, 2, rec);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->code, 1002);
}

TEST(WsParser, FragmentedControlFrame)
{
    check_all(frame(0x9, "p"), {}, 1002);
    check_all(frame(0xa, ""), {}, 1002);
    check_all(frame(0x8, close_payload(1000)), {}, 1002);
}

TEST(WsParser, ControlPayloadOver125)
{
    check_all(ping(std::string(126, 'x')), {}, 1002);
    check_all(pong(std::string(200, 'x')), {}, 1002);
    check_all(close(close_payload(1000, std::string(124, 'x'))), {}, 1002);

    /* known from the header: the payload is not waited for */
    std::string in = ping(std::string(126, 'x'));
    Parser parser(1024);
    Recorder rec;
    std::vector<char> header(in.begin(), in.begin() + 8);
    auto err = parser.feed(header.data(), header.size(), rec);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->code, 1002);
}

TEST(WsParser, ContinuationWithoutStart)
{
    check_all(cont("x"), {}, 1002);
    check_all(cont("x", false), {}, 1002);
    /* a finished message does not leave one open */
    check_all(text("a", false) + cont("b") + cont("c"), {"text:ab"}, 1002);
}

TEST(WsParser, NewDataFrameInsideFragmentedMessage)
{
    check_all(text("a", false) + text("b"), {}, 1002);
    check_all(text("a", false) + binary("b", false), {}, 1002);
    check_all(binary("a", false) + ping("") + text("b"), {"ping:"}, 1002);
}

TEST(WsParser, InvalidUtf8Text)
{
    for (std::string bad : {std::string("\xff"), std::string("a\xc0\xaf"),
                            std::string("\xe0\x80\xaf"),
                            std::string("\xed\xa0\x80"),
                            std::string("\xed\xbf\xbf"),
                            std::string("\xf4\x90\x80\x80"),
                            std::string("\xf8\x88\x80\x80\x80"),
                            std::string("cut \xe2\x82"),
                            std::string("\x80")}) {
        SCOPED_TRACE(bad);
        check_all(text(bad), {}, 1007);
        check_all(text("ok") + text(bad), {"text:ok"}, 1007);
    }
}

TEST(WsParser, InvalidUtf8SplitAcrossFragments)
{
    /* each fragment ends or starts with half of something invalid */
    check_all(text("a\xe2\x82", false) + cont("A"), {}, 1007);
    check_all(text("a\xed", false) + cont("\xa0\x80"), {}, 1007);
    check_all(text("\xf0", false) + cont("\x80\x80", false) + cont("\xaf"),
              {}, 1007);
    /* truncated at the very end of the message */
    check_all(text("abc", false) + cont("\xf0\x9d\x84", false) + cont(""),
              {}, 1007);
}

TEST(WsParser, MessageTooBigFromTheHeader)
{
    const std::size_t max = 1000;
    std::string p = binary_pattern(max + 1);
    check_all(binary(p), {}, 1009, max);
    check_all(text(std::string(70000, 'a')), {}, 1009, max);

    /* reported on the header alone, nothing buffered */
    for (std::uint64_t declared : {std::uint64_t(1001), std::uint64_t(65536),
                                   std::uint64_t(1) << 40,
                                   (std::uint64_t(1) << 63) - 1}) {
        SCOPED_TRACE(declared);
        std::string in = frame(FIN | 0x2, "", true, -1, declared);
        Outcome o = check_all(in, {}, 1009, max);
        EXPECT_EQ(o.max_buffered, 0u);
    }
}

TEST(WsParser, FragmentedMessageTooBig)
{
    const std::size_t max = 1000;
    std::string in = binary(binary_pattern(600), false)
                     + cont(binary_pattern(600));
    Outcome o = check_all(in, {}, 1009, max);
    EXPECT_LE(o.max_buffered, 600u);

    /* the second header alone is enough: its payload is not read */
    std::string head = binary(binary_pattern(600), false)
                       + frame(0x0, "", true, -1, 401);
    o = check_all(head, {}, 1009, max);
    EXPECT_EQ(o.max_buffered, 600u);

    /* pings between fragments do not count */
    in = text(std::string(500, 'a'), false) + ping(std::string(125, 'p'))
         + cont(std::string(500, 'b'));
    check_all(in, {"ping:" + std::string(125, 'p'),
                   "text:" + std::string(500, 'a') + std::string(500, 'b')},
              std::nullopt, max);
}

TEST(WsParser, HugeDeclaredLengthDoesNotAllocate)
{
    /* a few header bytes must not make the parser reserve gigabytes */
    std::string in = frame(0x2, "", true, 8, std::uint64_t(1) << 62);
    Outcome o = check_all(in, {}, 1009, std::size_t(1) << 20);
    EXPECT_EQ(o.max_buffered, 0u);
}

TEST(WsParser, LengthWithMostSignificantBitSet)
{
    for (std::uint64_t declared : {std::uint64_t(1) << 63,
                                   ~std::uint64_t(0)}) {
        SCOPED_TRACE(declared);
        check_all(frame(FIN | 0x2, "", true, 8, declared), {}, 1002);
        check_all(text("ok") + frame(FIN | 0x1, "", true, 8, declared),
                  {"text:ok"}, 1002);
    }
}

TEST(WsParser, ErrorStopsAtTheBadFrame)
{
    /* what comes after a bad frame is never looked at */
    std::string in = text("a") + frame(FIN | 0x3, "") + text("never");
    check_all(in, {"text:a"}, 1002);
}

/* --- a differential check on random streams --- */

TEST(WsParser, RandomStreamsGiveTheSameResultWhateverTheSplit)
{
    /* frames of every kind, good and bad, with a fixed generator: the
       outcome of a whole feed is the reference for every chunking */
    std::minstd_rand gen(20261122);
    auto pick = [&](std::uint32_t n) { return gen() % n; };
    int errors = 0, clean = 0;

    for (int round = 0; round < 400; round++) {
        std::string in;
        int frames = 1 + static_cast<int>(pick(8));
        for (int f = 0; f < frames; f++) {
            static const std::uint8_t ops[] = {0x0, 0x1, 0x2, 0x8, 0x9, 0xa,
                                               0x1, 0x2, 0x0, 0x3};
            std::uint8_t op = ops[pick(10)];
            bool fin = pick(3) != 0;
            std::uint8_t rsv = pick(40) == 0 ? 0x40 : 0;
            std::size_t len = pick(4) == 0 ? 126 + pick(400) : pick(30);
            if (op == 0x8 && len == 1 && pick(2)) {
                len = 2;
            }
            std::string payload;
            if (op == 0x8 && len >= 2) {
                payload = close_payload(pick(2) ? 1000 : 1005);
                len -= 2;
            }
            for (std::size_t i = 0; i < len; i++) {
                payload.push_back(pick(6) == 0
                                      ? static_cast<char>(0x80 + pick(128))
                                      : static_cast<char>('a' + pick(26)));
            }
            int len_bytes = pick(10) == 0 ? 8 : -1;
            in += frame((fin ? FIN : 0) | rsv | op, payload, pick(50) != 0,
                        len_bytes);
        }

        Outcome ref = run(in, whole(in.size()), 300);
        (ref.error ? errors : clean)++;
        auto same = [&](const Outcome& o, const char* how) {
            EXPECT_EQ(o.error, ref.error) << how << " round " << round;
            EXPECT_TRUE(o.events == ref.events) << how << " round " << round;
            EXPECT_EQ(o.closed, ref.closed) << how << " round " << round;
        };
        same(run(in, bytewise(in.size()), 300), "bytewise");
        same(run(in, random_chunks(in.size(), round + 1, 7), 300), "random 7");
        same(run(in, random_chunks(in.size(), round + 1, 150), 300),
             "random 150");
        same(run(in, split_at(in.size(), pick(static_cast<std::uint32_t>(
                                               in.size() + 1))),
                 300),
             "split");
        if (::testing::Test::HasFailure()) {
            return;
        }
    }
    /* both kinds of stream were tried */
    EXPECT_GT(errors, 50);
    EXPECT_GT(clean, 20);
}
