/*
 * RESP2: commands byte for byte, and the reply parser fed every input
 * whole, split in two at every byte, byte by byte, in random chunks and
 * through prepare/commit, giving the same replies and the same error
 * whatever the split; every limit refused on the declared length, before
 * the bytes it announces arrive.
 */
#include "core/redis/resp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace socketio::redis::resp;

namespace {

/* A reply as text, made at once: its views die with the next feed. */
std::string show(const Reply& r)
{
    switch (r.type) {
    case Reply::Type::simple: return "+" + std::string(r.str);
    case Reply::Type::error: return "-" + std::string(r.str);
    case Reply::Type::integer: return ":" + std::to_string(r.integer);
    case Reply::Type::bulk: return "$" + std::string(r.str);
    case Reply::Type::nil: return "nil";
    case Reply::Type::array: {
        std::string s = "[";
        for (std::size_t i = 0; i < r.elements.size(); i++) {
            s += (i ? "," : "") + show(r.elements[i]);
        }
        return s + "]";
    }
    }
    return "?";
}

std::string join(const std::vector<std::string>& v)
{
    std::string s;
    for (const auto& e : v) {
        s += (e.size() > 80 ? e.substr(0, 80) + "..." : e) + " | ";
    }
    return s;
}

struct Outcome {
    std::vector<std::string> replies;
    std::optional<ParseError> error;
    std::size_t max_buffered = 0;
};

/* Feeds `in` in chunks of the given sizes, taking every reply at once. */
Outcome run(std::string_view in, const std::vector<std::size_t>& chunks,
            const Limits& limits, bool zero_copy)
{
    Parser p(limits);
    Outcome o;
    std::size_t pos = 0;
    for (std::size_t n : chunks) {
        /* an exact-size heap copy: ASan sees any read past a chunk */
        std::vector<char> chunk(in.begin() + pos, in.begin() + pos + n);
        if (zero_copy) {
            char* room = p.prepare(n + 3);
            std::copy(chunk.begin(), chunk.end(), room);
            p.commit(n);
        } else {
            p.feed(std::string_view(chunk.data(), chunk.size()));
        }
        pos += n;
        o.max_buffered = std::max(o.max_buffered, p.buffered());
        while (auto r = p.next()) {
            o.replies.push_back(show(*r));
        }
        if (p.error()) {
            break;
        }
    }
    o.error = p.error();
    return o;
}

std::vector<std::size_t> split_at(std::size_t n, std::size_t at)
{
    return {at, n - at};
}

std::vector<std::size_t> random_chunks(std::size_t n, std::uint32_t seed,
                                       std::size_t max_chunk)
{
    std::minstd_rand gen(seed);
    std::vector<std::size_t> out;
    while (n > 0) {
        std::size_t c = std::min<std::size_t>(1 + gen() % max_chunk, n);
        out.push_back(c);
        n -= c;
    }
    return out;
}

std::vector<std::size_t> split_points(std::size_t n)
{
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i <= n; i++) {
        if (n <= 4096 || i < 300 || n - i < 300 || i % 997 == 0) {
            out.push_back(i);
        }
    }
    return out;
}

/* Every chunking gives `replies` then `error`. */
void check_all(std::string_view in, const std::vector<std::string>& replies,
               std::optional<ParseError> error, Limits limits = Limits{})
{
    auto check = [&](const Outcome& o, const std::string& how) {
        EXPECT_EQ(o.error, error)
            << how << ": " << (o.error ? describe(*o.error) : "no error");
        EXPECT_EQ(o.replies, replies)
            << how << "\n got: " << join(o.replies) << "\nwant: " << join(replies);
    };
    for (bool zero_copy : {false, true}) {
        std::string via = zero_copy ? " (prepare/commit)" : "";
        check(run(in, {in.size()}, limits, zero_copy), "whole" + via);
        for (std::size_t at : split_points(in.size())) {
            check(run(in, split_at(in.size(), at), limits, zero_copy),
                  "split at " + std::to_string(at) + via);
            if (::testing::Test::HasFailure()) {
                return;
            }
        }
        if (in.size() <= 1 << 16) {
            check(run(in, std::vector<std::size_t>(in.size(), 1), limits,
                      zero_copy),
                  "byte by byte" + via);
        }
        for (std::uint32_t seed = 1; seed <= 10; seed++) {
            for (std::size_t max_chunk : {3u, 17u, 200u, 5000u}) {
                check(run(in, random_chunks(in.size(), seed, max_chunk), limits,
                          zero_copy),
                      "random chunks " + std::to_string(seed) + "/"
                          + std::to_string(max_chunk) + via);
            }
            if (::testing::Test::HasFailure()) {
                return;
            }
        }
    }
}

