/*
 * Copyright (C) the ngx_http_socketio_module authors
 */

#include "ngx/ngx_http_socketio_runtime.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
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
    c.message_rate = static_cast<std::uint32_t>(conf.message_rate);
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


redis::MemberConfig
member_config(const ngx_http_socketio_loc_conf_t &conf,
    const ngx_http_socketio_zone_t &zone)
{
    const ngx_http_socketio_redis_t &r = *conf.redis;
    redis::MemberConfig c;

    c.prefix = std::string(ngx_http_socketio_sv(r.prefix));
    c.requests_timeout = static_cast<eio::Millis>(r.requests_timeout);

    /* the workers of one node share a prefix of their uids: what one of
       them publishes, the others have from the zone already */
    char node[32];
    std::snprintf(node, sizeof(node), "ngx-%016llx-",
                  static_cast<unsigned long long>(zone.id));
    c.node = node;

    c.conn.user = std::string(ngx_http_socketio_sv(r.user));
    c.conn.password = std::string(ngx_http_socketio_sv(r.password));
    c.conn.db = static_cast<unsigned>(r.db);
    c.conn.limits.max_bulk = conf.max_payload + 64 * 1024;
    c.conn.max_output = conf.max_buffered;
    c.clock = [] { return Runtime::now(); };
    return c;
}


void
init_event(ngx_event_t &ev, ngx_event_handler_pt handler, void *data,
    ngx_log_t *log)
{
    ngx_memzero(&ev, sizeof(ngx_event_t));
    ev.handler = handler;
    ev.data = data;
    ev.log = log;
}

}  // namespace


Runtime::Runtime(const ngx_http_socketio_loc_conf_t &conf,
    ngx_http_socketio_zone_t &zone, ngx_log_t *log)
    : conf_(conf), zone_(zone), log_(log)
{
    if (!bus_.attach(zone.span, zone.size, false)) {
        throw std::runtime_error("the socketio zone is not laid out");
    }

    eio::Handler *handler = &engine_echo_;

    if (conf.handler != NGX_HTTP_SOCKETIO_HANDLER_ENGINE_ECHO) {
        sio_ = std::make_unique<sio::Server>(
                   static_cast<eio::Millis>(conf.connect_timeout));
        handler = sio_.get();
    }

    engine_ = std::make_unique<eio::Engine>(engine_config(conf), *handler,
                                            *this, *this);
    engine_->set_monitor(this);

    node_ = std::make_unique<cluster::Node>(bus_, *engine_, sio_.get(), *this);

    /* off, the log lets go of what was read (a reload may turn it off) */
    node_->enable_recovery(conf.recovery && sio_ != NULL
                           ? static_cast<eio::Millis>(conf.recovery_window)
                           : 0);
    if (conf.recovery && sio_ != NULL) {
        recovery_ = std::make_unique<cluster::ZoneRecovery>(
                        *node_, *this, conf.max_buffered);
        sio_->set_recovery(recovery_.get());
    }

    if (conf.redis != NULL && sio_ != NULL) {
        member_ = std::make_unique<redis::Member>(member_config(conf, zone),
                                                  *this, *sio_);
    }

    /* rooms and this node's workers through the zone; other servers, if
       any, through Redis */
    auto adapter = [this](const char *nsp) -> std::unique_ptr<sio::Adapter> {
        auto shared = std::make_unique<cluster::SharedAdapter>(*node_, nsp);
        if (member_ == NULL) {
            return shared;
        }
        member_->add_namespace(nsp);
        return std::make_unique<redis::Adapter>(std::move(shared), *member_,
                                                nsp);
    };

    switch (conf.handler) {

    case NGX_HTTP_SOCKETIO_HANDLER_CHAT: {
        directory_ = std::make_unique<cluster::SharedDirectory>(*node_);
        chat::Directory *users = directory_.get();
        if (member_ != NULL) {
            char tag[9];
            std::snprintf(tag, sizeof(tag), "%08llx",
                          static_cast<unsigned long long>(zone.id >> 32));
            redis_directory_ = std::make_unique<redis::Directory>(
                *directory_, *member_, tag, [] { return now(); });
            users = redis_directory_.get();
        }
        chat_ = std::make_unique<chat::Chat>(*users, relay_events(conf));
        sio_->add_namespace("/", *chat_, adapter("/"));
        break;
    }

    case NGX_HTTP_SOCKETIO_HANDLER_ECHO:
        sio_->add_namespace("/", echo_, adapter("/"));
        sio_->add_namespace("/custom", echo_, adapter("/custom"));
        break;

    default:
        break;
    }

    init_event(flush_ev_, flush_handler, this, log_);
    init_event(timer_ev_, timer_handler, this, log_);
    init_event(consume_ev_, consume_handler, this, log_);
    init_event(retry_ev_, consume_handler, this, log_);
    init_event(input_ev_, input_handler, this, log_);
    retry_ev_.cancelable = 1;
    flush_ev_.cancelable = 1;
}


