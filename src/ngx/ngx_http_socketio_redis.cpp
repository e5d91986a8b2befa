/*
 * Copyright (C) the ngx_http_socketio_module authors
 *
 * Connections to Redis for the cluster over Redis (socketio_redis): see
 * ngx_http_socketio_redis.hpp.
 */

#include "ngx/ngx_http_socketio_redis.hpp"


namespace socketio::ngx {

namespace {

constexpr ngx_msec_t  ngx_http_socketio_redis_first_retry = 100;
constexpr ngx_msec_t  ngx_http_socketio_redis_last_retry = 5000;
constexpr ngx_msec_t  ngx_http_socketio_redis_connect_timeout = 3000;

}  // namespace


RedisLink::RedisLink(const ngx_http_socketio_redis_t &conf, redis::Conn &conn,
    const char *role, RedisHealth &health, ngx_log_t *log,
    std::function<void()> lost)
    : conf_(conf), conn_(conn), role_(role), health_(health), log_(log),
      lost_(std::move(lost))
{
    ngx_memzero(&peer_, sizeof(peer_));
    ngx_memzero(&retry_ev_, sizeof(retry_ev_));
    retry_ev_.handler = retry_handler;
    retry_ev_.data = this;
    retry_ev_.log = log_;
    /* a worker that shuts down does not wait for a reconnection */
    retry_ev_.cancelable = 1;
}


RedisLink::~RedisLink()
{
    stop();
}


void
RedisLink::start() noexcept
{
    stopped_ = false;
    connect();
}


void
RedisLink::stop() noexcept
{
    stopped_ = true;

    if (retry_ev_.timer_set) {
        ngx_del_timer(&retry_ev_);
    }

    close();
}


void
RedisLink::connect() noexcept
{
    ngx_int_t  rc;

    if (stopped_) {
        return;
    }

    ngx_memzero(&peer_, sizeof(peer_));
    peer_.sockaddr = conf_.addr->sockaddr;
    peer_.socklen = conf_.addr->socklen;
    peer_.name = const_cast<ngx_str_t *>(&conf_.address);
    peer_.get = ngx_event_get_peer;
    peer_.log = log_;
    peer_.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&peer_);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        fail("could not connect", ngx_socket_errno);
        return;
    }

    ngx_connection_t *c = peer_.connection;

    c->data = this;
    c->log = log_;
    c->read->log = log_;
    c->write->log = log_;
    c->read->handler = connect_handler;
    c->write->handler = connect_handler;

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, ngx_http_socketio_redis_connect_timeout);
        return;
    }

    connected();
}


void
RedisLink::connect_handler(ngx_event_t *ev) noexcept
{
    auto *c = static_cast<ngx_connection_t *>(ev->data);
    auto *link = static_cast<RedisLink *>(c->data);
    int        err = 0;
    socklen_t  len = sizeof(err);

    if (ev->timedout) {
        link->fail("connection timed out", 0);
        return;
    }

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err != 0) {
        link->fail("could not connect", err);
        return;
    }

    link->connected();
}


void
RedisLink::connected() noexcept
{
    ngx_connection_t *c = peer_.connection;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = read_handler;
    c->write->handler = write_handler;

    if (failing_) {
        failing_ = false;
        if (--health_.down == 0) {
            ngx_log_error(NGX_LOG_NOTICE, log_, 0,
                          "socketio: Redis at \"%V\" reached again: "
                          "messages cross servers again", &conf_.address);
        }
    }
    backoff_ = 0;

    ngx_http_socketio_seam_void(log_, "redis", [this] {
        conn_.on_connected();
    }, [this] () noexcept { fail("out of memory", 0); });

    write();

    if (peer_.connection != NULL && c->read->ready) {
        read();
    }
}


void
RedisLink::read_handler(ngx_event_t *ev) noexcept
{
    auto *c = static_cast<ngx_connection_t *>(ev->data);
    static_cast<RedisLink *>(c->data)->read();
}


void
RedisLink::read() noexcept
{
    static u_char  buf[16384];

    for (int reads = 0; reads < 16; reads++) {
        ngx_connection_t *c = peer_.connection;
        if (c == NULL) {
            return;
        }

        ssize_t n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                fail("read event", 0);
            }
            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            fail(n == 0 ? "connection closed by Redis" : "read error", 0);
            return;
        }

        bool ok = ngx_http_socketio_seam(log_, "redis", false, [&] {
            return conn_.on_bytes(
                std::string_view(reinterpret_cast<char *>(buf),
                                 static_cast<std::size_t>(n)));
        });

        if (!ok) {
            ngx_log_error(NGX_LOG_WARN, log_, 0,
                          "socketio: Redis at \"%V\" (%s): %s",
                          &conf_.address, role_, conn_.why().c_str());
            fail("protocol error", 0);
            return;
        }
    }

    /* a busy subscription does not keep the worker from the others */
    if (peer_.connection != NULL) {
        ngx_post_event(peer_.connection->read, &ngx_posted_next_events);
    }
}


void
RedisLink::write_handler(ngx_event_t *ev) noexcept
{
    auto *c = static_cast<ngx_connection_t *>(ev->data);
    static_cast<RedisLink *>(c->data)->write();
}


void
RedisLink::write() noexcept
{
    ngx_connection_t *c = peer_.connection;

    if (c == NULL || c->read->handler != read_handler) {
        /* not connected (yet): the handshake sends it when it is */
        return;
    }

    while (!conn_.output().empty()) {
        std::string_view out = conn_.output();
        ssize_t n = c->send(c, (u_char *) out.data(), out.size());

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                fail("write event", 0);
            }
            return;
        }

        if (n == NGX_ERROR) {
            fail("write error", 0);
            return;
        }

        conn_.written(static_cast<std::size_t>(n));
    }
}


void
RedisLink::fail(const char *why, ngx_err_t err) noexcept
{
    /* this link's part in the outage, counted once */
    bool first = !failing_ && !stopped_;
    if (first) {
        failing_ = true;
    }

    if (first && health_.down++ == 0) {
        ngx_log_error(NGX_LOG_WARN, log_, err,
                      "socketio: Redis at \"%V\" (%s): %s; this server is "
                      "a chat of its own until it is back",
                      &conf_.address, role_, why);

    } else {
        ngx_log_error(NGX_LOG_DEBUG, log_, err,
                      "socketio: Redis at \"%V\" (%s): %s",
                      &conf_.address, role_, why);
    }

    close();

    if (stopped_) {
        return;
    }

    backoff_ = backoff_ == 0 ? ngx_http_socketio_redis_first_retry
                             : ngx_min(backoff_ * 2,
                                       ngx_http_socketio_redis_last_retry);
    if (!retry_ev_.timer_set) {
        ngx_add_timer(&retry_ev_, backoff_);
    }
}


void
RedisLink::close() noexcept
{
    if (peer_.connection != NULL) {
        ngx_close_connection(peer_.connection);
        peer_.connection = NULL;

        ngx_http_socketio_seam_void(log_, "redis", [this] {
            conn_.on_closed();
            if (lost_) {
                lost_();
            }
        });
    }
}


void
RedisLink::retry_handler(ngx_event_t *ev) noexcept
{
    static_cast<RedisLink *>(ev->data)->connect();
}

}  // namespace socketio::ngx