Limits small()
{
    Limits l;
    l.max_bulk = 10;
    l.max_elements = 4;
    l.max_depth = 2;
    l.max_line = 12;
    l.max_reply = 64;
    return l;
}

}  // namespace

/* --- commands --- */

TEST(RespCommand, ArraysOfBulkStrings)
{
    std::string out;
    append_command(out, {"PUBLISH", "socket.io#/#", "payload"});
    EXPECT_EQ(out, "*3\r\n$7\r\nPUBLISH\r\n$12\r\nsocket.io#/#\r\n$7\r\npayload\r\n");

    out = "before";
    append_command(out, {"PING"});
    EXPECT_EQ(out, "before*1\r\n$4\r\nPING\r\n");

    out.clear();
    std::string binary("a\r\n\0b", 5);
    append_command(out, std::vector<std::string_view>{"SET", "", binary});
    EXPECT_EQ(out, std::string("*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\na\r\n\0b\r\n", 30));

    out.clear();
    append_command(out, std::vector<std::string_view>{});
    EXPECT_EQ(out, "*0\r\n");

    out.clear();
    append_array_header(out, 2);
    append_bulk(out, "SUBSCRIBE");
    append_bulk(out, std::string(1000, 'x'));
    EXPECT_EQ(out.substr(0, 26), "*2\r\n$9\r\nSUBSCRIBE\r\n$1000\r\n");
    EXPECT_EQ(out.size(), 26 + 1000 + 2u);
}

TEST(RespCommand, ParsedBackAsSent)
{
    /* a server echoes arrays of bulks in the same form: the parser reads
       what the writer writes */
    std::string out;
    std::vector<std::string_view> args{"a", "", "\r\n", std::string_view("\0", 1)};
    append_command(out, args);
    Parser p(100);
    p.feed(out);
    auto r = p.next();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->elements.size(), 4u);
    for (std::size_t i = 0; i < 4; i++) {
        EXPECT_TRUE(r->elements[i].is(Reply::Type::bulk));
        EXPECT_EQ(r->elements[i].str, args[i]);
    }
}

/* --- replies --- */

TEST(RespParse, Scalars)
{
    check_all("+OK\r\n", {"+OK"}, std::nullopt);
    check_all("+\r\n", {"+"}, std::nullopt);
    check_all("-ERR unknown command 'x'\r\n", {"-ERR unknown command 'x'"},
              std::nullopt);
    check_all(":0\r\n:42\r\n:-7\r\n", {":0", ":42", ":-7"}, std::nullopt);
    check_all(":9223372036854775807\r\n:-9223372036854775808\r\n:-0\r\n:007\r\n",
              {":9223372036854775807", ":-9223372036854775808", ":0", ":7"},
              std::nullopt);
}

TEST(RespParse, BulkStrings)
{
    check_all("$5\r\nhello\r\n", {"$hello"}, std::nullopt);
    check_all("$0\r\n\r\n", {"$"}, std::nullopt);
    check_all("$-1\r\n", {"nil"}, std::nullopt);
    /* CRLF inside: the length rules */
    check_all("$6\r\na\r\nb\r\n\r\n", {"$a\r\nb\r\n"}, std::nullopt);
    std::string bin("$3\r\n\0\xff\n\r\n", 9);
    check_all(bin, {std::string("$\0\xff\n", 4)}, std::nullopt);
}

