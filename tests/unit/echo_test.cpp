/*
 * The echo handlers the compliance suites drive. SocketEcho is exercised
 * through the Socket.IO server in sio_server_test.cpp; here EngineEcho.
 */
#include "fakes.hpp"

#include "core/handlers/echo.hpp"

#include <gtest/gtest.h>

using namespace socketio::eio;
using Strings = std::vector<std::string>;

TEST(EngineEcho, TextAndBinaryComeBackAsTheyCame)
{
    socketio::handlers::EngineEcho echo;
    fakes::EngineHarness h(echo);
    fakes::FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();

    Session* s = h.find(sid);
    s->on_ws_message(link, false, "4hello \xe2\x82\xac", 1);
    s->on_ws_message(link, true, std::string("\x00\x01\xff", 3), 1);
    s->on_ws_message(link, false, "4", 1);
    h.engine.flush();

    ASSERT_EQ(link.sent.size(), 4u);
    EXPECT_EQ(link.sent[1]->packet(), "4hello \xe2\x82\xac");
    EXPECT_FALSE(link.sent[1]->is_binary());
    EXPECT_EQ(link.sent[2]->packet(), std::string("\x00\x01\xff", 3));
    EXPECT_TRUE(link.sent[2]->is_binary());
    EXPECT_EQ(link.sent[3]->packet(), "4");
}

TEST(EngineEcho, OverPolling)
{
    socketio::handlers::EngineEcho echo;
    fakes::EngineHarness h(echo);
    std::string sid = h.open_polling(0);
    EXPECT_FALSE(h.post(sid, "4a\x1e" "bAQIDBA==\x1e" "4b", 1));
    EXPECT_EQ(h.poll(sid, 2).responses,
              Strings{"4a\x1e" "bAQIDBA==\x1e" "4b"});
}
