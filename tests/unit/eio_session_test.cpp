/*
 * eio::Session through a real Engine: handshake, polling, heartbeat,
 * upgrade, closing and slow readers, with fake transports and a recording
 * handler. Time is whatever number the test passes.
 */
#include "fakes.hpp"

#include "core/eio/engine.hpp"
#include "core/eio/session.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

using namespace socketio::eio;
using fakes::EngineHarness;
using fakes::FakeLink;
using fakes::FakePoll;
using fakes::split_payload;

namespace {

using Strings = std::vector<std::string>;

EncodedPtr msg(std::string_view data)
{
    return Encoded::text(PacketType::message, data);
}

Config small_config()
{
    Config c;
    c.ping_interval = 1000;
    c.ping_timeout = 500;
    c.upgrade_timeout = 300;
    c.max_payload = 12345;
    return c;
}

class SessionTest : public ::testing::Test {
protected:
    explicit SessionTest(Config c = small_config()) : h(handler, c) {}

    std::string q(const std::string& sid, const char* transport = "polling")
    {
        return std::string("EIO=4&transport=") + transport + "&sid=" + sid;
    }

    bool routed(const std::string& sid, const char* method,
                const char* transport = "polling", bool websocket = false)
    {
        return std::holds_alternative<Route>(
            h.route(method, q(sid, transport), websocket));
    }

    Session& s(const std::string& sid)
    {
        Session* p = h.find(sid);
        if (p == nullptr) {
            throw std::runtime_error("no such session");
        }
        return *p;
    }

    /* a session upgraded to `link`, its GETs all answered */
    std::string upgraded(FakeLink& link, Millis now)
    {
        std::string sid = h.open_polling(now);
        EXPECT_TRUE(s(sid).attach_websocket(link, now));
        s(sid).on_ws_message(link, false, "2probe", now);
        h.engine.flush();
        s(sid).on_ws_message(link, false, "5", now);
        h.engine.flush();
        EXPECT_TRUE(s(sid).upgraded());
        return sid;
    }

    fakes::RecordingHandler handler;
    EngineHarness h;
};

}  // namespace

/* --- handshake --- */

TEST_F(SessionTest, OpenPacketOverPolling)
{
    std::string sid = h.open_polling(0);
    ASSERT_EQ(h.handshake.substr(0, 1), "0");
    EXPECT_EQ(h.handshake,
              "0{\"sid\":\"" + sid
                  + "\",\"upgrades\":[\"websocket\"],\"pingInterval\":1000,"
                    "\"pingTimeout\":500,\"maxPayload\":12345}");
    auto v = boost::json::parse(h.handshake.substr(1));
    EXPECT_EQ(v.at("sid").as_string(), sid);

    EXPECT_EQ(s(sid).transport(), TransportKind::polling);
    EXPECT_EQ(s(sid).state(), Session::State::open);
    EXPECT_EQ(handler.logs.size(), 1u);
    EXPECT_EQ(handler.log(sid).session, &s(sid));
}

TEST_F(SessionTest, OpenPacketOverWebSocketOffersNoUpgrade)
{
    FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    EXPECT_TRUE(link.sent.empty()) << "nothing before the flush";
    h.engine.flush();
    ASSERT_EQ(link.packets().size(), 1u);
    EXPECT_EQ(link.packets()[0],
              "0{\"sid\":\"" + sid
                  + "\",\"upgrades\":[],\"pingInterval\":1000,"
                    "\"pingTimeout\":500,\"maxPayload\":12345}");
    EXPECT_FALSE(link.sent[0]->is_binary());
    EXPECT_EQ(s(sid).transport(), TransportKind::websocket);
}

TEST(SessionConfig, NoUpgradeOfferedWhenWebSocketIsOff)
{
    fakes::RecordingHandler handler;
    Config c;
    c.websocket = false;
    EngineHarness h(handler, c);
    std::string sid = h.open_polling(0);
    EXPECT_NE(h.handshake.find("\"upgrades\":[]"), std::string::npos);
    FakeLink link;
    EXPECT_FALSE(h.find(sid)->attach_websocket(link, 1));
}

/* --- polling --- */

TEST_F(SessionTest, GetIsAnsweredAtFlushOnly)
{
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 10);
    EXPECT_FALSE(get.answered()) << "nothing to say yet";

    s(sid).send(msg("hello"));
    EXPECT_FALSE(get.answered()) << "not from inside send()";
    h.engine.flush();
    EXPECT_EQ(get.responses, Strings{"4hello"});

    /* answered once: the next packet waits for the next GET */
    s(sid).send(msg("later"));
    h.engine.flush();
    EXPECT_EQ(get.responses.size(), 1u);
    FakePoll& next = h.poll(sid, 20);
    EXPECT_EQ(next.responses, Strings{"4later"});
}

