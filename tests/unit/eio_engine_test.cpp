/*
 * Engine::route(): the checks of the reference server's verify() and
 * handshake(), in their order, and the route each request gets; the
 * session table and the timer.
 */
#include "fakes.hpp"

#include "core/eio/engine.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace socketio::eio;
using fakes::EngineHarness;

namespace {

std::string error_of(const std::variant<Route, Error>& r)
{
    if (auto* e = std::get_if<Error>(&r)) {
        return std::string(error_message(*e));
    }
    return "route";
}

Route route_of(const std::variant<Route, Error>& r)
{
    EXPECT_TRUE(std::holds_alternative<Route>(r)) << error_of(r);
    return std::get<Route>(r);
}

#define EXPECT_ERROR(r, e) EXPECT_EQ(error_of(r), error_message(Error::e))

class EngineRoute : public ::testing::Test {
protected:
    fakes::RecordingHandler handler;
    EngineHarness h{handler};
};

}  // namespace

TEST_F(EngineRoute, HandshakeRoutes)
{
    Route r = route_of(h.route("GET", "EIO=4&transport=polling"));
    EXPECT_EQ(r.kind, Route::Kind::open_polling);
    EXPECT_EQ(r.session, nullptr);

    r = route_of(h.route("GET", "EIO=4&transport=websocket", true));
    EXPECT_EQ(r.kind, Route::Kind::open_websocket);
    EXPECT_EQ(r.session, nullptr);

    /* other parameters are none of the engine's business */
    r = route_of(h.route("GET", "EIO=4&transport=polling&t=Nx1&j=0&b64=1"));
    EXPECT_EQ(r.kind, Route::Kind::open_polling);
}

TEST_F(EngineRoute, SessionRoutes)
{
    std::string sid = h.open_polling(0);
    Session* s = h.find(sid);
    ASSERT_NE(s, nullptr);
    std::string q = "EIO=4&transport=polling&sid=" + sid;

    Route r = route_of(h.route("GET", q));
    EXPECT_EQ(r.kind, Route::Kind::poll);
    EXPECT_EQ(r.session, s);

    r = route_of(h.route("POST", q));
    EXPECT_EQ(r.kind, Route::Kind::post);
    EXPECT_EQ(r.session, s);

    r = route_of(h.route("GET", "EIO=4&transport=websocket&sid=" + sid, true));
    EXPECT_EQ(r.kind, Route::Kind::upgrade);
    EXPECT_EQ(r.session, s);

    /* the sid escaped in the query is the same sid */
    std::string escaped;
    for (char c : sid) {
        char buf[4];
        std::snprintf(buf, sizeof(buf), "%%%02X", static_cast<unsigned char>(c));
        escaped += buf;
    }
    r = route_of(h.route("GET", "EIO=4&transport=polling&sid=" + escaped));
    EXPECT_EQ(r.session, s);
}

TEST_F(EngineRoute, UnknownTransportComesFirst)
{
    EXPECT_ERROR(h.route("GET", "EIO=4"), unknown_transport);
    EXPECT_ERROR(h.route("GET", "EIO=4&transport="), unknown_transport);
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=flashsocket"),
                 unknown_transport);
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=Polling"), unknown_transport);
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=webtransport", true),
                 unknown_transport);
    /* before the origin, the sid, the method and the version */
    EXPECT_ERROR(h.route("PUT", "EIO=3&transport=xhr&sid=nope", false, true),
                 unknown_transport);
}

TEST_F(EngineRoute, DisabledTransportIsUnknown)
{
    Config c;
    c.websocket = false;
    EngineHarness polling_only(handler, c);
    EXPECT_ERROR(polling_only.route("GET", "EIO=4&transport=websocket", true),
                 unknown_transport);
    EXPECT_EQ(route_of(polling_only.route("GET", "EIO=4&transport=polling"))
                  .kind,
              Route::Kind::open_polling);

    c = Config{};
    c.polling = false;
    EngineHarness ws_only(handler, c);
    EXPECT_ERROR(ws_only.route("GET", "EIO=4&transport=polling"),
                 unknown_transport);
    EXPECT_EQ(route_of(ws_only.route("GET", "EIO=4&transport=websocket", true))
                  .kind,
              Route::Kind::open_websocket);
}

TEST_F(EngineRoute, InvalidOriginComesSecond)
{
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=polling", false, true),
                 bad_request);
    /* before the sid, the method and the version */
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=polling&sid=nope", false,
                         true),
                 bad_request);
    EXPECT_ERROR(h.route("POST", "EIO=3&transport=polling", false, true),
                 bad_request);
}

