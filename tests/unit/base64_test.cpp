#include "core/util/base64.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using socketio::util::base64_decode;
using socketio::util::base64_encode;
using socketio::util::base64url_encode;

TEST(Base64, EncodesRfc4648Vectors)
{
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesWhatItEncodes)
{
    std::string all;
    for (int i = 0; i < 256; i++) {
        all.push_back(static_cast<char>(i));
    }
    for (std::size_t n = 0; n <= all.size(); n++) {
        auto in = all.substr(0, n);
        auto out = base64_decode(base64_encode(in));
        ASSERT_TRUE(out.has_value()) << n;
        EXPECT_EQ(*out, in);
    }
}

TEST(Base64, EngineIoBinaryExample)
{
    /* engine.io-protocol: "bAQIDBA==" carries the bytes 1 2 3 4 */
    auto out = base64_decode("AQIDBA==");
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, std::string("\x01\x02\x03\x04", 4));
}

TEST(Base64, RejectsMalformedInput)
{
    EXPECT_FALSE(base64_decode("A"));
    EXPECT_FALSE(base64_decode("AQI"));
    EXPECT_FALSE(base64_decode("AQ=D"));
    EXPECT_FALSE(base64_decode("A===")) ;
    EXPECT_FALSE(base64_decode("AQ==AQ=="));
    EXPECT_FALSE(base64_decode("AQID\n"));
    EXPECT_FALSE(base64_decode("AQ-_"));
}

TEST(Base64, UrlAlphabetHasNoPaddingAndNoSlash)
{
    std::string raw(15, '\xff');
    auto id = base64url_encode(raw);
    EXPECT_EQ(id.size(), 20u);
    EXPECT_EQ(id.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
}

TEST(Base64, EveryPrefixOfAnEncoding)
{
    /* cut at every byte, in an exact-size buffer: only whole quads decode */
    const std::string enc = base64_encode("any carnal pleasure.");
    for (std::size_t n = 0; n <= enc.size(); n++) {
        std::vector<char> heap(enc.begin(), enc.begin() + n);
        auto out = base64_decode(std::string_view(heap.data(), heap.size()));
        EXPECT_EQ(out.has_value(), n % 4 == 0) << n;
    }
}
