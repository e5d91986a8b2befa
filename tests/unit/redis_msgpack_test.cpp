/*
 * The msgpack codec: notepack.io's own bytes (msgpack_vectors.hpp, made by
 * tests/tools/msgpack_vectors.js) decoded to what a Node.js server sends
 * its clients and written back byte for byte; every prefix of every input
 * refused as truncated, never read past; every error; the broadcast
 * message both ways.
 */
#include "core/redis/msgpack.hpp"

#include "msgpack_vectors.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace socketio::redis::msgpack;
namespace json = boost::json;

namespace {

/* An exact-size heap copy, so that ASan sees any read past the input. */
struct Heap {
    explicit Heap(std::string_view s) : bytes(s.begin(), s.end()) {}
    std::string_view view() const { return {bytes.data(), bytes.size()}; }
    std::vector<char> bytes;
};

std::string unhex(std::string_view h)
{
    std::string out;
    auto digit = [](char c) {
        return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    };
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
        if (h[i] == ' ') {
            i--;
            continue;
        }
        out.push_back(static_cast<char>(digit(h[i]) * 16 + digit(h[i + 1])));
    }
    return out;
}

std::string hex(std::string_view s)
{
    static const char d[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out.push_back(d[c >> 4]);
        out.push_back(d[c & 15]);
    }
    return out;
}

/* "#aa#bbcc#" -> {aa, bbcc, ""}; "" -> {} */
std::vector<std::string> attachments(std::string_view list)
{
    std::vector<std::string> out;
    while (!list.empty()) {
        list.remove_prefix(1);
        std::size_t next = std::min(list.find('#'), list.size());
        out.push_back(unhex(list.substr(0, next)));
        list.remove_prefix(next);
    }
    return out;
}

Decoded<Document> dec(std::string_view bytes, Limits limits = {})
{
    Heap h(bytes);
    return decode(h.view(), limits);
}

Decoded<Document> dec_hex(std::string_view h, Limits limits = {})
{
    return dec(unhex(h), limits);
}

std::optional<Error> error_of(std::string_view h, Limits limits = {})
{
    auto d = dec_hex(h, limits);
    return d ? std::nullopt : std::optional(d.error());
}

std::string enc(const json::value& v, const std::vector<std::string>& att = {})
{
    std::string out;
    encode(out, v, att);
    return out;
}

std::string enc_json(std::string_view text,
                     const std::vector<std::string>& att = {})
{
    return hex(enc(json::parse(text), att));
}

/* what a decode gives, as text for messages */
std::string show(const Decoded<Document>& d)
{
    if (!d) {
        return "error: " + std::string(describe(d.error()));
    }
    std::string s = json::serialize(d->json);
    for (const auto& a : d->attachments) {
        s += " +" + hex(a);
    }
    return s;
}

/* the builders of the big vectors, as the generator's */
std::string uni(std::size_t n)
{
    static const char* const pieces[] = {"a", "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9d\x84\x9e"};
    std::string s;
    for (std::size_t k = 0; s.size() < n; k++) {
        std::string_view p = pieces[k % 4];
        s.append(s.size() + p.size() > n ? std::string_view("a") : p);
    }
    return s;
}

std::string pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; i++) {
        s[i] = static_cast<char>((i * 7 + 3) & 0xff);
    }
    return s;
}

Document recipe(std::string_view name, std::size_t n)
{
    Document d;
    if (name == "str") {
        d.json = json::string(uni(n));
    } else if (name == "bin") {
        d.json = json::array{json::object{{"_placeholder", true}, {"num", 0}}};
        d.attachments.push_back(pattern(n));
    } else if (name == "array") {
        json::array& a = d.json.emplace_array();
        for (std::size_t i = 0; i < n; i++) {
            a.emplace_back(static_cast<std::int64_t>(i % 200));
        }
    } else {
        json::object& o = d.json.emplace_object();
        for (std::size_t i = 0; i < n; i++) {
            o.emplace("k" + std::to_string(i), static_cast<std::int64_t>(i % 200));
        }
    }
    return d;
}

/* json::value's == ignores the order of keys: this does not */
bool same_key_order(const json::value& a, const json::value& b)
{
    if (a.is_array() && b.is_array()) {
        const auto& x = a.get_array();
        const auto& y = b.get_array();
        if (x.size() != y.size()) {
            return false;
        }
        for (std::size_t i = 0; i < x.size(); i++) {
            if (!same_key_order(x[i], y[i])) {
                return false;
            }
        }
        return true;
    }
    if (a.is_object() && b.is_object()) {
        const auto& x = a.get_object();
        const auto& y = b.get_object();
        if (x.size() != y.size()) {
            return false;
        }
        for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j) {
            if (i->key() != j->key() || !same_key_order(i->value(), j->value())) {
                return false;
            }
        }
        return true;
    }
    return a.is_object() == b.is_object() && a.is_array() == b.is_array();
}

std::uint64_t fnv1a(std::string_view s)
{
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

}  // namespace

/* --- notepack.io's vectors --- */

