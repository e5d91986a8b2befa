/*
 * One connection to Redis, as its client sees it (RESP2 request/reply,
 * https://redis.io/docs/reference/protocol-spec/, and the pub/sub mode of
 * https://redis.io/docs/interact/pubsub/): the commands sent and the
 * callbacks that wait for their replies, in order; the handshake a fresh
 * connection makes (AUTH with an ACL user or not, SELECT); and, once
 * subscribed, the messages Redis pushes. No I/O: the web server connects,
 * moves bytes in (on_bytes) and out (output), and says when the
 * connection opened or closed.
 *
 * Bounded: replies are parsed within resp::Limits, and a command that
 * would make the unsent output exceed `max_output` (Redis slower than
 * what is published) is refused, for the caller to drop and count.
 */
#pragma once

#include "core/redis/resp.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::redis {

struct ConnOptions {
    std::string user;            /* ACL user name; empty: AUTH password */
    std::string password;        /* empty: no AUTH */
    unsigned db = 0;             /* SELECT when not 0 */
    std::size_t max_output = 8 * 1024 * 1024;
    resp::Limits limits;
};

class Conn {
public:
    /* A reply, or nullptr when the connection closed before it came. */
    using ReplyFn = std::function<void(const resp::Reply*)>;
    /* What Redis pushes to a subscribed connection. */
    using PushFn = std::function<void(const resp::Reply&)>;

    explicit Conn(ConnOptions options);

    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    enum class State : std::uint8_t {
        down,        /* no connection */
        handshake,   /* connected: AUTH, SELECT under way */
        ready,       /* commands go */
    };

    State state() const noexcept { return state_; }
    bool ready() const noexcept { return state_ == State::ready; }

    /* --- from the web server --- */

    /* The TCP (or unix) connection is open: the handshake starts. */
    void on_connected();
    /* Bytes read. false: the stream is broken (a malformed reply, a
       handshake refused): close the connection, the reason in why(). */
    bool on_bytes(std::string_view bytes);
    /* The connection closed: what waited for a reply is told (nullptr). */
    void on_closed();

    /* Bytes to write, and how many of them were written. */
    std::string_view output() const noexcept { return out_; }
    void written(std::size_t n) noexcept;

    const std::string& why() const noexcept { return why_; }

    /* --- for the member --- */

    /*
     * Sends a command once the handshake is done; false when it cannot
     * now (not ready, or over max_output): nothing is queued then.
     */
    bool command(std::initializer_list<std::string_view> args,
                 ReplyFn done = {});
    bool command(const std::vector<std::string_view>& args,
                 ReplyFn done = {});

    /* (P)SUBSCRIBE: Redis confirms each channel with a push, and pushes
       the channels' messages from then on (on_push). */
    bool subscribe(const std::vector<std::string_view>& args);

    /* Called when the handshake is done (the connection is ready). */
    void on_ready(std::function<void()> fn) { ready_fn_ = std::move(fn); }
    /* Pushes of a subscribed connection (message, pmessage, and the
       subscribe and psubscribe confirmations). */
    void on_push(PushFn fn) { push_fn_ = std::move(fn); }

    /* Replies still awaited. */
    std::size_t waiting() const noexcept { return waiting_.size(); }

private:
    void send(const std::vector<std::string_view>& args, ReplyFn done);
    bool handle(const resp::Reply& r);
    void fail(std::string why);

    ConnOptions opts_;
    State state_ = State::down;
    std::optional<resp::Parser> parser_;
    std::string out_;
    std::deque<ReplyFn> waiting_;
    std::size_t handshake_left_ = 0;
    std::string why_;
    std::function<void()> ready_fn_;
    PushFn push_fn_;
};

}  // namespace socketio::redis
