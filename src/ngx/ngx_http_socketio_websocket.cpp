/*
 * Copyright (C) the ngx_http_socketio_module authors
 *
 * The WebSocket transport (engine.io-protocol "WebSocket", RFC 6455) on
 * the request's own connection: after the 101 answer the module reads and
 * writes the socket itself, through c->recv and c->send_chain, so that it
 * works the same over TLS. What a connection holds while idle is its
 * parser's header bytes and an empty queue: read buffers are per worker.
 */

#include "ngx/ngx_http_socketio_module.hpp"
#include "ngx/ngx_http_socketio_runtime.hpp"

#include "core/eio/engine.hpp"
#include "core/cluster/node.hpp"
#include "core/eio/session.hpp"
#include "core/ws/handshake.hpp"
#include "core/ws/parser.hpp"
#include "core/ws/writer.hpp"

#include <deque>
#include <memory>
#include <string>
#include <vector>


namespace {

using socketio::ngx::Runtime;
namespace eio = socketio::eio;
namespace bus = socketio::bus;
namespace ws = socketio::ws;


/* how long a closing connection waits for the peer's close frame */
constexpr ngx_msec_t  ngx_http_socketio_linger = 1000;

/* reads per event before giving the other connections their turn */
constexpr int  ngx_http_socketio_reads_per_event = 16;

/*
 * messages handled per event: a client that sends faster than the worker
 * handles its messages is read no further until the next turn of the
 * event loop, so that it cannot starve the other connections
 */
constexpr int  ngx_http_socketio_messages_per_turn = 64;

/* frames handed to one send_chain() call */
constexpr std::size_t  ngx_http_socketio_iovs = 64;


class WsConnection final : public eio::WebSocketLink, public ws::ParserSink,
                           public socketio::cluster::RemoteWs {
public:
    WsConnection(ngx_http_request_t *r, Runtime &rt) noexcept
        : r_(r), c_(r->connection), rt_(rt),
          parser_(rt.engine().config().max_payload)
    {
    }

    ~WsConnection() override;

    WsConnection(const WsConnection &) = delete;
    WsConnection &operator=(const WsConnection &) = delete;

    /* The handshake: a new session (`session` null), or an upgrade. */
    void start(eio::Session *session, std::string_view key, std::string sid);
    /* The handshake, for a session another worker owns. */
    void start_remote(std::string_view sid, uint16_t owner,
                      std::string_view key);

    /* eio::WebSocketLink (and cluster::RemoteWs: close) */
    void send(const std::vector<eio::EncodedPtr> &packets) override;
    void close(std::uint16_t code, std::string_view reason) override;
    std::size_t backlog() const noexcept override { return out_bytes_; }
    bool half_close(std::uint16_t code, std::string_view reason) override;

    /* cluster::RemoteWs */
    void deliver(const std::vector<eio::EncodedPtr> &frames) override
    {
        send(frames);
    }
    eio::WebSocketLink &link() override { return *this; }
    void adopted(eio::Session &session) override;

    /* ws::ParserSink */
    void on_message(bool binary, std::string_view payload) override;
    void on_ping(std::string_view payload) override;
    void on_pong(std::string_view) override {}
    void on_close(std::uint16_t code, std::string_view reason) override;

private:
    struct Out {
        eio::EncodedPtr                     packet;
        std::shared_ptr<const std::string>  control;

        std::string_view bytes() const noexcept
        {
            return packet ? packet->ws_frame() : std::string_view(*control);
        }
    };

    static void read_handler(ngx_event_t *rev) noexcept;
    static void write_handler(ngx_event_t *wev) noexcept;
    static void release_handler(ngx_event_t *ev) noexcept;
    void release() noexcept;
    void fail() noexcept;

    void on_read();
    void on_write();
    void dispatch(bool binary, std::string_view payload);
    bool handle_later();
    bool over_output() const noexcept;
    void trim_early() noexcept;
    void next_turn() noexcept;
    void protocol_error(const ws::ParseError &err);
    void write() noexcept;
    void queue(Out out) noexcept;
    void send_close(std::uint16_t code, std::string_view reason);
    void detach() noexcept;
    void finish() noexcept;
    void linger() noexcept;
    void drain() noexcept;
    void take_over(std::string_view key);
    /* what the peer sends goes to the session: open, or half-closed */
    bool reading() const noexcept
    {
        return state_ == State::open || half_closed_;
    }

    /* lingering: our close frame is out after an error; what the peer
       still sends is read and dropped until it closes too */
    enum class State { open, closing, lingering, done };

    ngx_http_request_t  *r_;
    ngx_connection_t    *c_;
    Runtime             &rt_;
    eio::Session        *session_ = NULL;
    uint64_t             token_ = 0;       /* the session is elsewhere */
    bool                 upgrading_ = true;
    /*
     * Bytes of the first moments: frames that came behind the handshake,
     * messages held while the session moves here, and messages read
     * beyond this turn's budget. Most connections never have any: a
     * pointer costs an idle one 8 bytes, not 80.
     */
    struct Early {
        std::string                                bytes;
        std::vector<std::pair<bool, std::string>>  held;
        std::deque<std::pair<bool, std::string>>   later;
    };
    std::unique_ptr<Early>  early_;
    ws::Parser           parser_;
    int                  budget_ = 0;      /* messages left this turn */
    bool                 paused_ = false;  /* input waits for output */

    std::vector<Out>     out_;
    std::size_t          head_ = 0;        /* first item not fully sent */
    std::size_t          head_sent_ = 0;   /* bytes of it already sent */
    std::size_t          out_bytes_ = 0;

    State                state_ = State::open;
    bool                 close_sent_ = false;
    bool                 close_received_ = false;
    bool                 half_closed_ = false;  /* closing, session kept */
    bool                 failed_ = false;
    ngx_event_t         *release_ = NULL;  /* in the request's pool */
    ngx_http_request_t  *kept_ = NULL;     /* a request others hold on to */
};


/* After the handshake the connection is the module's: c->data is it. */
WsConnection *
ngx_http_socketio_ws(ngx_connection_t *c)
{
    return static_cast<WsConnection *>(c->data);
}


WsConnection::~WsConnection()
{
    if (release_ != NULL && release_->posted) {
        ngx_delete_posted_event(release_);
    }

    detach();
}


/*
 * The 101 answer, and the request becomes the WebSocket's. What can fail
 * (memory) is made first: from the commit on nothing throws, so that
 * nginx never holds a request counted for a WebSocket that is not there.
 */
void
WsConnection::take_over(std::string_view key)
{
    ngx_event_t             *release;
    std::unique_ptr<Early>   early;

    auto frame = std::make_shared<std::string>();

    *frame = "HTTP/1.1 101 Switching Protocols\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Accept: ";
    *frame += ws::accept_key(key);
    *frame += "\r\n\r\n";

    /* frames the client sent behind its handshake */
    if (r_->header_in->pos < r_->header_in->last) {
        early = std::make_unique<Early>();
        early->bytes.assign(reinterpret_cast<char *>(r_->header_in->pos),
                            r_->header_in->last - r_->header_in->pos);
    }

    /*
     * The request is let go of once the content handler has returned:
     * a WebSocket that sits idle keeps its connection, not the request's
     * pool and header buffers.
     */
    release = static_cast<ngx_event_t *>(ngx_pcalloc(r_->pool,
                                                     sizeof(ngx_event_t)));
    if (release == NULL) {
        throw std::bad_alloc();
    }

    out_.reserve(4);

    /* the commit */

    r_->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r_->header_sent = 1;
    r_->keepalive = 0;
    r_->main->count++;

    r_->read_event_handler = ngx_http_request_empty_handler;
    r_->write_event_handler = ngx_http_request_empty_handler;

    r_->header_in->pos = r_->header_in->last;
    early_ = std::move(early);

    release_ = release;
    release_->handler = release_handler;
    release_->data = this;
    release_->log = c_->log;
    ngx_post_event(release_, &ngx_posted_events);

    /* small frames go out at once, as the proxy module's upgraded ones */
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
                     ngx_http_get_module_loc_conf(r_, ngx_http_core_module));
    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c_) != NGX_OK) {
        c_->error = 1;
    }

    queue(Out{NULL, std::move(frame)});
}


