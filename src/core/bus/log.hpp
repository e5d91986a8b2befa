/*
 * The broadcast log: a ring of variable-size records in the zone, in one
 * total order that every worker reads from its own cursor. A message for
 * many sockets is written here once and every worker writes the same
 * bytes to its own sockets; space comes back when every live worker has
 * moved its pin (the oldest byte it still reads from) past it. A worker
 * that dies stops counting; a record never straddles the end of the ring.
 *
 * Publishing holds the log's lock only to reserve room (a few loads and
 * stores, whatever the record's size): the body is copied after, and the
 * record is committed by one store of its type. Readers stop at a record
 * still being written. A writer that dies between the two leaves its one
 * reservation (its slot says where) for abandon() to turn into padding.
 */
#pragma once

#include "core/bus/zone.hpp"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace socketio::bus {

struct RecordHeader {
    std::uint32_t size;          /* the whole record, a multiple of 8 */
    std::uint16_t type;          /* 0: padding up to the end of the ring */
    std::uint16_t from;          /* the publishing slot */
    std::uint16_t to;            /* the slot it is for, or any_slot */
    std::uint16_t flags;
    std::uint32_t body_len;
    std::uint64_t seq;
};
static_assert(sizeof(RecordHeader) == 24);

inline constexpr std::uint16_t record_padding = 0;
inline constexpr std::uint16_t record_writing = 0xffff;

struct Record {
    const RecordHeader* header = nullptr;
    std::string_view body;       /* valid until the reader's pin passes it */
    std::uint64_t pos = 0;       /* where it starts */
    std::uint64_t next = 0;      /* where the one after it starts */
    bool writing = false;        /* not committed yet: read it again later */
};

class Log {
public:
    explicit Log(const Zone& z) noexcept;

    /*
     * Appends one record whose body is the parts put end to end. nullopt:
     * no room even after reclaiming (the log's pressure flag is then set,
     * so that workers let go of what they pin), or too big for the ring.
     */
    std::optional<std::uint64_t> publish(std::uint16_t from, std::uint16_t to,
                                         std::uint16_t type,
                                         const std::vector<std::string_view>& parts,
                                         std::uint16_t flags = 0) noexcept;

    /* The record `slot` was writing when it died is skipped by all. */
    void abandon(std::uint16_t slot) noexcept;

    /*
     * A reader found the record at `pos` being written: true when it still
     * is, and then its writer wakes every reader once it is committed
     * (publish() says so through readers_waiting()).
     */
    bool wait_for(std::uint64_t pos) noexcept;
    /* After publishing: did readers stop at one of the records being
       written? (then they are to be woken, and the question is reset) */
    bool readers_waiting() noexcept;

    /* Where the next record will go: readers read below it. */
    std::uint64_t head() const noexcept;
    std::uint64_t tail() const noexcept;
    std::uint64_t capacity() const noexcept { return cap_; }

    /* The record at `pos`, which is below head(); padding is skipped, so
       the record returned may start after `pos`. A record still being
       written comes back `writing`, with no body. */
    Record read(std::uint64_t pos) const noexcept;

    /* Moves the tail up to the lowest pin of the live slots. */
    void reclaim() noexcept;

    /* Counts publishes that found the log full: when it moves, workers
       let go of old records (they copy what they still need). */
    std::uint64_t pressure() const noexcept;

    /* Largest body a record may carry. */
    std::size_t max_body() const noexcept;

    /*
     * History, for connection state recovery: when the log retains, a
     * publish moves the tail only as far as its record needs (never past
     * a pin), so the ring keeps its capacity's worth of old records, and
     * the tail always points where a record starts.
     */
    void retain(bool on) noexcept;
    /* A zone-wide id for a recoverable broadcast (never 0). */
    std::uint64_t next_offset() noexcept;
    /* The slot pins the history from the tail (returned) until it lets
       go: it reads records from there, in order, then copies what it needs. */
    std::uint64_t hold_history(Slot& s) noexcept;
    void release_history(Slot& s) noexcept;

private:
    std::uint64_t lowest_pin() const noexcept;
    /* From the record at `pos`, the first record start at or after
       `need`, but not after `limit`. */
    std::uint64_t walk(std::uint64_t pos, std::uint64_t need,
                       std::uint64_t limit) const noexcept;
    std::uint64_t skip_to_fit(std::uint64_t pos, std::uint64_t size)
        const noexcept;

    Header& h_;
    LogHeader& l_;
    char* ring_;
    std::uint64_t cap_;
};

}  // namespace socketio::bus
