#include "core/cluster/shared_directory.hpp"

#include "core/bus/directory.hpp"

namespace socketio::cluster {

SharedDirectory::SharedDirectory(Node& node) : node_(node)
{
    node_.listen_users(this);
}

SharedDirectory::~SharedDirectory()
{
    node_.listen_users(nullptr);
}

std::string SharedDirectory::new_key()
{
    std::uint64_t n = node_.zone().header().next_key.fetch_add(
                          1, std::memory_order_relaxed) + 1;
    return chat::key_from_counter(n);
}

void SharedDirectory::put(const chat::User& user)
{
    put_as(user, node_.slot(), 0, nullptr);
}

/*
 * A user away stays in the zone's directory under bus::away_slot, which
 * no worker's departure or death removes; every worker indexes it by its
 * time (away_) and Node::sweep_away() tells it gone when that is up.
 */
bool SharedDirectory::set_away(const chat::User& user)
{
    eio::Millis grace = node_.away_grace();
    if (grace <= 0) {
        return false;
    }
    put_as(user, bus::away_slot,
           static_cast<std::uint64_t>(node_.now() + grace), nullptr);
    return true;
}

/* Under the same lock as the sweep's take: either the sweep took it
   first (and tells it gone) or it is back here before. */
bool SharedDirectory::come_back(const chat::User& user)
{
    bool listed = false;
    put_as(user, node_.slot(), 0, &listed);
    return listed;
}

void SharedDirectory::put_as(const chat::User& user, std::uint16_t slot,
                             std::uint64_t away_until, bool* listed)
{
    bus::UserRecord r{user.key, user.name, user.socket_id, slot, 0,
                      away_until};
    std::optional<std::uint64_t> order;
    {
        bus::Guard g(node_.zone().header().lock);
        bus::Directory dir(node_.zone());
        if (listed != nullptr) {
            *listed = dir.find(user.key).has_value();
        }
        order = dir.put(r);
    }
    if (!order) {
        node_.zone().header().refused.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    r.order = *order;
    apply_put(r);
    node_.user_put(r);
}

void SharedDirectory::remove(std::string_view key)
{
    {
        bus::Guard g(node_.zone().header().lock);
        bus::Directory(node_.zone()).remove(key);
    }
    apply_remove(key);
    node_.user_removed(key);
}

std::optional<chat::User> SharedDirectory::find(std::string_view key) const
{
    auto it = users_.find(std::string(key));
    if (it == users_.end()) {
        return std::nullopt;
    }
    return chat::User{it->first, it->second.name, it->second.socket_id};
}

std::vector<chat::User> SharedDirectory::list() const
{
    std::vector<chat::User> out;
    out.reserve(order_.size());
    for (const auto& [order, key] : order_) {
        const Entry& e = users_.at(key);
        out.push_back(chat::User{key, e.name, e.socket_id});
    }
    return out;
}

std::size_t SharedDirectory::count() const
{
    return node_.zone().header().users.load(std::memory_order_relaxed);
}

/*
 * The zone's table, copied a part at a time (the lock held for one part
 * only); when the table changed meanwhile (its counter says), the copy
 * may have missed an entry that moved, and it is made again. A table
 * that never holds still for a whole copy gets one under the lock.
 */
void SharedDirectory::reload()
{
    constexpr std::size_t part = 64;
    bus::Zone& zone = node_.zone();
    bus::Header& h = zone.header();
    std::vector<bus::UserRecord> all;

    for (int attempt = 0;; attempt++) {
        all.clear();
        std::uint64_t before = h.dir_changes.load(std::memory_order_acquire);
        std::size_t cap = bus::Directory(zone).capacity();

        if (attempt == 8) {
            bus::Guard g(h.lock);
            bus::Directory(zone).copy(0, cap, all);
            break;
        }

        for (std::size_t at = 0; at < cap; at += part) {
            bus::Guard g(h.lock);
            bus::Directory(zone).copy(at, at + part, all);
        }

        if (h.dir_changes.load(std::memory_order_acquire) == before) {
            break;
        }
    }

    users_.clear();
    order_.clear();
    away_.clear();
    for (const auto& u : all) {
        apply_put(u);
    }
    version_++;
}

void SharedDirectory::user_put(const bus::UserRecord& u)
{
    apply_put(u);
}

void SharedDirectory::user_removed(std::string_view key)
{
    apply_remove(key);
}

void SharedDirectory::slot_gone(std::uint16_t slot)
{
    for (auto it = users_.begin(); it != users_.end();) {
        if (it->second.slot == slot) {
            auto next = std::next(it);
            erase(it);
            it = next;
        } else {
            ++it;
        }
    }
}

std::vector<std::string> SharedDirectory::away_due(eio::Millis now)
{
    std::vector<std::string> due;
    while (!away_.empty()
           && away_.begin()->first <= static_cast<std::uint64_t>(now))
    {
        due.push_back(std::move(away_.begin()->second));
        away_.erase(away_.begin());
    }
    return due;
}

eio::Millis SharedDirectory::next_away() const
{
    return away_.empty() ? eio::never
                         : static_cast<eio::Millis>(away_.begin()->first);
}

void SharedDirectory::apply_put(const bus::UserRecord& u)
{
    auto [it, added] = users_.try_emplace(u.key);
    Entry& e = it->second;
    if (!added) {
        order_.erase(e.order);
        if (e.slot == bus::away_slot) {
            away_.erase({e.away_until, u.key});
        }
    }
    e.name = u.name;
    e.socket_id = u.socket_id;
    e.slot = u.slot;
    e.order = u.order;
    e.away_until = u.slot == bus::away_slot ? u.away_until : 0;
    order_[u.order] = u.key;
    if (e.slot == bus::away_slot) {
        away_.emplace(e.away_until, u.key);
    }
    version_++;
}

void SharedDirectory::apply_remove(std::string_view key)
{
    auto it = users_.find(std::string(key));
    if (it != users_.end()) {
        erase(it);
    }
}

void SharedDirectory::erase(
    std::unordered_map<std::string, Entry>::iterator it)
{
    order_.erase(it->second.order);
    if (it->second.slot == bus::away_slot) {
        away_.erase({it->second.away_until, it->first});
    }
    users_.erase(it);
    version_++;
}

}  // namespace socketio::cluster