void
WsConnection::start(eio::Session *session, std::string_view key,
    std::string sid)
{
    take_over(key);

    /* from here the connection is the WebSocket's: it answers failures */

    try {
        if (session == NULL) {
            session_ = &rt_.engine().open(eio::TransportKind::websocket,
                                          Runtime::now(), this,
                                          std::move(sid));

        } else {
            /* set first: should attaching fail half way, detach() tells
               the session to let go */
            session_ = session;

            if (!session->attach_websocket(*this, Runtime::now())) {
                session_ = NULL;

                /* the session already has its WebSocket: the reference
                   server accepts the handshake, then closes with no
                   status */
                ngx_log_error(NGX_LOG_INFO, c_->log, 0,
                              "socketio: second WebSocket for a session "
                              "refused");
                send_close(ws::close_code::no_status, {});
            }
        }

    } catch (...) {
        ngx_http_socketio_log_exception(c_->log, "websocket");
        fail();
    }

    write();
}


void
WsConnection::start_remote(std::string_view sid, uint16_t owner,
    std::string_view key)
{
    take_over(key);

    try {
        /* the owner answers with a refusal, or frames, and then the
           session */
        token_ = rt_.node().ws_attach(sid, owner, *this);

    } catch (...) {
        ngx_http_socketio_log_exception(c_->log, "websocket");
        fail();
    }

    write();
}