TEST_F(SessionTest, PacketsQueuedBetweenGetsAreJoined)
{
    std::string sid = h.open_polling(0);
    s(sid).send(msg("a"));
    s(sid).send(Encoded::binary("\x01\x02"));
    h.engine.flush();
    s(sid).send(msg("c"));
    FakePoll& get = h.poll(sid, 10);
    ASSERT_EQ(get.responses.size(), 1u);
    EXPECT_EQ(get.last(), "4a\x1e" "bAQI=\x1e" "4c");
    EXPECT_EQ(split_payload(get.last()).size(), 3u);
}

TEST_F(SessionTest, HandshakeGetCarriesWhatTheHandlerSentAtOnce)
{
    handler.setup = [](fakes::EndpointLog& log) {
        log.session->send(msg("welcome"));
    };
    std::string sid = h.open_polling(0);
    auto packets = split_payload(h.handshake);
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_EQ(packets[0].substr(0, 8), "0{\"sid\":");
    EXPECT_EQ(packets[1], "4welcome");
}

TEST_F(SessionTest, PostDeliversMessages)
{
    std::string sid = h.open_polling(0);
    EXPECT_FALSE(h.post(sid, "4hello\x1e" "bAQIDBA==\x1e" "4", 5));
    const auto& m = handler.log(sid).messages;
    ASSERT_EQ(m.size(), 3u);
    EXPECT_FALSE(m[0].binary);
    EXPECT_EQ(m[0].data, "hello");
    EXPECT_TRUE(m[1].binary);
    EXPECT_EQ(m[1].data, "\x01\x02\x03\x04");
    EXPECT_EQ(m[2].data, "");
    EXPECT_EQ(s(sid).state(), Session::State::open);
}

TEST_F(SessionTest, PostIgnoresNoopOpenAndUpgradePackets)
{
    std::string sid = h.open_polling(0);
    EXPECT_FALSE(h.post(sid, "6\x1e" "0\x1e" "5\x1e" "4x", 5));
    ASSERT_EQ(handler.log(sid).messages.size(), 1u);
    EXPECT_EQ(s(sid).state(), Session::State::open);
}

TEST_F(SessionTest, BadPostPayloadClosesTheSession)
{
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 1);
    auto err = h.post(sid, "4a\x1e\x1e", 2);
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, Error::bad_request);
    EXPECT_EQ(get.responses, Strings{"1"});
    EXPECT_EQ(handler.log(sid).closes, Strings{"parse error"});
    EXPECT_TRUE(handler.log(sid).messages.empty());
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, PingFromTheClientIsAnError)
{
    /* v4: only the server pings */
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 1);
    EXPECT_FALSE(h.post(sid, "2", 2));
    EXPECT_EQ(get.responses, Strings{"1"});
    EXPECT_EQ(handler.log(sid).closes, Strings{"transport error"});
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, ClientCloseOverPost)
{
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 1);
    EXPECT_FALSE(h.post(sid, "4last\x1e" "1\x1e" "4never", 2));
    /* the waiting GET ends with a noop, as the reference server does */
    EXPECT_EQ(get.responses, Strings{"6"});
    ASSERT_EQ(handler.log(sid).messages.size(), 1u);
    EXPECT_EQ(handler.log(sid).messages[0].data, "last");
    EXPECT_EQ(handler.log(sid).closes, Strings{"transport close"});
    EXPECT_EQ(h.find(sid), nullptr);
    EXPECT_FALSE(routed(sid, "GET"));
}

TEST_F(SessionTest, TwoGetsAtOnceCloseTheSession)
{
    std::string sid = h.open_polling(0);
    FakePoll first, second;
    ASSERT_FALSE(s(sid).on_poll(first, 1));
    auto err = s(sid).on_poll(second, 1);
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, Error::bad_request);
    EXPECT_FALSE(routed(sid, "GET"));
    h.engine.flush();
    EXPECT_EQ(first.responses, Strings{"1"});
    EXPECT_TRUE(second.responses.empty()) << "its error goes as HTTP 400";
    EXPECT_EQ(handler.log(sid).closes, Strings{"transport error"});
    EXPECT_EQ(h.find(sid), nullptr);
    EXPECT_TRUE(handler.log(sid).destroyed);
}

TEST_F(SessionTest, TwoPostsAtOnceCloseTheSession)
{
    std::string sid = h.open_polling(0);
    ASSERT_FALSE(s(sid).begin_post());
    auto err = s(sid).begin_post();
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, Error::bad_request);
    EXPECT_EQ(handler.log(sid).closes, Strings{"transport error"});
    h.engine.flush();
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, PostsOneAfterTheOtherAreFine)
{
    std::string sid = h.open_polling(0);
    for (int i = 0; i < 3; i++) {
        EXPECT_FALSE(h.post(sid, "4m" + std::to_string(i), i));
    }
    EXPECT_EQ(handler.log(sid).messages.size(), 3u);
    EXPECT_EQ(s(sid).state(), Session::State::open);
}

