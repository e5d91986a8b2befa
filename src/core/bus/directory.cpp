#include "core/bus/directory.hpp"

#include "core/bus/open_table.hpp"

#include <algorithm>
#include <cstring>

namespace socketio::bus {

Directory::Directory(const Zone& z) noexcept
    : h_(z.header()),
      e_(reinterpret_cast<UserEntry*>(z.at(z.header().dir_off))),
      cap_(z.header().dir_cap)
{
}

std::size_t Directory::size() const noexcept
{
    return h_.users.load(std::memory_order_relaxed);
}

static std::string_view key_of(const UserEntry& e) noexcept
{
    return std::string_view(e.key, e.key_len);
}

std::size_t Directory::probe(std::string_view key) const noexcept
{
    return bus::probe(e_, cap_, key, key_of);
}

UserRecord Directory::record(const UserEntry& e)
{
    UserRecord u;
    u.key.assign(e.key, e.key_len);
    u.name.assign(e.name, e.name_len);
    u.socket_id.assign(e.socket_id, e.socket_len);
    u.slot = e.slot;
    u.order = e.order;
    u.away_until = e.away_until;
    return u;
}

std::optional<std::uint64_t> Directory::put(const UserRecord& u) noexcept
{
    if (cap_ == 0 || u.key.empty() || u.key.size() > sizeof(e_->key)
        || u.name.size() > sizeof(e_->name)
        || u.socket_id.size() > sizeof(e_->socket_id))
    {
        return std::nullopt;
    }

    std::size_t i = probe(u.key);
    if (!e_[i].used) {
        if (size() + 1 > cap_ / 4 * 3) {
            return std::nullopt;
        }
        std::memset(&e_[i], 0, sizeof(UserEntry));
        std::memcpy(e_[i].key, u.key.data(), u.key.size());
        e_[i].key_len = static_cast<std::uint16_t>(u.key.size());
        /* the list's order: when it was put, not what its key says (keys
           may be taken long before, and by several workers at once) */
        e_[i].order = h_.joins.fetch_add(1, std::memory_order_relaxed);
        e_[i].used = 1;
        h_.users.fetch_add(1, std::memory_order_relaxed);
    }

    std::memcpy(e_[i].name, u.name.data(), u.name.size());
    e_[i].name_len = static_cast<std::uint16_t>(u.name.size());
    std::memcpy(e_[i].socket_id, u.socket_id.data(), u.socket_id.size());
    e_[i].socket_len = static_cast<std::uint16_t>(u.socket_id.size());
    e_[i].slot = u.slot;
    e_[i].away_until = u.slot == away_slot ? u.away_until : 0;
    h_.dir_changes.fetch_add(1, std::memory_order_release);
    return e_[i].order;
}

void Directory::erase_at(std::size_t i) noexcept
{
    bus::erase_at(e_, cap_, i, key_of);
    h_.users.fetch_sub(1, std::memory_order_relaxed);
    h_.dir_changes.fetch_add(1, std::memory_order_release);
}

bool Directory::remove(std::string_view key) noexcept
{
    if (cap_ == 0) {
        return false;
    }
    std::size_t i = probe(key);
    if (!e_[i].used) {
        return false;
    }
    erase_at(i);
    return true;
}

std::optional<UserRecord> Directory::find(std::string_view key) const
{
    if (cap_ == 0) {
        return std::nullopt;
    }
    std::size_t i = probe(key);
    if (!e_[i].used) {
        return std::nullopt;
    }
    return record(e_[i]);
}

std::vector<UserRecord> Directory::list() const
{
    std::vector<std::pair<std::uint64_t, std::size_t>> order;
    order.reserve(size());
    for (std::size_t i = 0; i < cap_ && order.size() < size(); i++) {
        if (e_[i].used) {
            order.emplace_back(e_[i].order, i);
        }
    }
    std::sort(order.begin(), order.end());

    std::vector<UserRecord> out;
    out.reserve(order.size());
    for (const auto& [o, i] : order) {
        out.push_back(record(e_[i]));
    }
    return out;
}

void Directory::copy(std::size_t from, std::size_t to,
                     std::vector<UserRecord>& out) const
{
    for (std::size_t i = from; i < cap_ && i < to; i++) {
        if (e_[i].used) {
            out.push_back(record(e_[i]));
        }
    }
}

std::vector<UserRecord> Directory::remove_slot(std::uint16_t slot,
                                               std::size_t from,
                                               std::size_t to)
{
    std::vector<UserRecord> gone;
    for (std::size_t i = from; i < cap_ && i < to;) {
        if (e_[i].used && e_[i].slot == slot) {
            gone.push_back(record(e_[i]));
            erase_at(i);
            continue;
        }
        i++;
    }
    return gone;
}

std::vector<UserRecord> Directory::away_slot_users(std::uint16_t slot,
                                                   std::uint64_t until,
                                                   std::size_t from,
                                                   std::size_t to)
{
    std::vector<UserRecord> away;
    for (std::size_t i = from; i < cap_ && i < to; i++) {
        if (e_[i].used && e_[i].slot == slot) {
            e_[i].slot = away_slot;
            e_[i].away_until = until;
            away.push_back(record(e_[i]));
        }
    }
    if (!away.empty()) {
        h_.dir_changes.fetch_add(1, std::memory_order_release);
    }
    return away;
}

std::optional<UserRecord> Directory::take_away(std::string_view key,
                                               std::uint64_t now) noexcept
{
    if (cap_ == 0) {
        return std::nullopt;
    }
    std::size_t i = probe(key);
    if (!e_[i].used || e_[i].slot != away_slot || e_[i].away_until > now) {
        return std::nullopt;
    }
    try {
        UserRecord u = record(e_[i]);
        erase_at(i);
        return u;
    } catch (...) {
        /* no memory for the copy: it stays, for the other workers that
           watch it to take (this one does not look again) */
        return std::nullopt;
    }
}

}  // namespace socketio::bus
