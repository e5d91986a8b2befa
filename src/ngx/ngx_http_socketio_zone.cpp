/*
 * Copyright (C) the ngx_http_socketio_module authors
 *
 * The shared memory zone the workers of one server share (sessions,
 * users, the broadcast log; src/core/bus lays it out), and the status page
 * that shows what it holds.
 */

#include "ngx/ngx_http_socketio_module.hpp"
#include "ngx/ngx_http_socketio_runtime.hpp"

#include "core/bus/directory.hpp"
#include "core/bus/log.hpp"
#include "core/bus/table.hpp"
#include "core/bus/zone.hpp"
#include "core/eio/reason.hpp"

#include <sys/random.h>

#include <string>


static ngx_int_t ngx_http_socketio_init_zone(ngx_shm_zone_t *shm_zone,
    void *data) noexcept;


ngx_shm_zone_t *
ngx_http_socketio_add_zone(ngx_conf_t *cf, ngx_str_t *name, size_t size)
    noexcept
{
    ngx_shm_zone_t                 *shm_zone, **zp;
    ngx_http_socketio_zone_t       *zone;
    ngx_http_socketio_main_conf_t  *smcf;

    if (size < socketio::bus::Zone::min_size + 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "socketio zone \"%V\" is too small: at least 2m",
                           name);
        return NULL;
    }

    shm_zone = ngx_shared_memory_add(cf, name, size,
                                     &ngx_http_socketio_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data != NULL) {
        /* declared before: the same zone */
        return shm_zone;
    }

    zone = static_cast<ngx_http_socketio_zone_t *>(
               ngx_pcalloc(cf->pool, sizeof(ngx_http_socketio_zone_t)));
    if (zone == NULL) {
        return NULL;
    }

    zone->name = *name;

    shm_zone->init = ngx_http_socketio_init_zone;
    shm_zone->data = zone;

    smcf = static_cast<ngx_http_socketio_main_conf_t *>(
               ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_socketio_module));

    zp = static_cast<ngx_shm_zone_t **>(ngx_array_push(&smcf->zones));
    if (zp == NULL) {
        return NULL;
    }

    *zp = shm_zone;

    return shm_zone;
}