TEST(MsgpackVectors, DecodeToWhatNodeSends)
{
    for (const auto& v : msgpack_vectors::vectors) {
        auto d = dec_hex(v.hex);
        ASSERT_TRUE(d) << v.name << ": " << show(d);
        EXPECT_EQ(d->json, json::parse(v.json))
            << v.name << "\n got: " << json::serialize(d->json)
            << "\nwant: " << v.json;
        EXPECT_TRUE(same_key_order(d->json, json::parse(v.json)))
            << v.name << "\n got: " << json::serialize(d->json)
            << "\nwant: " << v.json;
        EXPECT_EQ(d->attachments, attachments(v.attachments)) << v.name;
    }
}

TEST(MsgpackVectors, EncodeAsNotepack)
{
    int encoded = 0;
    for (const auto& v : msgpack_vectors::vectors) {
        if (!v.encodes) {
            continue;
        }
        EXPECT_EQ(enc_json(v.json, attachments(v.attachments)), v.hex)
            << v.name;
        encoded++;
    }
    EXPECT_GT(encoded, 60);
}

TEST(MsgpackVectors, EveryPrefixIsTruncatedAndMoreIsTrailing)
{
    for (const auto& v : msgpack_vectors::vectors) {
        std::string full = unhex(v.hex);
        for (std::size_t n = 0; n < full.size(); n++) {
            auto d = dec(std::string_view(full).substr(0, n));
            ASSERT_FALSE(d) << v.name << " cut at " << n;
            EXPECT_EQ(d.error(), Error::truncated) << v.name << " cut at " << n;
        }
        EXPECT_EQ(error_of(std::string(v.hex) + "c0"), Error::trailing) << v.name;
    }
}

TEST(MsgpackVectors, BigOnesByRecipe)
{
    for (const auto& b : msgpack_vectors::big) {
        Document want = recipe(b.recipe, b.n);
        std::string bytes = enc(want.json, want.attachments);
        EXPECT_EQ(bytes.size(), b.size) << b.name;
        EXPECT_EQ(hex(bytes.substr(0, 8)), b.head) << b.name;
        EXPECT_EQ(fnv1a(bytes), b.fnv1a) << b.name;

        auto d = dec(bytes);
        ASSERT_TRUE(d) << b.name << ": " << describe(d.error());
        EXPECT_TRUE(d->json == want.json) << b.name;
        EXPECT_EQ(d->attachments, want.attachments) << b.name;

        /* cut in the header, the first element, and at the end */
        for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(2),
                              std::size_t(3), std::size_t(4), std::size_t(5),
                              std::size_t(6), std::size_t(7),
                              bytes.size() / 2, bytes.size() - 1}) {
            auto cut = dec(std::string_view(bytes).substr(0, n));
            ASSERT_FALSE(cut) << b.name << " cut at " << n;
            EXPECT_EQ(cut.error(), Error::truncated) << b.name;
        }
    }
}

TEST(MsgpackVectors, IntegerKeysInJavaScriptsOrder)
{
    /* JSON.parse would reorder these; our JSON keeps them as written, and
       the encoder reorders as notepack's Object.keys sees them */
    std::string want;
    for (const auto& v : msgpack_vectors::vectors) {
        if (std::string_view(v.name) == "integer_keys") {
            want = v.hex;
        }
    }
    ASSERT_FALSE(want.empty());
    EXPECT_EQ(enc_json(R"({"b":1,"10":2,"2":3,"a":4,"01":5,"4294967295":6,)"
                       R"("4294967294":7})"),
              want);
}

/* --- decoding: what has no vector --- */

TEST(MsgpackDecode, IntegersBeyondJavaScript)
{
    auto d = dec_hex("cfffffffffffffffff");
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->json.is_uint64());
    EXPECT_EQ(d->json.get_uint64(), std::numeric_limits<std::uint64_t>::max());

    d = dec_hex("cf7fffffffffffffff");
    ASSERT_TRUE(d);
    ASSERT_TRUE(d->json.is_int64());
    EXPECT_EQ(d->json.get_int64(), std::numeric_limits<std::int64_t>::max());

    d = dec_hex("cf8000000000000000");
    ASSERT_TRUE(d->json.is_uint64());
    EXPECT_EQ(d->json.get_uint64(), std::uint64_t(1) << 63);

    d = dec_hex("d38000000000000000");
    ASSERT_TRUE(d->json.is_int64());
    EXPECT_EQ(d->json.get_int64(), std::numeric_limits<std::int64_t>::min());
}

TEST(MsgpackDecode, FloatsAsJavaScriptNumbers)
{
    auto num = [](std::string_view h) { return dec_hex(h)->json; };
    EXPECT_TRUE(num("cb4000000000000000").is_int64());              /* 2.0 */
    EXPECT_EQ(num("cb8000000000000000"), json::value(0));           /* -0.0 */
    EXPECT_EQ(num("cb43e0000000000000"),
              json::value(std::uint64_t(1) << 63));                 /* 2^63 */
    EXPECT_TRUE(num("cb43f0000000000000").is_double());             /* 2^64 */
    EXPECT_TRUE(num("cbc3e0000000000000").is_int64());              /* -2^63 */
    EXPECT_TRUE(num("cbc3e0000000000001").is_double());
    EXPECT_EQ(num("cb4004000000000000"), json::value(2.5));
    EXPECT_TRUE(num("cb7ff8000000000000").is_null());               /* NaN */
    EXPECT_TRUE(num("cb7ff0000000000000").is_null());               /* inf */
    EXPECT_TRUE(num("cbfff0000000000000").is_null());
    EXPECT_TRUE(num("ca7fc00000").is_null());                       /* NaN */
    EXPECT_TRUE(num("ca7f800000").is_null());
    EXPECT_EQ(num("cac0200000"), json::value(-2.5));
    EXPECT_EQ(num("ca40000000"), json::value(2));
}