TEST_F(EngineRoute, UnknownSidComesThird)
{
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=polling&sid=nope"),
                 unknown_sid);
    EXPECT_ERROR(h.route("POST", "EIO=4&transport=polling&sid=nope"),
                 unknown_sid);
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=websocket&sid=nope", true),
                 unknown_sid);
    /* before the method, the transport mismatch and the version */
    EXPECT_ERROR(h.route("DELETE", "EIO=3&transport=websocket&sid=nope"),
                 unknown_sid);

    /* an empty sid is no sid: a handshake, as in the reference server */
    EXPECT_EQ(error_of(h.route("GET", "EIO=4&transport=polling&sid=")),
              "route");
}

TEST_F(EngineRoute, ClosedSessionIsUnknownBeforeItIsReaped)
{
    std::string sid = h.open_polling(0);
    fakes::FakePoll a, b;
    ASSERT_FALSE(h.find(sid)->on_poll(a, 1));
    /* two GETs at once: closed at once, gone at the next flush */
    ASSERT_TRUE(h.find(sid)->on_poll(b, 1));
    ASSERT_NE(h.find(sid), nullptr);
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=polling&sid=" + sid),
                 unknown_sid);
    h.engine.flush();
    EXPECT_EQ(h.find(sid), nullptr);
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=polling&sid=" + sid),
                 unknown_sid);
}

TEST_F(EngineRoute, TransportMismatchComesFourth)
{
    std::string sid = h.open_polling(0);
    /* a polling session asked for over websocket without an upgrade */
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=websocket&sid=" + sid),
                 bad_request);
    /* an upgrade request must name websocket */
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=polling&sid=" + sid, true),
                 bad_request);
    /* a sid's requests are not checked for the version */
    EXPECT_EQ(route_of(h.route("GET", "EIO=3&transport=polling&sid=" + sid))
                  .kind,
              Route::Kind::poll);
    /* a method a polling session does not take */
    EXPECT_ERROR(h.route("PUT", "EIO=4&transport=polling&sid=" + sid),
                 bad_request);
    EXPECT_ERROR(h.route("OPTIONS", "EIO=4&transport=polling&sid=" + sid),
                 bad_request);
}

TEST_F(EngineRoute, WebSocketSessionRefusesPolling)
{
    fakes::FakeLink link;
    Session& s = h.engine.open(TransportKind::websocket, 0, &link);
    std::string sid = s.sid();
    h.engine.flush();
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=polling&sid=" + sid),
                 bad_request);
    EXPECT_ERROR(h.route("POST", "EIO=4&transport=polling&sid=" + sid),
                 bad_request);
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=websocket&sid=" + sid),
                 bad_request);
    /* a second WebSocket is routed, and refused by the session */
    Route r = route_of(
        h.route("GET", "EIO=4&transport=websocket&sid=" + sid, true));
    EXPECT_EQ(r.kind, Route::Kind::upgrade);
    fakes::FakeLink second;
    EXPECT_FALSE(r.session->attach_websocket(second, 1));
}

TEST_F(EngineRoute, BadHandshakeMethodComesFifth)
{
    for (const char* m : {"POST", "PUT", "HEAD", "OPTIONS", "get", ""}) {
        EXPECT_ERROR(h.route(m, "EIO=4&transport=polling"),
                     bad_handshake_method)
            << m;
    }
    /* before the upgrade check and the version */
    EXPECT_ERROR(h.route("POST", "EIO=3&transport=websocket"),
                 bad_handshake_method);
}

TEST_F(EngineRoute, WebSocketHandshakeWithoutUpgradeComesSixth)
{
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=websocket"), bad_request);
    /* before the version */
    EXPECT_ERROR(h.route("GET", "EIO=3&transport=websocket"), bad_request);
    /* and an upgrade asking for polling */
    EXPECT_ERROR(h.route("GET", "EIO=4&transport=polling", true), bad_request);
}

TEST_F(EngineRoute, ProtocolVersionComesLast)
{
    for (const char* q : {"transport=polling", "EIO=3&transport=polling",
                          "EIO=5&transport=polling", "EIO=&transport=polling",
                          "EIO=04&transport=polling",
                          "EIO=4.0&transport=polling",
                          "EIO=4&EIO=3&transport=polling"}) {
        EXPECT_ERROR(h.route("GET", q), unsupported_protocol_version) << q;
    }
    EXPECT_ERROR(h.route("GET", "EIO=3&transport=websocket", true),
                 unsupported_protocol_version);
    EXPECT_EQ(route_of(h.route("GET", "EIO=3&EIO=4&transport=polling")).kind,
              Route::Kind::open_polling);
}