TEST_F(SessionTest, ClientGoneDuringAGet)
{
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 1);
    s(sid).on_poll_gone(get, 2);
    EXPECT_EQ(handler.log(sid).closes, Strings{"transport error"});
    h.engine.flush();
    EXPECT_TRUE(get.responses.empty()) << "nobody to answer";
    EXPECT_EQ(h.find(sid), nullptr);

    /* a GET the session does not hold is none of its business */
    std::string other = h.open_polling(3);
    FakePoll stranger;
    s(other).on_poll_gone(stranger, 4);
    EXPECT_EQ(s(other).state(), Session::State::open);
}

/* --- heartbeat --- */

TEST_F(SessionTest, PingAtPingInterval)
{
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 1);
    EXPECT_EQ(h.engine.next_deadline(), 1000);
    h.engine.on_timer(999);
    EXPECT_FALSE(get.answered());
    h.engine.on_timer(1000);
    EXPECT_EQ(get.responses, Strings{"2"});
    EXPECT_EQ(h.engine.next_deadline(), 1500) << "the pong timeout";
}

TEST_F(SessionTest, PongResetsTheHeartbeat)
{
    std::string sid = h.open_polling(0);
    h.engine.on_timer(1000);
    EXPECT_EQ(h.poll(sid, 1100).responses, Strings{"2"});
    EXPECT_FALSE(h.post(sid, "3", 1200));
    EXPECT_EQ(h.engine.next_deadline(), 2200);
    h.engine.on_timer(1500);
    EXPECT_EQ(s(sid).state(), Session::State::open);
    FakePoll& get = h.poll(sid, 1600);
    h.engine.on_timer(2199);
    EXPECT_FALSE(get.answered());
    h.engine.on_timer(2200);
    EXPECT_EQ(get.responses, Strings{"2"});

    /* and again, many times */
    for (Millis t = 2300; t < 20000; t += 1000) {
        EXPECT_FALSE(h.post(sid, "3", t));
        h.engine.on_timer(t + 1000);
        EXPECT_EQ(h.poll(sid, t + 1000).responses, Strings{"2"}) << t;
    }
    EXPECT_EQ(s(sid).state(), Session::State::open);
}

TEST_F(SessionTest, PingTimeoutCloses)
{
    std::string sid = h.open_polling(0);
    h.engine.on_timer(1000);
    EXPECT_EQ(h.poll(sid, 1000).responses, Strings{"2"});
    FakePoll& get = h.poll(sid, 1001);
    h.engine.on_timer(1499);
    EXPECT_FALSE(get.answered());
    h.engine.on_timer(1500);
    EXPECT_EQ(get.responses, Strings{"1"});
    EXPECT_EQ(handler.log(sid).closes, Strings{"ping timeout"});
    EXPECT_EQ(h.find(sid), nullptr);
    EXPECT_EQ(h.engine.next_deadline(), never);
}

TEST_F(SessionTest, AnyPacketExtendsThePongDeadline)
{
    std::string sid = h.open_polling(0);
    h.engine.on_timer(1000);                  /* ping, pong due by 1500 */
    EXPECT_FALSE(h.post(sid, "4alive", 1400));
    h.engine.on_timer(1500);
    EXPECT_EQ(s(sid).state(), Session::State::open);
    EXPECT_EQ(h.engine.next_deadline(), 1900);
    EXPECT_FALSE(h.post(sid, "6", 1800));    /* a noop counts too */
    h.engine.on_timer(1900);
    EXPECT_EQ(s(sid).state(), Session::State::open);
    EXPECT_EQ(h.engine.next_deadline(), 2300);
    h.engine.on_timer(2300);
    EXPECT_EQ(h.find(sid), nullptr);
    EXPECT_EQ(handler.log(sid).closes, Strings{"ping timeout"});
}

TEST_F(SessionTest, PingGoesOverTheWebSocket)
{
    FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();
    h.engine.on_timer(1000);
    EXPECT_EQ(link.packets().back(), "2");
    s(sid).on_ws_message(link, false, "3", 1100);
    h.engine.flush();
    EXPECT_EQ(h.engine.next_deadline(), 2100);
    h.engine.on_timer(2100);
    h.engine.on_timer(2600);
    EXPECT_TRUE(link.closed);
    EXPECT_EQ(handler.log(sid).closes, Strings{"ping timeout"});
    EXPECT_EQ(h.find(sid), nullptr);
}

/* --- WebSocket sessions --- */

