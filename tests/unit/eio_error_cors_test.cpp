#include "core/eio/cors.hpp"
#include "core/eio/error.hpp"

#include <gtest/gtest.h>

using namespace socketio::eio;

TEST(EioError, MessagesCodesAndStatus)
{
    /* the reference server's Server.errors */
    struct {
        Error e;
        int code;
        const char* message;
        int status;
    } cases[] = {
        {Error::unknown_transport, 0, "Transport unknown", 400},
        {Error::unknown_sid, 1, "Session ID unknown", 400},
        {Error::bad_handshake_method, 2, "Bad handshake method", 400},
        {Error::bad_request, 3, "Bad request", 400},
        {Error::forbidden, 4, "Forbidden", 403},
        {Error::unsupported_protocol_version, 5,
         "Unsupported protocol version", 400},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(static_cast<int>(c.e), c.code);
        EXPECT_EQ(error_message(c.e), c.message);
        EXPECT_EQ(error_status(c.e), c.status);
        EXPECT_EQ(error_body(c.e), "{\"code\":" + std::to_string(c.code)
                                       + ",\"message\":\"" + c.message
                                       + "\"}");
    }
}

TEST(EioCors, DisabledSendsNothing)
{
    CorsPolicy p;
    CorsAnswer a = cors_check(p, "https://evil.example");
    EXPECT_FALSE(a.forbidden);
    EXPECT_EQ(a.allow_origin, "");
    EXPECT_FALSE(a.credentials);
    EXPECT_FALSE(a.vary_origin);
}

TEST(EioCors, Any)
{
    CorsPolicy p;
    p.enabled = true;
    p.any = true;
    for (std::string_view origin : {"", "https://a.example"}) {
        CorsAnswer a = cors_check(p, origin);
        EXPECT_FALSE(a.forbidden);
        EXPECT_EQ(a.allow_origin, "*");
        EXPECT_FALSE(a.credentials) << "credentials never go with *";
    }
}

TEST(EioCors, List)
{
    CorsPolicy p;
    p.enabled = true;
    p.origins = {"https://a.example", "http://b.example:8080"};

    CorsAnswer a = cors_check(p, "https://a.example");
    EXPECT_FALSE(a.forbidden);
    EXPECT_EQ(a.allow_origin, "https://a.example");
    EXPECT_TRUE(a.credentials);
    EXPECT_TRUE(a.vary_origin);

    a = cors_check(p, "http://b.example:8080");
    EXPECT_EQ(a.allow_origin, "http://b.example:8080");

    for (std::string_view bad : {"https://c.example", "https://a.example/",
                                 "HTTPS://A.EXAMPLE", "http://b.example",
                                 "null"}) {
        a = cors_check(p, bad);
        EXPECT_TRUE(a.forbidden) << bad;
        EXPECT_EQ(a.allow_origin, "");
    }

    /* no Origin: same-origin, neither allowed nor refused */
    a = cors_check(p, "");
    EXPECT_FALSE(a.forbidden);
    EXPECT_EQ(a.allow_origin, "");
}

TEST(EioCors, PreflightMethods)
{
    EXPECT_EQ(cors_allow_methods, "GET,HEAD,PUT,PATCH,POST,DELETE");
}
