/*
 * Copyright (C) the ngx_http_socketio_module authors
 *
 * The content handler: every request to a `socketio` location comes here,
 * goes through the checks of the Engine.IO server (the core's
 * Engine::route), and is handed to the polling or WebSocket transport.
 */

#include "ngx/ngx_http_socketio_module.hpp"
#include "ngx/ngx_http_socketio_runtime.hpp"

#include "core/eio/cors.hpp"
#include "core/eio/engine.hpp"
#include "core/eio/query.hpp"
#include "core/ws/handshake.hpp"

#include <cstring>


namespace {

enum class WsRequest { none, valid, invalid };


bool
ngx_http_socketio_has_token(std::string_view list, std::string_view token)
{
    /* a comma separated, case-insensitive list: "keep-alive, Upgrade" */
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);

        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }

        if (item.size() == token.size()
            && ngx_strncasecmp((u_char *) item.data(), (u_char *) token.data(),
                               token.size()) == 0)
        {
            return true;
        }

        if (comma == std::string_view::npos) {
            break;
        }
        list.remove_prefix(comma + 1);
    }

    return false;
}


/* RFC 6455 section 4.2.1: what makes a request an opening handshake */
WsRequest
ngx_http_socketio_ws_request(ngx_http_request_t *r, std::string_view *key)
{
    std::string_view  upgrade;

    upgrade = ngx_http_socketio_header_in(r, "Upgrade");

    if (!ngx_http_socketio_has_token(upgrade, "websocket")) {
        return WsRequest::none;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return WsRequest::invalid;
    }
#endif

    if (r->method != NGX_HTTP_GET
        || r->http_version < NGX_HTTP_VERSION_11
        || !ngx_http_socketio_has_token(
               ngx_http_socketio_header_in(r, "Connection"), "upgrade"))
    {
        return WsRequest::invalid;
    }

    if (ngx_http_socketio_header_in(r, "Sec-WebSocket-Version") != "13") {
        return WsRequest::invalid;
    }

    /*
     * a body on an upgrade has no place: after the 101 its bytes would be
     * read as frames, so the handshake is refused (and the body discarded)
     */
    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return WsRequest::invalid;
    }

    *key = ngx_http_socketio_header_in(r, "Sec-WebSocket-Key");

    if (!socketio::ws::valid_client_key(*key)) {
        return WsRequest::invalid;
    }

    return WsRequest::valid;
}


/* the reference server refuses what Node's HTTP parser would */
bool
ngx_http_socketio_header_invalid(std::string_view value)
{
    for (unsigned char ch : value) {
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return true;
        }
    }

    return false;
}


ngx_int_t
ngx_http_socketio_error(ngx_http_request_t *r, socketio::eio::Error e,
    const char *why)
{
    std::string  body;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "socketio: %s: %s", why,
                  socketio::eio::error_message(e).data());

    body = socketio::eio::error_body(e);

    return ngx_http_socketio_respond(r, socketio::eio::error_status(e),
                                     "application/json", body);
}