/* --- the session table --- */

TEST(Engine, SessionIdsAreUrlSafeAndDistinct)
{
    fakes::RecordingHandler handler;
    EngineHarness h(handler);
    std::set<std::string> sids;
    for (int i = 0; i < 50; i++) {
        std::string sid = h.engine.open(TransportKind::polling, 0).sid();
        EXPECT_EQ(sid.size(), 20u);
        EXPECT_EQ(sid.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "abcdefghijklmnopqrstuvwxyz"
                                        "0123456789-_"),
                  std::string::npos);
        sids.insert(sid);
    }
    EXPECT_EQ(sids.size(), 50u);
    EXPECT_EQ(h.engine.size(), 50u);
}

TEST(Engine, RepeatedRandomBytesStillGiveAFreshSid)
{
    fakes::RecordingHandler handler;
    EngineHarness h(handler);
    std::string a = h.engine.open(TransportKind::polling, 0).sid();
    /* the next three draws give the bytes of `a` again */
    h.random.next--;
    h.random.repeat = 3;
    int before = h.random.calls;
    std::string b = h.engine.open(TransportKind::polling, 0).sid();
    EXPECT_NE(a, b);
    EXPECT_EQ(h.random.calls - before, 5);
    EXPECT_EQ(h.engine.size(), 2u);
}

TEST(Engine, WakesOncePerBatchOfWork)
{
    fakes::RecordingHandler handler;
    EngineHarness h(handler);
    EXPECT_EQ(h.waker.wakes, 0);
    std::string a = h.engine.open(TransportKind::polling, 0).sid();
    EXPECT_EQ(h.waker.wakes, 1);
    std::string b = h.engine.open(TransportKind::polling, 0).sid();
    h.find(a)->send(Encoded::text(PacketType::message, "x"));
    EXPECT_EQ(h.waker.wakes, 1);
    h.engine.flush();
    h.find(b)->send(Encoded::text(PacketType::message, "y"));
    EXPECT_EQ(h.waker.wakes, 2);
}

TEST(Engine, NextDeadlineAndTimer)
{
    fakes::RecordingHandler handler;
    Config c;
    c.ping_interval = 1000;
    c.ping_timeout = 500;
    EngineHarness h(handler, c);
    EXPECT_EQ(h.engine.next_deadline(), never);

    std::string a = h.open_polling(100);
    EXPECT_EQ(h.engine.next_deadline(), 1100);
    std::string b = h.open_polling(300);
    EXPECT_EQ(h.engine.next_deadline(), 1100);

    /* an endpoint's own timer is merged in */
    handler.log(b).deadline = 700;
    handler.log(b).on_timer = [](Session&, Millis) {};
    h.find(b)->send(Encoded::text(PacketType::message, "x"));
    h.engine.flush();
    EXPECT_EQ(h.engine.next_deadline(), 700);

    /* early: nothing runs */
    h.engine.on_timer(699);
    EXPECT_TRUE(handler.log(b).timers.empty());
    h.engine.on_timer(700);
    EXPECT_EQ(handler.log(b).timers, std::vector<Millis>{700});
    handler.log(b).deadline = never;
    h.engine.on_timer(701);
    EXPECT_EQ(handler.log(b).timers.size(), 1u);

    /* the sessions ping in turn */
    h.engine.on_timer(1099);
    EXPECT_EQ(h.engine.next_deadline(), 1100);
    fakes::FakePoll& ga = h.poll(a, 1099);
    fakes::FakePoll& gb = h.poll(b, 1099);
    EXPECT_TRUE(gb.answered());           /* its "x" */
    EXPECT_FALSE(ga.answered());
    h.engine.on_timer(1100);
    ASSERT_TRUE(ga.answered());
    EXPECT_EQ(ga.last(), "2");
    EXPECT_EQ(h.engine.next_deadline(), 1300);   /* b's ping */
    h.engine.on_timer(1300);
    EXPECT_EQ(h.engine.next_deadline(), 1600);   /* a's pong timeout */
    h.engine.on_timer(1600);
    EXPECT_EQ(h.find(a), nullptr);
    EXPECT_EQ(h.engine.next_deadline(), 1800);   /* b's */
    h.engine.on_timer(1800);
    EXPECT_EQ(h.engine.size(), 0u);
    EXPECT_EQ(h.engine.next_deadline(), never);
    EXPECT_EQ(handler.log(a).closes, std::vector<std::string>{"ping timeout"});
    EXPECT_EQ(handler.log(b).closes, std::vector<std::string>{"ping timeout"});
}