/*
 * Something failed after the 101 (memory): this connection closes, with
 * a close frame 1011 if one can be made, and nobody else notices.
 */
void
WsConnection::fail() noexcept
{
    failed_ = true;

    if (state_ == State::open) {
        try {
            send_close(ws::close_code::internal_error, "internal error");
            return;

        } catch (...) {
            /* not even that: the connection just closes */
        }
    }

    c_->error = 1;
    ngx_post_event(c_->write, &ngx_posted_events);
}


void
WsConnection::adopted(eio::Session &session)
{
    token_ = 0;
    session_ = &session;

    /* what the client sent after its "5", held until the session came */
    if (early_ == NULL) {
        return;
    }

    auto held = std::move(early_->held);
    early_->held.clear();
    trim_early();
    for (auto &[binary, data] : held) {
        if (session_ == NULL || !reading()) {
            break;
        }
        session_->on_ws_message(*this, binary, data, Runtime::now());
    }
}


void
WsConnection::release_handler(ngx_event_t *ev) noexcept
{
    static_cast<WsConnection *>(ev->data)->release();
}


void
WsConnection::release() noexcept
{
    ngx_http_request_t     *r = r_;
    ngx_http_connection_t  *hc;
    ngx_chain_t            *cl;

    if (r == NULL) {
        return;
    }

    r_ = NULL;
    hc = r->http_connection;

    if (release_->posted) {
        ngx_delete_posted_event(release_);
    }

    c_->data = this;

    c_->read->handler = read_handler;
    c_->write->handler = write_handler;

    /* told, as idle connections are, when the worker shuts down */
    c_->idle = 1;

    /* what happened while the request held the connection */
    ngx_post_event(c_->read, &ngx_posted_events);
    ngx_post_event(c_->write, &ngx_posted_events);

    if (r->pool->cleanup != NULL) {
        /*
         * another module hangs on the request (limit_conn counts the
         * connection until the request's pool goes): the request stays,
         * and goes when the WebSocket closes
         */
        kept_ = r;
        release_ = NULL;              /* in that pool, which may go first */
        c_->log->action = const_cast<char *>("talking WebSocket");
        return;
    }

    release_ = NULL;                  /* it goes with the request's pool */

    /* logs the request (101), and frees its pool */
    ngx_http_free_request(r, 0);

    /* after the request is freed: freeing it says "closing request" */
    c_->log->action = const_cast<char *>("talking WebSocket");
    c_->destroyed = 0;

    /* header buffers, as a keepalive connection gives them back */
    if (c_->buffer != NULL && c_->buffer->start != NULL
        && ngx_pfree(c_->pool, c_->buffer->start) == NGX_OK)
    {
        c_->buffer->start = NULL;
        c_->buffer->pos = NULL;
        c_->buffer->last = NULL;
        c_->buffer->end = NULL;
    }

    for (cl = hc->busy; cl; cl = cl->next) {
        ngx_pfree(c_->pool, cl->buf->start);
    }
    for (cl = hc->free; cl; cl = cl->next) {
        ngx_pfree(c_->pool, cl->buf->start);
    }
    hc->busy = NULL;
    hc->nbusy = 0;
    hc->free = NULL;
}