TEST_F(SessionTest, WebSocketMessagesBothWays)
{
    FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();
    s(sid).on_ws_message(link, false, "4hi", 1);
    s(sid).on_ws_message(link, true, std::string("\x00\xff", 2), 1);
    const auto& m = handler.log(sid).messages;
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].data, "hi");
    EXPECT_TRUE(m[1].binary);
    EXPECT_EQ(m[1].data, std::string("\x00\xff", 2));

    s(sid).send(msg("a"));
    s(sid).send(Encoded::binary("b"));
    h.engine.flush();
    ASSERT_EQ(link.sent.size(), 3u);
    EXPECT_EQ(link.sent[1]->ws_frame(), std::string("\x81\x02" "4a"));
    EXPECT_EQ(link.sent[2]->ws_frame(), std::string("\x82\x01" "b"));
}

TEST_F(SessionTest, WebSocketBase64InATextFrame)
{
    /* as the reference's decodePacket: "b" + base64 is binary anywhere */
    FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();
    s(sid).on_ws_message(link, false, "bAQIDBA==", 1);
    s(sid).on_ws_message(link, false, "b", 1);
    const auto& m = handler.log(sid).messages;
    ASSERT_EQ(m.size(), 2u);
    EXPECT_TRUE(m[0].binary);
    EXPECT_EQ(m[0].data, "\x01\x02\x03\x04");
    EXPECT_TRUE(m[1].binary);
    EXPECT_EQ(m[1].data, "");

    s(sid).on_ws_message(link, false, "bAQI", 2);
    EXPECT_EQ(handler.log(sid).closes, Strings{"parse error"});
}

TEST_F(SessionTest, WebSocketBadTextPacketCloses)
{
    FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();
    s(sid).on_ws_message(link, false, "", 1);
    EXPECT_EQ(handler.log(sid).closes, Strings{"parse error"});
    h.engine.flush();
    EXPECT_TRUE(link.closed);
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, WebSocketCloseFromTheClient)
{
    FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();
    s(sid).on_ws_message(link, false, "1", 1);
    EXPECT_EQ(handler.log(sid).closes, Strings{"transport close"});
    h.engine.flush();
    EXPECT_TRUE(link.closed);
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, WebSocketGone)
{
    FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();
    s(sid).on_ws_gone(link, 1);
    EXPECT_EQ(handler.log(sid).closes, Strings{"transport close"});
    h.engine.flush();
    EXPECT_FALSE(link.closed) << "a link that is gone is not closed again";
    EXPECT_EQ(h.find(sid), nullptr);
}

/* --- upgrade --- */

TEST_F(SessionTest, Upgrade)
{
    std::string sid = h.open_polling(0);
    FakePoll& waiting = h.poll(sid, 10);
    ASSERT_TRUE(routed(sid, "GET", "websocket", true));

    FakeLink probe;
    ASSERT_TRUE(s(sid).attach_websocket(probe, 20));
    EXPECT_TRUE(s(sid).upgrading());
    h.engine.flush();
    EXPECT_TRUE(probe.sent.empty());
    EXPECT_FALSE(waiting.answered());

    /* 2probe: 3probe on the probe, and the waiting GET let go */
    s(sid).on_ws_message(probe, false, "2probe", 30);
    h.engine.flush();
    EXPECT_EQ(probe.packets(), Strings{"3probe"});
    EXPECT_EQ(waiting.responses, Strings{"6"});
    EXPECT_EQ(s(sid).transport(), TransportKind::polling);

    /* until "5", output still goes by polling */
    s(sid).send(msg("by polling"));
    FakePoll& next = h.poll(sid, 40);
    EXPECT_EQ(next.responses, Strings{"4by polling"});
    FakePoll& last = h.poll(sid, 41);
    s(sid).send(msg("queued"));

    /* 5: the WebSocket becomes the transport and takes the queue */
    s(sid).on_ws_message(probe, false, "5", 50);
    EXPECT_TRUE(s(sid).upgraded());
    EXPECT_FALSE(s(sid).upgrading());
    EXPECT_EQ(s(sid).transport(), TransportKind::websocket);
    h.engine.flush();
    EXPECT_EQ(last.responses, Strings{"6"});
    EXPECT_EQ(probe.packets(), (Strings{"3probe", "4queued"}));

    s(sid).send(msg("by ws"));
    h.engine.flush();
    EXPECT_EQ(probe.packets().back(), "4by ws");

    /* polling requests are refused from now on */
    EXPECT_FALSE(routed(sid, "GET"));
    EXPECT_FALSE(routed(sid, "POST"));
    FakePoll late;
    auto err = s(sid).on_poll(late, 60);
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, Error::bad_request);
    EXPECT_EQ(s(sid).state(), Session::State::open);
    EXPECT_EQ(s(sid).on_post("4x", 60).error, Error::bad_request);

    /* messages come in over the WebSocket */
    s(sid).on_ws_message(probe, false, "4over ws", 70);
    EXPECT_EQ(handler.log(sid).messages.back().data, "over ws");
    EXPECT_FALSE(probe.closed);
}