TEST(RespParse, Arrays)
{
    check_all("*0\r\n", {"[]"}, std::nullopt);
    check_all("*-1\r\n", {"nil"}, std::nullopt);
    check_all("*3\r\n:1\r\n$1\r\na\r\n+b\r\n", {"[:1,$a,+b]"}, std::nullopt);
    check_all("*2\r\n*2\r\n:1\r\n:2\r\n*0\r\n", {"[[:1,:2],[]]"}, std::nullopt);
    check_all("*3\r\n$-1\r\n*-1\r\n-E\r\n", {"[nil,nil,-E]"}, std::nullopt);
    check_all("*1\r\n*1\r\n*1\r\n*1\r\n*0\r\n", {"[[[[[]]]]]"}, std::nullopt);
}

TEST(RespParse, PipelinedAndPubSub)
{
    std::string stream =
        "*3\r\n$9\r\nsubscribe\r\n$17\r\nsocket.io-request\r\n:1\r\n"
        "*3\r\n$10\r\npsubscribe\r\n$13\r\nsocket.io#/#*\r\n:2\r\n"
        "*3\r\n$7\r\nmessage\r\n$17\r\nsocket.io-request\r\n$7\r\n{\"a\":1}\r\n"
        "*4\r\n$8\r\npmessage\r\n$13\r\nsocket.io#/#*\r\n$14\r\nsocket.io#/#r#\r\n"
        "$4\r\n\x93\xa1u\x80\r\n"
        ":3\r\n+OK\r\n";
    check_all(stream,
              {"[$subscribe,$socket.io-request,:1]",
               "[$psubscribe,$socket.io#/#*,:2]",
               "[$message,$socket.io-request,${\"a\":1}]",
               "[$pmessage,$socket.io#/#*,$socket.io#/#r#,$\x93\xa1u\x80]",
               ":3", "+OK"},
              std::nullopt);
}

TEST(RespParse, LargeReplyInSmallPieces)
{
    std::string payload(300000, '\0');
    for (std::size_t i = 0; i < payload.size(); i++) {
        payload[i] = static_cast<char>(i * 31 + 7);
    }
    std::string stream = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$"
                         + std::to_string(payload.size()) + "\r\n" + payload
                         + "\r\n+after\r\n";
    Limits l;
    l.max_bulk = payload.size();
    check_all(stream, {"[$message,$ch,$" + payload + "]", "+after"},
              std::nullopt, l);

    /* held: the reply in progress and a chunk, never more */
    Outcome o = run(stream, random_chunks(stream.size(), 3, 1000), l, false);
    EXPECT_LE(o.max_buffered, stream.size());
    EXPECT_GE(o.max_buffered, payload.size());
}

TEST(RespParse, RepliesStayValidUntilTheNextFeed)
{
    Parser p(100);
    p.feed("$3\r\nabc\r\n*2\r\n$2\r\nde\r\n+f\r\n$2\r\ngh");
    auto a = p.next();
    auto b = p.next();
    ASSERT_TRUE(a && b);
    EXPECT_FALSE(p.next());
    /* both taken, both readable */
    EXPECT_EQ(a->str, "abc");
    EXPECT_EQ(b->elements[0].str, "de");
    EXPECT_EQ(b->elements[1].str, "f");
    EXPECT_EQ(p.buffered(), 31u);

    p.feed("\r\n");
    EXPECT_EQ(p.buffered(), 8u);           /* what was taken is gone */
    auto c = p.next();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->str, "gh");
    EXPECT_FALSE(p.next());
}

TEST(RespParse, PrepareCommit)
{
    Parser p(100);
    char* room = p.prepare(16);
    std::memcpy(room, "+OK\r\n:1", 7);
    EXPECT_FALSE(p.next());                /* inside prepare: nothing */
    p.commit(7);
    auto r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(show(*r), "+OK");
    EXPECT_FALSE(p.next());
    EXPECT_EQ(p.buffered(), 7u);           /* taken, not yet dropped */

    room = p.prepare(2);
    std::memcpy(room, "\r\n", 2);
    p.commit(1000);                        /* more than prepared: clamped */
    EXPECT_EQ(p.buffered(), 4u);
    r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(show(*r), ":1");

    p.prepare(8);
    p.commit(0);
    EXPECT_FALSE(p.next());
    EXPECT_FALSE(p.error());
}

