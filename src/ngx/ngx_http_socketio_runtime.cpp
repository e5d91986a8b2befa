/*
 * Copyright (C) the ngx_http_socketio_module authors
 */

#include "ngx/ngx_http_socketio_runtime.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>


namespace socketio::ngx {

namespace {

eio::Config
engine_config(const ngx_http_socketio_loc_conf_t &conf)
{
    eio::Config c;
    c.ping_interval = static_cast<eio::Millis>(conf.ping_interval);
    c.ping_timeout = static_cast<eio::Millis>(conf.ping_timeout);
    c.upgrade_timeout = static_cast<eio::Millis>(conf.upgrade_timeout);
    c.max_payload = conf.max_payload;
    c.max_buffered = conf.max_buffered;
    c.polling = (conf.transports & NGX_HTTP_SOCKETIO_POLLING) != 0;
    c.websocket = (conf.transports & NGX_HTTP_SOCKETIO_WEBSOCKET) != 0;
    return c;
}


std::vector<std::string>
relay_events(const ngx_http_socketio_loc_conf_t &conf)
{
    std::vector<std::string>  events;

    if (conf.chat_relay != NULL) {
        auto *name = static_cast<ngx_str_t *>(conf.chat_relay->elts);

        for (ngx_uint_t i = 0; i < conf.chat_relay->nelts; i++) {
            events.emplace_back(ngx_http_socketio_sv(name[i]));
        }
    }

    return events;
}

}  // namespace


Runtime::Runtime(const ngx_http_socketio_loc_conf_t &conf, ngx_log_t *log)
    : conf_(conf), log_(log)
{
    eio::Handler *handler;

    switch (conf.handler) {

    case NGX_HTTP_SOCKETIO_HANDLER_ENGINE_ECHO:
        handler = &engine_echo_;
        break;

    case NGX_HTTP_SOCKETIO_HANDLER_CHAT:
        chat_ = std::make_unique<chat::Chat>(directory_, relay_events(conf));
        sio_ = std::make_unique<sio::Server>(
                   static_cast<eio::Millis>(conf.connect_timeout));
        sio_->add_namespace("/", *chat_);
        handler = sio_.get();
        break;

    case NGX_HTTP_SOCKETIO_HANDLER_ECHO:
    default:
        sio_ = std::make_unique<sio::Server>(
                   static_cast<eio::Millis>(conf.connect_timeout));
        sio_->add_namespace("/", echo_);
        sio_->add_namespace("/custom", echo_);
        handler = sio_.get();
        break;
    }

    engine_ = std::make_unique<eio::Engine>(engine_config(conf), *handler,
                                            *this, *this);
    engine_->set_monitor(this);

    ngx_memzero(&flush_ev_, sizeof(ngx_event_t));
    flush_ev_.handler = flush_handler;
    flush_ev_.data = this;
    flush_ev_.log = log_;

    ngx_memzero(&timer_ev_, sizeof(ngx_event_t));
    timer_ev_.handler = timer_handler;
    timer_ev_.data = this;
    timer_ev_.log = log_;
}


Runtime::~Runtime()
{
    if (flush_ev_.posted) {
        ngx_delete_posted_event(&flush_ev_);
    }

    if (timer_ev_.timer_set) {
        ngx_del_timer(&timer_ev_);
    }
}


void
Runtime::wake()
{
    if (!flush_ev_.posted) {
        ngx_post_event(&flush_ev_, &ngx_posted_events);
    }
}


void
Runtime::fill(unsigned char *out, std::size_t len)
{
    while (len > 0) {
        ssize_t n = getrandom(out, len, 0);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw std::runtime_error(std::string("getrandom() failed: ")
                                     + std::strerror(errno));
        }

        out += n;
        len -= static_cast<std::size_t>(n);
    }
}


void
Runtime::on_session_closed(const eio::Session &s, std::string_view reason)
{
    if (reason == "transport buffer full") {
        ngx_log_error(NGX_LOG_INFO, log_, 0,
                      "socketio: session %s closed: a slow reader, over "
                      "socketio_output_limit (%uz bytes) unsent",
                      s.sid().c_str(), conf_.max_buffered);
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log_, 0,
                   "socketio: session %s closed: %*s", s.sid().c_str(),
                   reason.size(), reason.data());
}


void
Runtime::flush_now() noexcept
{
    try {
        engine_->flush();
        arm_timer();

    } catch (...) {
        ngx_http_socketio_log_exception(log_, "flush");
    }
}


void
Runtime::flush_handler(ngx_event_t *ev)
{
    auto *rt = static_cast<Runtime *>(ev->data);

    if (ngx_exiting) {
        rt->shutdown();
        return;
    }

    rt->flush_now();
}


void
Runtime::timer_handler(ngx_event_t *ev)
{
    auto *rt = static_cast<Runtime *>(ev->data);

    if (ngx_exiting) {
        rt->shutdown();
    }

    try {
        rt->engine_->on_timer(now());
        rt->arm_timer();

    } catch (...) {
        ngx_http_socketio_log_exception(rt->log_, "timer");
    }
}


void
Runtime::arm_timer()
{
    eio::Millis deadline = engine_->next_deadline();

    if (deadline == eio::never) {
        if (timer_ev_.timer_set) {
            ngx_del_timer(&timer_ev_);
        }
        return;
    }

    eio::Millis delay = deadline - now();
    if (delay < 1) {
        delay = 1;
    }

    ngx_msec_t key = ngx_current_msec + static_cast<ngx_msec_t>(delay);

    if (timer_ev_.timer_set) {
        if (static_cast<ngx_msec_int_t>(timer_ev_.timer.key - key) <= 0) {
            /* an earlier wake-up is armed: it re-arms when it fires */
            return;
        }

        /*
         * ngx_add_timer() keeps a timer that moves by less than
         * NGX_TIMER_LAZY_DELAY; a heartbeat must not fire that late
         */
        ngx_del_timer(&timer_ev_);
    }

    /*
     * while sessions live, the timer is not cancelable: a worker that is
     * shutting down waits for it, and it closes the sessions cleanly
     */
    timer_ev_.cancelable = 0;
    ngx_add_timer(&timer_ev_, static_cast<ngx_msec_t>(delay));
}


void
Runtime::shutdown() noexcept
{
    if (shutting_down_) {
        flush_now();
        return;
    }

    shutting_down_ = true;

    ngx_log_error(NGX_LOG_INFO, log_, 0,
                  "socketio: closing %uz sessions, worker is exiting",
                  engine_->size());

    try {
        engine_->close_all("server shutting down");

    } catch (...) {
        ngx_http_socketio_log_exception(log_, "shutdown");
    }

    flush_now();
}

}  // namespace socketio::ngx