TEST(MsgpackDecode, Extensions)
{
    auto v = [](std::string_view h) {
        auto d = dec_hex(h);
        EXPECT_TRUE(d) << h;
        return d ? json::serialize(d->json) : std::string("error");
    };
    /* ext types no Socket.IO sender writes: null */
    EXPECT_EQ(v("d50100ff"), "null");
    EXPECT_EQ(v("d4050a"), "null");
    EXPECT_EQ(v("c800020aaabb"), "null");
    EXPECT_EQ(v("c900000001f1cc"), "null");
    EXPECT_EQ(v("d8" "07" "00112233445566778899aabbccddeeff"), "null");
    /* fixext of type 0 other than notepack's old undefined and Date */
    EXPECT_EQ(v("d5000102"), "null");
    EXPECT_EQ(v("d60001020304"), "null");
    /* a timestamp of no length the spec knows */
    EXPECT_EQ(v("c705ff0102030405"), "null");
    EXPECT_EQ(v("d5ff0102"), "null");
    /* beyond a Date's range (+-8.64e15 ms): Date#toJSON gives null */
    EXPECT_EQ(v("c70cff000000007fffffffffffffff"), "null");
    EXPECT_EQ(v("c70cff000000008000000000000000"), "null");
    /* the edges of that range */
    EXPECT_EQ(v("c70cff00000000000007dba8218000"),
              "\"+275760-09-13T00:00:00.000Z\"");
    EXPECT_EQ(v("c70cff00000000fffff82457de7fff"), "null");
    EXPECT_EQ(v("c70cff00000000000007dba8218001"), "null");
    EXPECT_EQ(v("c70cff00000000fffff82457de8000"),
              "\"-271821-04-20T00:00:00.000Z\"");
    /* an old ArrayBuffer of any length is a binary */
    auto d = dec_hex("92c70000c80003000a0b0c");
    ASSERT_TRUE(d);
    EXPECT_EQ(json::serialize(d->json),
              R"([{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
    EXPECT_EQ(d->attachments, (std::vector<std::string>{"", "\x0a\x0b\x0c"}));
}

TEST(MsgpackDecode, KeysAsJavaScriptNamesThem)
{
    auto v = [](std::string_view h) {
        auto d = dec_hex(h);
        return d ? json::serialize(d->json) : "error: " + std::string(describe(d.error()));
    };
    EXPECT_EQ(v("81cf0020000000000000c3"), R"({"9007199254740992":true})");
    EXPECT_EQ(v("81d3ffe0000000000000c3"), R"({"-9007199254740992":true})");
    EXPECT_EQ(v("81cd0100c3"), R"({"256":true})");
    EXPECT_EQ(v("81d0e0c3"), R"({"-32":true})");
    /* keys JavaScript would name in ways we do not follow */
    EXPECT_EQ(error_of("81cf0020000000000001c3"), Error::bad_key);
    EXPECT_EQ(error_of("81d3ffdfffffffffffffc3"), Error::bad_key);
    EXPECT_EQ(error_of("81ca3fc00000c3"), Error::bad_key);
    EXPECT_EQ(error_of("81cb3ff8000000000000c3"), Error::bad_key);
    EXPECT_EQ(error_of("81c40161c3"), Error::bad_key);
    EXPECT_EQ(error_of("8190c3"), Error::bad_key);
    EXPECT_EQ(error_of("8180c3"), Error::bad_key);
    EXPECT_EQ(error_of("81d40000c3"), Error::bad_key);
    /* not UTF-8: repaired, as a string */
    EXPECT_EQ(v("81a2ff61c3"), "{\"\xef\xbf\xbd" "a\":true}");
}

TEST(MsgpackDecode, DuplicateKeys)
{
    EXPECT_EQ(error_of("82a16101a16102"), Error::duplicate_key);
    EXPECT_EQ(error_of("82a13101" "0102"), Error::duplicate_key);   /* "1", 1 */
    EXPECT_EQ(error_of("82c001a46e756c6c02"), Error::duplicate_key);
    /* the same key in two maps is no duplicate */
    EXPECT_FALSE(error_of("92" "81a16101" "81a16102"));
}

TEST(MsgpackDecode, BinariesArePlaceholdersInDocumentOrder)
{
    std::string bytes = enc_json(
        R"({"a":{"_placeholder":true,"num":2},"b":[{"_placeholder":true,"num":0}],)"
        R"("c":{"_placeholder":true,"num":1}})",
        {"zero", "one", "two"});
    auto d = dec_hex(bytes);
    ASSERT_TRUE(d);
    EXPECT_EQ(json::serialize(d->json),
              R"({"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1}],)"
              R"("c":{"_placeholder":true,"num":2}})");
    EXPECT_EQ(d->attachments, (std::vector<std::string>{"two", "zero", "one"}));
}