TEST_F(SessionTest, UpgradeWithoutWaitingGet)
{
    std::string sid = h.open_polling(0);
    FakeLink probe;
    ASSERT_TRUE(s(sid).attach_websocket(probe, 1));
    s(sid).send(msg("pending"));
    s(sid).on_ws_message(probe, false, "2probe", 2);
    /* the web server flushes after each read; the client sends "5" only
       once it has "3probe" */
    h.engine.flush();
    EXPECT_EQ(probe.packets(), Strings{"3probe"});
    s(sid).on_ws_message(probe, false, "5", 3);
    h.engine.flush();
    EXPECT_EQ(probe.packets(), (Strings{"3probe", "4pending"}));
}

TEST_F(SessionTest, UpgradedSessionPingsAndTimesOutOverWebSocket)
{
    FakeLink link;
    std::string sid = upgraded(link, 0);
    h.engine.on_timer(1000);
    EXPECT_EQ(link.packets().back(), "2");
    h.engine.on_timer(1500);
    EXPECT_TRUE(link.closed);
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, UpgradeTimeoutClosesTheProbe)
{
    std::string sid = h.open_polling(0);
    FakeLink probe;
    ASSERT_TRUE(s(sid).attach_websocket(probe, 100));
    h.engine.flush();
    EXPECT_EQ(h.engine.next_deadline(), 400);
    h.engine.on_timer(399);
    EXPECT_FALSE(probe.closed);
    h.engine.on_timer(400);
    EXPECT_TRUE(probe.closed);
    EXPECT_EQ(probe.code, 1000);
    EXPECT_FALSE(s(sid).upgrading());
    EXPECT_EQ(s(sid).state(), Session::State::open);
    EXPECT_EQ(h.engine.next_deadline(), 1000);

    /* the session goes on by polling, and may try again */
    s(sid).send(msg("still here"));
    EXPECT_EQ(h.poll(sid, 500).responses, Strings{"4still here"});
    FakeLink again;
    EXPECT_TRUE(s(sid).attach_websocket(again, 600));
    EXPECT_EQ(probe.closes, 1);
}

TEST_F(SessionTest, UpgradeTimeoutAfterTheProbeToo)
{
    std::string sid = h.open_polling(0);
    FakeLink probe;
    ASSERT_TRUE(s(sid).attach_websocket(probe, 0));
    s(sid).on_ws_message(probe, false, "2probe", 10);
    h.engine.flush();
    h.engine.on_timer(300);
    EXPECT_TRUE(probe.closed);
    /* a "5" on a closed probe changes nothing */
    s(sid).on_ws_message(probe, false, "5", 301);
    h.engine.flush();
    EXPECT_FALSE(s(sid).upgraded());
    EXPECT_EQ(s(sid).transport(), TransportKind::polling);
}

TEST_F(SessionTest, SecondWebSocketIsRefused)
{
    std::string sid = h.open_polling(0);
    FakeLink probe, second;
    ASSERT_TRUE(s(sid).attach_websocket(probe, 1));
    EXPECT_FALSE(s(sid).attach_websocket(second, 2)) << "while upgrading";
    s(sid).on_ws_message(probe, false, "2probe", 3);
    s(sid).on_ws_message(probe, false, "5", 4);
    h.engine.flush();
    FakeLink third;
    EXPECT_FALSE(s(sid).attach_websocket(third, 5)) << "once upgraded";
    /* the refused links are the caller's to close: the session never
       used them */
    EXPECT_TRUE(second.sent.empty());
    EXPECT_EQ(second.closes, 0);
    EXPECT_FALSE(probe.closed);
}

TEST_F(SessionTest, BadProbeCancelsTheUpgrade)
{
    for (std::string bad : {"2", "2probe!", "4probe", "3probe", "", "x"}) {
        SCOPED_TRACE(bad);
        std::string sid = h.open_polling(0);
        FakeLink probe;
        ASSERT_TRUE(s(sid).attach_websocket(probe, 1));
        s(sid).on_ws_message(probe, false, bad, 2);
        h.engine.flush();
        EXPECT_TRUE(probe.closed);
        EXPECT_EQ(s(sid).state(), Session::State::open);
        EXPECT_FALSE(s(sid).upgrading());
        EXPECT_TRUE(handler.log(sid).messages.empty());
    }
    std::string sid = h.open_polling(0);
    FakeLink probe;
    ASSERT_TRUE(s(sid).attach_websocket(probe, 1));
    s(sid).on_ws_message(probe, true, "2probe", 2);
    h.engine.flush();
    EXPECT_TRUE(probe.closed) << "a binary probe";
}