/* Only where room was reserved: pushing then moves, and allocates not. */
void
WsConnection::queue(Out out) noexcept
{
    out_bytes_ += out.bytes().size();
    out_.push_back(std::move(out));
}


/*
 * Called for this connection by whoever sends to it (a broadcast made by
 * another client among them): a failure here closes this connection, and
 * only this one.
 */
void
WsConnection::send(const std::vector<eio::EncodedPtr> &packets)
{
    if (state_ != State::open) {
        return;
    }

    try {
        out_.reserve(out_.size() + packets.size());

    } catch (...) {
        ngx_http_socketio_log_exception(c_->log, "websocket send");
        fail();
        return;
    }

    for (const auto &p : packets) {
        queue(Out{p, NULL});
    }

    if (bus::Stats *st = rt_.stats()) {
        st->packets_out.fetch_add(packets.size(), std::memory_order_relaxed);
    }

    write();
}


void
WsConnection::close(std::uint16_t code, std::string_view reason)
{
    session_ = NULL;
    token_ = 0;
    half_closed_ = false;

    if (state_ != State::open) {
        return;
    }

    try {
        send_close(code, reason);

    } catch (...) {
        ngx_http_socketio_log_exception(c_->log, "websocket close");
        fail();
        return;
    }

    write();
}


/*
 * The session stays, and reads on: it sends nothing after the close frame
 * (and send() would drop it), and the peer's close frame, or the linger
 * time, ends it (detach()).
 */
bool
WsConnection::half_close(std::uint16_t code, std::string_view reason)
{
    if (state_ != State::open || session_ == NULL) {
        return false;
    }

    try {
        send_close(code, reason);

    } catch (...) {
        ngx_http_socketio_log_exception(c_->log, "websocket close");
        return false;
    }

    half_closed_ = true;
    write();

    return true;
}


/* Throws (memory) before it changes anything. */
void
WsConnection::send_close(std::uint16_t code, std::string_view reason)
{
    if (!close_sent_) {
        auto frame = std::make_shared<const std::string>(
                         ws::close_frame(code, reason));
        out_.reserve(out_.size() + 1);

        close_sent_ = true;
        queue(Out{NULL, std::move(frame)});
    }

    state_ = State::closing;

    /*
     * not cancelable: a worker that is shutting down waits for the close
     * handshakes it started
     */
    if (!c_->read->timer_set) {
        ngx_add_timer(c_->read, ngx_http_socketio_linger);
    }
}


void
WsConnection::detach() noexcept
{
    eio::Session  *s = session_;

    if (token_ != 0) {
        uint64_t token = token_;
        token_ = 0;
        try {
            rt_.node().ws_gone(token);

        } catch (...) {
            ngx_http_socketio_log_exception(c_->log, "websocket");
        }
    }

    if (s == NULL) {
        return;
    }

    session_ = NULL;
    half_closed_ = false;

    try {
        s->on_ws_gone(*this, Runtime::now());

    } catch (...) {
        ngx_http_socketio_log_exception(c_->log, "websocket");
    }
}