TEST(MsgpackDecode, StorageFromTheCaller)
{
    json::monotonic_resource mr;
    auto d = decode(unhex("92a161c40101"), {}, &mr);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->json.storage().get(), json::storage_ptr(&mr).get());
    EXPECT_EQ(d->json.as_array()[0].storage().get(),
              json::storage_ptr(&mr).get());
}

/* --- decoding errors --- */

TEST(MsgpackDecode, Truncated)
{
    for (const char* h : {
             "", "cc", "cd00", "ce000000", "cf00000000000000", "d0", "d100",
             "d2000000", "d300000000000000", "ca000000", "cb00000000000000",
             "d9", "d902", "d90261", "da00", "da0001", "db000000", "db00000001",
             "c4", "c401", "c5", "c50001", "c6000000", "c600000001",
             "c7", "c701", "c70100", "c8", "c80001", "c8000100",
             "c9000000", "c90000000100", "d4", "d400", "d5", "d500",
             "d50001", "d6ff000000", "d7ff00000000000000", "d8000000",
             "dc", "dc00", "dc0001", "dd000000", "dd00000001",
             "de", "de00", "de0001", "de0001a161", "df00000001a161",
             "91", "92c0", "81", "81a161", "a1", "bf",
         }) {
        EXPECT_EQ(error_of(h), Error::truncated) << h;
    }
}

TEST(MsgpackDecode, CountsCheckedBeforeAllocating)
{
    /* each would ask for gigabytes if believed */
    for (const char* h : {"ddffffffff", "dfffffffff", "dbffffffff",
                          "c6ffffffff", "c9ffffffff00", "dcffff", "deffff",
                          "dd7fffffffc0c0", "df7fffffffc0c0c0c0"}) {
        EXPECT_EQ(error_of(h), Error::truncated) << h;
    }
    /* a map's entries take two bytes at least */
    EXPECT_EQ(error_of("83c0c0c0c0c0"), Error::truncated);
}

TEST(MsgpackDecode, NeverUsedByte)
{
    EXPECT_EQ(error_of("c1"), Error::bad_byte);
    EXPECT_EQ(error_of("93c0c1c0"), Error::bad_byte);
    EXPECT_EQ(error_of("81a161c1"), Error::bad_byte);
    EXPECT_EQ(error_of("81c1c0"), Error::bad_byte);
}

TEST(MsgpackDecode, Trailing)
{
    EXPECT_EQ(error_of("c0c0"), Error::trailing);
    EXPECT_EQ(error_of("9101ff"), Error::trailing);
    EXPECT_EQ(error_of("80c1"), Error::trailing);
}

TEST(MsgpackDecode, Depth)
{
    auto nested = [](std::size_t n, bool maps) {
        std::string h;
        for (std::size_t i = 0; i < n; i++) {
            h += maps ? "81a161" : "91";
        }
        return h + "c0";
    };
    EXPECT_FALSE(error_of(nested(64, false)));
    EXPECT_EQ(error_of(nested(65, false)), Error::too_deep);
    EXPECT_FALSE(error_of(nested(64, true)));
    EXPECT_EQ(error_of(nested(65, true)), Error::too_deep);
    /* a deep document is refused before its end is read */
    EXPECT_EQ(error_of(nested(100, false).substr(0, 140)), Error::too_deep);

    Limits two;
    two.max_depth = 2;
    EXPECT_FALSE(error_of("9191c0", two));
    EXPECT_FALSE(error_of("91" "81a161c0", two));
    EXPECT_EQ(error_of("919191c0", two), Error::too_deep);
    EXPECT_EQ(error_of("9191" "80", two), Error::too_deep);   /* even empty */
    EXPECT_FALSE(error_of("9191c4010a", two));   /* a binary is no container */
}

TEST(MsgpackDecode, ErrorsHaveText)
{
    for (int e = 0; e <= static_cast<int>(Error::bad_rooms); e++) {
        EXPECT_FALSE(describe(static_cast<Error>(e)).empty());
        EXPECT_NE(describe(static_cast<Error>(e)), "malformed") << e;
    }
}

/* --- encoding: what has no vector --- */

TEST(MsgpackEncode, DoublesAsNotepackWritesNumbers)
{
    auto e = [](double d) { return hex(enc(json::value(d))); };
    EXPECT_EQ(e(2.0), "02");
    EXPECT_EQ(e(-0.0), "00");
    EXPECT_EQ(e(-33.0), "d0df");
    EXPECT_EQ(e(4294967296.0), "cf0000000100000000");
    EXPECT_EQ(e(9223372036854775808.0), "cf8000000000000000");
    EXPECT_EQ(e(-9223372036854775808.0), "d38000000000000000");
    /* notepack wraps these; we write the value */
    EXPECT_EQ(e(18446744073709551616.0), "cb43f0000000000000");
    EXPECT_EQ(e(1e20), "cb4415af1d78b58c40");
    EXPECT_EQ(e(-1e19), "cbc3e158e460913d00");
    EXPECT_EQ(e(1.5), "cb3ff8000000000000");
    EXPECT_EQ(e(std::numeric_limits<double>::infinity()), "cb7ff0000000000000");
    EXPECT_EQ(hex(enc(json::value(std::uint64_t(5)))), "05");
    EXPECT_EQ(hex(enc(json::value(std::numeric_limits<std::uint64_t>::max()))),
              "cfffffffffffffffff");
}

