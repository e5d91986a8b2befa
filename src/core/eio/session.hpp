/*
 * One Engine.IO v4 session: engine.io-protocol "Handshake", "Heartbeat",
 * "Upgrade" and "Message", with the reference server's choices where the
 * spec is silent (socketio/socket.io packages/engine.io lib/socket.ts and
 * lib/transports/polling.ts).
 *
 * The session is a state machine with no I/O: the web server feeds it what
 * arrives and the time, and Engine::flush() hands what is due to the
 * attached transports. Endpoint callbacks are never re-entered: a close
 * asked for from inside one, or caused by another socket's traffic (a full
 * buffer), takes effect at the next flush.
 */
#pragma once

#include "core/eio/config.hpp"
#include "core/eio/error.hpp"
#include "core/eio/handler.hpp"
#include "core/eio/packet.hpp"
#include "core/eio/reason.hpp"
#include "core/eio/transport.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::eio {

/* Packets of a POST handled in one turn of the event loop. */
inline constexpr std::size_t post_slice = 64;

class Engine;

enum class TransportKind { polling, websocket };

std::string_view transport_name(TransportKind t) noexcept;

class Session {
public:
    enum class State { open, closing, closed };

    Session(Engine& engine, std::string sid, TransportKind transport,
            Millis now, WebSocketLink* ws = nullptr);
    /* A session that is open already, come over from another worker with
       its WebSocket: no open packet; its handler state is restored. */
    struct Adopted {};
    Session(Engine& engine, std::string sid, WebSocketLink& ws, Millis now,
            Adopted);
    ~Session();

    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    const std::string& sid() const noexcept { return sid_; }
    TransportKind transport() const noexcept { return transport_; }
    State state() const noexcept { return state_; }
    bool upgrading() const noexcept { return probe_ != nullptr; }
    bool upgraded() const noexcept { return upgraded_; }
    WebSocketLink* websocket() const noexcept { return ws_; }
    WebSocketLink* probe() const noexcept { return probe_; }
    Endpoint& endpoint() noexcept { return *endpoint_; }
    Engine& engine() noexcept { return engine_; }
    Millis now() const noexcept;

    /* --- for the handler --- */

    void send(EncodedPtr packet);
    /* Closes after what is queued, with a close packet (deferred). */
    void close(Reason reason);
    /* The server goes away: over WebSocket, a drain (below); close()
       where a polling transport can carry the news, at once where none
       waits. */
    void shutdown(Reason reason);
    /* Its close frame is out (or due) and it still takes what the client
       sent before it saw it: it closes for its shutdown's reason once the
       client's close frame comes, or the link gives up waiting. */
    bool draining() const noexcept
    {
        return drain_ != Drain::none && state_ == State::open;
    }

    /* --- for the web server: polling --- */

    std::optional<Error> on_poll(PollWaiter& waiter, Millis now);
    void on_poll_gone(PollWaiter& waiter, Millis now);
    /* The GET was answered by other means (its worker is shutting down
       and told the client to ask again): the session goes on. */
    void on_poll_released(PollWaiter& waiter);
    /* A POST starts and ends; two at once close the session. */
    std::optional<Error> begin_post();
    /* What on_post() says: the POST's answer now, or from its waiter
       once the rest of its packets are handled (`later`). */
    struct PostResult {
        bool later = false;
        std::optional<Error> error;
    };
    /* The POST's payload: post_slice packets now, the rest a slice a
       turn of the event loop (Engine::continue_input). */
    PostResult on_post(std::string payload, Millis now,
                       PostWaiter* waiter = nullptr);
    /* The POST went away before its answer: its packets are handled
       still, nobody is answered. */
    void on_post_gone(PostWaiter& waiter) noexcept;
    void end_post() noexcept { posting_ = false; }

    /* --- for the web server: WebSocket --- */

    /* false: refused (already upgrading or upgraded), close the link */
    bool attach_websocket(WebSocketLink& link, Millis now);
    void on_ws_message(WebSocketLink& link, bool binary,
                       std::string_view data, Millis now);
    void on_ws_gone(WebSocketLink& link, Millis now);

    /* --- for the engine --- */

