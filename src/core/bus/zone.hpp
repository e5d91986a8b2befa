/*
 * What the workers share, laid out over one byte span (nginx's shared
 * memory zone in the module, a plain buffer in the tests): a header with
 * the worker slots, a session table, the chat's directory of users, and
 * the broadcast log. Plain, trivially copyable records with offsets, never
 * pointers: every process maps the span at its own address, and the span
 * outlives the processes (it survives nginx reloads).
 */
#pragma once

#include "core/bus/mutex.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace socketio::bus {

inline constexpr std::uint32_t max_slots = 64;
inline constexpr std::uint16_t any_slot = 0xffff;
inline constexpr std::uint64_t zone_magic = 0x6f69746b636f7373ULL;
inline constexpr std::uint32_t zone_version = 4;
inline constexpr std::uint64_t no_pin = UINT64_MAX;

enum class SlotState : std::uint32_t {
    free = 0,       /* no worker */
    alive = 1,      /* a worker reads the log and owns sessions */
    departed = 2,   /* its worker is shutting down: no more log for it */
    dead = 3,       /* its worker died; being cleaned */
};

/* Room for a counter per reason a session closes for (eio::Reason,
   whose table names them on the status page). */
inline constexpr std::size_t max_reasons = 16;
/* ...and per reason a recovery is refused (sio::Refusal). */
inline constexpr std::size_t max_refusals = 8;

/* Counters a worker keeps of itself; others only read them. */
struct Stats {
    std::atomic<std::uint64_t> sessions;            /* gauges */
    std::atomic<std::uint64_t> polling;
    std::atomic<std::uint64_t> websocket;
    std::atomic<std::uint64_t> handshakes;          /* counters */
    std::atomic<std::uint64_t> events_in;
    std::atomic<std::uint64_t> packets_out;
    std::atomic<std::uint64_t> bytes_in;
    std::atomic<std::uint64_t> bytes_out;
    std::atomic<std::uint64_t> broadcasts;
    std::atomic<std::uint64_t> forwarded;
    std::atomic<std::uint64_t> migrated;
    std::atomic<std::uint64_t> disconnects[max_reasons];
    std::atomic<std::uint64_t> persisted;           /* sockets kept */
    std::atomic<std::uint64_t> recovered;           /* ...and found again */
    std::atomic<std::uint64_t> refused[max_refusals];
};

struct alignas(64) Slot {
    Mutex life;                             /* held by its worker while it
                                               runs (LifeLocks) */
    std::atomic<std::uint32_t> state;
    std::atomic<std::uint32_t> wake_pending;
    std::atomic<std::int32_t> pid;
    std::atomic<std::uint32_t> generation;
    std::atomic<std::uint64_t> cursor;      /* next log byte it will read */
    std::atomic<std::uint64_t> pin;         /* oldest log byte it needs */
    std::atomic<std::uint64_t> replay_pin;  /* kept for a migration to it */
    std::atomic<std::uint64_t> scan_pin;    /* held while it reads the log's
                                               history (a recovery) */
    std::atomic<std::uint64_t> writing;     /* the log record it is writing,
                                               or no_pin */
    std::atomic<std::uint32_t> replays;     /* migrations on their way */
    std::atomic<std::uint32_t> index;       /* the worker's number */
    Stats stats;
};

struct LogHeader {
    Mutex lock;                             /* reserving room: never held
                                               while a body is copied */
    std::atomic<std::uint32_t> waiters;     /* a reader stopped at a record
                                               being written */
    std::atomic<std::uint64_t> head;        /* where the next record goes */
    std::atomic<std::uint64_t> tail;        /* the oldest byte kept */
    std::atomic<std::uint64_t> seq;         /* records published */
    std::atomic<std::uint64_t> full;        /* publishes refused: pressure */
    std::atomic<std::uint32_t> retain;      /* the tail moves only as far
                                               as a new record needs: the
                                               log keeps history (recovery) */
    std::atomic<std::uint64_t> next_offset; /* recoverable broadcasts: the
                                               id each carries to clients */
};

struct Header {
    std::uint64_t magic;
    std::uint32_t version;
    std::atomic<std::uint32_t> reader;      /* slot + 1 of the worker that
                                               reads the other servers'
                                               broadcasts; 0: none */
    std::uint64_t size;
    std::uint64_t id;                       /* names this zone's sockets */

    Mutex lock;                             /* slots, tables, directory:
                                               a few probes, never a scan */
    std::atomic<std::uint32_t> generation;  /* bumped per configuration */
    std::atomic<std::uint64_t> next_key;    /* chat keys: never reused */
    std::atomic<std::uint64_t> refused;     /* sessions refused: zone full */

    std::uint64_t table_off, table_cap;     /* session table */
    std::uint64_t dir_off, dir_cap;         /* users */
    std::uint64_t log_off, log_cap;         /* broadcast log */

    std::atomic<std::uint32_t> sessions;    /* entries in the table */
    std::atomic<std::uint32_t> users;       /* entries in the directory */
    std::atomic<std::uint64_t> joins;       /* users ever added: their order */
    std::atomic<std::uint64_t> dir_changes; /* directory changes: readers
                                               that copy it a part at a time
                                               see whether it moved */

    LogHeader log;
    Slot slots[max_slots];
};

/*
 * Whether the worker that took a slot still lives. The module's answer is
 * LifeLocks; tests that run several workers in one process answer for
 * themselves.
 */
class Liveness {
public:
    virtual ~Liveness() = default;
    /* This process takes the slot for as long as it lives. false: a live
       process holds it still. */
    virtual bool take(Slot& s) noexcept = 0;
    /* It gives the slot back (a clean exit). */
    virtual void give_back(Slot& s) noexcept = 0;
    /* false: the process that took the slot is gone. */
    virtual bool alive(Slot& s) noexcept = 0;
};

/*
 * Each slot's `life` mutex, held by its worker: when the worker dies, the
 * kernel marks the mutex "owner died", which no reused pid can fake.
 */
class LifeLocks final : public Liveness {
public:
    bool take(Slot& s) noexcept override;
    void give_back(Slot& s) noexcept override;
    bool alive(Slot& s) noexcept override;
};

/*
 * A view of the zone from one process: the header and the addresses of
 * its regions in this process's mapping.
 */
class Zone {
public:
    /* The smallest span that holds a usable zone. */
    static constexpr std::size_t min_size = 1024 * 1024;

    /*
     * Lays a new zone out over [base, base + size) (`fresh`), or attaches
     * to one laid out before (by another process, or before a reload).
     * false: the span is too small, or holds something else.
     */
    bool attach(void* base, std::size_t size, bool fresh,
                std::uint64_t id = 0) noexcept;

    Header& header() const noexcept { return *header_; }
    Slot& slot(std::uint32_t i) const noexcept { return header_->slots[i]; }
    char* at(std::uint64_t off) const noexcept { return base_ + off; }
    std::size_t size() const noexcept { return size_; }

private:
    char* base_ = nullptr;
    std::size_t size_ = 0;
    Header* header_ = nullptr;
};

}  // namespace socketio::bus