TEST(MsgpackEncode, Placeholders)
{
    std::vector<std::string> att{"A", "BB"};
    /* a valid placeholder is its attachment, whatever else it holds */
    EXPECT_EQ(enc_json(R"([{"_placeholder":true,"num":1}])", att), "91c4024242");
    EXPECT_EQ(enc_json(R"({"_placeholder":true,"num":0,"x":1})", att), "c40141");
    /* the same attachment twice is written twice */
    EXPECT_EQ(enc_json(R"([{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}])", att),
              "92c40141c40141");
    /* anything else is a map */
    for (const char* text : {
             R"({"_placeholder":true,"num":2})",
             R"({"_placeholder":true,"num":-1})",
             R"({"_placeholder":true,"num":"0"})",
             R"({"_placeholder":true,"num":0.5})",
             R"({"_placeholder":true})",
             R"({"_placeholder":false,"num":0})",
             R"({"_placeholder":1,"num":0})",
         }) {
        auto d = dec_hex(enc_json(text, att));
        ASSERT_TRUE(d) << text;
        EXPECT_EQ(d->json, json::parse(text)) << text;
        EXPECT_TRUE(d->attachments.empty()) << text;
    }
    /* attachments nothing names are not written */
    EXPECT_EQ(enc_json("[1]", att), "9101");
}

TEST(MsgpackEncode, AppendsToWhatIsThere)
{
    std::string out = "xy";
    encode(out, json::value(1));
    EXPECT_EQ(out, "xy\x01");
}

/* --- round trips --- */

TEST(MsgpackRoundTrip, JsonValues)
{
    for (const char* text : {
             "null", "true", "false", "0", "-1", "1.25", "-1e-300", "\"\"",
             "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "[]", "{}",
             R"({"a":[1,2,{"b":null}],"c":"d","e":{"f":{"g":[[[]]]}}})",
             R"(["event",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]])",
             "[9223372036854775807,-9223372036854775808,18446744073709551615]",
             "[0.1,0.2,0.30000000000000004,1.7976931348623157e308,5e-324]",
             R"({"10":1,"9":2,"x":3,"0":4})",
         }) {
        json::value v = json::parse(text);
        std::vector<std::string> att{std::string("\x00\x01", 2), ""};
        std::size_t used = std::string_view(text).find("\"num\":1") != std::string_view::npos
                               ? 2
                               : std::string_view(text).find("_placeholder") != std::string_view::npos ? 1 : 0;
        att.resize(used);
        auto d = dec(enc(v, att));
        ASSERT_TRUE(d) << text;
        EXPECT_EQ(d->json, v) << text << " -> " << json::serialize(d->json);
        EXPECT_EQ(d->attachments, att) << text;
    }
}

TEST(MsgpackRoundTrip, DecodedThenEncodedIsTheSameBytes)
{
    /* notepack's own bytes survive our decode and encode unchanged */
    for (const auto& v : msgpack_vectors::vectors) {
        if (!v.encodes) {
            continue;
        }
        auto d = dec_hex(v.hex);
        ASSERT_TRUE(d) << v.name;
        EXPECT_EQ(hex(enc(d->json, d->attachments)), v.hex) << v.name;
    }
}

/* --- requests and responses --- */

TEST(MsgpackRequest, JsonOrMsgpack)
{
    auto d = decode_request(R"({"uid":"a","requestId":"r","type":1,"x":0.1})");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->json.at("type"), json::value(1));
    EXPECT_EQ(d->json.at("x").get_double(), 0.1);
    EXPECT_TRUE(d->attachments.empty());

    std::string bytes = enc(
        json::parse(R"({"type":9,"requestId":"r","packet":["ok",{"_placeholder":true,"num":0}]})"),
        {"\xff"});
    d = decode_request(bytes);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->json.at("type"), json::value(9));
    EXPECT_EQ(d->attachments, std::vector<std::string>{"\xff"});

    EXPECT_EQ(decode_request("{\"a\":").error(), Error::bad_json);
    EXPECT_EQ(decode_request("{} x").error(), Error::bad_json);
    EXPECT_EQ(decode_request("").error(), Error::truncated);
    Limits two;
    two.max_depth = 2;
    EXPECT_TRUE(decode_request(R"({"a":{"b":1}})", two));
    EXPECT_EQ(decode_request(R"({"a":{"b":[]}})", two).error(), Error::bad_json);
}

TEST(MsgpackRequest, JsonNumbersExactly)
{
    /* Boost.JSON 1.81 alone reads these one ulp off */
    for (const char* text : {"1.3927926388013963e-143", "5.409760742964738e124",
                             "-2.128409656321987e-239", "6.689921856898562e-217"}) {
        auto d = decode_request(std::string("{\"x\":") + text + "}");
        ASSERT_TRUE(d) << text;
        EXPECT_EQ(d->json.at("x").get_double(), std::strtod(text, nullptr)) << text;
    }
}

/* --- the broadcast message --- */

