#include "core/cluster/shared_directory.hpp"

#include "core/bus/directory.hpp"

namespace socketio::cluster {

namespace {

chat::User to_user(const bus::UserRecord& r)
{
    return chat::User{r.key, r.name, r.socket_id};
}

}  // namespace

std::string SharedDirectory::new_key()
{
    std::uint64_t n = node_.zone().header().next_key.fetch_add(
                          1, std::memory_order_relaxed) + 1;
    return chat::key_from_counter(n);
}

void SharedDirectory::put(const chat::User& user)
{
    bus::UserRecord r{user.key, user.name, user.socket_id, node_.slot()};
    bool ok;
    {
        bus::Guard g(node_.zone().header().lock, tag(), node_.liveness());
        ok = bus::Directory(node_.zone()).put(r);
    }
    if (!ok) {
        node_.zone().header().refused.fetch_add(1, std::memory_order_relaxed);
    }
}

void SharedDirectory::remove(std::string_view key)
{
    bus::Guard g(node_.zone().header().lock, tag(), node_.liveness());
    bus::Directory(node_.zone()).remove(key);
}

std::optional<chat::User> SharedDirectory::find(std::string_view key) const
{
    bus::Guard g(node_.zone().header().lock, tag(), node_.liveness());
    auto r = bus::Directory(node_.zone()).find(key);
    if (!r) {
        return std::nullopt;
    }
    return to_user(*r);
}

std::vector<chat::User> SharedDirectory::list() const
{
    std::vector<bus::UserRecord> records;
    {
        bus::Guard g(node_.zone().header().lock, tag(), node_.liveness());
        records = bus::Directory(node_.zone()).list();
    }
    std::vector<chat::User> out;
    out.reserve(records.size());
    for (const auto& r : records) {
        out.push_back(to_user(r));
    }
    return out;
}

std::size_t SharedDirectory::count() const
{
    return node_.zone().header().users.load(std::memory_order_relaxed);
}

}  // namespace socketio::cluster