TEST(RespParse, MemoryGivenBackAfterALargeReply)
{
    Limits l;
    l.max_bulk = 1 << 20;
    Parser p(l);
    std::string big = "$1000000\r\n" + std::string(1000000, 'x') + "\r\n";
    for (std::size_t i = 0; i < big.size(); i += 4096) {
        p.feed(std::string_view(big).substr(i, 4096));
        while (p.next()) {
        }
    }
    p.feed("+small\r\n");
    EXPECT_EQ(p.buffered(), 8u);
    ASSERT_TRUE(p.next());
}

/* --- errors: the same whatever the split, the replies before them given --- */

TEST(RespParse, BadType)
{
    check_all("+OK\r\n!x\r\n", {"+OK"}, ParseError::bad_type);
    /* RESP3 types: not spoken here */
    for (const char* in : {"_\r\n", ",1.5\r\n", "#t\r\n", "%1\r\n", "~1\r\n",
                           ">1\r\n", "=3\r\ntxt\r\n", "(1\r\n", "|1\r\n",
                           "!3\r\nerr\r\n", "\r\n", "\n", " +OK\r\n"}) {
        check_all(in, {}, ParseError::bad_type);
    }
    /* known at its first byte, before any line is buffered */
    check_all("x", {}, ParseError::bad_type);
    check_all("+OK\r\n" + std::string(100000, 'x'), {"+OK"}, ParseError::bad_type);
    check_all("*2\r\n:1\r\n?\r\n", {}, ParseError::bad_type);
}

TEST(RespParse, BadIntegers)
{
    for (const char* in : {":\r\n", ":-\r\n", ":+1\r\n", ": 1\r\n", ":1 \r\n",
                           ":1a\r\n", ":0x10\r\n", ":9223372036854775808\r\n",
                           ":-9223372036854775809\r\n",
                           ":99999999999999999999999\r\n", "$\r\n", "$x\r\n",
                           "$+1\r\n", "*\r\n", "*1.0\r\n", "*--1\r\n"}) {
        check_all(in, {}, ParseError::bad_integer);
    }
}

TEST(RespParse, BadLengths)
{
    check_all("$-2\r\n", {}, ParseError::bad_length);
    check_all("*-5\r\n", {}, ParseError::bad_length);
    check_all("$-9223372036854775808\r\n", {}, ParseError::bad_length);
}

TEST(RespParse, MissingCrlf)
{
    check_all("+OK\n", {}, ParseError::missing_crlf);
    check_all("+OK\rX\r\n", {}, ParseError::missing_crlf);
    check_all(":1\n:2\r\n", {}, ParseError::missing_crlf);
    check_all("$3\r\nabcXY", {}, ParseError::missing_crlf);
    check_all("$3\r\nabc\rX", {}, ParseError::missing_crlf);
    check_all("$3\r\nabc\n\r", {}, ParseError::missing_crlf);
    check_all("$0\r\nXY", {}, ParseError::missing_crlf);
    check_all("*1\r\n$1\r\naXY", {}, ParseError::missing_crlf);
}

TEST(RespParse, IncompleteIsNoError)
{
    for (const char* in : {"+OK", "+OK\r", "$5\r\nhel", "$5\r\nhello\r",
                           "*2\r\n:1\r\n", "*1\r\n*1\r\n", "$", ":-"}) {
        check_all(in, {}, std::nullopt);
    }
}

TEST(RespParse, LineTooLong)
{
    /* max_line 12: the type byte and 11 more */
    check_all("+0123456789a\r\n", {"+0123456789a"}, std::nullopt, small());
    check_all("+0123456789ab\r\n", {}, ParseError::line_too_long, small());
    check_all("-0123456789ab\r\n", {}, ParseError::line_too_long, small());
    check_all(":000000000001\r\n", {}, ParseError::line_too_long, small());
    /* found before the end of the line arrives */
    check_all("+0123456789abcdef", {}, ParseError::line_too_long, small());
    check_all("+0123456789ab\n", {}, ParseError::line_too_long, small());
    check_all("+0123456789a\r", {}, std::nullopt, small());
}