TEST_F(SessionTest, ProbeGoneKeepsPolling)
{
    std::string sid = h.open_polling(0);
    FakeLink probe;
    ASSERT_TRUE(s(sid).attach_websocket(probe, 1));
    s(sid).on_ws_message(probe, false, "2probe", 2);
    s(sid).on_ws_gone(probe, 3);
    h.engine.flush();
    EXPECT_FALSE(s(sid).upgrading());
    EXPECT_EQ(s(sid).state(), Session::State::open);
    EXPECT_EQ(probe.sent.size(), 0u) << "its 3probe is dropped with it";
    EXPECT_EQ(h.engine.next_deadline(), 1000);
    s(sid).send(msg("x"));
    EXPECT_EQ(h.poll(sid, 4).responses, Strings{"4x"});
}

TEST_F(SessionTest, SessionClosedWhileUpgradingClosesTheProbe)
{
    std::string sid = h.open_polling(0);
    FakeLink probe;
    ASSERT_TRUE(s(sid).attach_websocket(probe, 1));
    FakePoll& get = h.poll(sid, 2);
    EXPECT_FALSE(h.post(sid, "1", 3));
    EXPECT_EQ(get.responses, Strings{"6"});
    EXPECT_TRUE(probe.closed);
    EXPECT_EQ(h.find(sid), nullptr);
}

/* --- closing from the server --- */

TEST_F(SessionTest, GracefulCloseOverPollingWithAWaitingGet)
{
    handler.setup = [](fakes::EndpointLog& log) {
        log.on_message = [](Session& s, bool, std::string_view d) {
            if (d == "bye") {
                s.send(msg("goodbye"));
                s.close(socketio::eio::Reason::forced_close);
                s.send(msg("dropped"));
            }
        };
    };
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 1);
    EXPECT_FALSE(h.post(sid, "4bye", 2));
    EXPECT_EQ(get.responses, Strings{"4goodbye\x1e" "1"});
    EXPECT_EQ(handler.log(sid).closes, Strings{"forced close"});
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, GracefulCloseWaitsForTheNextGet)
{
    std::string sid = h.open_polling(0);
    s(sid).close(socketio::eio::Reason::forced_close);
    EXPECT_EQ(s(sid).state(), Session::State::open) << "deferred";
    h.engine.flush();
    EXPECT_EQ(s(sid).state(), Session::State::closing);
    EXPECT_EQ(handler.log(sid).closes, Strings{"forced close"});
    /* input is no longer taken, but the GET is */
    EXPECT_TRUE(routed(sid, "GET"));
    EXPECT_FALSE(h.post(sid, "4ignored", 3));
    EXPECT_TRUE(handler.log(sid).messages.empty());
    s(sid).send(msg("too late"));
    FakePoll& get = h.poll(sid, 4);
    EXPECT_EQ(get.responses, Strings{"1"});
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, GracefulCloseGivesUpOnAGetThatNeverComes)
{
    std::string sid = h.open_polling(0);
    s(sid).close(socketio::eio::Reason::forced_close);
    h.engine.flush();
    /* min(ping timeout, 2 s) */
    EXPECT_EQ(h.engine.next_deadline(), 500);
    h.engine.on_timer(499);
    EXPECT_NE(h.find(sid), nullptr);
    h.engine.on_timer(500);
    EXPECT_EQ(h.find(sid), nullptr);
    EXPECT_EQ(handler.log(sid).closes, Strings{"forced close"});
}

TEST_F(SessionTest, GracefulCloseOverWebSocket)
{
    FakeLink link;
    std::string sid = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();
    s(sid).send(msg("last words"));
    s(sid).close(socketio::eio::Reason::forced_close);
    s(sid).close(socketio::eio::Reason::connect_timeout);
    h.engine.flush();
    /* no close packet: over WebSocket the close frame says it all, as
       with the reference server */
    auto packets = link.packets();
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_EQ(packets[1], "4last words");
    EXPECT_TRUE(link.closed);
    EXPECT_EQ(link.code, 1000);
    EXPECT_EQ(link.closes, 1);
    EXPECT_EQ(link.sent_after_close, 0);
    EXPECT_EQ(handler.log(sid).closes, Strings{"forced close"});
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, CloseFromInsideOnMessageIsDeferred)
{
    handler.setup = [](fakes::EndpointLog& log) {
        log.on_message = [](Session& s, bool, std::string_view) {
            s.close(socketio::eio::Reason::forced_close);
        };
    };
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 1);
    EXPECT_FALSE(h.post(sid, "4a\x1e" "4b", 2));
    /* the second message came in the same POST, before the flush */
    EXPECT_EQ(handler.log(sid).messages.size(), 2u);
    EXPECT_EQ(get.responses, Strings{"1"});
    EXPECT_EQ(handler.log(sid).closes, Strings{"forced close"});
}