ngx_int_t
ngx_http_socketio_cors(ngx_http_request_t *r,
    const ngx_http_socketio_loc_conf_t &conf, bool *done)
{
    socketio::eio::CorsPolicy   policy;
    socketio::eio::CorsAnswer   answer;
    std::string_view            origin, headers;
    ngx_str_t                  *o;
    ngx_uint_t                  i;

    *done = false;

    if (conf.allow_origin == NULL) {
        return NGX_OK;
    }

    policy.enabled = true;
    o = static_cast<ngx_str_t *>(conf.allow_origin->elts);

    for (i = 0; i < conf.allow_origin->nelts; i++) {
        if (o[i].len == 1 && o[i].data[0] == '*') {
            policy.any = true;
        } else {
            policy.origins.emplace_back(ngx_http_socketio_sv(o[i]));
        }
    }

    origin = ngx_http_socketio_header_in(r, "Origin");
    answer = socketio::eio::cors_check(policy, origin);

    if (answer.forbidden) {
        *done = true;
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "socketio: origin \"%*s\" is not allowed",
                      origin.size(), origin.data());
        return ngx_http_socketio_error(r, socketio::eio::Error::forbidden,
                                       "cross-origin request refused");
    }

    if (!answer.allow_origin.empty()) {
        if (ngx_http_socketio_header_out(r, "Access-Control-Allow-Origin",
                ngx_http_socketio_pstrdup(r->pool, answer.allow_origin))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (answer.credentials
        && ngx_http_socketio_header_out(r, "Access-Control-Allow-Credentials",
                                        "true") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (answer.vary_origin
        && ngx_http_socketio_header_out(r, "Vary", "Origin") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (r->method != NGX_HTTP_OPTIONS) {
        return NGX_OK;
    }

    /* a preflight: say what may come, and nothing more */

    *done = true;

    if (ngx_http_socketio_header_out(r, "Access-Control-Allow-Methods",
            socketio::eio::cors_allow_methods) != NGX_OK)
    {
        return NGX_ERROR;
    }

    headers = ngx_http_socketio_header_in(r, "Access-Control-Request-Headers");

    if (!headers.empty()) {
        if (ngx_http_socketio_header_out(r, "Access-Control-Allow-Headers",
                                         headers) != NGX_OK
            || ngx_http_socketio_header_out(r, "Vary",
                   "Access-Control-Request-Headers") != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_socketio_respond(r, NGX_HTTP_NO_CONTENT, {}, {});
}


/* A handshake that reaches a worker already closing its sessions. */
ngx_int_t
ngx_http_socketio_leaving(ngx_http_request_t *r)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "socketio: handshake refused: the worker is shutting down");

    r->keepalive = 0;

    return ngx_http_socketio_respond(r, NGX_HTTP_SERVICE_UNAVAILABLE,
               "application/json",
               socketio::eio::error_body(socketio::eio::Error::bad_request));
}


/* socketio_worker_sessions: this worker has as many as it may hold */
bool
ngx_http_socketio_worker_full(ngx_http_request_t *r,
    socketio::ngx::Runtime &rt)
{
    ngx_uint_t max = rt.conf().max_sessions;

    if (max == 0 || rt.engine().size() < max) {
        return false;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "socketio: worker holds %ui sessions "
                  "(socketio_worker_sessions): new session refused", max);
    return true;
}


ngx_int_t
ngx_http_socketio_zone_full(ngx_http_request_t *r,
    socketio::ngx::Runtime &rt)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "socketio: zone \"%V\" is full: new session refused "
                  "(make it larger with socketio_zone)", &rt.zone().name);

    return ngx_http_socketio_error(r, socketio::eio::Error::bad_request,
                                   "zone full");
}


/*
 * A handshake: a new session's id, reserved in the zone, or the answer
 * when no session may open here (the worker is leaving, holds its
 * socketio_worker_sessions, or the zone is full). NGX_DECLINED: go on.
 */
ngx_int_t
ngx_http_socketio_admit(ngx_http_request_t *r, socketio::ngx::Runtime &rt,
    std::string &sid)
{
    if (rt.shutting_down()) {
        return ngx_http_socketio_leaving(r);
    }

    if (ngx_http_socketio_worker_full(r, rt)) {
        return ngx_http_socketio_respond(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "application/json",
                   socketio::eio::error_body(
                       socketio::eio::Error::bad_request));
    }

    sid = rt.engine().make_id();
    if (!rt.node().reserve(sid)) {
        return ngx_http_socketio_zone_full(r, rt);
    }

    ngx_http_socketio_set_variables(r, sid, {});

    return NGX_DECLINED;
}


/* A request for a session another worker owns is carried there. */
ngx_int_t
ngx_http_socketio_remote(ngx_http_request_t *r, socketio::ngx::Runtime &rt,
    const socketio::eio::Request &req, std::string_view key)
{
    ngx_int_t      rc;
    std::uint16_t  owner;

    auto q = socketio::eio::parse_query(req.query);

    if (!q.sid || q.sid->empty()
        || rt.node().locate(*q.sid, &owner)
           != socketio::cluster::Node::Where::remote)
    {
        return NGX_DECLINED;
    }

    if (rt.node().departed()) {
        /*
         * this worker is leaving and reads no answers: a GET is told to
         * ask again (on a new connection, to a worker that stays), a POST
         * goes on without its answer, a WebSocket comes back later
         */
        if (req.websocket) {
            return ngx_http_socketio_respond(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                       "application/json",
                       socketio::eio::error_body(
                           socketio::eio::Error::bad_request));
        }
        if (r->method == NGX_HTTP_GET && q.transport == "polling") {
            rc = ngx_http_discard_request_body(r);
            if (rc != NGX_OK) {
                return rc;
            }
            r->keepalive = 0;
            return ngx_http_socketio_respond(r, NGX_HTTP_OK,
                                             "text/plain; charset=UTF-8", "6");
        }
    }

    if (req.websocket && q.transport == "websocket") {
        return ngx_http_socketio_websocket_remote(r, rt, *q.sid, owner, key);
    }

    if (!req.websocket && q.transport == "polling") {
        if (r->method == NGX_HTTP_GET) {
            return ngx_http_socketio_poll_remote(r, rt, *q.sid, owner);
        }

        if (r->method == NGX_HTTP_POST) {
            return ngx_http_socketio_post_remote(r, rt, *q.sid, owner);
        }
    }

    /* what the owner would refuse, as Engine::route refuses it there */
    return ngx_http_socketio_error(r, socketio::eio::Error::bad_request,
                                   "request refused");
}


ngx_int_t
ngx_http_socketio_handle(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    std::string_view                key;
    std::string                     sid;
    WsRequest                       ws;
    bool                            done;
    socketio::eio::Request          req;
    socketio::eio::Session         *session;
    socketio::ngx::Runtime         *rt;
    ngx_http_socketio_loc_conf_t   *slcf;

    slcf = static_cast<ngx_http_socketio_loc_conf_t *>(
               ngx_http_get_module_loc_conf(r, ngx_http_socketio_module));

    rt = ngx_http_socketio_runtime(slcf, r->connection->log);

    rc = ngx_http_socketio_cors(r, *slcf, &done);
    if (rc != NGX_OK || done) {
        return rc;
    }

    ws = ngx_http_socketio_ws_request(r, &key);

    if (ws == WsRequest::invalid) {
        return ngx_http_socketio_error(r, socketio::eio::Error::bad_request,
                                       "invalid WebSocket handshake");
    }

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    req.method = ngx_http_socketio_sv(r->method_name);
    req.query = ngx_http_socketio_sv(r->args);
    req.websocket = (ws == WsRequest::valid);
    req.origin_invalid = ngx_http_socketio_header_invalid(
                             ngx_http_socketio_header_in(r, "Origin"));

    {
        auto q = socketio::eio::parse_query(req.query);
        ngx_http_socketio_set_variables(r, q.sid ? *q.sid : std::string(),
                                        q.transport ? *q.transport
                                                    : std::string());
    }

    auto routed = rt->engine().route(req);

    if (auto *e = std::get_if<socketio::eio::Error>(&routed)) {
        if (*e == socketio::eio::Error::unknown_sid) {
            /* perhaps another worker's: the request goes there */
            rc = ngx_http_socketio_remote(r, *rt, req, key);
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }
        return ngx_http_socketio_error(r, *e, "request refused");
    }

    auto &route = std::get<socketio::eio::Route>(routed);

    using Kind = socketio::eio::Route::Kind;

    if (route.session != NULL
        && !rt->engine().touch(*route.session, socketio::ngx::Runtime::now()))
    {
        /* its ping timeout passed: gone, even if no timer said so yet */
        return ngx_http_socketio_error(r, socketio::eio::Error::unknown_sid,
                                       "request refused");
    }

    switch (route.kind) {

    case Kind::open_polling:
        rc = ngx_http_socketio_admit(r, *rt, sid);
        if (rc != NGX_DECLINED) {
            return rc;
        }
        session = &rt->engine().open(socketio::eio::TransportKind::polling,
                                     socketio::ngx::Runtime::now(), NULL,
                                     sid);
        return ngx_http_socketio_poll(r, *rt, *session);

    case Kind::poll:
        return ngx_http_socketio_poll(r, *rt, *route.session);

    case Kind::post:
        return ngx_http_socketio_post(r, *rt, *route.session);

    case Kind::open_websocket:
        rc = ngx_http_socketio_admit(r, *rt, sid);
        if (rc != NGX_DECLINED) {
            return rc;
        }
        return ngx_http_socketio_websocket(r, *rt, NULL, key, sid);

    case Kind::upgrade:
        return ngx_http_socketio_websocket(r, *rt, route.session, key, {});
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace


ngx_int_t
ngx_http_socketio_handler(ngx_http_request_t *r) noexcept
{
    return ngx_http_socketio_seam(r->connection->log, "request",
                                  ngx_int_t{NGX_HTTP_INTERNAL_SERVER_ERROR},
                                  [r] { return ngx_http_socketio_handle(r); });
}


std::string_view
ngx_http_socketio_header_in(ngx_http_request_t *r, std::string_view name)
    noexcept
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = static_cast<ngx_table_elt_t *>(part->elts);

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = static_cast<ngx_table_elt_t *>(part->elts);
            i = 0;
        }

        if (h[i].key.len == name.size()
            && ngx_strncasecmp(h[i].key.data, (u_char *) name.data(),
                               name.size()) == 0)
        {
            return ngx_http_socketio_sv(h[i].value);
        }
    }

    return {};
}


