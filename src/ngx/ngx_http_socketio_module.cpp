/*
 * Copyright (C) the ngx_http_socketio_module authors
 *
 * ngx_http_socketio_module: an Engine.IO v4 / Socket.IO v5 server inside
 * nginx workers. This file holds what nginx sees of the module: its
 * directives, its configuration, and its per-worker lifetime.
 */

#include "ngx/ngx_http_socketio_module.hpp"
#include "ngx/ngx_http_socketio_runtime.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <memory>
#include <new>
#include <vector>


/*
 * Every function nginx calls is noexcept. Those that call nginx's C
 * functions only are no more than that; those that run C++ that may
 * throw have one ngx_http_socketio_seam() for a body (see the header).
 */
static ngx_int_t ngx_http_socketio_add_variables(ngx_conf_t *cf) noexcept;
static ngx_int_t ngx_http_socketio_init(ngx_conf_t *cf) noexcept;
static ngx_int_t ngx_http_socketio_worker_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data) noexcept;
static ngx_int_t ngx_http_socketio_unset_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data) noexcept;
static void *ngx_http_socketio_create_main_conf(ngx_conf_t *cf) noexcept;
static void *ngx_http_socketio_create_loc_conf(ngx_conf_t *cf) noexcept;
static char *ngx_http_socketio_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child) noexcept;
static char *ngx_http_socketio(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf) noexcept;
static char *ngx_http_socketio_set_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf) noexcept;
static char *ngx_http_socketio_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf) noexcept;
static ngx_int_t ngx_http_socketio_init_process(ngx_cycle_t *cycle) noexcept;
static ngx_int_t ngx_http_socketio_start_runtimes(ngx_cycle_t *cycle);
static void ngx_http_socketio_exit_process(ngx_cycle_t *cycle) noexcept;
static void ngx_http_socketio_shutdown_handler(ngx_event_t *ev) noexcept;


static ngx_conf_enum_t  ngx_http_socketio_handlers[] = {
    { ngx_string("chat"), NGX_HTTP_SOCKETIO_HANDLER_CHAT },
    { ngx_string("echo"), NGX_HTTP_SOCKETIO_HANDLER_ECHO },
    { ngx_string("engine_echo"), NGX_HTTP_SOCKETIO_HANDLER_ENGINE_ECHO },
    { ngx_null_string, 0 }
};