TEST(RespParse, BulkTooLongBeforeItsBytes)
{
    check_all("$10\r\n0123456789\r\n", {"$0123456789"}, std::nullopt, small());
    check_all("$11\r\n", {}, ParseError::bulk_too_long, small());

    /* a server announcing a gigabyte costs nothing */
    Parser p(1 << 20);
    p.feed("+OK\r\n$1000000000\r\n");
    EXPECT_TRUE(p.next());
    EXPECT_FALSE(p.next());
    EXPECT_EQ(p.error(), ParseError::bulk_too_long);
    EXPECT_EQ(p.buffered(), 0u);
    p.feed(std::string(1000, 'x'));       /* dropped */
    EXPECT_EQ(p.buffered(), 0u);
    EXPECT_FALSE(p.next());
    EXPECT_EQ(p.error(), ParseError::bulk_too_long);
}

TEST(RespParse, ArrayTooLong)
{
    check_all("*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", {"[:1,:2,:3,:4]"}, std::nullopt,
              small());
    check_all("*5\r\n", {}, ParseError::array_too_long, small());
    check_all("*1\r\n*5\r\n", {}, ParseError::array_too_long, small());
    check_all("*99999999999\r\n", {}, ParseError::array_too_long);
}

TEST(RespParse, TooDeep)
{
    check_all("*1\r\n*1\r\n:1\r\n", {"[[:1]]"}, std::nullopt, small());
    check_all("*1\r\n*1\r\n*1\r\n:1\r\n", {}, ParseError::too_deep, small());
    check_all("*1\r\n*1\r\n*0\r\n", {}, ParseError::too_deep, small());
    check_all("*1\r\n*1\r\n*-1\r\n", {"[[nil]]"}, std::nullopt, small());

    std::string deep;
    for (int i = 0; i < 8; i++) {
        deep += "*1\r\n";
    }
    check_all(deep + ":1\r\n", {"[[[[[[[[:1]]]]]]]]"}, std::nullopt);
    check_all(deep + "*1\r\n:1\r\n", {}, ParseError::too_deep);
}

TEST(RespParse, ReplyTooLarge)
{
    /* max_reply 64, counted from the reply's first byte */
    std::string four = "*4\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n"
                       "$10\r\n0123456789\r\n";
    ASSERT_EQ(four.size(), 55u);
    check_all(four + "$1\r\nx\r\n",
              {"[$0123456789,$0123456789,$0123456789,$x]"}, std::nullopt,
              small());
    check_all(four + "$5\r\n", {}, ParseError::reply_too_large, small());
    check_all(four + "+abcdefghij\r\n", {}, ParseError::reply_too_large, small());
    check_all(four + "+abcdefghij", {}, std::nullopt, small());
    /* each reply counts alone */
    check_all("+0123456789a\r\n+0123456789a\r\n+0123456789a\r\n"
              "+0123456789a\r\n+0123456789a\r\n",
              std::vector<std::string>(5, "+0123456789a"), std::nullopt, small());

    /* the default: the largest bulk and 64 KiB */
    Parser p(100);
    EXPECT_EQ(p.limits().max_reply, 100u + 64 * 1024);
}

TEST(RespParse, ErrorIsFinal)
{
    Parser p(100);
    p.feed("+a\r\n+b\r\n&\r\n+c\r\n");
    EXPECT_EQ(show(*p.next()), "+a");
    EXPECT_EQ(show(*p.next()), "+b");
    EXPECT_FALSE(p.next());
    EXPECT_EQ(p.error(), ParseError::bad_type);
    p.feed("+d\r\n");
    EXPECT_FALSE(p.next());
    EXPECT_EQ(p.buffered(), 0u);
    char* room = p.prepare(4);
    std::memcpy(room, "+e\r\n", 4);
    p.commit(4);
    EXPECT_FALSE(p.next());
    EXPECT_EQ(p.buffered(), 0u);
    EXPECT_EQ(p.error(), ParseError::bad_type);
}

