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
    bus::UserRecord r{user.key, user.name, user.socket_id, node_.slot(), 0};
    std::optional<std::uint64_t> order;
    {
        bus::Guard g(node_.zone().header().lock);
        order = bus::Directory(node_.zone()).put(r);
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
            order_.erase(it->second.order);
            it = users_.erase(it);
            version_++;
        } else {
            ++it;
        }
    }
}

void SharedDirectory::apply_put(const bus::UserRecord& u)
{
    auto [it, added] = users_.try_emplace(u.key);
    Entry& e = it->second;
    if (!added) {
        order_.erase(e.order);
    }
    e.name = u.name;
    e.socket_id = u.socket_id;
    e.slot = u.slot;
    e.order = u.order;
    order_[u.order] = u.key;
    version_++;
}

void SharedDirectory::apply_remove(std::string_view key)
{
    auto it = users_.find(std::string(key));
    if (it == users_.end()) {
        return;
    }
    order_.erase(it->second.order);
    users_.erase(it);
    version_++;
}

}  // namespace socketio::cluster