static ngx_conf_bitmask_t  ngx_http_socketio_transports[] = {
    { ngx_string("polling"), NGX_HTTP_SOCKETIO_POLLING },
    { ngx_string("websocket"), NGX_HTTP_SOCKETIO_WEBSOCKET },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_socketio_positive = {
    ngx_conf_check_num_bounds, 1, -1
};


static ngx_command_t  ngx_http_socketio_commands[] = {

    { ngx_string("socketio"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_socketio,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("socketio_handler"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, handler),
      &ngx_http_socketio_handlers },

    { ngx_string("socketio_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, ping_interval),
      NULL },

    { ngx_string("socketio_ping_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, ping_timeout),
      NULL },

    { ngx_string("socketio_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, connect_timeout),
      NULL },

    { ngx_string("socketio_upgrade_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, upgrade_timeout),
      NULL },

    { ngx_string("socketio_max_payload"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, max_payload),
      &ngx_http_socketio_positive },

    { ngx_string("socketio_output_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, max_buffered),
      &ngx_http_socketio_positive },

    { ngx_string("socketio_worker_sessions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, max_sessions),
      NULL },

    { ngx_string("socketio_message_rate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, message_rate),
      NULL },

    { ngx_string("socketio_recovery"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, recovery),
      NULL },

    { ngx_string("socketio_recovery_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, recovery_window),
      NULL },

    { ngx_string("socketio_transports"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, transports),
      &ngx_http_socketio_transports },

    { ngx_string("socketio_allow_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_socketio_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, allow_origin),
      NULL },

    { ngx_string("socketio_zone"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_socketio_zone,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, zone),
      NULL },

    { ngx_string("socketio_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_socketio_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("socketio_chat_relay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_socketio_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, chat_relay),
      NULL },

    { ngx_string("socketio_redis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_socketio_redis,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_socketio_loc_conf_t, redis),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_socketio_module_ctx = {
    ngx_http_socketio_add_variables,       /* preconfiguration */
    ngx_http_socketio_init,                /* postconfiguration */

    ngx_http_socketio_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_socketio_create_loc_conf,     /* create location configuration */
    ngx_http_socketio_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_socketio_module = {
    NGX_MODULE_V1,
    &ngx_http_socketio_module_ctx,         /* module context */
    ngx_http_socketio_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_socketio_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_socketio_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_socketio_vars[] = {

    { ngx_string("socketio_sid"), NULL,
      ngx_http_socketio_unset_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("socketio_transport"), NULL,
      ngx_http_socketio_unset_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("socketio_worker"), NULL,
      ngx_http_socketio_worker_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* indexes of $socketio_sid and $socketio_transport, set as requests go */
static ngx_int_t  ngx_http_socketio_var_index[2] = { NGX_ERROR, NGX_ERROR };


/* the runtimes of this worker; the zones only point to them */
static std::vector<std::unique_ptr<socketio::ngx::Runtime>>
    ngx_http_socketio_runtimes;


socketio::ngx::Runtime *
ngx_http_socketio_runtime(ngx_http_socketio_loc_conf_t *slcf,
    ngx_log_t * /* log */)
{
    auto *zone = static_cast<ngx_http_socketio_zone_t *>(slcf->zone->data);

    if (zone->runtime == NULL) {
        /* a worker's servers are made at its start; this is a fallback */
        ngx_http_socketio_runtimes.reserve(
            ngx_http_socketio_runtimes.size() + 1);
        auto rt = std::make_unique<socketio::ngx::Runtime>(*zone->conf, *zone,
                                                           ngx_cycle->log);
        rt->start();
        ngx_http_socketio_runtimes.push_back(std::move(rt));
        zone->runtime = ngx_http_socketio_runtimes.back().get();
    }

    return zone->runtime;
}


void
ngx_http_socketio_free_runtimes() noexcept
{
    ngx_http_socketio_runtimes.clear();
}


void
ngx_http_socketio_log_exception(ngx_log_t *log, const char *where) noexcept
{
    try {
        throw;

    } catch (const std::bad_alloc &) {
        ngx_log_error(NGX_LOG_CRIT, log, 0, "socketio: %s: out of memory",
                      where);

    } catch (const std::exception &e) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "socketio: %s: %s", where,
                      e.what());

    } catch (...) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "socketio: %s: unknown error",
                      where);
    }
}


/*
 * nginx tells idle connections, not modules, that a worker is shutting
 * down: an idle connection of our own, on an eventfd nobody writes to,
 * hears it for all the sessions of the worker, even those with no
 * connection of theirs in it at that moment (a polling client between two
 * requests, an HTTP/2 long-poll).
 */
static ngx_connection_t  *ngx_http_socketio_shutdown_conn;


static ngx_int_t
ngx_http_socketio_init_process(ngx_cycle_t *cycle) noexcept
{
    int                fd;
    ngx_connection_t  *c;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "socketio: eventfd() failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        close(fd);
        return NGX_ERROR;
    }

    c->idle = 1;
    c->read->handler = ngx_http_socketio_shutdown_handler;
    c->read->log = cycle->log;
    c->write->log = cycle->log;

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    ngx_http_socketio_shutdown_conn = c;

    return ngx_http_socketio_seam(cycle->log, "init process",
                                  ngx_int_t{NGX_ERROR}, [cycle] {
        return ngx_http_socketio_start_runtimes(cycle);
    });
}


/* Every zone's server joins its cluster now: no request waits for it. */
static ngx_int_t
ngx_http_socketio_start_runtimes(ngx_cycle_t *cycle)
{
    auto *smcf = static_cast<ngx_http_socketio_main_conf_t *>(
                     ngx_http_cycle_get_module_main_conf(cycle,
                                                         ngx_http_socketio_module));
    if (smcf == NULL) {
        return NGX_OK;
    }

    auto **zones = static_cast<ngx_shm_zone_t **>(smcf->zones.elts);

    for (ngx_uint_t i = 0; i < smcf->zones.nelts; i++) {
        auto *zone = static_cast<ngx_http_socketio_zone_t *>(zones[i]->data);

        if (zone->conf == NULL || zone->runtime != NULL) {
            continue;
        }

        ngx_http_socketio_runtimes.reserve(
            ngx_http_socketio_runtimes.size() + 1);

        auto rt = std::make_unique<socketio::ngx::Runtime>(*zone->conf,
                                                           *zone, cycle->log);
        rt->start();

        /* the zone points to it once the vector owns it */
        ngx_http_socketio_runtimes.push_back(std::move(rt));
        zone->runtime = ngx_http_socketio_runtimes.back().get();
    }

    return NGX_OK;
}


static void
ngx_http_socketio_shutdown_handler(ngx_event_t *ev) noexcept
{
    auto *c = static_cast<ngx_connection_t *>(ev->data);

    if (!c->close) {
        return;
    }

    /* the worker is shutting down (or reloading): close every session */

    ngx_http_socketio_shutdown_conn = NULL;
    ngx_close_connection(c);

    for (auto &rt : ngx_http_socketio_runtimes) {
        rt->shutdown();
    }
}


static void
ngx_http_socketio_exit_process(ngx_cycle_t * /* cycle */) noexcept
{
    if (ngx_http_socketio_shutdown_conn != NULL) {
        ngx_close_connection(ngx_http_socketio_shutdown_conn);
        ngx_http_socketio_shutdown_conn = NULL;
    }

    ngx_http_socketio_free_runtimes();
}


static ngx_int_t
ngx_http_socketio_add_variables(ngx_conf_t *cf) noexcept
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_socketio_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_socketio_init(ngx_conf_t *cf) noexcept
{
    for (int i = 0; i < 2; i++) {
        ngx_http_socketio_var_index[i] = ngx_http_get_variable_index(
                                             cf, &ngx_http_socketio_vars[i].name);
        if (ngx_http_socketio_var_index[i] == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_socketio_unset_variable(ngx_http_request_t * /* r */,
    ngx_http_variable_value_t *v, uintptr_t /* data */) noexcept
{
    v->not_found = 1;
    return NGX_OK;
}


static ngx_int_t
ngx_http_socketio_worker_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t /* data */) noexcept
{
    u_char  *p;

    p = static_cast<u_char *>(ngx_pnalloc(r->pool, NGX_INT_T_LEN));
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%ui", ngx_worker) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


void
ngx_http_socketio_set_variables(ngx_http_request_t *r, std::string_view sid,
    std::string_view transport) noexcept
{
    std::string_view  values[2] = { sid, transport };

    for (int i = 0; i < 2; i++) {
        if (ngx_http_socketio_var_index[i] == NGX_ERROR
            || values[i].empty())
        {
            continue;
        }

        std::string_view copy = ngx_http_socketio_pstrdup(r->pool, values[i]);
        if (copy.data() == NULL) {
            return;
        }

        ngx_http_variable_value_t *v =
            &r->variables[ngx_http_socketio_var_index[i]];

        v->data = (u_char *) copy.data();
        v->len = copy.size();
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;
    }
}


static void *
ngx_http_socketio_create_main_conf(ngx_conf_t *cf) noexcept
{
    ngx_http_socketio_main_conf_t  *smcf;

    smcf = static_cast<ngx_http_socketio_main_conf_t *>(
               ngx_pcalloc(cf->pool, sizeof(ngx_http_socketio_main_conf_t)));
    if (smcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&smcf->zones, cf->pool, 2, sizeof(ngx_shm_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return smcf;
}


static void *
ngx_http_socketio_create_loc_conf(ngx_conf_t *cf) noexcept
{
    ngx_http_socketio_loc_conf_t  *conf;

    conf = static_cast<ngx_http_socketio_loc_conf_t *>(
               ngx_pcalloc(cf->pool, sizeof(ngx_http_socketio_loc_conf_t)));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->transports = 0;
     *     conf->status = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->handler = NGX_CONF_UNSET_UINT;
    conf->ping_interval = NGX_CONF_UNSET_MSEC;
    conf->ping_timeout = NGX_CONF_UNSET_MSEC;
    conf->connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upgrade_timeout = NGX_CONF_UNSET_MSEC;
    conf->max_payload = NGX_CONF_UNSET_SIZE;
    conf->max_buffered = NGX_CONF_UNSET_SIZE;
    conf->max_sessions = NGX_CONF_UNSET_UINT;
    conf->message_rate = NGX_CONF_UNSET_UINT;
    conf->recovery = NGX_CONF_UNSET;
    conf->recovery_window = NGX_CONF_UNSET_MSEC;
    conf->allow_origin = static_cast<ngx_array_t *>(NGX_CONF_UNSET_PTR);
    conf->chat_relay = static_cast<ngx_array_t *>(NGX_CONF_UNSET_PTR);
    conf->zone = static_cast<ngx_shm_zone_t *>(NGX_CONF_UNSET_PTR);
    conf->redis = static_cast<ngx_http_socketio_redis_t *>(NGX_CONF_UNSET_PTR);

    return conf;
}


/* Two lists of strings (socketio_chat_relay) hold the same, in order. */
static bool
ngx_http_socketio_same_list(const ngx_array_t *a, const ngx_array_t *b)
    noexcept
{
    ngx_uint_t   i;
    ngx_str_t   *x, *y;

    if (a == NULL || b == NULL) {
        return a == b;
    }

    if (a->nelts != b->nelts) {
        return false;
    }

    x = static_cast<ngx_str_t *>(a->elts);
    y = static_cast<ngx_str_t *>(b->elts);

    for (i = 0; i < a->nelts; i++) {
        if (x[i].len != y[i].len
            || ngx_strncmp(x[i].data, y[i].data, x[i].len) != 0)
        {
            return false;
        }
    }

    return true;
}


/* Two socketio_redis settings are the same cluster, reached the same way. */
static bool
ngx_http_socketio_same_redis(const ngx_http_socketio_redis_t *a,
    const ngx_http_socketio_redis_t *b) noexcept
{
    auto same = [](const ngx_str_t &x, const ngx_str_t &y) {
        return x.len == y.len && ngx_strncmp(x.data, y.data, x.len) == 0;
    };

    if (a == NULL || b == NULL) {
        return a == b;
    }

    return a == b
           || (same(a->address, b->address) && same(a->user, b->user)
               && same(a->password, b->password) && a->db == b->db
               && same(a->prefix, b->prefix)
               && a->requests_timeout == b->requests_timeout);
}


static char *
ngx_http_socketio_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
    noexcept
{
    auto *prev = static_cast<ngx_http_socketio_loc_conf_t *>(parent);
    auto *conf = static_cast<ngx_http_socketio_loc_conf_t *>(child);

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_uint_value(conf->handler, prev->handler,
                              NGX_HTTP_SOCKETIO_HANDLER_CHAT);
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval,
                              25000);
    ngx_conf_merge_msec_value(conf->ping_timeout, prev->ping_timeout, 20000);
    ngx_conf_merge_msec_value(conf->connect_timeout, prev->connect_timeout,
                              45000);
    ngx_conf_merge_msec_value(conf->upgrade_timeout, prev->upgrade_timeout,
                              10000);
    ngx_conf_merge_size_value(conf->max_payload, prev->max_payload, 1000000);
    ngx_conf_merge_size_value(conf->max_buffered, prev->max_buffered,
                              4 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->max_sessions, prev->max_sessions, 0);
    ngx_conf_merge_uint_value(conf->message_rate, prev->message_rate, 0);
    ngx_conf_merge_value(conf->recovery, prev->recovery, 0);
    /* the reference's maxDisconnectionDuration */
    ngx_conf_merge_msec_value(conf->recovery_window, prev->recovery_window,
                              120000);
    ngx_conf_merge_bitmask_value(conf->transports, prev->transports,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_SOCKETIO_POLLING
                                  |NGX_HTTP_SOCKETIO_WEBSOCKET));
    ngx_conf_merge_ptr_value(conf->allow_origin, prev->allow_origin, NULL);
    ngx_conf_merge_ptr_value(conf->chat_relay, prev->chat_relay, NULL);
    ngx_conf_merge_ptr_value(conf->redis, prev->redis, NULL);

    if (conf->ping_interval == 0 || conf->ping_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"socketio_ping_interval\" and "
                           "\"socketio_ping_timeout\" must be positive");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->recovery_window < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"socketio_recovery_window\" must be at least 1s");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (conf->max_buffered < conf->max_payload) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"socketio_output_limit\" must not be less than "
                           "\"socketio_max_payload\"");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    ngx_conf_merge_ptr_value(conf->zone, prev->zone, NULL);

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->zone == NULL) {
        /* the zone every location shares unless told otherwise */
        ngx_str_t  name = ngx_string("socketio");

        conf->zone = ngx_http_socketio_add_zone(cf, &name, 32 * 1024 * 1024);
        if (conf->zone == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    auto *zone = static_cast<ngx_http_socketio_zone_t *>(conf->zone->data);

    if (zone->conf == NULL) {
        zone->conf = conf;
        return NGX_CONF_OK;
    }

    /* locations on one zone are one server: they must agree */
    const ngx_http_socketio_loc_conf_t *first = zone->conf;

    if (first->handler != conf->handler
        || first->ping_interval != conf->ping_interval
        || first->ping_timeout != conf->ping_timeout
        || first->connect_timeout != conf->connect_timeout
        || first->upgrade_timeout != conf->upgrade_timeout
        || first->max_payload != conf->max_payload
        || first->max_buffered != conf->max_buffered
        || first->max_sessions != conf->max_sessions
        || first->message_rate != conf->message_rate
        || first->transports != conf->transports
        || first->recovery != conf->recovery
        || first->recovery_window != conf->recovery_window
        || !ngx_http_socketio_same_list(first->chat_relay, conf->chat_relay)
        || !ngx_http_socketio_same_redis(first->redis, conf->redis))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "locations on the socketio zone \"%V\" differ in "
                           "their socketio settings: give each its own "
                           "\"socketio_zone\"", &zone->name);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_socketio(ngx_conf_t *cf, ngx_command_t * /* cmd */, void *conf)
    noexcept
{
    auto *slcf = static_cast<ngx_http_socketio_loc_conf_t *>(conf);

    ngx_http_core_loc_conf_t  *clcf;

    if (slcf->enable != NGX_CONF_UNSET) {
        return const_cast<char *>("is duplicate");
    }

    slcf->enable = 1;

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
               ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = ngx_http_socketio_handler;

    return NGX_CONF_OK;
}


/* a directive that takes one or more strings: origins, event names */
static char *
ngx_http_socketio_set_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
    noexcept
{
    char  *p = static_cast<char *>(conf);

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **a;

    a = reinterpret_cast<ngx_array_t **>(p + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return const_cast<char *>("is duplicate");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    *a = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (*a == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty value in \"%V\"", &cmd->name);
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        s = static_cast<ngx_str_t *>(ngx_array_push(*a));
        if (s == NULL) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * socketio_redis address [user=name] [password=secret] [db=number]
 *                [prefix=socket.io] [requests_timeout=5s];
 *
 * The address is host:port (6379 by default) or unix:/path, resolved
 * now, as nginx resolves an upstream's.
 */
static char *
ngx_http_socketio_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
    noexcept
{
    char  *p = static_cast<char *>(conf);

    ngx_str_t                   *value, v;
    ngx_url_t                    u;
    ngx_uint_t                   i;
    ngx_http_socketio_redis_t  **rp, *r;

    rp = reinterpret_cast<ngx_http_socketio_redis_t **>(p + cmd->offset);

    if (*rp != NGX_CONF_UNSET_PTR) {
        return const_cast<char *>("is duplicate");
    }

    r = static_cast<ngx_http_socketio_redis_t *>(
            ngx_pcalloc(cf->pool, sizeof(ngx_http_socketio_redis_t)));
    if (r == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in \"socketio_redis\" address \"%V\"",
                               u.err, &u.url);
        }
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address for \"socketio_redis\" \"%V\"",
                           &u.url);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    r->address = value[1];
    r->addr = &u.addrs[0];
    r->db = 0;
    r->requests_timeout = 5000;
    ngx_str_set(&r->prefix, "socket.io");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            r->user.data = value[i].data + 5;
            r->user.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            r->password.data = value[i].data + 9;
            r->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            v.data = value[i].data + 3;
            v.len = value[i].len - 3;
            ngx_int_t n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }
            r->db = static_cast<ngx_uint_t>(n);
            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            r->prefix.data = value[i].data + 7;
            r->prefix.len = value[i].len - 7;
            if (r->prefix.len == 0) {
                goto invalid;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "requests_timeout=", 17) == 0) {
            v.data = value[i].data + 17;
            v.len = value[i].len - 17;
            ngx_msec_int_t t = ngx_parse_time(&v, 0);
            if (t == NGX_ERROR || t == 0) {
                goto invalid;
            }
            r->requests_timeout = static_cast<ngx_msec_t>(t);
            continue;
        }

        goto invalid;
    }

    if (r->user.len != 0 && r->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"socketio_redis\": user= needs a password=");
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    *rp = r;
    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of \"socketio_redis\"",
                       &value[i]);
    return static_cast<char *>(NGX_CONF_ERROR);
}
