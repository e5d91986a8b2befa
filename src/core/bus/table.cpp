#include "core/bus/table.hpp"

#include <cstring>

namespace socketio::bus {

std::uint64_t hash_id(std::string_view s) noexcept
{
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

SessionTable::SessionTable(const Zone& z) noexcept
    : h_(z.header()),
      e_(reinterpret_cast<SessionEntry*>(z.at(z.header().table_off))),
      cap_(z.header().table_cap)
{
}

std::size_t SessionTable::size() const noexcept
{
    return h_.sessions.load(std::memory_order_relaxed);
}

static std::string_view sid_of(const SessionEntry& e) noexcept
{
    return std::string_view(e.sid, sid_len);
}

std::size_t SessionTable::probe(std::string_view sid) const noexcept
{
    return bus::probe(e_, cap_, sid, sid_of);
}

bool SessionTable::insert(std::string_view sid, Owner owner) noexcept
{
    if (sid.size() != sid_len || cap_ == 0 || size() + 1 > cap_ / 4 * 3) {
        return false;
    }
    std::size_t i = probe(sid);
    if (e_[i].used) {
        return false;
    }
    std::memcpy(e_[i].sid, sid.data(), sid_len);
    e_[i].slot = owner.slot;
    e_[i].generation = owner.generation;
    e_[i].used = 1;
    h_.sessions.fetch_add(1, std::memory_order_relaxed);
    return true;
}

std::optional<Owner> SessionTable::find(std::string_view sid) const noexcept
{
    if (sid.size() != sid_len || cap_ == 0) {
        return std::nullopt;
    }
    std::size_t i = probe(sid);
    if (!e_[i].used) {
        return std::nullopt;
    }
    return Owner{e_[i].slot, e_[i].generation};
}

bool SessionTable::set(std::string_view sid, Owner owner) noexcept
{
    if (sid.size() != sid_len || cap_ == 0) {
        return false;
    }
    std::size_t i = probe(sid);
    if (!e_[i].used) {
        return false;
    }
    e_[i].slot = owner.slot;
    e_[i].generation = owner.generation;
    return true;
}

void SessionTable::erase_at(std::size_t i) noexcept
{
    bus::erase_at(e_, cap_, i, sid_of);
    h_.sessions.fetch_sub(1, std::memory_order_relaxed);
}

bool SessionTable::erase(std::string_view sid) noexcept
{
    if (sid.size() != sid_len || cap_ == 0) {
        return false;
    }
    std::size_t i = probe(sid);
    if (!e_[i].used) {
        return false;
    }
    erase_at(i);
    return true;
}

std::size_t SessionTable::erase_slot(std::uint16_t slot, std::size_t from,
                                     std::size_t to) noexcept
{
    std::size_t n = 0;
    for (std::size_t i = from; i < cap_ && i < to;) {
        if (e_[i].used && e_[i].slot == slot) {
            erase_at(i);           /* something may have moved into i */
            n++;
            continue;
        }
        i++;
    }
    return n;
}

}  // namespace socketio::bus