TEST_F(SessionTest, EndpointIsToldOfTheCloseOnce)
{
    std::string sid = h.open_polling(0);
    s(sid).close(socketio::eio::Reason::forced_close);
    FakePoll a, b;
    ASSERT_FALSE(s(sid).on_poll(a, 1));
    h.engine.flush();
    EXPECT_EQ(handler.log(sid).closes, Strings{"forced close"});
    EXPECT_TRUE(handler.log(sid).destroyed);
}

/* --- slow readers --- */

TEST(SessionSlowReader, QueueOverMaxBufferedClosesAtTheNextFlush)
{
    fakes::RecordingHandler handler;
    Config c = small_config();
    c.max_buffered = 100;
    EngineHarness h(handler, c);
    std::string slow = h.open_polling(0);
    std::string fine = h.open_polling(0);

    std::string fifty(49, 'x');
    h.find(slow)->send(msg(fifty));
    h.find(slow)->send(msg(fifty));
    EXPECT_EQ(h.find(slow)->state(), Session::State::open) << "exactly 100";
    h.find(slow)->send(msg("y"));
    EXPECT_EQ(h.find(slow)->state(), Session::State::open)
        << "not in the middle of whoever sends";
    h.find(fine)->send(msg("for fine"));
    h.engine.flush();

    EXPECT_EQ(h.find(slow), nullptr);
    EXPECT_EQ(handler.log(slow).closes, Strings{"transport buffer full"});
    ASSERT_NE(h.find(fine), nullptr);
    EXPECT_EQ(h.poll(fine, 1).responses, Strings{"4for fine"});
    EXPECT_TRUE(handler.log(fine).closes.empty());
}

TEST(SessionSlowReader, WaitingGetIsToldOfTheClose)
{
    fakes::RecordingHandler handler;
    Config c = small_config();
    c.max_buffered = 10;
    EngineHarness h(handler, c);
    std::string sid = h.open_polling(0);
    FakePoll& get = h.poll(sid, 1);
    h.find(sid)->send(msg(std::string(20, 'z')));
    h.engine.flush();
    EXPECT_EQ(get.responses, Strings{"1"});
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST(SessionSlowReader, WebSocketBacklogCounts)
{
    fakes::RecordingHandler handler;
    Config c = small_config();
    c.max_buffered = 100;
    EngineHarness h(handler, c);
    FakeLink slow_link, fine_link;
    std::string slow =
        h.engine.open(TransportKind::websocket, 0, &slow_link).sid();
    std::string fine =
        h.engine.open(TransportKind::websocket, 0, &fine_link).sid();
    h.engine.flush();

    slow_link.backlog_bytes = 90;
    fine_link.backlog_bytes = 50;
    h.find(slow)->send(msg("123456789"));      /* 10: 100 in all */
    h.find(fine)->send(msg("123456789"));
    h.engine.flush();
    ASSERT_NE(h.find(slow), nullptr);
    slow_link.backlog_bytes = 99;
    h.find(slow)->send(msg("1"));             /* 2: 101 */
    h.find(fine)->send(msg("123456789"));
    h.engine.flush();
    EXPECT_EQ(h.find(slow), nullptr);
    EXPECT_TRUE(slow_link.closed);
    EXPECT_NE(slow_link.packets().back(), "41");
    ASSERT_NE(h.find(fine), nullptr);
    EXPECT_EQ(fine_link.packets().size(), 3u);
}

/* --- the session table --- */

TEST_F(SessionTest, SessionsAreReapedAfterClose)
{
    std::vector<std::string> sids;
    for (int i = 0; i < 10; i++) {
        sids.push_back(h.open_polling(i));
    }
    EXPECT_EQ(h.engine.size(), 10u);
    for (int i = 0; i < 10; i += 2) {
        EXPECT_FALSE(h.post(sids[i], "1", 20));
    }
    EXPECT_EQ(h.engine.size(), 5u);
    for (int i = 0; i < 10; i++) {
        EXPECT_EQ(h.find(sids[i]) == nullptr, i % 2 == 0) << i;
        EXPECT_EQ(handler.log(sids[i]).destroyed, i % 2 == 0) << i;
    }
    /* the timers of the dead sessions are gone too */
    h.engine.on_timer(1009);
    EXPECT_EQ(h.engine.size(), 5u);
    h.engine.on_timer(1509);
    EXPECT_EQ(h.engine.size(), 0u);
    EXPECT_EQ(h.engine.next_deadline(), never);
}

TEST_F(SessionTest, EndpointTimer)
{
    handler.setup = [](fakes::EndpointLog& log) {
        log.deadline = 200;
        log.on_timer = [&log](Session& s, Millis now) {
            log.deadline = now + 200;
            s.send(msg("tick"));
        };
    };
    std::string sid = h.open_polling(0);
    EXPECT_EQ(h.engine.next_deadline(), 200);
    h.engine.on_timer(200);
    EXPECT_EQ(handler.log(sid).timers, std::vector<Millis>{200});
    EXPECT_EQ(h.engine.next_deadline(), 400);
    h.engine.on_timer(400);
    EXPECT_EQ(h.poll(sid, 401).responses, Strings{"4tick\x1e" "4tick"});
}

TEST_F(SessionTest, SendWhileClosedIsDropped)
{
    std::string sid = h.open_polling(0);
    FakePoll a, b;
    ASSERT_FALSE(s(sid).on_poll(a, 1));
    ASSERT_TRUE(s(sid).on_poll(b, 1));
    s(sid).send(msg("x"));
    s(sid).close(socketio::eio::Reason::forced_close);
    h.engine.flush();
    EXPECT_EQ(a.responses, Strings{"1"});
    EXPECT_EQ(handler.log(sid).closes, Strings{"transport error"});
}

/* --- a POST's packets, a slice a turn --- */

namespace {

/* n message packets in one polling payload */
std::string many(int n)
{
    std::string p;
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            p += '\x1e';
        }
        p += "4m" + std::to_string(i);
    }
    return p;
}

}  // namespace