Runtime::~Runtime()
{
    for (ngx_event_t *ev : {&flush_ev_, &consume_ev_, &input_ev_}) {
        if (ev->posted) {
            ngx_delete_posted_event(ev);
        }
    }

    for (ngx_event_t *ev : {&timer_ev_, &retry_ev_, &flush_ev_}) {
        if (ev->timer_set) {
            ngx_del_timer(ev);
        }
    }

    close_wake_socket();

    ngx_http_socketio_seam_void(log_, "exit", [this] { node_->leave(); });
}


void
Runtime::start()
{
    /* what the node writes before any event (a dead worker's slot_gone)
       is dated now, not at 0: a recovery window starts from it */
    engine_->set_now(now());

    if (!node_->claim(static_cast<std::int32_t>(ngx_pid), zone_.generation,
                      static_cast<std::uint32_t>(ngx_worker)))
    {
        throw std::runtime_error("no free worker slot in the socketio zone "
                                 "(64 at most)");
    }

    /* the wake-up socket first: cleaning up after a dead worker wakes the
       others, and they wake this one */
    open_wake_socket();
    node_->recover();

    if (member_ != NULL) {
        member_->set_reader(node_->reads_cluster());
        /* a member of the Socket.IO cluster on Redis: its uid says which
           node and worker it is, and which configuration */
        member_->set_uid(member_->config().node
                         + std::to_string(node_->slot()) + "-"
                         + std::to_string(zone_.generation));
        pub_link_ = std::make_unique<RedisLink>(
            *conf_.redis, member_->pub(), "publishing", redis_health_, log_,
            [this] { member_->on_closed(member_->pub()); });
        sub_link_ = std::make_unique<RedisLink>(
            *conf_.redis, member_->sub(), "subscribed", redis_health_, log_,
            [this] { member_->on_closed(member_->sub()); });
        pub_link_->start();
        sub_link_->start();
    }

    ngx_log_error(NGX_LOG_INFO, log_, 0,
                  "socketio: worker joined zone \"%V\" as slot %ui",
                  &zone_.name, static_cast<ngx_uint_t>(node_->slot()));

    consume();
}


/* --- wake-ups --- */

/*
 * An abstract unix socket per worker, named after the zone and the slot:
 * any process can reach it by name, so a worker of a new configuration
 * wakes one of the old and the other way round, with no descriptor passed
 * or inherited. One byte says "read the log".
 */
sockaddr_un
Runtime::wake_address(std::uint16_t slot, socklen_t *len) const
{
    sockaddr_un  sa;

    ngx_memzero(&sa, sizeof(sa));
    sa.sun_family = AF_UNIX;

    int n = std::snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
                          "ngx-socketio-%016llx-%u",
                          static_cast<unsigned long long>(zone_.id),
                          static_cast<unsigned>(slot));

    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
    return sa;
}


void
Runtime::open_wake_socket()
{
    int  fd;

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        throw std::runtime_error("socket(AF_UNIX) failed");
    }

    socklen_t len;
    sockaddr_un sa = wake_address(node_->slot(), &len);

    if (bind(fd, reinterpret_cast<sockaddr *>(&sa), len) == -1) {
        int err = errno;
        close(fd);
        throw std::runtime_error(std::string("bind() of the wake-up socket "
                                             "failed: ") + std::strerror(err));
    }

    wake_conn_ = ngx_get_connection(fd, log_);
    if (wake_conn_ == NULL) {
        close(fd);
        throw std::runtime_error("no connection for the wake-up socket");
    }

    wake_conn_->data = this;
    wake_conn_->read->handler = wake_handler;
    wake_conn_->read->log = log_;
    wake_conn_->write->log = log_;

    /* told, as idle connections are, when the worker shuts down */
    wake_conn_->idle = 1;

    if (ngx_add_event(wake_conn_->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_close_connection(wake_conn_);
        wake_conn_ = NULL;
        throw std::runtime_error("could not watch the wake-up socket");
    }
}


void
Runtime::close_wake_socket()
{
    if (wake_conn_ != NULL) {
        ngx_close_connection(wake_conn_);
        wake_conn_ = NULL;
    }
}


