/*
 * One zone's Socket.IO server in one worker: the core's engine, handlers
 * and cluster node, wired to nginx's event loop by a few events: a posted
 * event that flushes output once per loop iteration however many messages
 * were queued, one timer for every session's heartbeat, and a datagram
 * socket on which the other workers wake this one when the shared log has
 * something for it.
 */
#pragma once

#include "ngx/ngx_http_socketio_module.hpp"

#include "core/bus/zone.hpp"
#include "core/chat/chat.hpp"
#include "core/cluster/node.hpp"
#include "core/cluster/recovery.hpp"
#include "core/cluster/shared_directory.hpp"
#include "core/eio/engine.hpp"
#include "core/handlers/echo.hpp"
#include "core/redis/adapter.hpp"
#include "core/redis/directory.hpp"
#include "core/redis/member.hpp"
#include "core/sio/server.hpp"
#include "ngx/ngx_http_socketio_redis.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <memory>

namespace socketio::ngx {

class Runtime final : public eio::Waker, public eio::Random,
                      public eio::Monitor, public cluster::Host,
                      public redis::MemberHost {
public:
    Runtime(const ngx_http_socketio_loc_conf_t &conf,
            ngx_http_socketio_zone_t &zone, ngx_log_t *log);
    ~Runtime() override;

    Runtime(const Runtime &) = delete;
    Runtime &operator=(const Runtime &) = delete;

    /* Joins the zone's cluster: a slot, a wake-up socket. */
    void start();

    /*
     * Reads the log before a client's input is handled: what the other
     * workers did before it (a user named, a message posted) reaches this
     * worker's sockets before what the input causes, as it would on one
     * worker, whatever order the event loop found the two in.
     */
    void catch_up() noexcept
    {
        if (node_->behind()) {
            consume();
        }
    }

    eio::Engine &engine() noexcept { return *engine_; }
    cluster::Node &node() noexcept { return *node_; }
    const ngx_http_socketio_loc_conf_t &conf() const noexcept { return conf_; }
    const ngx_http_socketio_zone_t &zone() const noexcept { return zone_; }
    ngx_log_t *log() const noexcept { return log_; }
    bus::Stats *stats() noexcept { return node_->stats(); }

    static eio::Millis now() noexcept
    {
        return static_cast<eio::Millis>(ngx_current_msec);
    }

    /* eio::Waker: output is waiting, flush at the end of this iteration */
    void wake() override;
    /* ...input is waiting (a POST's packets): the next iteration */
    void more_input() override;
    /* eio::Random: session and socket ids come from the kernel's CSPRNG */
    void fill(unsigned char *out, std::size_t len) override;
    /* eio::Monitor: counters, the zone's table, the log */
    void on_session_opened(const eio::Session &s) override;
    void on_session_upgraded(const eio::Session &s) override;
    void on_session_closed(const eio::Session &s,
                           eio::Reason reason) override;

    /* cluster::Host */
    bool wake(std::uint16_t slot) override;
    void schedule() override;
    void retry_later() override;
    void log(util::LogLevel level, std::string_view message) override;

    /* redis::MemberHost */
    void want_write(redis::Conn &c) override;
    void users_gone(const std::vector<bus::UserRecord> &users) override;

    bool shutting_down() const noexcept { return shutting_down_; }

    /* The worker is shutting down: close every session cleanly, now. */
    void shutdown() noexcept;
    /* Flushes now (the shutdown path cannot wait for a posted event). */
    void flush_now() noexcept;

private:
    static void flush_handler(ngx_event_t *ev) noexcept;
    static void timer_handler(ngx_event_t *ev) noexcept;
    static void consume_handler(ngx_event_t *ev) noexcept;
    static void wake_handler(ngx_event_t *ev) noexcept;
    static void input_handler(ngx_event_t *ev) noexcept;
    void consume() noexcept;
    /* The log's new records, then who of the node reads Redis. */
    void read_log();
    void arm_timer() noexcept;
    void open_wake_socket();
    void close_wake_socket();
    sockaddr_un wake_address(std::uint16_t slot, socklen_t *len) const;

    const ngx_http_socketio_loc_conf_t &conf_;
    ngx_http_socketio_zone_t &zone_;
    ngx_log_t *log_;

    bus::Zone bus_;
    handlers::SocketEcho echo_;
    handlers::EngineEcho engine_echo_;
    std::unique_ptr<sio::Server> sio_;
    /* outlives the sessions, which may keep their sockets through it */
    std::unique_ptr<cluster::ZoneRecovery> recovery_;
    std::unique_ptr<eio::Engine> engine_;
    std::unique_ptr<cluster::Node> node_;
    std::unique_ptr<redis::Member> member_;
    std::unique_ptr<cluster::SharedDirectory> directory_;
    std::unique_ptr<redis::Directory> redis_directory_;
    std::unique_ptr<chat::Chat> chat_;
    RedisHealth redis_health_;
    std::unique_ptr<RedisLink> pub_link_;
    std::unique_ptr<RedisLink> sub_link_;

    ngx_event_t flush_ev_;
    ngx_event_t timer_ev_;
    ngx_event_t consume_ev_;
    ngx_event_t retry_ev_;
    ngx_event_t input_ev_;
    ngx_connection_t *wake_conn_ = nullptr;
    bool shutting_down_ = false;
    bool departed_ = false;        /* shutting down, and out of the zone */
};

}  // namespace socketio::ngx