TEST(RespParse, ErrorsHaveText)
{
    for (int e = 0; e <= static_cast<int>(ParseError::reply_too_large); e++) {
        EXPECT_NE(describe(static_cast<ParseError>(e)), "malformed reply") << e;
    }
}

/* --- pub/sub --- */

namespace {

Reply bulk(std::string_view s)
{
    Reply r;
    r.type = Reply::Type::bulk;
    r.str = s;
    return r;
}

Reply integer(std::int64_t i)
{
    Reply r;
    r.type = Reply::Type::integer;
    r.integer = i;
    return r;
}

Reply array(std::vector<Reply> e)
{
    Reply r;
    r.type = Reply::Type::array;
    r.elements = std::move(e);
    return r;
}

}  // namespace

TEST(RespPubSub, Messages)
{
    auto m = as_message(array({bulk("message"), bulk("ch"), bulk("pay")}));
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->from_pattern);
    EXPECT_EQ(m->channel, "ch");
    EXPECT_EQ(m->payload, "pay");
    EXPECT_TRUE(m->pattern.empty());

    m = as_message(array({bulk("pmessage"), bulk("p*"), bulk("pq"), bulk("")}));
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->from_pattern);
    EXPECT_EQ(m->pattern, "p*");
    EXPECT_EQ(m->channel, "pq");
    EXPECT_EQ(m->payload, "");

    for (const Reply& r : {
             array({bulk("message"), bulk("ch")}),
             array({bulk("message"), bulk("ch"), bulk("x"), bulk("y")}),
             array({bulk("pmessage"), bulk("ch"), bulk("x")}),
             array({bulk("Message"), bulk("ch"), bulk("x")}),
             array({bulk("message"), integer(1), bulk("x")}),
             array({bulk("message"), bulk("ch"), integer(1)}),
             array({bulk("subscribe"), bulk("ch"), integer(1)}),
             bulk("message"),
             Reply{},
         }) {
        EXPECT_FALSE(as_message(r)) << show(r);
    }
    /* a simple string is as good as a bulk for the kind */
    Reply simple;
    simple.type = Reply::Type::simple;
    simple.str = "message";
    EXPECT_TRUE(as_message(array({simple, bulk("c"), bulk("p")})));
}

TEST(RespPubSub, Subscriptions)
{
    using Kind = Subscription::Kind;
    struct Case {
        const char* name;
        Kind kind;
    };
    for (const Case& c : {Case{"subscribe", Kind::subscribe},
                          Case{"unsubscribe", Kind::unsubscribe},
                          Case{"psubscribe", Kind::psubscribe},
                          Case{"punsubscribe", Kind::punsubscribe}}) {
        auto s = as_subscription(array({bulk(c.name), bulk("ch"), integer(3)}));
        ASSERT_TRUE(s) << c.name;
        EXPECT_EQ(s->kind, c.kind);
        EXPECT_EQ(s->channel, "ch");
        EXPECT_EQ(s->count, 3);
    }
    auto s = as_subscription(array({bulk("unsubscribe"), Reply{}, integer(0)}));
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->channel.empty());

    EXPECT_FALSE(as_subscription(array({bulk("subscribe"), bulk("ch")})));
    EXPECT_FALSE(as_subscription(array({bulk("subscribe"), bulk("ch"), bulk("1")})));
    EXPECT_FALSE(as_subscription(array({bulk("message"), bulk("ch"), integer(1)})));
    EXPECT_FALSE(as_subscription(array({bulk("subscribe"), integer(2), integer(1)})));
    EXPECT_FALSE(as_subscription(bulk("subscribe")));
}

TEST(RespPubSub, FromTheWire)
{
    Parser p(1024);
    p.feed("*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n"
           "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    auto r = p.next();
    ASSERT_TRUE(r);
    auto m = as_message(*r);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->channel, "chan");
    EXPECT_EQ(m->payload, "hello");
    r = p.next();
    ASSERT_TRUE(r);
    auto s = as_subscription(*r);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind, Subscription::Kind::unsubscribe);
    EXPECT_EQ(s->count, 0);
}
