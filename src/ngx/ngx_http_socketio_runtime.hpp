/*
 * One location's Socket.IO server in one worker: the core's engine and
 * handlers, wired to nginx's event loop by two events: a posted event that
 * flushes output once per loop iteration, however many messages were
 * queued, and one timer for every session's heartbeat.
 */
#pragma once

#include "ngx/ngx_http_socketio_module.hpp"

#include "core/chat/chat.hpp"
#include "core/chat/directory.hpp"
#include "core/eio/engine.hpp"
#include "core/handlers/echo.hpp"
#include "core/sio/server.hpp"

#include <memory>

namespace socketio::ngx {

class Runtime final : public eio::Waker, public eio::Random,
                      public eio::Monitor {
public:
    Runtime(const ngx_http_socketio_loc_conf_t &conf, ngx_log_t *log);
    ~Runtime() override;

    Runtime(const Runtime &) = delete;
    Runtime &operator=(const Runtime &) = delete;

    eio::Engine &engine() noexcept { return *engine_; }
    const ngx_http_socketio_loc_conf_t &conf() const noexcept { return conf_; }
    ngx_log_t *log() const noexcept { return log_; }

    static eio::Millis now() noexcept
    {
        return static_cast<eio::Millis>(ngx_current_msec);
    }

    /* eio::Waker: output is waiting, flush at the end of this iteration */
    void wake() override;
    /* eio::Random: session and socket ids come from the kernel's CSPRNG */
    void fill(unsigned char *out, std::size_t len) override;
    /* eio::Monitor: what the log says of closed sessions */
    void on_session_closed(const eio::Session &s,
                           std::string_view reason) override;

    /* The worker is shutting down: close every session cleanly, now. */
    void shutdown() noexcept;
    /* Flushes now (the shutdown path cannot wait for a posted event). */
    void flush_now() noexcept;

private:
    static void flush_handler(ngx_event_t *ev);
    static void timer_handler(ngx_event_t *ev);
    void arm_timer();

    const ngx_http_socketio_loc_conf_t &conf_;
    ngx_log_t *log_;

    handlers::SocketEcho echo_;
    chat::LocalDirectory directory_;
    std::unique_ptr<chat::Chat> chat_;
    handlers::EngineEcho engine_echo_;
    std::unique_ptr<sio::Server> sio_;
    std::unique_ptr<eio::Engine> engine_;

    ngx_event_t flush_ev_;
    ngx_event_t timer_ev_;
    bool shutting_down_ = false;
};

}  // namespace socketio::ngx
