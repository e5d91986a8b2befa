/*
 * An Engine.IO server: the table of sessions, the checks every request goes
 * through before it reaches one (the reference server's Server#verify and
 * Server#handshake, whose error codes engine.io-protocol lists), one timer
 * for all sessions, and the flush that hands output to transports.
 */
#pragma once

#include "core/eio/config.hpp"
#include "core/eio/error.hpp"
#include "core/eio/handler.hpp"
#include "core/eio/session.hpp"

#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace socketio::eio {

/* A source of unpredictable bytes: session ids are credentials. */
class Random {
public:
    virtual ~Random() = default;
    virtual void fill(unsigned char* out, std::size_t len) = 0;
};

/* Told when there is output to flush; the web server then calls flush(). */
class Waker {
public:
    virtual ~Waker() = default;
    /* Output is due: flush() at the end of this turn. */
    virtual void wake() = 0;
    /* Input waits (a POST's packets, a slice a turn): continue_input()
       in the next turn of the event loop, after the other connections. */
    virtual void more_input() {}
};

/* Told what happens to sessions: for logs and counters. */
class Monitor {
public:
    virtual ~Monitor() = default;
    virtual void on_session_opened(const Session& /* s */) {}
    virtual void on_session_upgraded(const Session& /* s */) {}
    virtual void on_session_closed(const Session& /* s */,
                                   Reason /* reason */) {}
};

/* What an HTTP request asks for, in the terms the checks need. */
struct Request {
    std::string_view method;
    std::string_view query;       /* the raw query string */
    bool websocket = false;       /* a well-formed WebSocket upgrade */
    bool origin_invalid = false;  /* an Origin header with bad characters */
};

struct Route {
    enum class Kind {
        open_polling,     /* handshake by a GET */
        open_websocket,   /* handshake by a WebSocket */
        poll,             /* a GET of a polling session */
        post,             /* a POST of a polling session */
        upgrade,          /* a WebSocket joining a polling session */
    };
    Kind kind;
    Session* session = nullptr;
};

class Engine {
public:
    Engine(Config config, Handler& handler, Random& random, Waker& waker);
    ~Engine();

    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const Config& config() const noexcept { return config_; }
    void set_monitor(Monitor* m) noexcept { monitor_ = m; }
    Monitor* monitor() const noexcept { return monitor_; }
    Handler& handler() noexcept { return handler_; }
    Random& random() noexcept { return random_; }
    Millis now() const noexcept { return now_; }
    void set_now(Millis now) noexcept { now_ = now; }

    std::variant<Route, Error> route(const Request& req) const;

    /* A new session; its open packet is queued. A WebSocket session gets
       its link at once. */
    Session& open(TransportKind transport, Millis now,
                  WebSocketLink* ws = nullptr, std::string sid = {});
    /* A session moved here from another worker (cluster migration). */
    Session& adopt(std::string sid, WebSocketLink& ws, Millis now);
    /* Forgets a session without closing it: it lives on elsewhere. */
    void release(Session& s) noexcept;
    Session* find(std::string_view sid) const;
    std::size_t size() const noexcept { return sessions_.size(); }

    /* Hands due output to transports and forgets closed sessions. */
    void flush();
    /* Runs what is due for one session now, as a request for it arrives:
       a session past its ping timeout is closed before it is served.
       false: the session is gone. */
    bool touch(Session& s, Millis now);

    /* Runs what is due, then flushes. */
    void on_timer(Millis now);
    /* When on_timer() next has work; `never` when nothing is due. */
    Millis next_deadline() const noexcept;

    /* Shutdown: every session closes as if the client had gone, one on
       WebSocket once its client answered the close frame. */
    void close_all(Reason reason);
    /* Sessions that close_all() left waiting for their client's close
       frame (Session::draining). */
    bool draining() const noexcept;

    /* For Session::mark_dirty: the session is flushed at the next
       flush(), once however often it asks until then. */
    void queue_flush(Session& s);
    /* For Session::on_post: the rest of its POST comes in later turns. */
    void queue_input(Session& s);
    /* A slice of each POST that waits; true while some still wait. */
    bool continue_input();
    /* A session is destroyed: nothing of the engine's points to it. */
    void forget(Session& s) noexcept;

    /* A random id of 20 URL-safe characters. */
    std::string make_id();

private:
    Session& keep(std::unique_ptr<Session> session);
    void reschedule(Session& s);

    Config config_;
    Handler& handler_;
    Random& random_;
    Waker& waker_;
    Monitor* monitor_ = nullptr;
    Millis now_ = 0;

    /* keyed by a view of the session's own id: no second copy of it */
    std::unordered_map<std::string_view, std::unique_ptr<Session>> sessions_;
    std::vector<Session*> dirty_;
    std::vector<Session*> input_;
    std::set<std::pair<Millis, Session*>> timers_;
};

}  // namespace socketio::eio
