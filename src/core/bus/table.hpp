/*
 * The session table: which worker owns each Engine.IO session, so that a
 * request for it landing on any worker can reach it. Open addressing with
 * linear probing and backward-shift deletion (no tombstones to pile up),
 * fixed capacity; callers hold the zone lock.
 */
#pragma once

#include "core/bus/open_table.hpp"
#include "core/bus/zone.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace socketio::bus {

inline constexpr std::size_t sid_len = 20;

struct SessionEntry {
    char sid[sid_len];
    std::uint16_t used;
    std::uint16_t slot;
    std::uint32_t generation;
    std::uint32_t pad;
};
static_assert(sizeof(SessionEntry) == 32);

struct Owner {
    std::uint16_t slot;
    std::uint32_t generation;
};

class SessionTable {
public:
    explicit SessionTable(const Zone& z) noexcept;

    /* false: the table is full (3/4 of its capacity) or the sid known */
    bool insert(std::string_view sid, Owner owner) noexcept;
    std::optional<Owner> find(std::string_view sid) const noexcept;
    bool set(std::string_view sid, Owner owner) noexcept;
    bool erase(std::string_view sid) noexcept;
    /*
     * Forgets the sessions of a slot (its worker died) held in entries
     * [from, to): a caller that must not hold the lock for a whole scan
     * goes a part at a time. Returns how many.
     */
    std::size_t erase_slot(std::uint16_t slot, std::size_t from = 0,
                           std::size_t to = SIZE_MAX) noexcept;
    std::size_t size() const noexcept;
    std::size_t capacity() const noexcept { return cap_; }

private:
    std::size_t probe(std::string_view sid) const noexcept;
    void erase_at(std::size_t i) noexcept;

    Header& h_;
    SessionEntry* e_;
    std::size_t cap_;
};

}  // namespace socketio::bus