    Millis deadline() const noexcept;
    void on_timer(Millis now);
    /* The next slice of a POST's packets; true while more remain. */
    bool continue_post();
    bool input_due() const noexcept { return post_ != nullptr; }
    /*
     * Whether a request arriving now finds the session within a hair of
     * its ping timeout, the ping unanswered: clocks of client and server
     * are read at different moments, and a client that waited the whole
     * pingInterval + pingTimeout must find the session gone.
     */
    bool expiring(Millis now) const noexcept;
    void expire() { abort(Reason::ping_timeout); }
    void flush();
    bool finished() const noexcept
    {
        return state_ == State::closed && poll_ == nullptr
               && ws_ == nullptr && probe_ == nullptr && post_ == nullptr;
    }
    /* Something changed (output, a close) that the engine's next flush
       hands to the transports: the session's transports are not up to
       date until then. Queued with the engine once until that flush. */
    bool flush_due() const noexcept { return flush_due_; }
    void mark_dirty();
    /*
     * Work on its way (a count asked of the other servers, a handler's
     * deferred emit) holds the session on this worker while the token
     * lives: a session that moved meanwhile would not get it, since what a
     * migration carries has no closures. The token outlives the session
     * safely.
     */
    std::shared_ptr<const void> hold()
    {
        if (!holds_) {
            holds_ = std::make_shared<char>(0);
        }
        return holds_;
    }
    bool held() const noexcept { return holds_ && holds_.use_count() > 1; }
    /* Where the engine filed this session among its timers (`never`: not
       filed), for the engine to find it again in O(log n). */
    Millis timer_key() const noexcept { return timer_key_; }
    void set_timer_key(Millis key) noexcept { timer_key_ = key; }

private:
    void on_packet(const Packet& p);
    bool within_rate();
    void on_probe_packet(const Packet& p);
    /* Immediate close. `final_poll` answers a waiting GET. */
    void abort(Reason reason, std::string_view final_poll = "1");
    void notify_close(Reason reason);
    void begin_closing();
    void push_output();
    void release_transports();

    /*
     * Every connected client holds one of these for its life: the
     * members are ordered so that the flags share words, and the states
     * a close needs are literals, not strings of their own.
     */
    Engine& engine_;
    std::string sid_;
    std::unique_ptr<Endpoint> endpoint_;
    TransportKind transport_;
    State state_ = State::open;
    bool endpoint_closed_ = false;
    bool flush_due_ = false;
    std::shared_ptr<char> holds_;

    /* output not yet handed to a transport */
    bool overflow_ = false;
    bool close_requested_ = false;
    enum class Drain : std::uint8_t { none, due, sent };
    Drain drain_ = Drain::none;   /* shutdown() over WebSocket: its
                                     reason is close_request_ */
    std::uint16_t close_code_ = 1000;   /* for the WebSocket */
    std::vector<EncodedPtr> out_;
    std::size_t out_bytes_ = 0;
    Reason close_request_ = Reason::forced_close;
    std::string_view final_poll_ = "1";   /* a literal */
    std::string_view close_reason_;       /* a literal of the table */

    /* transports */
    PollWaiter* poll_ = nullptr;
    WebSocketLink* ws_ = nullptr;
    bool posting_ = false;

    /* a POST's packets not handled yet */
    struct PostInput {
        std::string payload;
        DecodedPayload decoded;      /* views of `payload` */
        std::size_t next = 0;
        PostWaiter* waiter = nullptr;
    };
    std::unique_ptr<PostInput> post_;
    bool handle_post_slice();
    void finish_post();

    /* upgrade */
    bool probed_ = false;
    bool cancel_probe_ = false;
    bool upgraded_ = false;
    WebSocketLink* probe_ = nullptr;
    std::vector<EncodedPtr> probe_out_;
    Millis upgrade_deadline_ = never;

    /* rate limit: a token bucket, tokens in thousandths of a message */
    std::int64_t rate_tokens_ = -1;
    Millis rate_at_ = 0;

    /* heartbeat */
    Millis next_ping_;
    Millis pong_deadline_ = never;
    Millis last_packet_;
    Millis closing_deadline_ = never;

    /* the engine's timer set */
    Millis timer_key_ = never;
};

}  // namespace socketio::eio
