/*
 * Test doubles shared by the unit tests: the web server's side of the
 * transports (a polling GET, a WebSocket link), a predictable Random, a
 * Waker that counts, and an Engine.IO handler that records what its
 * endpoints are told. No clock anywhere: time is a number the test passes.
 */
#pragma once

#include "core/eio/engine.hpp"
#include "core/eio/handler.hpp"
#include "core/eio/packet.hpp"
#include "core/eio/session.hpp"
#include "core/eio/transport.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fakes {

using socketio::eio::EncodedPtr;
using socketio::eio::Millis;

/* Bytes that differ on every call, the same in every run. */
class CountingRandom final : public socketio::eio::Random {
public:
    void fill(unsigned char* out, std::size_t len) override
    {
        calls++;
        std::uint64_t v = next;
        if (repeat > 0) {
            repeat--;                 /* hand out the same bytes again */
        } else {
            next++;
        }
        for (std::size_t i = 0; i < len; i++) {
            out[i] = static_cast<unsigned char>(
                i < 8 ? (v >> (8 * i)) & 0xff : 0xa5 ^ i);
        }
    }

    std::uint64_t next = 1;
    int repeat = 0;                   /* calls that give the same value */
    int calls = 0;
};

class CountingWaker final : public socketio::eio::Waker {
public:
    void wake() override { wakes++; }
    void more_input() override { inputs++; }
    int wakes = 0;
    int inputs = 0;
};

/* A POST answered when its last packet is handled. */
class FakePostWaiter final : public socketio::eio::PostWaiter {
public:
    void posted(std::optional<socketio::eio::Error> e) override
    {
        answers++;
        error = e;
    }
    int answers = 0;
    std::optional<socketio::eio::Error> error;
};

/* A polling GET: remembers what it was answered with. */
class FakePoll final : public socketio::eio::PollWaiter {
public:
    void respond(std::string payload) override
    {
        responses.push_back(std::move(payload));
    }

    bool answered() const { return !responses.empty(); }
    const std::string& last() const { return responses.back(); }

    std::vector<std::string> responses;
};

/* A WebSocket connection: remembers the packets and the close. */
class FakeLink final : public socketio::eio::WebSocketLink {
public:
    void send(const std::vector<EncodedPtr>& packets) override
    {
        if (closed) {
            sent_after_close++;
        }
        batches++;
        sent.insert(sent.end(), packets.begin(), packets.end());
    }

    void close(std::uint16_t c, std::string_view r) override
    {
        closes++;
        closed = true;
        code = c;
        reason.assign(r);
    }

    std::size_t backlog() const noexcept override { return backlog_bytes; }

    /* As a real connection when `can_half_close`: nothing is written
       after the close frame. */
    bool half_close(std::uint16_t c, std::string_view r) override
    {
        if (!can_half_close) {
            return false;
        }
        half_closes++;
        closed = true;
        code = c;
        reason.assign(r);
        return true;
    }

    /* Each packet as it travels: a type digit and data, or raw bytes. */
    std::vector<std::string> packets() const
    {
        std::vector<std::string> out;
        for (const auto& p : sent) {
            out.emplace_back(p->packet());
        }
        return out;
    }

    /*
     * The same, without an Engine.IO close packet at the end: over
     * WebSocket the close frame says it all (the reference server sends no
     * "1" there), and a session may or may not send one before it.
     */
    std::vector<std::string> packets_but_close() const
    {
        auto out = packets();
        if (!out.empty() && out.back() == "1" && !sent.back()->is_binary()) {
            out.pop_back();
        }
        return out;
    }

    std::vector<EncodedPtr> sent;
    int batches = 0;
    int sent_after_close = 0;
    bool closed = false;
    int closes = 0;
    std::uint16_t code = 0;
    std::string reason;
    std::size_t backlog_bytes = 0;
    bool can_half_close = false;
    int half_closes = 0;
};

/* What one session's endpoint saw. */
struct EndpointLog {
    struct Message {
        bool binary;
        std::string data;
    };
    std::vector<Message> messages;
    std::vector<std::string> closes;
    std::vector<Millis> timers;
    Millis deadline = socketio::eio::never;
    bool destroyed = false;
    socketio::eio::Session* session = nullptr;

    /* optional reactions, run from inside the callbacks */
    std::function<void(socketio::eio::Session&, bool, std::string_view)>
        on_message;
    std::function<void(socketio::eio::Session&, Millis)> on_timer;
};