namespace {

Broadcast event(std::string uid = "Gx4QzA")
{
    Broadcast b;
    b.uid = std::move(uid);
    b.packet.data = R"(["chat message","hello"])";
    return b;
}

std::string vector_hex(std::string_view name)
{
    for (const auto& v : msgpack_vectors::vectors) {
        if (v.name == name) {
            return v.hex;
        }
    }
    ADD_FAILURE() << "no vector " << name;
    return {};
}

Decoded<Broadcast> dec_broadcast(std::string_view bytes)
{
    Heap h(bytes);
    return decode_broadcast(h.view());
}

std::optional<Error> broadcast_error(std::string_view json_text,
                                     const std::vector<std::string>& att = {})
{
    auto d = dec_broadcast(enc(json::parse(json_text), att));
    return d ? std::nullopt : std::optional(d.error());
}

std::string encoded(const Broadcast& b)
{
    std::string out;
    auto e = encode_broadcast(out, b);
    EXPECT_FALSE(e) << describe(*e);
    return hex(out);
}

}  // namespace

TEST(MsgpackBroadcast, EncodeAsTheAdapter)
{
    EXPECT_EQ(encoded(event()), vector_hex("broadcast_event"));

    Broadcast b = event("k3J9aZ");
    b.packet.nsp = "/admin";
    b.packet.data = "[\"news\",{\"title\":\"T\xc3\xaate\",\"n\":1}]";
    b.opts.rooms = {"room1", "room 2"};
    b.opts.except = {"x"};
    b.opts.flags = {{"volatile", true}, {"compress", true}};
    EXPECT_EQ(encoded(b), vector_hex("broadcast_rooms_flags"));

    b = event("k3J9aZ");
    b.packet.data = R"(["file",{"_placeholder":true,"num":0},)"
                    R"({"name":"a.bin","parts":[{"_placeholder":true,"num":1},)"
                    R"({"_placeholder":true,"num":2}]}])";
    b.packet.attachments = {"\x01\x02\x03", "xyz", ""};
    b.opts.rooms = {"r"};
    EXPECT_EQ(encoded(b), vector_hex("broadcast_binary"));
    /* a packet made binary by socket.io-parser is published as it was */
    b.packet.type = 5;
    EXPECT_EQ(encoded(b), vector_hex("broadcast_binary"));

    b = event("u1");
    b.packet.data = R"(["e",1])";
    b.packet.id = 12;
    b.opts.flags = {{"timeout", 5000}};
    EXPECT_EQ(encoded(b), vector_hex("broadcast_with_id"));
}

TEST(MsgpackBroadcast, DecodeFromNode)
{
    auto d = dec_broadcast(unhex(vector_hex("broadcast_event")));
    ASSERT_TRUE(d) << describe(d.error());
    EXPECT_EQ(d->uid, "Gx4QzA");
    EXPECT_EQ(d->packet.type, 2);
    EXPECT_EQ(d->packet.nsp, "/");
    EXPECT_EQ(d->packet.data, R"(["chat message","hello"])");
    EXPECT_TRUE(d->packet.attachments.empty());
    EXPECT_FALSE(d->packet.id);
    EXPECT_TRUE(d->opts.rooms.empty());
    EXPECT_TRUE(d->opts.except.empty());
    EXPECT_TRUE(d->opts.flags.empty());

    d = dec_broadcast(unhex(vector_hex("broadcast_rooms_flags")));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->packet.nsp, "/admin");
    EXPECT_EQ(d->packet.data, "[\"news\",{\"title\":\"T\xc3\xaate\",\"n\":1}]");
    EXPECT_EQ(d->opts.rooms, (std::vector<std::string>{"room1", "room 2"}));
    EXPECT_EQ(d->opts.except, std::vector<std::string>{"x"});
    EXPECT_EQ(d->opts.flags, (json::object{{"volatile", true}, {"compress", true}}));

    d = dec_broadcast(unhex(vector_hex("broadcast_binary")));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->packet.data,
              R"(["file",{"_placeholder":true,"num":0},{"name":"a.bin","parts":)"
              R"([{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]}])");
    EXPECT_EQ(d->packet.attachments,
              (std::vector<std::string>{"\x01\x02\x03", "xyz", ""}));

    d = dec_broadcast(unhex(vector_hex("broadcast_numeric_rooms")));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->opts.rooms, (std::vector<std::string>{"42", "7"}));
    EXPECT_EQ(d->opts.except, (std::vector<std::string>{"-1", "4294967296"}));

    d = dec_broadcast(unhex(vector_hex("broadcast_with_id")));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->packet.id, 12u);
    EXPECT_EQ(d->opts.flags, (json::object{{"timeout", 5000}}));

    d = dec_broadcast(unhex(vector_hex("emitter_event")));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->uid, "emitter");
    EXPECT_EQ(d->packet.data, R"(["time","2024-01-01"])");
    EXPECT_EQ(d->opts.rooms, std::vector<std::string>{"r1"});

    d = dec_broadcast(unhex(vector_hex("date_in_event")));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->packet.data, R"(["at","1970-01-02T00:00:00.000Z"])");
}

