/*
 * Copyright (C) the ngx_http_socketio_module authors
 *
 * HTTP long-polling (engine.io-protocol "HTTP long-polling"): a GET waits
 * in the worker until the session has packets for it, a POST brings the
 * client's packets. Neither holds a pointer to the session across an
 * event: the session holds the waiting GET, and a POST looks its session
 * up again once the body is read.
 */

#include "ngx/ngx_http_socketio_module.hpp"
#include "ngx/ngx_http_socketio_runtime.hpp"

#include "core/eio/engine.hpp"
#include "core/eio/session.hpp"
#include "core/cluster/node.hpp"

#include <string>


namespace {

using socketio::ngx::Runtime;
namespace bus = socketio::bus;


/*
 * A GET that waits for packets: from a session here, or from one that
 * another worker owns (a token names it there).
 */
class PollRequest final : public socketio::eio::PollWaiter,
                          public socketio::cluster::RemotePoll {
public:
    PollRequest(ngx_http_request_t *r, Runtime &rt) noexcept
        : r_(r), rt_(rt) {}

    ~PollRequest()
    {
        /* the request ended first: the client went away */
        try {
            if (session_ != NULL) {
                session_->on_poll_gone(*this, Runtime::now());

            } else if (token_ != 0) {
                rt_.node().poll_gone(token_);
            }

        } catch (...) {
            ngx_http_socketio_log_exception(rt_.log(), "poll");
        }
    }

    PollRequest(const PollRequest &) = delete;
    PollRequest &operator=(const PollRequest &) = delete;

    /* The session it waits on, told first: should anything fail after
       the session took it, the destructor tells the session it is gone. */
    void watch(socketio::eio::Session *session) noexcept
    {
        session_ = session;
    }

    /* It waits: the request stays until an answer comes. */
    void park(uint64_t token) noexcept;

    /* eio::PollWaiter */
    void respond(std::string payload) override;

    /* cluster::RemotePoll */
    void answer(std::string_view payload) override
    {
        token_ = 0;
        respond(std::string(payload));
    }

    void fail(socketio::eio::Error e) override;

private:
    static void read_handler(ngx_event_t *rev) noexcept;
    void restore_handlers() noexcept;

    ngx_http_request_t       *r_;
    Runtime                  &rt_;
    socketio::eio::Session   *session_ = NULL;
    uint64_t                  token_ = 0;
    ngx_event_handler_pt      saved_read_ = NULL;
};


void
PollRequest::park(uint64_t token) noexcept
{
    ngx_connection_t  *c = r_->connection;

    token_ = token;

    r_->main->count++;
    r_->read_event_handler = ngx_http_test_reading;
    r_->write_event_handler = ngx_http_request_empty_handler;

#if (NGX_HTTP_V2)
    if (r_->stream) {
        return;
    }
#endif

#if (NGX_HTTP_V3)
    /* an HTTP/3 request's connection is a QUIC stream (nginx 1.25+):
       its handlers are HTTP/3's, as an HTTP/2 stream's are HTTP/2's */
    if (r_->connection->quic) {
        return;
    }
#endif

    /*
     * an idle connection is told when the worker shuts down: the session
     * is then closed cleanly, and this GET answered with a close packet
     */
    saved_read_ = c->read->handler;
    c->read->handler = read_handler;
    c->idle = 1;
}


void
PollRequest::read_handler(ngx_event_t *rev) noexcept
{
    auto *c = static_cast<ngx_connection_t *>(rev->data);
    auto *r = static_cast<ngx_http_request_t *>(c->data);
    auto *pr = static_cast<PollRequest *>(
                   ngx_http_get_module_ctx(r, ngx_http_socketio_module));

    /* Runtime::shutdown() and nginx's own handler: neither throws */

    if (c->close && !c->error && pr != NULL) {
        c->close = 0;
        pr->rt_.shutdown();
        return;
    }

    if (pr != NULL && pr->saved_read_ != NULL) {
        pr->saved_read_(rev);
    }
}


void
PollRequest::restore_handlers() noexcept
{
    ngx_connection_t  *c = r_->connection;

    if (saved_read_ != NULL) {
        c->read->handler = saved_read_;
        saved_read_ = NULL;
        c->idle = 0;
    }
}


void
PollRequest::respond(std::string payload)
{
    ngx_int_t           rc;
    ngx_connection_t   *c = r_->connection;
    ngx_http_request_t *r = r_;

    session_ = NULL;
    restore_handlers();

    if (bus::Stats *st = rt_.stats()) {
        st->bytes_out.fetch_add(payload.size(), std::memory_order_relaxed);
    }

    if (ngx_http_socketio_header_out(r, "Cache-Control", "no-store")
        != NGX_OK)
    {
        rc = NGX_ERROR;

    } else {
        rc = ngx_http_socketio_respond(r, NGX_HTTP_OK,
                                       "text/plain; charset=UTF-8", payload);
    }

    /* this may free the request, and this object with it */
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


void
PollRequest::fail(socketio::eio::Error e)
{
    ngx_connection_t   *c = r_->connection;
    ngx_http_request_t *r = r_;

    token_ = 0;
    restore_handlers();

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "socketio: poll refused by the session's worker: %s",
                  socketio::eio::error_message(e).data());

    std::string body = socketio::eio::error_body(e);
    ngx_int_t rc = ngx_http_socketio_respond(r, socketio::eio::error_status(e),
                                             "application/json", body);
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * A POST, from the body's first byte to the answer; for a session another
 * worker owns, the answer waits for that worker's verdict.
 */
class PostRequest final : public socketio::cluster::RemotePost,
                          public socketio::eio::PostWaiter {
public:
    PostRequest(ngx_http_request_t *r, Runtime &rt, std::string sid,
                int owner)
        : r_(r), rt_(rt), sid_(std::move(sid)), owner_(owner) {}

    ~PostRequest()
    {
        try {
            if (token_ != 0) {
                rt_.node().post_gone(token_);

            } else if (waiting_) {
                /* its packets are handled still; nobody is answered */
                if (auto *s = rt_.engine().find(sid_)) {
                    s->on_post_gone(*this);
                }

            } else if (!done_ && owner_ < 0) {
                /* the body never came whole: the session may take another
                   POST */
                if (auto *s = rt_.engine().find(sid_)) {
                    s->end_post();
                }
            }

        } catch (...) {
            ngx_http_socketio_log_exception(rt_.log(), "post");
        }
    }

    PostRequest(const PostRequest &) = delete;
    PostRequest &operator=(const PostRequest &) = delete;

    static void body_handler(ngx_http_request_t *r) noexcept;

    /* cluster::RemotePost */
    void done(std::optional<socketio::eio::Error> e) override;

    /* eio::PostWaiter: the last packet of a long payload is handled */
    void posted(std::optional<socketio::eio::Error> e) override
    {
        waiting_ = false;
        done(e);
    }

private:
    ngx_int_t on_body(ngx_http_request_t *r);
    ngx_int_t answer(ngx_http_request_t *r,
                     std::optional<socketio::eio::Error> e);

    ngx_http_request_t  *r_;
    Runtime             &rt_;
    std::string          sid_;
    int                  owner_;       /* -1: the session is here */
    uint64_t             token_ = 0;
    bool                 done_ = false;
    bool                 waiting_ = false;    /* for its packets */
};


void
PostRequest::body_handler(ngx_http_request_t *r) noexcept
{
    auto *pr = static_cast<PostRequest *>(
                   ngx_http_get_module_ctx(r, ngx_http_socketio_module));

    ngx_http_finalize_request(r,
        ngx_http_socketio_seam(r->connection->log, "post",
                               ngx_int_t{NGX_HTTP_INTERNAL_SERVER_ERROR},
                               [&] { return pr->on_body(r); }));
}


ngx_int_t
PostRequest::answer(ngx_http_request_t *r,
    std::optional<socketio::eio::Error> err)
{
    if (err) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "socketio: bad POST: %s",
                      socketio::eio::error_message(*err).data());
        std::string body = socketio::eio::error_body(*err);
        return ngx_http_socketio_respond(r, socketio::eio::error_status(*err),
                                         "application/json", body);
    }