void
WsConnection::write() noexcept
{
    static ngx_buf_t    bufs[ngx_http_socketio_iovs];
    static ngx_chain_t  chain[ngx_http_socketio_iovs];

    if (state_ == State::done || c_->error) {
        return;
    }

    for ( ;; ) {

        if (head_ == out_.size()) {
            if (!c_->buffered) {
                break;
            }

            /* TLS holds bytes in its own buffer: push them out */
            if (c_->send_chain(c_, NULL, 0) == NGX_CHAIN_ERROR) {
                c_->error = 1;
                ngx_post_event(c_->write, &ngx_posted_events);
                return;
            }

            if (c_->buffered) {
                goto again;
            }

            break;
        }

        std::size_t n = 0;

        for (std::size_t i = head_;
             i < out_.size() && n < ngx_http_socketio_iovs;
             i++, n++)
        {
            std::string_view bytes = out_[i].bytes();

            if (i == head_) {
                bytes.remove_prefix(head_sent_);
            }

            ngx_memzero(&bufs[n], sizeof(ngx_buf_t));
            bufs[n].pos = (u_char *) bytes.data();
            bufs[n].last = bufs[n].pos + bytes.size();
            bufs[n].start = bufs[n].pos;
            bufs[n].end = bufs[n].last;
            bufs[n].memory = 1;

            chain[n].buf = &bufs[n];
            chain[n].next = NULL;

            if (n > 0) {
                chain[n - 1].next = &chain[n];
            }
        }

        /* without it, TLS would keep small frames until 16k gather */
        bufs[n - 1].flush = 1;

        ngx_chain_t *rest = c_->send_chain(c_, chain, 0);

        if (rest == NGX_CHAIN_ERROR) {
            c_->error = 1;
            ngx_post_event(c_->write, &ngx_posted_events);
            return;
        }

        /*
         * what was taken shows in each buffer's pos: c->sent would not
         * count what TLS took into its buffer but did not send yet
         */
        std::size_t total = 0;

        for (std::size_t k = 0; k < n; k++) {
            std::size_t taken = static_cast<std::size_t>(bufs[k].pos
                                                         - bufs[k].start);
            out_bytes_ -= taken;
            total += taken;

            if (bufs[k].pos != bufs[k].last) {
                head_sent_ += taken;
                break;
            }

            out_[head_] = Out{};
            head_++;
            head_sent_ = 0;
        }

        if (bus::Stats *st = rt_.stats()) {
            st->bytes_out.fetch_add(total, std::memory_order_relaxed);
        }

        if (rest != NULL) {
            goto again;
        }
    }

    out_.clear();
    head_ = 0;
    head_sent_ = 0;

    if (out_.capacity() > 64) {
        std::vector<Out>().swap(out_);
    }

    if (state_ == State::closing && (close_received_ || failed_)
        && !c_->write->posted)
    {
        /*
         * our close frame is out and nothing more is expected; teardown
         * belongs to the event handlers, never to a send()
         */
        ngx_post_event(c_->write, &ngx_posted_events);
    }

    return;

again:

    /* the socket is full: the write event brings us back */
    if (ngx_handle_write_event(c_->write, 0) != NGX_OK) {
        c_->error = 1;
        ngx_post_event(c_->write, &ngx_posted_events);
    }
}


void
WsConnection::on_message(bool binary, std::string_view payload)
{
    if (!reading()) {
        return;
    }

    if (bus::Stats *st = rt_.stats()) {
        st->bytes_in.fetch_add(payload.size(), std::memory_order_relaxed);
        st->events_in.fetch_add(1, std::memory_order_relaxed);
    }

    if (budget_ <= 0 || over_output()) {
        /* over this turn's budget, or what it asked for is not read:
           handled later */
        if (early_ == NULL) {
            early_ = std::make_unique<Early>();
        }
        early_->later.emplace_back(binary, std::string(payload));
        return;
    }

    budget_--;
    dispatch(binary, payload);
}


void
WsConnection::dispatch(bool binary, std::string_view payload)
{
    if (session_ != NULL) {
        rt_.catch_up();
        /* what it read may have closed the session */
        if (session_ != NULL && reading()) {
            session_->on_ws_message(*this, binary, payload, Runtime::now());
        }
        return;
    }

    if (token_ == 0) {
        return;
    }

    if (!upgrading_) {
        /* after the "5" the session is on its way here: hold on */
        if (early_ == NULL) {
            early_ = std::make_unique<Early>();
        }
        early_->held.emplace_back(binary, std::string(payload));
        return;
    }

    rt_.node().ws_in(token_, binary, payload);

    if (!binary && payload == "5") {
        upgrading_ = false;
    }
}


void
WsConnection::on_ping(std::string_view payload)
{
    if (state_ == State::open) {
        auto pong = std::make_shared<const std::string>(
                        ws::control_frame(ws::Opcode::pong, payload));
        out_.reserve(out_.size() + 1);
        queue(Out{NULL, std::move(pong)});
        write();
    }
}


