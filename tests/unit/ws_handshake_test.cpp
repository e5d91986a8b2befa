#include "core/ws/handshake.hpp"

#include <gtest/gtest.h>

using socketio::ws::accept_key;
using socketio::ws::valid_client_key;

TEST(WsHandshake, Rfc6455ExampleKey)
{
    /* RFC 6455 section 1.3 (the brief quoted "s3pPLMBiTxaQ9kBRmcJyGyjbDXo=",
       which is not what the RFC or SHA-1 give) */
    EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
              "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsHandshake, OtherKnownKey)
{
    /* the pair that Wikipedia's WebSocket article shows */
    EXPECT_EQ(accept_key("x3JJHMbDL1EzLkh9GBhXDw=="),
              "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    EXPECT_EQ(accept_key("wDqumtseNBJdhkihL6PW7w=="),
              "0FFP+2nmNIf/h+4BP36k9uzrYGk=");
}

TEST(WsHandshake, ValidClientKey)
{
    EXPECT_TRUE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_TRUE(valid_client_key("AAAAAAAAAAAAAAAAAAAAAA=="));
    EXPECT_TRUE(valid_client_key("/////////////////////w=="));

    EXPECT_FALSE(valid_client_key(""));
    /* 15 and 17 bytes */
    EXPECT_FALSE(valid_client_key("AAAAAAAAAAAAAAAAAAAA"));
    EXPECT_FALSE(valid_client_key("AAAAAAAAAAAAAAAAAAAAAAA="));
    /* not base64, or padding missing */
    EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ"));
    EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=!"));
    EXPECT_FALSE(valid_client_key(" dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    EXPECT_FALSE(valid_client_key("dGhl-HNhbXBsZSBub25jZQ=="));
}
