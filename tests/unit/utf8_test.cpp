#include "core/util/utf8.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using socketio::util::valid_utf8;

namespace {

struct Case {
    const char* name;
    std::string bytes;
    bool valid;
};

std::string s(std::initializer_list<int> bytes)
{
    std::string out;
    for (int b : bytes) {
        out.push_back(static_cast<char>(b));
    }
    return out;
}

std::vector<Case> table()
{
    return {
        {"empty", "", true},
        {"ascii", "hello", true},
        {"nul", std::string("a\0b", 3), true},
        {"ascii 7f", s({0x7f}), true},
        /* 2 bytes: U+0080 .. U+07FF */
        {"U+0080", s({0xc2, 0x80}), true},
        {"U+00E9", "\xc3\xa9", true},
        {"U+07FF", s({0xdf, 0xbf}), true},
        /* 3 bytes: U+0800 .. U+FFFF without surrogates */
        {"U+0800", s({0xe0, 0xa0, 0x80}), true},
        {"U+20AC", "\xe2\x82\xac", true},
        {"U+D7FF", s({0xed, 0x9f, 0xbf}), true},
        {"U+E000", s({0xee, 0x80, 0x80}), true},
        {"U+FFFD", s({0xef, 0xbf, 0xbd}), true},
        {"U+FFFF", s({0xef, 0xbf, 0xbf}), true},
        /* 4 bytes: U+10000 .. U+10FFFF */
        {"U+10000", s({0xf0, 0x90, 0x80, 0x80}), true},
        {"U+1D11E", "\xf0\x9d\x84\x9e", true},
        {"U+10FFFF", s({0xf4, 0x8f, 0xbf, 0xbf}), true},
        {"mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e" "z", true},

        /* overlongs */
        {"overlong / in 2", s({0xc0, 0xaf}), false},
        {"overlong NUL in 2", s({0xc0, 0x80}), false},
        {"overlong c1", s({0xc1, 0xbf}), false},
        {"overlong / in 3", s({0xe0, 0x80, 0xaf}), false},
        {"overlong U+07FF in 3", s({0xe0, 0x9f, 0xbf}), false},
        {"overlong / in 4", s({0xf0, 0x80, 0x80, 0xaf}), false},
        {"overlong U+FFFF in 4", s({0xf0, 0x8f, 0xbf, 0xbf}), false},
        /* surrogates */
        {"U+D800", s({0xed, 0xa0, 0x80}), false},
        {"U+DBFF", s({0xed, 0xaf, 0xbf}), false},
        {"U+DC00", s({0xed, 0xb0, 0x80}), false},
        {"U+DFFF", s({0xed, 0xbf, 0xbf}), false},
        {"surrogate pair", s({0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9}), false},
        /* above U+10FFFF */
        {"U+110000", s({0xf4, 0x90, 0x80, 0x80}), false},
        {"f5", s({0xf5, 0x80, 0x80, 0x80}), false},
        {"f7", s({0xf7, 0xbf, 0xbf, 0xbf}), false},
        {"5 bytes", s({0xf8, 0x88, 0x80, 0x80, 0x80}), false},
        {"6 bytes", s({0xfc, 0x84, 0x80, 0x80, 0x80, 0x80}), false},
        {"fe", s({0xfe}), false},
        {"ff", s({0xff}), false},
        /* truncated */
        {"lone c3", s({0xc3}), false},
        {"e2 82", s({0xe2, 0x82}), false},
        {"e2", s({0xe2}), false},
        {"f0 9d 84", s({0xf0, 0x9d, 0x84}), false},
        {"truncated then ascii", s({0xe2, 0x82, 0x41}), false},
        {"ascii then truncated", "abcdefghij\xe2\x82", false},
        /* stray continuation bytes */
        {"lone 80", s({0x80}), false},
        {"lone bf", s({0xbf}), false},
        {"2 continuations", s({0xc3, 0xa9, 0xa9}), false},
        {"bad 2nd of 2", s({0xc3, 0x41}), false},
        {"bad 3rd of 3", s({0xe2, 0x82, 0xc0}), false},
        {"bad 4th of 4", s({0xf0, 0x9d, 0x84, 0x41}), false},
        /* errors behind the 8-byte ASCII fast path */
        {"error after 8 ascii", "abcdefgh\xff", false},
        {"error after 16 ascii", "abcdefghijklmnop\xc0\xaf", false},
        {"valid after 16 ascii", "abcdefghijklmnop\xc3\xa9xyz", true},
        {"high bit in the 8th byte", "abcdefg\xc3\xa9", true},
    };
}

}  // namespace

TEST(Utf8, Table)
{
    for (const Case& c : table()) {
        /* exact-size heap copy: any read past the end shows under ASan */
        std::vector<char> heap(c.bytes.begin(), c.bytes.end());
        EXPECT_EQ(valid_utf8(std::string_view(heap.data(), heap.size())),
                  c.valid)
            << c.name;
    }
}

TEST(Utf8, EveryPrefixOfAValidStringStopsOnlyInsideCharacters)
{
    /* characters of 1, 2, 3 and 4 bytes, then ASCII past the fast path */
    const std::string text =
        "a\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e" "bcdefghijklmnop";
    const std::vector<std::size_t> boundaries = {0, 1, 3, 6, 10};

    for (std::size_t n = 0; n <= text.size(); n++) {
        std::vector<char> heap(text.begin(), text.begin() + n);
        bool at_boundary = n >= 10
                           || std::find(boundaries.begin(), boundaries.end(),
                                        n) != boundaries.end();
        EXPECT_EQ(valid_utf8(std::string_view(heap.data(), heap.size())),
                  at_boundary)
            << n;
    }
}

TEST(Utf8, AllTwoByteLeadsAgainstAllSecondBytes)
{
    for (int lead = 0x80; lead <= 0xff; lead++) {
        for (int second = 0; second <= 0xff; second++) {
            std::string in = s({lead, second});
            bool expected = lead >= 0xc2 && lead <= 0xdf && second >= 0x80
                            && second <= 0xbf;
            if (lead >= 0xe0) {
                expected = false;      /* truncated or invalid either way */
            }
            ASSERT_EQ(valid_utf8(in), expected) << lead << " " << second;
        }
    }
}