    /* text/html, as the reference server: no download dialog in old IEs */
    return ngx_http_socketio_respond(r, NGX_HTTP_OK, "text/html", "ok");
}


void
PostRequest::done(std::optional<socketio::eio::Error> e)
{
    ngx_connection_t   *c = r_->connection;
    ngx_http_request_t *r = r_;

    token_ = 0;

    ngx_int_t rc = answer(r, e);
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


ngx_int_t
PostRequest::on_body(ngx_http_request_t *r)
{
    std::string                 payload;
    ssize_t                     n;
    ngx_buf_t                  *b;
    ngx_chain_t                *cl;
    socketio::eio::Session     *s = NULL;

    done_ = true;

    if (owner_ < 0) {
        rt_.catch_up();
        s = rt_.engine().find(sid_);
    }

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        if (s) {
            s->end_post();
        }
        return answer(r, socketio::eio::Error::bad_request);
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (payload.size() + ngx_buf_size(b) > rt_.engine().config().max_payload)
        {
            if (s) {
                s->end_post();
            }
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "socketio: POST body over socketio_max_payload");
            return ngx_http_socketio_respond(r,
                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, {}, {});
        }

        if (b->in_file) {
            std::size_t size = static_cast<std::size_t>(b->file_last
                                                        - b->file_pos);
            std::size_t at = payload.size();
            payload.resize(at + size);
            n = ngx_read_file(b->file, (u_char *) &payload[at], size,
                              b->file_pos);
            if (n != static_cast<ssize_t>(size)) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

        } else {
            payload.append(reinterpret_cast<const char *>(b->pos),
                           b->last - b->pos);
        }
    }

    if (bus::Stats *st = rt_.stats()) {
        st->bytes_in.fetch_add(payload.size(), std::memory_order_relaxed);
        st->events_in.fetch_add(1, std::memory_order_relaxed);
    }

    if (owner_ >= 0 && rt_.node().departed()) {
        /* this worker is leaving: the payload goes on, unanswered */
        rt_.node().post_detached(sid_, static_cast<uint16_t>(owner_),
                                 payload);
        r->keepalive = 0;
        return answer(r, std::nullopt);
    }

    if (owner_ >= 0) {
        /* the owner answers in a later event; the request waits for it */
        token_ = rt_.node().post(sid_, static_cast<uint16_t>(owner_),
                                 payload, *this);
        r->main->count++;
        return NGX_DONE;
    }

    if (s == NULL) {
        return answer(r, socketio::eio::Error::unknown_sid);
    }

    auto res = s->on_post(std::move(payload), Runtime::now(), this);

    if (!res.later) {
        return answer(r, res.error);
    }

    /* many packets: the session handles them a slice a turn, then says */
    waiting_ = true;
    r->main->count++;
    return NGX_DONE;
}


