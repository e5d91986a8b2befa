#include "core/util/utf8.hpp"
#include "core/ws/writer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using socketio::ws::close_frame;
using socketio::ws::control_frame;
using socketio::ws::max_server_header;
using socketio::ws::Opcode;
using socketio::ws::write_header;

namespace {

std::string header(Opcode op, std::uint64_t len)
{
    char buf[max_server_header + 4];
    std::memset(buf, 0x55, sizeof(buf));
    std::size_t n = write_header(buf, op, len);
    EXPECT_LE(n, max_server_header);
    /* nothing written past what it says */
    for (std::size_t i = n; i < sizeof(buf); i++) {
        EXPECT_EQ(buf[i], 0x55) << i;
    }
    return std::string(buf, n);
}

std::string bytes(std::initializer_list<int> b)
{
    std::string out;
    for (int c : b) {
        out.push_back(static_cast<char>(c));
    }
    return out;
}

}  // namespace

TEST(WsWriter, HeaderLengths)
{
    EXPECT_EQ(header(Opcode::text, 0), bytes({0x81, 0x00}));
    EXPECT_EQ(header(Opcode::text, 1), bytes({0x81, 0x01}));
    EXPECT_EQ(header(Opcode::text, 125), bytes({0x81, 0x7d}));
    EXPECT_EQ(header(Opcode::text, 126), bytes({0x81, 0x7e, 0x00, 0x7e}));
    EXPECT_EQ(header(Opcode::binary, 256), bytes({0x82, 0x7e, 0x01, 0x00}));
    EXPECT_EQ(header(Opcode::binary, 65535), bytes({0x82, 0x7e, 0xff, 0xff}));
    EXPECT_EQ(header(Opcode::binary, 65536),
              bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
    EXPECT_EQ(header(Opcode::text, 70000),
              bytes({0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70}));
    EXPECT_EQ(header(Opcode::binary, 0x0102030405060708ULL),
              bytes({0x82, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(WsWriter, HeaderOpcodes)
{
    EXPECT_EQ(header(Opcode::close, 2), bytes({0x88, 0x02}));
    EXPECT_EQ(header(Opcode::ping, 0), bytes({0x89, 0x00}));
    EXPECT_EQ(header(Opcode::pong, 4), bytes({0x8a, 0x04}));
}

TEST(WsWriter, CloseFrameWithCodeAndReason)
{
    EXPECT_EQ(close_frame(1000, "bye"),
              bytes({0x88, 0x05, 0x03, 0xe8}) + "bye");
    EXPECT_EQ(close_frame(1002), bytes({0x88, 0x02, 0x03, 0xea}));
    EXPECT_EQ(close_frame(4999, "x"), bytes({0x88, 0x03, 0x13, 0x87}) + "x");
}

TEST(WsWriter, CloseFrameNoStatusIsEmpty)
{
    EXPECT_EQ(close_frame(1005), bytes({0x88, 0x00}));
    /* a reason cannot go without a code */
    EXPECT_EQ(close_frame(1005, "ignored"), bytes({0x88, 0x00}));
}

TEST(WsWriter, CloseReasonIsCutTo123Bytes)
{
    std::string reason(200, 'r');
    std::string f = close_frame(1001, reason);
    ASSERT_EQ(f.size(), 2u + 125u);
    EXPECT_EQ(static_cast<unsigned char>(f[1]), 125);
    EXPECT_EQ(f.substr(2, 2), bytes({0x03, 0xe9}));
    EXPECT_EQ(f.substr(4), std::string(123, 'r'));
}

TEST(WsWriter, CloseReasonIsNotCutInsideACharacter)
{
    /* 122 ASCII bytes then a 2-byte character: 124 > 123, the character
       must go whole, or the client fails the connection with 1007 */
    std::string reason(122, 'r');
    reason += "\xc3\xa9";
    std::string f = close_frame(1000, reason);
    std::string_view sent = std::string_view(f).substr(4);
    EXPECT_TRUE(socketio::util::valid_utf8(sent));
    EXPECT_EQ(sent, std::string(122, 'r'));

    /* a 4-byte character across the limit */
    reason = std::string(121, 'r') + "\xf0\x9d\x84\x9e";
    f = close_frame(1000, reason);
    sent = std::string_view(f).substr(4);
    EXPECT_TRUE(socketio::util::valid_utf8(sent));
    EXPECT_EQ(sent, std::string(121, 'r'));

    /* one that fits exactly stays */
    reason = std::string(119, 'r') + "\xf0\x9d\x84\x9e";
    f = close_frame(1000, reason);
    EXPECT_EQ(std::string_view(f).substr(4), reason);
}

TEST(WsWriter, ControlFrames)
{
    EXPECT_EQ(control_frame(Opcode::ping, ""), bytes({0x89, 0x00}));
    EXPECT_EQ(control_frame(Opcode::pong, "abc"), bytes({0x8a, 0x03}) + "abc");

    std::string big(300, 'p');
    std::string f = control_frame(Opcode::pong, big);
    ASSERT_EQ(f.size(), 127u);
    EXPECT_EQ(f.substr(0, 2), bytes({0x8a, 0x7d}));
    EXPECT_EQ(f.substr(2), std::string(125, 'p'));

    f = control_frame(Opcode::ping, std::string(125, 'q'));
    EXPECT_EQ(f.size(), 127u);
    f = control_frame(Opcode::ping, std::string(126, 'q'));
    EXPECT_EQ(f.size(), 127u);
}