char *
ngx_http_socketio_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
    noexcept
{
    char  *p = static_cast<char *>(conf);

    ssize_t           size;
    ngx_str_t        *value;
    ngx_shm_zone_t  **zp;

    zp = reinterpret_cast<ngx_shm_zone_t **>(p + cmd->offset);

    if (*zp != NGX_CONF_UNSET_PTR) {
        return const_cast<char *>("is duplicate");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    *zp = ngx_http_socketio_add_zone(cf, &value[1],
                                     static_cast<size_t>(size));
    if (*zp == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_socketio_init_zone(ngx_shm_zone_t *shm_zone, void *data) noexcept
{
    auto *zone = static_cast<ngx_http_socketio_zone_t *>(shm_zone->data);
    auto *ozone = static_cast<ngx_http_socketio_zone_t *>(data);

    socketio::bus::Zone  z;
    ngx_slab_pool_t     *shpool;

    shpool = reinterpret_cast<ngx_slab_pool_t *>(shm_zone->shm.addr);

    if (ozone != NULL) {
        /* a reload: the zone, and all it holds, lives on */
        zone->span = ozone->span;
        zone->size = ozone->size;

    } else if (shm_zone->shm.exists) {
        zone->span = shpool->data;
        zone->size = shm_zone->shm.size;

    } else {
        zone->size = shpool->pfree * ngx_pagesize;
        zone->span = ngx_slab_alloc(shpool, zone->size);

        if (zone->span == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "socketio: could not lay out zone \"%V\"",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        uint64_t id = 0;
        if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
            id = static_cast<uint64_t>(ngx_pid) ^ static_cast<uint64_t>(
                     reinterpret_cast<uintptr_t>(zone->span));
        }

        if (!z.attach(zone->span, zone->size, true, id)) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "socketio: zone \"%V\" is too small",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shpool->data = zone->span;
    }

    if (!z.attach(zone->span, zone->size, false)) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "socketio: zone \"%V\" holds something else",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    /* the workers of this configuration stamp what they do with it */
    zone->generation = z.header().generation.fetch_add(1) + 1;
    zone->id = z.header().id;

    return NGX_OK;
}


/* --- the status page --- */


char *
ngx_http_socketio_status(ngx_conf_t *cf, ngx_command_t * /* cmd */,
    void *conf) noexcept
{
    auto *slcf = static_cast<ngx_http_socketio_loc_conf_t *>(conf);

    ngx_str_t                  *value, name = ngx_string("socketio");
    ngx_http_core_loc_conf_t   *clcf;

    if (slcf->status != NULL) {
        return const_cast<char *>("is duplicate");
    }

    value = static_cast<ngx_str_t *>(cf->args->elts);

    if (cf->args->nelts > 1) {
        name = value[1];
    }

    /* size 0: the zone is declared by a socketio_zone (or by default) */
    slcf->status = ngx_shared_memory_add(cf, &name, 0,
                                         &ngx_http_socketio_module);
    if (slcf->status == NULL) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }

    clcf = static_cast<ngx_http_core_loc_conf_t *>(
               ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = ngx_http_socketio_status_handler;

    return NGX_CONF_OK;
}


namespace {

struct StatusWorker {
    unsigned slot;
    const char *state;
    long pid;
    unsigned generation;
    uint64_t values[13];
    uint64_t disconnects[socketio::eio::reason_count];
    uint64_t refused[socketio::bus::max_refusals];
};

constexpr std::size_t status_refusals =
    static_cast<std::size_t>(socketio::sio::Refusal::count);

const char *const status_names[] = {
    "sessions", "polling", "websocket", "handshakes", "events_in",
    "packets_out", "bytes_in", "bytes_out", "broadcasts", "forwarded",
    "migrated", "persisted", "recovered",
};

const char *const status_help[] = {
    "Engine.IO sessions owned by the worker",
    "sessions on HTTP long-polling",
    "sessions on WebSocket",
    "handshakes made",
    "Engine.IO messages received",
    "Engine.IO packets sent",
    "bytes received",
    "bytes sent",
    "broadcasts published",
    "requests carried to another worker",
    "sessions moved to the worker holding their WebSocket",
    "sockets kept for connection state recovery",
    "sockets recovered",
};

std::string_view
ngx_http_socketio_reason_name(std::size_t k)
{
    return socketio::eio::info(static_cast<socketio::eio::Reason>(k)).counter;
}


std::string_view
ngx_http_socketio_refusal_name(std::size_t k)
{
    return socketio::sio::counter(static_cast<socketio::sio::Refusal>(k));
}


const char *
state_name(uint32_t s)
{
    switch (static_cast<socketio::bus::SlotState>(s)) {
    case socketio::bus::SlotState::alive:
        return "alive";
    case socketio::bus::SlotState::departed:
        return "exiting";
    case socketio::bus::SlotState::dead:
        return "dead";
    default:
        return "free";
    }
}

}  // namespace


ngx_int_t
ngx_http_socketio_status_page(ngx_http_request_t *r)
{
    {
        auto *slcf = static_cast<ngx_http_socketio_loc_conf_t *>(
                         ngx_http_get_module_loc_conf(r,
                                                      ngx_http_socketio_module));
        auto *zone = static_cast<ngx_http_socketio_zone_t *>(
                         slcf->status->data);

        if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        ngx_int_t rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (zone == NULL || zone->span == NULL) {
            return NGX_HTTP_NOT_FOUND;
        }

        socketio::bus::Zone z;
        if (!z.attach(zone->span, zone->size, false)) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        socketio::bus::Header &h = z.header();
        socketio::bus::Log log(z);

        std::vector<StatusWorker> workers;
        for (unsigned i = 0; i < socketio::bus::max_slots; i++) {
            socketio::bus::Slot &s = z.slot(i);
            uint32_t st = s.state.load();
            if (st == static_cast<uint32_t>(socketio::bus::SlotState::free)) {
                continue;
            }
            StatusWorker w{};
            w.slot = i;
            w.state = state_name(st);
            w.pid = s.pid.load();
            w.generation = s.generation.load();
            const socketio::bus::Stats &t = s.stats;
            const std::atomic<uint64_t> *v[] = {
                &t.sessions, &t.polling, &t.websocket, &t.handshakes,
                &t.events_in, &t.packets_out, &t.bytes_in, &t.bytes_out,
                &t.broadcasts, &t.forwarded, &t.migrated, &t.persisted,
                &t.recovered,
            };
            for (int k = 0; k < 13; k++) {
                w.values[k] = v[k]->load(std::memory_order_relaxed);
            }
            for (std::size_t k = 0; k < socketio::eio::reason_count; k++) {
                w.disconnects[k] = t.disconnects[k].load();
            }
            for (std::size_t k = 0; k < status_refusals; k++) {
                w.refused[k] = t.refused[k].load();
            }
            workers.push_back(w);
        }

        uint64_t log_used = log.head() - log.tail();
        uint64_t table_bytes = h.table_cap * sizeof(socketio::bus::SessionEntry);
        uint64_t dir_bytes = h.dir_cap * sizeof(socketio::bus::UserEntry);
        uint64_t used = sizeof(socketio::bus::Header)
                        + h.sessions.load() * sizeof(socketio::bus::SessionEntry)
                        + h.users.load() * sizeof(socketio::bus::UserEntry)
                        + log_used;
        uint64_t total = zone->size;

        std::string body;
        bool prometheus = false;
        ngx_str_t format;

        if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
            && format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            prometheus = true;
        }

        std::string zname(reinterpret_cast<char *>(zone->name.data),
                          zone->name.len);

        if (prometheus) {
            auto metric = [&](const char *name, const char *help,
                              const char *type) {
                body += "# HELP socketio_";
                body += name;
                body += " ";
                body += help;
                body += "\n# TYPE socketio_";
                body += name;
                body += " ";
                body += type;
                body += "\n";
            };
            auto sample = [&](const char *name, const std::string &labels,
                              uint64_t value) {
                body += "socketio_";
                body += name;
                body += "{zone=\"" + zname + "\"";
                body += labels;
                body += "} ";
                body += std::to_string(value);
                body += "\n";
            };

            for (int k = 0; k < 13; k++) {
                bool gauge = k < 3;
                std::string name = status_names[k];
                if (!gauge) {
                    name += "_total";
                }
                metric(name.c_str(), status_help[k],
                       gauge ? "gauge" : "counter");
                for (const auto &w : workers) {
                    sample(name.c_str(),
                           ",worker=\"" + std::to_string(w.slot) + "\"",
                           w.values[k]);
                }
            }

            metric("disconnects_total", "sessions closed, by reason",
                   "counter");
            for (const auto &w : workers) {
                for (std::size_t k = 0; k < socketio::eio::reason_count; k++)
                {
                    sample("disconnects_total",
                           ",worker=\"" + std::to_string(w.slot)
                           + "\",reason=\""
                           + std::string(ngx_http_socketio_reason_name(k))
                           + "\"",
                           w.disconnects[k]);
                }
            }

            metric("recovery_refused_total",
                   "recoveries refused (a fresh socket), by reason",
                   "counter");
            for (const auto &w : workers) {
                for (std::size_t k = 0; k < status_refusals; k++) {
                    sample("recovery_refused_total",
                           ",worker=\"" + std::to_string(w.slot)
                           + "\",reason=\""
                           + std::string(ngx_http_socketio_refusal_name(k))
                           + "\"",
                           w.refused[k]);
                }
            }

            metric("users", "named chat users", "gauge");
            sample("users", "", h.users.load());
            metric("zone_sessions", "sessions in the zone's table", "gauge");
            sample("zone_sessions", "", h.sessions.load());
            metric("zone_bytes", "zone memory", "gauge");
            sample("zone_bytes", ",kind=\"total\"", total);
            sample("zone_bytes", ",kind=\"used\"", used);
            sample("zone_bytes", ",kind=\"free\"", total - used);
            metric("log_bytes", "broadcast log", "gauge");
            sample("log_bytes", ",kind=\"capacity\"", log.capacity());
            sample("log_bytes", ",kind=\"used\"", log_used);
            metric("refused_total", "sessions and users refused: zone full",
                   "counter");
            sample("refused_total", "", h.refused.load());
            metric("log_full_total", "publishes that found the log full",
                   "counter");
            sample("log_full_total", "", log.pressure());

        } else {
            body = "{\"zone\":\"" + zname + "\",\"workers\":[";
            bool first = true;
            for (const auto &w : workers) {
                if (!first) {
                    body += ",";
                }
                first = false;
                body += "{\"worker\":" + std::to_string(w.slot)
                        + ",\"state\":\"" + w.state + "\",\"pid\":"
                        + std::to_string(w.pid) + ",\"generation\":"
                        + std::to_string(w.generation);
                for (int k = 0; k < 13; k++) {
                    body += ",\"";
                    body += status_names[k];
                    body += "\":" + std::to_string(w.values[k]);
                }
                body += ",\"disconnects\":{";
                for (std::size_t k = 0; k < socketio::eio::reason_count; k++)
                {
                    if (k > 0) {
                        body += ",";
                    }
                    body += "\"";
                    body += ngx_http_socketio_reason_name(k);
                    body += "\":" + std::to_string(w.disconnects[k]);
                }
                body += "},\"recovery_refused\":{";
                for (std::size_t k = 0; k < status_refusals; k++) {
                    if (k > 0) {
                        body += ",";
                    }
                    body += "\"";
                    body += ngx_http_socketio_refusal_name(k);
                    body += "\":" + std::to_string(w.refused[k]);
                }
                body += "}}";
            }
            body += "],\"sessions\":" + std::to_string(h.sessions.load())
                    + ",\"users\":" + std::to_string(h.users.load())
                    + ",\"refused\":" + std::to_string(h.refused.load())
                    + ",\"log\":{\"capacity\":"
                    + std::to_string(log.capacity()) + ",\"used\":"
                    + std::to_string(log_used) + ",\"full\":"
                    + std::to_string(log.pressure()) + "}"
                    + ",\"bytes\":{\"total\":" + std::to_string(total)
                    + ",\"used\":" + std::to_string(used) + ",\"free\":"
                    + std::to_string(total - used) + "}"
                    + ",\"capacity\":{\"sessions\":"
                    + std::to_string(h.table_cap / 4 * 3) + ",\"users\":"
                    + std::to_string(h.dir_cap / 4 * 3) + "}"
                    + ",\"table_bytes\":" + std::to_string(table_bytes)
                    + ",\"directory_bytes\":" + std::to_string(dir_bytes)
                    + "}\n";
        }

        if (ngx_http_socketio_header_out(r, "Cache-Control", "no-store")
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_socketio_respond(
                   r, NGX_HTTP_OK,
                   prometheus ? "text/plain; version=0.0.4"
                              : "application/json",
                   body);
    }
}


ngx_int_t
ngx_http_socketio_status_handler(ngx_http_request_t *r) noexcept
{
    return ngx_http_socketio_seam(r->connection->log, "status",
                                  ngx_int_t{NGX_HTTP_INTERNAL_SERVER_ERROR},
                                  [r] {
                                      return ngx_http_socketio_status_page(r);
                                  });
}