TEST(MsgpackBroadcast, Leniencies)
{
    /* no nsp: "/", as the adapter reads it; nil or absent rooms and flags:
       none; keys it does not use: read and dropped, their binaries too */
    auto d = dec_broadcast(enc(json::parse(
        R"(["u",{"x":{"_placeholder":true,"num":0},"type":2,"data":["e",)"
        R"({"_placeholder":true,"num":1}],"id":null},{"rooms":null,"other":[1]}])"),
        {"dropped", "kept"}));
    ASSERT_TRUE(d) << describe(d.error());
    EXPECT_EQ(d->packet.nsp, "/");
    EXPECT_FALSE(d->packet.id);
    EXPECT_EQ(d->packet.data, R"(["e",{"_placeholder":true,"num":0}])");
    EXPECT_EQ(d->packet.attachments, std::vector<std::string>{"kept"});
    EXPECT_TRUE(d->opts.rooms.empty());
    EXPECT_TRUE(d->opts.flags.empty());

    d = dec_broadcast(enc(json::parse(
        R"(["u",{"type":2,"data":[],"id":18446744073709551615},)"
        R"({"rooms":[9223372036854775808,"a"],"flags":null}])")));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->packet.id, std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(d->opts.rooms, (std::vector<std::string>{"9223372036854775808", "a"}));
}

TEST(MsgpackBroadcast, WrongShapes)
{
    EXPECT_EQ(broadcast_error(R"({"a":1})"), Error::bad_message);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]}])"), Error::bad_message);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},{},1])"), Error::bad_message);
    EXPECT_EQ(broadcast_error(R"([1,{"type":2,"data":[]},{}])"), Error::bad_uid);
    EXPECT_EQ(broadcast_error(R"([null,{"type":2,"data":[]},{}])"), Error::bad_uid);
    EXPECT_EQ(broadcast_error(R"(["u",[2,[]],{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"data":[]},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":7,"data":[]},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":-1,"data":[]},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":"2","data":[]},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2.5,"data":[]},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[],"nsp":1},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[],"nsp":null},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[],"id":-1},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[],"id":"1"},{}])"), Error::bad_packet);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2},{}])"), Error::bad_data);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":"e"},{}])"), Error::bad_data);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":{}},{}])"), Error::bad_data);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},[]])"), Error::bad_opts);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},null])"), Error::bad_opts);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},{"flags":[]}])"), Error::bad_opts);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},{"flags":true}])"), Error::bad_opts);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},{"rooms":"r"}])"), Error::bad_rooms);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},{"rooms":[1.5]}])"), Error::bad_rooms);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},{"except":[true]}])"), Error::bad_rooms);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},{"except":[["r"]]}])"), Error::bad_rooms);
    EXPECT_EQ(broadcast_error(R"(["u",{"type":2,"data":[]},{"rooms":[{"_placeholder":true,"num":0}]}])", {"r"}),
              Error::bad_rooms);

    /* the generic errors come through */
    std::string ok = enc(json::parse(R"(["u",{"type":2,"data":[]},{}])"));
    EXPECT_EQ(dec_broadcast(ok + '\xc0').error(), Error::trailing);
    EXPECT_EQ(dec_broadcast(unhex("93a175" "82a474797065" "02" "a474797065" "02"
                                  "80")).error(),
              Error::duplicate_key);
    EXPECT_EQ(dec_broadcast(unhex("93a175" "82a464617461" "90" "a464617461" "90"
                                  "80")).error(),
              Error::duplicate_key);
    EXPECT_EQ(dec_broadcast(unhex("93a175" "82a474797065" "02" "a464617461" "90"
                                  "82a5726f6f6d7390a5726f6f6d7390")).error(),
              Error::duplicate_key);
    EXPECT_EQ(dec_broadcast(unhex("93c1c0c0")).error(), Error::bad_byte);
    EXPECT_EQ(dec_broadcast(unhex("93c1")).error(), Error::truncated);
    EXPECT_EQ(dec_broadcast(unhex("c1")).error(), Error::bad_byte);
    EXPECT_EQ(dec_broadcast(unhex("93a175" "81" "01" "02" "80")).error(), Error::bad_packet);
}

TEST(MsgpackBroadcast, EveryPrefixIsTruncated)
{
    for (const char* name : {"broadcast_event", "broadcast_rooms_flags",
                             "broadcast_binary", "broadcast_numeric_rooms",
                             "broadcast_with_id", "emitter_event"}) {
        std::string full = unhex(vector_hex(name));
        ASSERT_TRUE(dec_broadcast(full)) << name;
        for (std::size_t n = 0; n < full.size(); n++) {
            auto d = dec_broadcast(std::string_view(full).substr(0, n));
            ASSERT_FALSE(d) << name << " cut at " << n;
            EXPECT_EQ(d.error(), Error::truncated) << name << " cut at " << n;
        }
    }
}

