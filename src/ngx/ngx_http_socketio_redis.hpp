/*
 * One connection to Redis in a worker's event loop: an nginx peer
 * connection that moves bytes between a socket and the core's
 * redis::Conn, never blocking, and reconnects after a loss with a backoff
 * (100 ms doubling to 5 s). A worker's two links share one account of
 * Redis's health: the first failure of an outage is one warn line, the
 * return one notice line; in between, debug.
 */
#pragma once

#include "ngx/ngx_http_socketio_module.hpp"

#include "core/redis/conn.hpp"

#include <functional>

namespace socketio::ngx {

/* How many of a worker's links to Redis are down. */
struct RedisHealth {
    int down = 0;
};

class RedisLink {
public:
    /* `lost`: the connection closed (the member hears it) */
    RedisLink(const ngx_http_socketio_redis_t &conf, redis::Conn &conn,
              const char *role, RedisHealth &health, ngx_log_t *log,
              std::function<void()> lost);
    ~RedisLink();

    RedisLink(const RedisLink &) = delete;
    RedisLink &operator=(const RedisLink &) = delete;

    /* Connects now, and again whenever the connection is lost. */
    void start() noexcept;
    /* Closes for good (the worker is leaving). */
    void stop() noexcept;

    /* The conn has bytes to send. */
    void write() noexcept;

    redis::Conn &conn() noexcept { return conn_; }

private:
    static void connect_handler(ngx_event_t *ev) noexcept;
    static void read_handler(ngx_event_t *ev) noexcept;
    static void write_handler(ngx_event_t *ev) noexcept;
    static void retry_handler(ngx_event_t *ev) noexcept;

    void connect() noexcept;
    void connected() noexcept;
    void read() noexcept;
    void fail(const char *why, ngx_err_t err) noexcept;
    void close() noexcept;

    const ngx_http_socketio_redis_t  &conf_;
    redis::Conn                      &conn_;
    const char                       *role_;
    RedisHealth                      &health_;
    ngx_log_t                        *log_;
    std::function<void()>             lost_;

    ngx_peer_connection_t             peer_;
    ngx_event_t                       retry_ev_;
    ngx_msec_t                        backoff_ = 0;
    bool                              failing_ = false;  /* counted down */
    bool                              stopped_ = false;
};

}  // namespace socketio::ngx