class RecordingHandler final : public socketio::eio::Handler {
public:
    class Endpoint final : public socketio::eio::Endpoint {
    public:
        Endpoint(EndpointLog& log, socketio::eio::Session& s)
            : log_(log), session_(s) {}
        ~Endpoint() override { log_.destroyed = true; }

        void on_message(bool binary, std::string_view data) override
        {
            log_.messages.push_back({binary, std::string(data)});
            if (log_.on_message) {
                log_.on_message(session_, binary, data);
            }
        }
        void on_close(socketio::eio::Reason reason) override
        {
            log_.closes.emplace_back(socketio::eio::text(reason));
        }
        Millis deadline() const override { return log_.deadline; }
        void on_timer(Millis now) override
        {
            log_.timers.push_back(now);
            if (log_.on_timer) {
                log_.on_timer(session_, now);
            }
        }

    private:
        EndpointLog& log_;
        socketio::eio::Session& session_;
    };

    std::unique_ptr<socketio::eio::Endpoint> open(
        socketio::eio::Session& session) override
    {
        auto& log = logs[session.sid()];
        log = std::make_unique<EndpointLog>();
        log->session = &session;
        if (setup) {
            setup(*log);
        }
        return std::make_unique<Endpoint>(*log, session);
    }

    EndpointLog& log(const std::string& sid) { return *logs.at(sid); }

    std::map<std::string, std::unique_ptr<EndpointLog>> logs;
    /* run on each new endpoint's log before it is used */
    std::function<void(EndpointLog&)> setup;
};

/* An Engine with fake collaborators, and the requests a web server makes. */
struct EngineHarness {
    explicit EngineHarness(socketio::eio::Handler& h,
                           socketio::eio::Config c = {})
        : engine(c, h, random, waker)
    {
    }

    std::variant<socketio::eio::Route, socketio::eio::Error> route(
        std::string_view method, std::string_view query,
        bool websocket = false, bool origin_invalid = false)
    {
        socketio::eio::Request req;
        req.method = method;
        req.query = query;
        req.websocket = websocket;
        req.origin_invalid = origin_invalid;
        return engine.route(req);
    }

    /* A polling handshake, as the web server does it: open, then the GET
       that carries the open packet. Returns the sid. */
    std::string open_polling(Millis now)
    {
        auto& s = engine.open(socketio::eio::TransportKind::polling, now);
        std::string sid = s.sid();
        FakePoll get;
        auto err = s.on_poll(get, now);
        if (err) {
            throw std::runtime_error("handshake GET refused");
        }
        engine.flush();
        if (get.responses.size() != 1) {
            throw std::runtime_error("handshake GET not answered");
        }
        handshake = get.last();
        return sid;
    }

    socketio::eio::Session* find(const std::string& sid)
    {
        return engine.find(sid);
    }

    /* One GET of a session: parked, flushed, answered or not. */
    FakePoll& poll(const std::string& sid, Millis now)
    {
        polls.push_back(std::make_unique<FakePoll>());
        auto err = engine.find(sid)->on_poll(*polls.back(), now);
        if (err) {
            throw std::runtime_error("GET refused");
        }
        engine.flush();
        return *polls.back();
    }

    /* One POST, whole: its slices handled as the next turns would. */
    std::optional<socketio::eio::Error> post(const std::string& sid,
                                             std::string_view payload,
                                             Millis now)
    {
        auto* s = engine.find(sid);
        if (auto err = s->begin_post()) {
            return err;
        }
        FakePostWaiter waiter;
        auto res = s->on_post(std::string(payload), now, &waiter);
        if (res.later) {
            while (engine.continue_input()) {
                engine.flush();
            }
            EXPECT_EQ(waiter.answers, 1);
            res.error = waiter.error;
        }
        engine.flush();
        return res.error;
    }

    CountingRandom random;
    CountingWaker waker;
    socketio::eio::Engine engine;
    std::string handshake;
    /* GETs outlive the engine's use of them */
    std::vector<std::unique_ptr<FakePoll>> polls;
};

/* The packets of a polling payload, split at the record separator. */
inline std::vector<std::string> split_payload(std::string_view payload)
{
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (;;) {
        std::size_t end = payload.find('\x1e', pos);
        out.emplace_back(payload.substr(pos, end == std::string_view::npos
                                                 ? std::string_view::npos
                                                 : end - pos));
        if (end == std::string_view::npos) {
            return out;
        }
        pos = end + 1;
    }
}

}  // namespace fakes