TEST_F(SessionTest, APostOfManyPacketsIsHandledASliceATurn)
{
    std::string sid = h.open_polling(0);
    fakes::FakePostWaiter waiter;
    const int n = static_cast<int>(post_slice) * 2 + 10;

    ASSERT_FALSE(s(sid).begin_post());
    int inputs = h.waker.inputs;
    auto res = s(sid).on_post(many(n), 1, &waiter);
    EXPECT_TRUE(res.later);
    EXPECT_EQ(handler.log(sid).messages.size(), post_slice);
    EXPECT_EQ(h.waker.inputs, inputs + 1) << "the next turn is asked for";

    /* a second POST meanwhile is two at once */
    EXPECT_TRUE(h.engine.continue_input());
    EXPECT_EQ(handler.log(sid).messages.size(), 2 * post_slice);
    EXPECT_EQ(waiter.answers, 0);

    EXPECT_FALSE(h.engine.continue_input());
    EXPECT_EQ(handler.log(sid).messages.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(handler.log(sid).messages.back().data,
              "m" + std::to_string(n - 1));
    EXPECT_EQ(waiter.answers, 1);
    EXPECT_FALSE(waiter.error);

    /* done: the session takes the next POST */
    ASSERT_FALSE(s(sid).begin_post());
    EXPECT_FALSE(s(sid).on_post("4again", 2).later);
    EXPECT_EQ(handler.log(sid).messages.back().data, "again");
}

TEST_F(SessionTest, AnotherPostWhileTheSlicesGoOnIsTwoAtOnce)
{
    std::string sid = h.open_polling(0);
    fakes::FakePostWaiter waiter;

    ASSERT_FALSE(s(sid).begin_post());
    ASSERT_TRUE(s(sid).on_post(many(200), 1, &waiter).later);

    auto err = s(sid).begin_post();
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, Error::bad_request);
    EXPECT_EQ(s(sid).state(), Session::State::closed);

    /* the first POST is answered, and the rest of it is not handled */
    std::size_t handled = handler.log(sid).messages.size();
    EXPECT_FALSE(h.engine.continue_input());
    EXPECT_EQ(waiter.answers, 1);
    EXPECT_EQ(handler.log(sid).messages.size(), handled);

    /* with its POST answered, the closed session is let go */
    h.engine.flush();
    EXPECT_EQ(h.find(sid), nullptr);
}

TEST_F(SessionTest, APostThatGoesAwayIsNotAnsweredButItsPacketsAreHandled)
{
    std::string sid = h.open_polling(0);
    fakes::FakePostWaiter waiter;

    ASSERT_FALSE(s(sid).begin_post());
    ASSERT_TRUE(s(sid).on_post(many(100), 1, &waiter).later);
    s(sid).on_post_gone(waiter);

    EXPECT_FALSE(h.engine.continue_input());
    EXPECT_EQ(handler.log(sid).messages.size(), 100u);
    EXPECT_EQ(waiter.answers, 0);
}

TEST_F(SessionTest, ASessionDestroyedMidPostLeavesNothingListed)
{
    std::string sid = h.open_polling(0);
    fakes::FakePostWaiter waiter;

    ASSERT_FALSE(s(sid).begin_post());
    ASSERT_TRUE(s(sid).on_post(many(300), 1, &waiter).later);
    h.engine.release(s(sid));
    EXPECT_FALSE(h.engine.continue_input());
}