TEST(MsgpackBroadcast, RoundTrip)
{
    Broadcast b = event("node-1");
    b.packet.type = 3;
    b.packet.nsp = "/chat";
    b.packet.data = R"(["e",{"deep":[1,-2,0.5,null,true,"x",{"_placeholder":true,"num":0}]}])";
    b.packet.attachments = {std::string("\0\xff", 2)};
    b.packet.id = 7;
    b.opts.rooms = {"a", "b", ""};
    b.opts.except = {"c"};
    b.opts.flags = {{"volatile", true}, {"timeout", 1000}, {"nested", {{"x", 1}}}};

    std::string out = "prefix";
    ASSERT_FALSE(encode_broadcast(out, b));
    ASSERT_EQ(out.substr(0, 6), "prefix");
    auto d = dec_broadcast(std::string_view(out).substr(6));
    ASSERT_TRUE(d) << describe(d.error());
    EXPECT_EQ(d->uid, b.uid);
    EXPECT_EQ(d->packet.type, 3);
    EXPECT_EQ(d->packet.nsp, b.packet.nsp);
    EXPECT_EQ(json::parse(d->packet.data), json::parse(b.packet.data));
    EXPECT_EQ(d->packet.attachments, b.packet.attachments);
    EXPECT_EQ(d->packet.id, b.packet.id);
    EXPECT_EQ(d->opts.rooms, b.opts.rooms);
    EXPECT_EQ(d->opts.except, b.opts.except);
    EXPECT_EQ(d->opts.flags, b.opts.flags);
}

TEST(MsgpackBroadcast, DataNumbersExactly)
{
    Broadcast b = event();
    b.packet.data = "[\"e\",1.3927926388013963e-143,5.409760742964738e124]";
    std::string out;
    ASSERT_FALSE(encode_broadcast(out, b));
    ASSERT_TRUE(dec_broadcast(out));
    /* the bits that travelled (Boost's parse is the inexact one) */
    auto again = decode(out);
    ASSERT_TRUE(again);
    const auto& data = again->json.as_array()[1].as_object().at("data").as_array();
    EXPECT_EQ(data[1].get_double(), std::strtod("1.3927926388013963e-143", nullptr));
    EXPECT_EQ(data[2].get_double(), std::strtod("5.409760742964738e124", nullptr));
}

TEST(MsgpackBroadcast, BadData)
{
    std::string out = "kept";
    Broadcast b = event();
    for (const char* data : {"", "[", "{}", "\"e\"", "[1] x", "[1,]"}) {
        b.packet.data = data;
        EXPECT_EQ(encode_broadcast(out, b), Error::bad_json) << data;
        EXPECT_EQ(out, "kept");
    }
    /* as deep as our members read, and not one deeper */
    std::string deep(62, '[');
    deep += std::string(62, ']');
    b.packet.data = deep;
    ASSERT_FALSE(encode_broadcast(out, b));
    EXPECT_TRUE(dec_broadcast(std::string_view(out).substr(4)));
    b.packet.data = "[" + deep + "]";
    out = "kept";
    EXPECT_EQ(encode_broadcast(out, b), Error::bad_json);
    EXPECT_EQ(out, "kept");
}

TEST(MsgpackRoundTrip, KeysJavaScriptReorders)
{
    /* found by fuzz_msgpack: {"a": bin, 50: {"c": bin}, "d": bin} — Node
       numbers the binaries in its key order ("50" first), and so must we,
       or the value encoded again (in that order) decodes to another */
    for (const char* h : {"83a161c40131" "32" "81a163c40133" "a164c40134",
                          "92c4017a" "82a178c40178" "01" "82a179c40179" "00c40130",
                          "83a16101" "a23130" "82a162c40162" "a13181a163c40163"
                          "a13380"}) {
        auto d = dec_hex(h);
        ASSERT_TRUE(d) << h;
        std::string bytes = enc(d->json, d->attachments);
        auto again = dec(bytes);
        ASSERT_TRUE(again) << h;
        EXPECT_EQ(again->json, d->json) << h << ": " << json::serialize(d->json)
                                        << " / " << json::serialize(again->json);
        EXPECT_TRUE(same_key_order(again->json, d->json)) << h;
        EXPECT_EQ(again->attachments, d->attachments) << h;
        EXPECT_EQ(enc(again->json, again->attachments), bytes) << h;
    }
}

TEST(MsgpackDecode, TooManyBinaries)
{
    Limits two;
    two.max_attachments = 2;
    EXPECT_FALSE(error_of("92c400c400", two));
    EXPECT_EQ(error_of("93c400c400c400", two), Error::too_many_attachments);
    EXPECT_EQ(error_of("93c400c400c70000", two), Error::too_many_attachments);
    EXPECT_EQ(error_of("92c400" "81a161" "92c400c400", two),
              Error::too_many_attachments);

    /* the default: 10000, and a message of 20000 empty binaries (40 kB
       that would cost 4 MB) is refused */
    std::string many("\xdd\x00\x00\x4e\x20", 5);
    for (int i = 0; i < 20000; i++) {
        many += std::string("\xc4\x00", 2);
    }
    EXPECT_EQ(dec(many).error(), Error::too_many_attachments);
    many.replace(1, 4, std::string("\x00\x00\x27\x10", 4));
    many.resize(5 + 2 * 10000);
    EXPECT_TRUE(dec(many));

    /* in a broadcast, the binaries it drops count too */
    std::string b = enc(json::parse(
        R"(["u",{"x":[{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}],)"
        R"("type":2,"data":[{"_placeholder":true,"num":0}]},{}])"),
        {"a"});
    EXPECT_TRUE(decode_broadcast(b));
    EXPECT_EQ(decode_broadcast(b, two).error(), Error::too_many_attachments);
}
