/*
 * Declarations shared by the glue files of ngx_http_socketio_module.
 */
#pragma once

#include "ngx/ngx.hpp"

#include <exception>
#include <new>
#include <string>
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


typedef struct ngx_http_socketio_loc_conf_s  ngx_http_socketio_loc_conf_t;


/* socketio_redis: where the cluster meets, and how to get in */
typedef struct {
    ngx_str_t                      address;   /* as written, for logs */
    ngx_addr_t                    *addr;      /* resolved at nginx -t */
    ngx_str_t                      user;      /* ACL user for AUTH */
    ngx_str_t                      password;
    ngx_uint_t                     db;
    ngx_str_t                      prefix;    /* the adapter's key */
    ngx_msec_t                     requests_timeout;
} ngx_http_socketio_redis_t;


/* A shared memory zone, and this worker's server on it. */
typedef struct {
    ngx_str_t                      name;
    void                          *span;      /* the zone's own bytes */
    size_t                         size;
    uint32_t                       generation;
    uint64_t                       id;
    ngx_http_socketio_loc_conf_t  *conf;      /* its first location's */
    socketio::ngx::Runtime        *runtime;   /* made at process start */
} ngx_http_socketio_zone_t;


typedef struct {
    ngx_array_t                    zones;     /* of ngx_shm_zone_t * */
} ngx_http_socketio_main_conf_t;


struct ngx_http_socketio_loc_conf_s {
    ngx_flag_t                 enable;
    ngx_uint_t                 handler;
    ngx_msec_t                 ping_interval;
    ngx_msec_t                 ping_timeout;
    ngx_msec_t                 connect_timeout;
    ngx_msec_t                 upgrade_timeout;
    size_t                     max_payload;
    size_t                     max_buffered;
    ngx_uint_t                 max_sessions;     /* per worker, 0: any */
    ngx_uint_t                 message_rate;     /* per second, 0: any */
    ngx_uint_t                 transports;
    ngx_flag_t                 recovery;         /* socketio_recovery */
    ngx_msec_t                 recovery_window;
    ngx_array_t               *allow_origin;     /* of ngx_str_t, or NULL */
    ngx_array_t               *chat_relay;       /* of ngx_str_t, or NULL */
    ngx_shm_zone_t            *zone;
    ngx_shm_zone_t            *status;           /* socketio_status */
    ngx_http_socketio_redis_t *redis;            /* or NULL */
};


extern "C" {
extern ngx_module_t  ngx_http_socketio_module;
}

ngx_int_t ngx_http_socketio_handler(ngx_http_request_t *r) noexcept;

/* This worker's server for the location's zone. */
socketio::ngx::Runtime *ngx_http_socketio_runtime(
    ngx_http_socketio_loc_conf_t *slcf, ngx_log_t *log);

/* Forgets every runtime of this worker (worker exit). */
void ngx_http_socketio_free_runtimes() noexcept;

/* zones: the directive, their layout, the status page */
char *ngx_http_socketio_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf) noexcept;
ngx_shm_zone_t *ngx_http_socketio_add_zone(ngx_conf_t *cf, ngx_str_t *name,
    size_t size) noexcept;
char *ngx_http_socketio_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf) noexcept;
ngx_int_t ngx_http_socketio_status_handler(ngx_http_request_t *r) noexcept;

/* Sets $socketio_sid and $socketio_transport for this request. */
void ngx_http_socketio_set_variables(ngx_http_request_t *r,
    std::string_view sid, std::string_view transport) noexcept;

/* Answers a whole response from memory; returns what to finalize with. */
ngx_int_t ngx_http_socketio_respond(ngx_http_request_t *r, ngx_uint_t status,
    std::string_view content_type, std::string_view body) noexcept;

/* Logs an exception that reached the seam. */
void ngx_http_socketio_log_exception(ngx_log_t *log, const char *where)
    noexcept;


/*
 * The C/C++ seam, in one pattern. Every function nginx calls (content and
 * body handlers, event handlers and timers, pool cleanups, directive
 * setters, module and process hooks, variable getters) is noexcept, and
 * its body is one call of ngx_http_socketio_seam(): the work runs in a
 * try block, and an exception is logged where it happened and turned
 * into what that kind of entry point answers on failure (`failed`: 500
 * for a handler, NGX_CONF_ERROR for a directive, NGX_ERROR for a hook).
 * No exception crosses into nginx.
 */
template <typename R, typename Body>
R
ngx_http_socketio_seam(ngx_log_t *log, const char *where, R failed,
    Body &&body) noexcept
{
    try {
        return body();

    } catch (...) {
        ngx_http_socketio_log_exception(log, where);
        return failed;
    }
}


/*
 * The same for entry points that answer nothing (event handlers, pool
 * cleanups): `failed` (itself noexcept) puts things right, e.g. closes
 * the connection the event was for.
 */
template <typename Body, typename Failed>
void
ngx_http_socketio_seam_void(ngx_log_t *log, const char *where, Body &&body,
    Failed &&failed) noexcept
{
    try {
        body();

    } catch (...) {
        ngx_http_socketio_log_exception(log, where);
        failed();
    }
}


template <typename Body>
void
ngx_http_socketio_seam_void(ngx_log_t *log, const char *where, Body &&body)
    noexcept
{
    ngx_http_socketio_seam_void(log, where, std::forward<Body>(body),
                                [] () noexcept {});
}

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

    /* a destructor is noexcept: those of the glue catch what they call */
    cln->handler = [](void *data) noexcept { static_cast<T *>(data)->~T(); };

    return obj;
}

/*
 * The same for an object larger than what is left of the pool's block: on
 * the heap, owned by the pool. A WebSocket's object would otherwise open a
 * second block of the connection's pool, 512 bytes of which it uses 300,
 * for every idle connection.
 */
template <typename T, typename... Args>
T *
ngx_http_socketio_heap_new(ngx_pool_t *pool, Args &&...args)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    T *obj = new (std::nothrow) T(std::forward<Args>(args)...);
    if (obj == NULL) {
        return NULL;
    }

    cln->data = obj;
    cln->handler = [](void *data) noexcept { delete static_cast<T *>(data); };

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
    std::string_view key, std::string sid);

/* the same for a session another worker owns */
ngx_int_t ngx_http_socketio_poll_remote(ngx_http_request_t *r,
    socketio::ngx::Runtime &rt, std::string_view sid, uint16_t owner);
ngx_int_t ngx_http_socketio_post_remote(ngx_http_request_t *r,
    socketio::ngx::Runtime &rt, std::string_view sid, uint16_t owner);
ngx_int_t ngx_http_socketio_websocket_remote(ngx_http_request_t *r,
    socketio::ngx::Runtime &rt, std::string_view sid, uint16_t owner,
    std::string_view key);