/*
 * A reload must not lose what a WebSocket client sent while the close
 * frame was on its way: the session reads on until the client's own close
 * frame, then closes for the shutdown (RFC 6455 section 7.1.2).
 */
class EngineDrain : public ::testing::Test {
protected:
    EngineDrain()
    {
        link.can_half_close = true;
        c = h.engine.open(TransportKind::websocket, 0, &link).sid();
        h.engine.flush();
    }

    fakes::RecordingHandler handler;
    EngineHarness h{handler};
    fakes::FakeLink link;
    std::string c;
};

TEST_F(EngineDrain, CloseAllDrainsAWebSocketUntilTheClientsCloseFrame)
{
    h.find(c)->send(Encoded::text(PacketType::message, "before"));

    h.engine.close_all(Reason::server_shutdown);

    EXPECT_EQ(link.half_closes, 1);
    EXPECT_EQ(link.closes, 0);
    EXPECT_EQ(link.packets().back(), "4before") << "queued, then the close";
    ASSERT_NE(h.find(c), nullptr);
    EXPECT_TRUE(h.find(c)->draining());
    EXPECT_TRUE(h.engine.draining());
    EXPECT_TRUE(handler.log(c).closes.empty());

    /* a post that crossed the close frame */
    h.find(c)->on_ws_message(link, false, "4crossed", 10);
    h.engine.flush();
    ASSERT_EQ(handler.log(c).messages.size(), 1u);
    EXPECT_EQ(handler.log(c).messages[0].data, "crossed");
    /* nothing goes out after the close frame */
    h.find(c)->send(Encoded::text(PacketType::message, "late"));
    h.engine.flush();
    EXPECT_EQ(link.packets().back(), "4before");
    /* a second shutdown changes nothing */
    h.engine.close_all(Reason::server_shutdown);
    EXPECT_EQ(link.half_closes, 1);

    /* the client's close frame (or the link's time limit) */
    h.find(c)->on_ws_gone(link, 20);
    h.engine.flush();
    EXPECT_EQ(h.find(c), nullptr);
    EXPECT_FALSE(h.engine.draining());
    EXPECT_EQ(link.closes, 0) << "the link is gone, not closed again";
    EXPECT_EQ(handler.log(c).closes,
              std::vector<std::string>{"server shutting down"});
}

TEST_F(EngineDrain, ADrainingSessionStillTimesOut)
{
    h.engine.close_all(Reason::server_shutdown);
    ASSERT_TRUE(h.engine.draining());

    /* the client never answers: its ping is unanswered too */
    for (Millis t = 0; t < 100000 && h.find(c) != nullptr; t += 500) {
        h.engine.on_timer(t);
    }
    EXPECT_EQ(h.find(c), nullptr);
    EXPECT_FALSE(h.engine.draining());
    EXPECT_EQ(link.closes, 1);
    EXPECT_EQ(handler.log(c).closes, std::vector<std::string>{"ping timeout"});
}

TEST(Engine, CloseAll)
{
    fakes::RecordingHandler handler;
    EngineHarness h(handler);
    std::string a = h.open_polling(0);
    std::string b = h.open_polling(0);
    fakes::FakeLink link;
    std::string c = h.engine.open(TransportKind::websocket, 0, &link).sid();
    h.engine.flush();
    fakes::FakePoll& ga = h.poll(a, 1);

    h.engine.close_all(socketio::eio::Reason::server_shutdown);

    ASSERT_TRUE(ga.answered());
    EXPECT_EQ(ga.last(), "1");
    EXPECT_EQ(h.find(a), nullptr);
    EXPECT_TRUE(link.closed);
    EXPECT_EQ(link.packets_but_close().size(), 1u) << "the open packet";
    EXPECT_EQ(h.find(c), nullptr);
    /* b has no GET waiting: a worker shutting down cannot wait for one */
    EXPECT_EQ(h.find(b), nullptr);
    EXPECT_EQ(h.engine.size(), 0u);
    for (const auto& sid : {a, b, c}) {
        EXPECT_EQ(handler.log(sid).closes,
                  std::vector<std::string>{"server shutting down"});
    }
}