void
WsConnection::on_close(std::uint16_t code, std::string_view /* reason */)
{
    close_received_ = true;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c_->log, 0,
                   "socketio: websocket close frame, code %ui",
                   static_cast<ngx_uint_t>(code));

    detach();

    /* answer with the same code (RFC 6455 section 5.5.1) */
    if (state_ == State::open) {
        send_close(code, {});
    }

    write();
}


void
WsConnection::on_read()
{
    static u_char  buf[16384];

    ssize_t  n;
    int      reads;

    if (state_ == State::done) {
        return;
    }

    if (c_->read->timedout) {
        /* the peer did not answer our close frame in time */
        finish();
        return;
    }

    if (state_ == State::lingering) {
        drain();
        return;
    }

    if (c_->close) {
        /* the worker is shutting down (a half-closed connection has heard
           it already, when the shutdown of another one reached it) */
        if (c_->error || !reading()) {
            detach();
            finish();
            return;
        }

        c_->close = 0;
        rt_.shutdown();
        return;
    }

    budget_ = ngx_http_socketio_messages_per_turn;

    if (!handle_later()) {
        return;
    }

    if (early_ != NULL && !early_->bytes.empty()) {
        std::string early = std::move(early_->bytes);
        early_->bytes.clear();
        trim_early();

        auto err = parser_.feed(early.data(), early.size(), *this);
        if (err) {
            protocol_error(*err);
            return;
        }
    }

    for (reads = 0; reads < ngx_http_socketio_reads_per_event; reads++) {

        if (state_ == State::done || parser_.closed()) {
            return;
        }

        if (early_ != NULL && !early_->later.empty()) {
            /* the budget is spent: read no more until the next turn, or
               until the client has read what it asked for */
            if (over_output()) {
                paused_ = true;
            } else {
                next_turn();
            }
            return;
        }

        n = c_->recv(c_, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c_->read, 0) != NGX_OK) {
                detach();
                finish();
            }
            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            /* the peer is gone, with or without a close frame */
            detach();
            finish();
            return;
        }

        auto err = parser_.feed(reinterpret_cast<char *>(buf),
                                static_cast<std::size_t>(n), *this);
        if (err) {
            protocol_error(*err);
            return;
        }
    }

    /* more to read: let the others have their turn first */
    next_turn();
}


/*
 * The messages read beyond the last turn's budget, as many as this turn's
 * allows. false: some are still waiting, and this turn is over for the
 * connection; true: read on (a connection that no longer reads drops
 * them, as on_message() does, but its close frame is still to be read).
 */
bool
WsConnection::handle_later()
{
    while (early_ != NULL && !early_->later.empty()) {

        if (!reading()) {
            early_->later.clear();
            break;
        }

        if (over_output()) {
            /* on_write() reads on when the client has read enough */
            paused_ = true;
            return false;
        }

        if (budget_ <= 0) {
            next_turn();
            return false;
        }

        auto [binary, data] = std::move(early_->later.front());
        early_->later.pop_front();
        budget_--;
        dispatch(binary, data);
    }

    trim_early();
    return true;
}


/*
 * A client that does not read what it asks for (a flood of requests with
 * big answers) is read no further until it has: slowed down, rather than
 * closed as a slow reader while it reads as fast as it can.
 */
bool
WsConnection::over_output() const noexcept
{
    return out_bytes_ > rt_.engine().config().max_buffered / 4;
}


/*
 * The read handler runs again in the event loop's next iteration, after
 * the kernel was asked what the other connections have: posting it to
 * ngx_posted_events would run it again in this one, before any of them.
 */
void
WsConnection::next_turn() noexcept
{
    ngx_post_event(c_->read, &ngx_posted_next_events);
}


void
WsConnection::trim_early() noexcept
{
    if (early_ != NULL && early_->bytes.empty() && early_->held.empty()
        && early_->later.empty())
    {
        early_.reset();
    }
}


void
WsConnection::protocol_error(const ws::ParseError &err)
{
    ngx_log_error(NGX_LOG_INFO, c_->log, 0,
                  "socketio: websocket %s, closing with %ui",
                  err.reason, static_cast<ngx_uint_t>(err.code));

    failed_ = true;
    detach();

    if (state_ == State::open) {
        send_close(err.code, err.reason);
    }

    write();
}