ngx_int_t
ngx_http_socketio_header_out(ngx_http_request_t *r, std::string_view name,
    std::string_view value) noexcept
{
    ngx_table_elt_t  *h;

    h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == NULL) {
        return NGX_ERROR;
    }

    /* fields other versions add (next, in 1.23) are left empty */
    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->hash = 1;
    h->key.len = name.size();
    h->key.data = (u_char *) name.data();
    h->value.len = value.size();
    h->value.data = (u_char *) value.data();

    return NGX_OK;
}


std::string_view
ngx_http_socketio_pstrdup(ngx_pool_t *pool, std::string_view s) noexcept
{
    u_char  *p;

    p = static_cast<u_char *>(ngx_pnalloc(pool, s.size() + 1));
    if (p == NULL) {
        return {};
    }

    ngx_memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';

    return std::string_view(reinterpret_cast<char *>(p), s.size());
}


ngx_int_t
ngx_http_socketio_respond(ngx_http_request_t *r, ngx_uint_t status,
    std::string_view content_type, std::string_view body) noexcept
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /*
     * Every answer goes through here, refusals included: a body that was
     * neither read nor discarded would be read as the connection's next
     * request (request smuggling behind a proxy that reuses connections).
     * Discarding is a no-op once the body was read or is being discarded;
     * when it fails, the connection closes after the answer.
     */
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = body.size();

    if (!content_type.empty()) {
        r->headers_out.content_type.len = content_type.size();
        r->headers_out.content_type.data = (u_char *) content_type.data();
        r->headers_out.content_type_len = content_type.size();
    }

    if (body.empty()) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, body.size());
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, body.data(), body.size());
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
