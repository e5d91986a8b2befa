/*
 * Declarations shared by the glue files of ngx_http_socketio_module.
 */
#pragma once

#include "ngx/ngx.hpp"

#include <exception>
#include <new>
#include <utility>
#include <string_view>

namespace socketio::ngx {
class Runtime;
}

#define NGX_HTTP_SOCKETIO_HANDLER_CHAT         0
#define NGX_HTTP_SOCKETIO_HANDLER_ECHO         1
#define NGX_HTTP_SOCKETIO_HANDLER_ENGINE_ECHO  2

#define NGX_HTTP_SOCKETIO_POLLING    0x01
#define NGX_HTTP_SOCKETIO_WEBSOCKET  0x02


typedef struct {
    ngx_flag_t                 enable;
    ngx_uint_t                 handler;
    ngx_msec_t                 ping_interval;
    ngx_msec_t                 ping_timeout;
    ngx_msec_t                 connect_timeout;
    ngx_msec_t                 upgrade_timeout;
    size_t                     max_payload;
    size_t                     max_buffered;
    ngx_uint_t                 transports;
    ngx_array_t               *allow_origin;     /* of ngx_str_t, or NULL */
    ngx_array_t               *chat_relay;       /* of ngx_str_t, or NULL */

    /* this worker's engine for this location, made at its first request */
    socketio::ngx::Runtime    *runtime;
} ngx_http_socketio_loc_conf_t;


extern "C" {
extern ngx_module_t  ngx_http_socketio_module;
}

ngx_int_t ngx_http_socketio_handler(ngx_http_request_t *r) noexcept;

/* The runtime of the location, made on first use in this worker. */
socketio::ngx::Runtime *ngx_http_socketio_runtime(
    ngx_http_socketio_loc_conf_t *slcf, ngx_log_t *log);

/* Forgets every runtime of this worker (worker exit). */
void ngx_http_socketio_free_runtimes() noexcept;

/* Answers a whole response from memory; returns what to finalize with. */
ngx_int_t ngx_http_socketio_respond(ngx_http_request_t *r, ngx_uint_t status,
    std::string_view content_type, std::string_view body) noexcept;

/* Logs an exception that reached the seam. */
void ngx_http_socketio_log_exception(ngx_log_t *log, const char *where)
    noexcept;

static inline std::string_view
ngx_http_socketio_sv(const ngx_str_t &s)
{
    return std::string_view(reinterpret_cast<const char *>(s.data), s.len);
}

/* The value of a request header, or an empty view. */
std::string_view ngx_http_socketio_header_in(ngx_http_request_t *r,
    std::string_view name) noexcept;

/* Adds a response header; the strings must outlive the request. */
ngx_int_t ngx_http_socketio_header_out(ngx_http_request_t *r,
    std::string_view name, std::string_view value) noexcept;

/* Copies a string into the request pool. */
std::string_view ngx_http_socketio_pstrdup(ngx_pool_t *pool,
    std::string_view s) noexcept;

/*
 * Constructs a T in pool memory, destroyed when the pool is: an object
 * that lives exactly as long as a request.
 */
template <typename T, typename... Args>
T *
ngx_http_socketio_pool_new(ngx_pool_t *pool, Args &&...args)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, sizeof(T));
    if (cln == NULL) {
        return NULL;
    }

    T *obj = new (cln->data) T(std::forward<Args>(args)...);

    cln->handler = [](void *data) { static_cast<T *>(data)->~T(); };

    return obj;
}

namespace socketio::eio {
class Session;
}

/* polling: a GET waits for packets, a POST brings them */
ngx_int_t ngx_http_socketio_poll(ngx_http_request_t *r,
    socketio::ngx::Runtime &rt, socketio::eio::Session &session);
ngx_int_t ngx_http_socketio_post(ngx_http_request_t *r,
    socketio::ngx::Runtime &rt, socketio::eio::Session &session);

/* WebSocket: a handshake (no session yet) or an upgrade (a session) */
ngx_int_t ngx_http_socketio_websocket(ngx_http_request_t *r,
    socketio::ngx::Runtime &rt, socketio::eio::Session *session,
    std::string_view key);