bool
Runtime::wake(std::uint16_t slot)
{
    if (wake_conn_ == NULL) {
        return false;
    }

    socklen_t len;
    sockaddr_un sa = wake_address(slot, &len);
    char one = 'w';

    if (sendto(wake_conn_->fd, &one, 1, MSG_DONTWAIT,
               reinterpret_cast<sockaddr *>(&sa), len) == 1)
    {
        return true;
    }

    /* a full queue already holds a wake-up: nothing is lost */
    return errno == EAGAIN || errno == EWOULDBLOCK;
}


void
Runtime::wake_handler(ngx_event_t *ev) noexcept
{
    auto *c = static_cast<ngx_connection_t *>(ev->data);
    auto *rt = static_cast<Runtime *>(c->data);

    if (c->close) {
        /* the worker is shutting down; while its WebSocket sessions drain
           it reads the log still */
        c->close = 0;
        rt->shutdown();
        if (rt->departed_) {
            return;
        }
    }

    char buf[64];
    while (recv(c->fd, buf, sizeof(buf), 0) > 0) {
        /* drain: one read of the log serves them all */
    }

    rt->consume();
}


void
Runtime::schedule()
{
    if (!consume_ev_.posted) {
        ngx_post_event(&consume_ev_, &ngx_posted_events);
    }
}


void
Runtime::retry_later()
{
    if (!retry_ev_.timer_set) {
        ngx_add_timer(&retry_ev_, 10);
    }
}


void
Runtime::consume_handler(ngx_event_t *ev) noexcept
{
    static_cast<Runtime *>(ev->data)->consume();
}


void
Runtime::consume() noexcept
{
    ngx_http_socketio_seam_void(log_, "consume", [this] { read_log(); },
                                [this] () noexcept { retry_later(); });
    /* what was read may bring a deadline and no output to flush: a chat
       user away, whose grace this worker watches too */
    arm_timer();
}


void
Runtime::read_log()
{
    node_->consume();
    /* the worker that read the other servers may have left: the record
       that says so is what woke this one */
    if (member_ != NULL) {
        member_->set_reader(node_->reads_cluster());
    }
}


/* --- the engine's neighbours --- */


void
Runtime::want_write(redis::Conn &c)
{
    RedisLink *link = &c == &member_->pub() ? pub_link_.get()
                                            : sub_link_.get();
    if (link != NULL) {
        link->write();
    }
}


void
Runtime::wake()
{
    if (!flush_ev_.posted) {
        ngx_post_event(&flush_ev_, &ngx_posted_events);
    }
}


/*
 * A POST's packets a slice a turn: in the next iteration of the event
 * loop, once the kernel has been asked what the other connections have
 * (ngx_posted_events would run it again before any of them).
 */
void
Runtime::more_input()
{
    if (!input_ev_.posted) {
        ngx_post_event(&input_ev_, &ngx_posted_next_events);
    }
}