/* The POST's body is read whole, then handed to the PostRequest. */
ngx_int_t
ngx_http_socketio_read_post(ngx_http_request_t *r, PostRequest *pr)
{
    ngx_int_t  rc;

    ngx_http_set_ctx(r, pr, ngx_http_socketio_module);

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, PostRequest::body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}

}  // namespace


ngx_int_t
ngx_http_socketio_poll(ngx_http_request_t *r, Runtime &rt,
    socketio::eio::Session &session)
{
    PollRequest  *pr;

    pr = ngx_http_socketio_pool_new<PollRequest>(r->pool, r, rt);
    if (pr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pr->watch(&session);

    auto err = session.on_poll(*pr, Runtime::now());

    if (err) {
        pr->watch(NULL);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "socketio: poll refused: %s",
                      socketio::eio::error_message(*err).data());
        std::string body = socketio::eio::error_body(*err);
        return ngx_http_socketio_respond(r, socketio::eio::error_status(*err),
                                         "application/json", body);
    }

    ngx_http_set_ctx(r, pr, ngx_http_socketio_module);
    pr->park(0);

    return NGX_DONE;
}


ngx_int_t
ngx_http_socketio_poll_remote(ngx_http_request_t *r, Runtime &rt,
    std::string_view sid, uint16_t owner)
{
    PollRequest  *pr;

    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    pr = ngx_http_socketio_pool_new<PollRequest>(r->pool, r, rt);
    if (pr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, pr, ngx_http_socketio_module);

    /* parked after: the answer comes in a later event, never in this one */
    uint64_t token = rt.node().poll(sid, owner, *pr);
    pr->park(token);

    return NGX_DONE;
}


ngx_int_t
ngx_http_socketio_post(ngx_http_request_t *r, Runtime &rt,
    socketio::eio::Session &session)
{
    ngx_int_t     rc;
    PostRequest  *pr;

    if (r->headers_in.content_length_n > 0
        && static_cast<std::size_t>(r->headers_in.content_length_n)
           > rt.engine().config().max_payload)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "socketio: POST of %O bytes over socketio_max_payload",
                      r->headers_in.content_length_n);
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
        return ngx_http_socketio_respond(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         {}, {});
    }

    auto err = session.begin_post();

    if (err) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "socketio: POST refused: %s",
                      socketio::eio::error_message(*err).data());
        std::string body = socketio::eio::error_body(*err);
        return ngx_http_socketio_respond(r, socketio::eio::error_status(*err),
                                         "application/json", body);
    }

    pr = ngx_http_socketio_pool_new<PostRequest>(r->pool, r, rt,
                                                 session.sid(), -1);
    if (pr == NULL) {
        session.end_post();
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_socketio_read_post(r, pr);
}


ngx_int_t
ngx_http_socketio_post_remote(ngx_http_request_t *r, Runtime &rt,
    std::string_view sid, uint16_t owner)
{
    ngx_int_t     rc;
    PostRequest  *pr;

    if (r->headers_in.content_length_n > 0
        && static_cast<std::size_t>(r->headers_in.content_length_n)
           > rt.engine().config().max_payload)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
        return ngx_http_socketio_respond(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         {}, {});
    }

    pr = ngx_http_socketio_pool_new<PostRequest>(r->pool, r, rt,
                                                 std::string(sid), owner);
    if (pr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_socketio_read_post(r, pr);
}
