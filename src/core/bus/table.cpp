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

/* The entry holding `sid`, or the free one where it would go. */
std::size_t SessionTable::probe(std::string_view sid) const noexcept
{
    std::size_t i = hash_id(sid) % cap_;
    while (e_[i].used
           && std::string_view(e_[i].sid, sid_len) != sid)
    {
        i = (i + 1) % cap_;
    }
    return i;
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
    /* shift back the entries of the run after it that hash before it */
    std::size_t hole = i;
    std::size_t j = i;
    for (;;) {
        j = (j + 1) % cap_;
        if (!e_[j].used) {
            break;
        }
        std::size_t home = hash_id(std::string_view(e_[j].sid, sid_len))
                           % cap_;
        /* can e_[j] move to the hole without leaving its probe path? */
        bool movable = (hole <= j) ? (home <= hole || home > j)
                                   : (home <= hole && home > j);
        if (movable) {
            e_[hole] = e_[j];
            hole = j;
        }
    }
    std::memset(&e_[hole], 0, sizeof(SessionEntry));
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

std::size_t SessionTable::erase_slot(std::uint16_t slot) noexcept
{
    std::size_t n = 0;
    for (std::size_t i = 0; i < cap_;) {
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
