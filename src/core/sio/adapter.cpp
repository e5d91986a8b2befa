#include "core/sio/adapter.hpp"

#include "core/eio/session.hpp"
#include "core/sio/socket.hpp"

namespace socketio::sio {

void LocalAdapter::add(Socket& socket, std::string_view room)
{
    std::string r(room);
    rooms_[r].insert(&socket);
    sockets_[&socket].insert(std::move(r));
}

void LocalAdapter::remove(Socket& socket, std::string_view room)
{
    std::string r(room);
    auto it = rooms_.find(r);
    if (it != rooms_.end()) {
        it->second.erase(&socket);
        if (it->second.empty()) {
            rooms_.erase(it);
        }
    }
    auto s = sockets_.find(&socket);
    if (s != sockets_.end()) {
        s->second.erase(r);
    }
}

void LocalAdapter::remove_all(Socket& socket)
{
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

std::vector<Socket*> LocalAdapter::select(const BroadcastOptions& opts) const
{
    std::unordered_set<Socket*> skip;
    for (const std::string& r : opts.except) {
        auto it = rooms_.find(r);
        if (it != rooms_.end()) {
            skip.insert(it->second.begin(), it->second.end());
        }
    }

    std::vector<Socket*> out;

    if (opts.rooms.empty()) {
        out.reserve(sockets_.size());
        for (const auto& [socket, rooms] : sockets_) {
            if (skip.count(socket) == 0) {
                out.push_back(socket);
            }
        }
        return out;
    }

    /* a socket in several of the rooms still gets the packet once */
    std::unordered_set<Socket*> seen;
    for (const std::string& r : opts.rooms) {
        auto it = rooms_.find(r);
        if (it == rooms_.end()) {
            continue;
        }
        for (Socket* socket : it->second) {
            if (skip.count(socket) == 0 && seen.insert(socket).second) {
                out.push_back(socket);
            }
        }
    }
    return out;
}

std::vector<std::string> LocalAdapter::rooms_of(const Socket& socket) const
{
    std::vector<std::string> out;
    auto it = sockets_.find(const_cast<Socket*>(&socket));
    if (it != sockets_.end()) {
        out.assign(it->second.begin(), it->second.end());
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

}  // namespace socketio::sio