void
WsConnection::on_write()
{
    if (state_ == State::done) {
        return;
    }

    if (c_->error) {
        detach();
        finish();
        return;
    }

    write();

    if (state_ == State::closing && head_ == out_.size() && !c_->buffered
        && (close_received_ || failed_))
    {
        /* our close frame is out and nothing more is expected */
        if (close_received_) {
            finish();
        } else {
            linger();
        }
        return;
    }

    if (paused_ && !over_output()) {
        paused_ = false;
        ngx_post_event(c_->read, &ngx_posted_events);
    }
}


/*
 * After an error the peer may still be sending (the rest of a message
 * over socketio_max_payload, say): closing with its bytes unread would
 * make the kernel reset the connection, and a reset can overtake the
 * close frame that tells it why. As nginx's lingering close: no more
 * writing, then what comes is read and dropped until the peer closes
 * too, or for ngx_http_socketio_linger at most.
 */
void
WsConnection::linger() noexcept
{
    state_ = State::lingering;

#if (NGX_SSL)
    if (c_->ssl == NULL)
#endif
    {
        (void) ngx_shutdown_socket(c_->fd, NGX_WRITE_SHUTDOWN);
    }

    if (c_->read->timer_set) {
        ngx_del_timer(c_->read);
    }
    ngx_add_timer(c_->read, ngx_http_socketio_linger);

    drain();
}


void
WsConnection::drain() noexcept
{
    static u_char  buf[16384];

    if (c_->read->timedout) {
        finish();
        return;
    }

    for (int reads = 0; reads < ngx_http_socketio_reads_per_event; reads++) {
        ssize_t n = c_->recv(c_, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c_->read, 0) != NGX_OK) {
                finish();
            }
            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            finish();
            return;
        }
    }

    /* a peer that keeps sending does not keep the worker */
    next_turn();
}


void
WsConnection::finish() noexcept
{
    if (state_ == State::done) {
        return;
    }

    state_ = State::done;
    detach();

    if (c_->read->timer_set) {
        ngx_del_timer(c_->read);
    }

    c_->idle = 0;

    if (r_ != NULL) {
        release();
    }

    if (kept_ != NULL) {
        /* logs the request (101) and lets the modules holding it go */
        ngx_http_request_t *r = kept_;
        kept_ = NULL;
        ngx_http_free_request(r, 0);
    }

    /* the connection's pool owns this object: it goes with it */
    ngx_http_close_connection(c_);
}


void
WsConnection::read_handler(ngx_event_t *rev) noexcept
{
    auto *c = static_cast<ngx_connection_t *>(rev->data);
    WsConnection *ws = ngx_http_socketio_ws(c);

    ngx_http_socketio_seam_void(c->log, "websocket read",
        [ws] { ws->on_read(); },
        [ws] () noexcept { ws->detach(); ws->finish(); });
}


void
WsConnection::write_handler(ngx_event_t *wev) noexcept
{
    auto *c = static_cast<ngx_connection_t *>(wev->data);
    WsConnection *ws = ngx_http_socketio_ws(c);

    ngx_http_socketio_seam_void(c->log, "websocket write",
        [ws] { ws->on_write(); },
        [ws] () noexcept { ws->detach(); ws->finish(); });
}


}  // namespace


ngx_int_t
ngx_http_socketio_websocket(ngx_http_request_t *r, Runtime &rt,
    eio::Session *session, std::string_view key, std::string sid)
{
    WsConnection  *wsc;

    /* owned by the connection's pool: it outlives the request */
    wsc = ngx_http_socketio_heap_new<WsConnection>(r->connection->pool, r, rt);
    if (wsc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wsc->start(session, key, std::move(sid));

    return NGX_DONE;
}


ngx_int_t
ngx_http_socketio_websocket_remote(ngx_http_request_t *r, Runtime &rt,
    std::string_view sid, uint16_t owner, std::string_view key)
{
    WsConnection  *wsc;

    wsc = ngx_http_socketio_heap_new<WsConnection>(r->connection->pool, r, rt);
    if (wsc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wsc->start_remote(sid, owner, key);

    return NGX_DONE;
}
