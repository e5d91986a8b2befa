/*
 * A Socket.IO server on a real Engine with fake transports: "/" runs the
 * echo handler, "/custom" a recording one. Clients talk over WebSocket
 * links or polling requests.
 */
#pragma once

#include "fakes.hpp"

#include "core/handlers/echo.hpp"
#include "core/sio/server.hpp"
#include "core/sio/socket.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace sio_fixture {

namespace sio = socketio::sio;
namespace eio = socketio::eio;
using Strings = std::vector<std::string>;

/* Records what a namespace sees, and optionally hands it on. */
class RecordingSio final : public sio::Handler {
public:
    void on_connect(sio::Socket& socket,
                    const boost::json::value& auth) override
    {
        sockets.push_back(&socket);
        log.push_back("connect " + socket.id() + " "
                      + boost::json::serialize(auth));
        if (auth.is_object() && auth.as_object().contains("rooms")) {
            for (const auto& r : auth.at("rooms").as_array()) {
                socket.join(std::string(r.as_string()));
            }
        }
        if (connect_fn) {
            connect_fn(socket, auth);
        }
        if (forward) {
            forward->on_connect(socket, auth);
        }
    }

    void on_event(sio::Socket& socket, const sio::Event& ev) override
    {
        log.push_back("event " + socket.id() + " " + std::string(ev.name())
                      + " " + std::string(ev.rest()) + " buffers="
                      + std::to_string(ev.buffers().size()));
        if (event_fn) {
            event_fn(socket, ev);
        }
        if (forward) {
            forward->on_event(socket, ev);
        }
    }

    void on_disconnect(sio::Socket& socket, std::string_view reason) override
    {
        sockets.erase(std::find(sockets.begin(), sockets.end(), &socket));
        log.push_back("disconnect " + socket.id() + " " + std::string(reason));
        disconnects.emplace_back(reason);
        if (forward) {
            forward->on_disconnect(socket, reason);
        }
    }

    std::vector<sio::Socket*> sockets;
    Strings log;
    Strings disconnects;
    std::function<void(sio::Socket&, const boost::json::value&)> connect_fn;
    std::function<void(sio::Socket&, const sio::Event&)> event_fn;
    sio::Handler* forward = nullptr;
};

inline eio::Config sio_config()
{
    eio::Config c;
    c.ping_interval = 25000;
    c.ping_timeout = 20000;
    return c;
}

class SioTest : public ::testing::Test {
protected:
    static constexpr eio::Millis connect_timeout = 1000;

    SioTest() : server(connect_timeout), h(server, sio_config())
    {
        main.forward = &echo;
        server.add_namespace("/", main);
        server.add_namespace("/custom", custom);
    }

    /* A client over WebSocket: its link, and how much of it was read. */
    struct Conn {
        std::string sid;
        fakes::FakeLink* link = nullptr;
        std::size_t read = 0;
    };

    Conn ws(eio::Millis now = 0)
    {
        links.push_back(std::make_unique<fakes::FakeLink>());
        Conn c;
        c.link = links.back().get();
        c.sid = h.engine.open(eio::TransportKind::websocket, now, c.link).sid();
        h.engine.flush();
        EXPECT_EQ(c.link->packets().size(), 1u);
        c.read = 1;                   /* the open packet */
        return c;
    }

    /* A Socket.IO packet from the client (the Engine.IO "4" added). */
    void text(Conn& c, std::string_view packet, eio::Millis now = 1)
    {
        eio::Session* s = h.find(c.sid);
        ASSERT_NE(s, nullptr) << "session gone";
        s->on_ws_message(*c.link, false, "4" + std::string(packet), now);
        h.engine.flush();
        settle(now);
    }

    /* Runs what handlers deferred by a few ms (echo's "auth"). */
    void settle(eio::Millis now)
    {
        if (h.engine.next_deadline() <= now + echo_delay) {
            h.engine.on_timer(now + echo_delay);
        }
    }

    static constexpr eio::Millis echo_delay = 5;

    void bin(Conn& c, std::string_view bytes, eio::Millis now = 1)
    {
        eio::Session* s = h.find(c.sid);
        ASSERT_NE(s, nullptr) << "session gone";
        s->on_ws_message(*c.link, true, bytes, now);
        h.engine.flush();
    }

    /* The same, once the link is closed: what came before the close. */
    Strings out_before_close(Conn& c)
    {
        EXPECT_TRUE(c.link->closed);
        Strings all = c.link->packets_but_close();
        Strings fresh(all.begin() + static_cast<std::ptrdiff_t>(
                                        std::min(c.read, all.size())),
                      all.end());
        c.read = c.link->packets().size();
        return fresh;
    }

    /* What the client got since it last looked, as Engine.IO packets. */
    Strings out(Conn& c)
    {
        Strings all = c.link->packets();
        Strings fresh(all.begin() + static_cast<std::ptrdiff_t>(c.read),
                      all.end());
        c.read = all.size();
        return fresh;
    }

    /* Connects to a namespace; returns the Socket.IO sid it was given. */
    std::string connect(Conn& c, const std::string& nsp = "/",
                        const std::string& auth = "")
    {
        std::string pkt = "0";
        if (nsp != "/") {
            pkt += nsp + ",";
        }
        pkt += auth;
        text(c, pkt);
        Strings got = out(c);
        std::string prefix = nsp == "/" ? "40" : "40" + nsp + ",";
        if (got.empty() || got[0].compare(0, prefix.size(), prefix) != 0) {
            ADD_FAILURE() << "no CONNECT answer for " << nsp;
            return {};
        }
        auto v = boost::json::parse(got[0].substr(prefix.size()));
        return std::string(v.at("sid").as_string());
    }

    bool open(const Conn& c)
    {
        eio::Session* s = h.find(c.sid);
        return s != nullptr && s->state() == eio::Session::State::open;
    }

    socketio::handlers::SocketEcho echo;
    RecordingSio main;
    RecordingSio custom;
    sio::Server server;
    fakes::EngineHarness h;
    std::vector<std::unique_ptr<fakes::FakeLink>> links;
};

inline std::string placeholder(int n)
{
    return "{\"_placeholder\":true,\"num\":" + std::to_string(n) + "}";
}

}  // namespace sio_fixture
