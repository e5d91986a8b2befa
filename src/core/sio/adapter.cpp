#include "core/sio/adapter.hpp"

#include "core/eio/session.hpp"
#include "core/sio/socket.hpp"

#include <algorithm>

namespace socketio::sio {

bool LocalAdapter::own_room(const Socket& socket, std::string_view room) const
{
    return room == socket.id();
}

void LocalAdapter::add(Socket& socket, std::string_view room)
{
    auto& rooms = sockets_[&socket];

    if (own_room(socket, room)) {
        by_id_[socket.id()] = &socket;
        return;
    }
    if (std::find(rooms.begin(), rooms.end(), room) != rooms.end()) {
        return;
    }
    rooms.emplace_back(room);
    rooms_[std::string(room)].insert(&socket);
}

void LocalAdapter::remove(Socket& socket, std::string_view room)
{
    if (own_room(socket, room)) {
        by_id_.erase(socket.id());
        return;
    }
    auto it = rooms_.find(std::string(room));
    if (it != rooms_.end()) {
        it->second.erase(&socket);
        if (it->second.empty()) {
            rooms_.erase(it);
        }
    }
    auto s = sockets_.find(&socket);
    if (s != sockets_.end()) {
        auto& rooms = s->second;
        rooms.erase(std::remove(rooms.begin(), rooms.end(), room),
                    rooms.end());
    }
}

void LocalAdapter::remove_all(Socket& socket)
{
    by_id_.erase(socket.id());
    auto s = sockets_.find(&socket);
    if (s == sockets_.end()) {
        return;
    }
    for (const std::string& r : s->second) {
        auto it = rooms_.find(r);
        if (it != rooms_.end()) {
            it->second.erase(&socket);
            if (it->second.empty()) {
                rooms_.erase(it);
            }
        }
    }
    sockets_.erase(s);
}

std::vector<std::string> LocalAdapter::rooms_of(const Socket& socket) const
{
    std::vector<std::string> out;
    if (by_id_.count(socket.id()) != 0) {
        out.push_back(socket.id());
    }
    auto it = sockets_.find(const_cast<Socket*>(&socket));
    if (it != sockets_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
    }
    return out;
}

std::vector<Socket*> LocalAdapter::select(const BroadcastOptions& opts) const
{
    /* the sockets in a room: a socket's own id's, or a named one */
    auto each_in = [&](const std::string& room, auto&& fn) {
        auto id = by_id_.find(room);
        if (id != by_id_.end()) {
            fn(id->second);
        }
        auto it = rooms_.find(room);
        if (it != rooms_.end()) {
            for (Socket* s : it->second) {
                fn(s);
            }
        }
    };

    /*
     * A broadcast runs for every post: the sockets skipped are mostly
     * the sender's own room, one socket, so a sorted vector serves where
     * a hash set would allocate a node per socket.
     */
    std::vector<Socket*> skip;
    for (const std::string& r : opts.except) {
        each_in(r, [&](Socket* s) { skip.push_back(s); });
    }
    std::sort(skip.begin(), skip.end());
    auto skipped = [&](Socket* s) {
        return !skip.empty() && std::binary_search(skip.begin(), skip.end(), s);
    };

    std::vector<Socket*> out;

    if (opts.rooms.empty()) {
        out.reserve(sockets_.size());
        for (const auto& [socket, rooms] : sockets_) {
            if (!skipped(socket)) {
                out.push_back(socket);
            }
        }
        return out;
    }

    if (opts.rooms.size() == 1) {
        /* one room holds each socket once */
        auto it = rooms_.find(opts.rooms.front());
        out.reserve(it != rooms_.end() ? it->second.size() : 1);
        each_in(opts.rooms.front(), [&](Socket* s) {
            if (!skipped(s)) {
                out.push_back(s);
            }
        });
        return out;
    }

    /* a socket in several of the rooms still gets the packet once */
    std::unordered_set<Socket*> seen;
    for (const std::string& r : opts.rooms) {
        each_in(r, [&](Socket* s) {
            if (!skipped(s) && seen.insert(s).second) {
                out.push_back(s);
            }
        });
    }
    return out;
}

void LocalAdapter::broadcast(const std::vector<eio::EncodedPtr>& packets,
                             const BroadcastOptions& opts)
{
    for (Socket* socket : select(opts)) {
        for (const auto& p : packets) {
            socket->session().send(p);
        }
    }
}

void LocalAdapter::for_each(const BroadcastOptions& opts,
                            const std::function<void(Socket&)>& fn)
{
    for (Socket* socket : select(opts)) {
        fn(*socket);
    }
}

void Adapter::deliver_remote(const std::vector<eio::EncodedPtr>& packets,
                             const BroadcastOptions& opts)
{
    for_each(opts, [&](Socket& s) {
        for (const auto& p : packets) {
            s.session().send(p);
        }
    });
}

}  // namespace socketio::sio