void
Runtime::input_handler(ngx_event_t *ev) noexcept
{
    auto *rt = static_cast<Runtime *>(ev->data);

    ngx_http_socketio_seam_void(rt->log_, "post",
                                [rt] { rt->engine_->continue_input(); });

    rt->flush_now();
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
Runtime::on_session_opened(const eio::Session &s)
{
    if (bus::Stats *st = stats()) {
        st->sessions.fetch_add(1, std::memory_order_relaxed);
        (s.transport() == eio::TransportKind::polling ? st->polling
                                                      : st->websocket)
            .fetch_add(1, std::memory_order_relaxed);
        if (!s.upgraded()) {
            st->handshakes.fetch_add(1, std::memory_order_relaxed);
        }
    }
}


void
Runtime::on_session_upgraded(const eio::Session &)
{
    if (bus::Stats *st = stats()) {
        st->polling.fetch_sub(1, std::memory_order_relaxed);
        st->websocket.fetch_add(1, std::memory_order_relaxed);
    }
}


/*
 * nginx's level for each of the core's: the one place they meet.
 */
static ngx_uint_t
ngx_http_socketio_log_level(util::LogLevel level) noexcept
{
    switch (level) {

    case util::LogLevel::error:
        return NGX_LOG_ERR;

    case util::LogLevel::warn:
        return NGX_LOG_WARN;

    case util::LogLevel::notice:
        return NGX_LOG_NOTICE;

    case util::LogLevel::info:
        return NGX_LOG_INFO;

    default:
        return NGX_LOG_DEBUG;
    }
}


void
Runtime::on_session_closed(const eio::Session &s, eio::Reason reason)
{
    if (bus::Stats *st = stats()) {
        st->sessions.fetch_sub(1, std::memory_order_relaxed);
        (s.transport() == eio::TransportKind::polling ? st->polling
                                                      : st->websocket)
            .fetch_sub(1, std::memory_order_relaxed);
    }

    node_->session_closed(s, reason);

    const eio::ReasonInfo &why = eio::info(reason);
    ngx_uint_t level = ngx_http_socketio_log_level(why.level);

    switch (reason) {

    case eio::Reason::rate_limit:
        ngx_log_error(level, log_, 0,
                      "socketio: session %s closed: over socketio_message_rate "
                      "(%ui a second)", s.sid().c_str(), conf_.message_rate);
        return;

    case eio::Reason::slow_reader:
        ngx_log_error(level, log_, 0,
                      "socketio: session %s closed: a slow reader, over "
                      "socketio_output_limit (%uz bytes) unsent",
                      s.sid().c_str(), conf_.max_buffered);
        return;

    default:
        ngx_log_error(level, log_, 0, "socketio: session %s closed: %*s",
                      s.sid().c_str(), why.text.size(), why.text.data());
    }
}


void
Runtime::log(util::LogLevel level, std::string_view message)
{
    ngx_log_error(ngx_http_socketio_log_level(level), log_, 0,
                  "socketio: zone \"%V\": %*s", &zone_.name,
                  message.size(), message.data());
}


void
Runtime::users_gone(const std::vector<bus::UserRecord> &users)
{
    if (chat_ == NULL || sio_ == NULL) {
        return;
    }

    sio::Namespace *nsp = sio_->find("/");
    if (nsp == NULL) {
        return;
    }

    std::vector<chat::User> gone;
    gone.reserve(users.size());
    for (const auto &u : users) {
        gone.push_back(chat::User{u.key, u.name, u.socket_id});
    }

    chat_->users_gone(*nsp, gone);
}


/* --- flushing, timers, shutdown --- */


void
Runtime::flush_now() noexcept
{
    ngx_http_socketio_seam_void(log_, "flush",
        [this] {
            engine_->flush();
            node_->after_flush();
        },
        [this] () noexcept {
            /* what was not flushed is due still (Engine::flush): soon */
            if (!flush_ev_.timer_set) {
                ngx_add_timer(&flush_ev_, 10);
            }
        });

    arm_timer();
}


void
Runtime::flush_handler(ngx_event_t *ev) noexcept
{
    auto *rt = static_cast<Runtime *>(ev->data);

    if (ngx_exiting) {
        rt->shutdown();
        return;
    }

    rt->flush_now();
}


void
Runtime::timer_handler(ngx_event_t *ev) noexcept
{
    auto *rt = static_cast<Runtime *>(ev->data);

    if (ngx_exiting) {
        rt->shutdown();
    }

    ngx_http_socketio_seam_void(rt->log_, "timer", [rt] {
        /* a wake-up cannot be lost, but a read of the log costs nothing */
        rt->read_log();
        /* sessions whose turn did not come stay due: the timer comes
           back at once */
        rt->engine_->on_timer(now());
        if (rt->member_ != NULL) {
            rt->member_->on_timer(now());
        }
        /* the chat's away users whose grace is over */
        rt->node_->sweep_away(now());
        rt->node_->after_flush();
    });

    rt->arm_timer();
}


void
Runtime::arm_timer() noexcept
{
    eio::Millis deadline = engine_->next_deadline();

    if (member_ != NULL) {
        deadline = std::min(deadline, member_->next_deadline());
    }
    deadline = std::min(deadline, node_->next_sweep());

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
    if (!shutting_down_) {
        shutting_down_ = true;

        ngx_log_error(NGX_LOG_INFO, log_, 0,
                      "socketio: closing %uz sessions, worker is exiting",
                      engine_->size());

        ngx_http_socketio_seam_void(log_, "shutdown", [this] {
            /* the sockets kept for recovery are dated now */
            engine_->set_now(now());
            /* sessions on their way here arrive first, to be closed too */
            node_->consume();
            engine_->close_all(eio::Reason::server_shutdown);
        });
    }

    flush_now();

    /*
     * A WebSocket session waits for its client's close frame (at most
     * ngx_http_socketio_linger), handling what the client sent before
     * it: the worker stays a member of the zone until the last one is
     * closed and kept for recovery. Each one's end flushes, and the flush
     * comes back here.
     */
    if (departed_ || engine_->draining()) {
        return;
    }

    departed_ = true;

    ngx_http_socketio_seam_void(log_, "shutdown", [this] {
        /* what waits here for other workers is let go, and the log too */
        node_->depart();
    });

    close_wake_socket();

    /* the cluster on Redis counts this worker no more */
    if (pub_link_ != NULL) {
        pub_link_->stop();
        sub_link_->stop();
    }
}

}  // namespace socketio::ngx
