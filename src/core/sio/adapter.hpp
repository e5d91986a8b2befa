/*
 * Broadcasting, as the reference server's socket.io-adapter shapes it:
 * sockets in rooms (each in the room named by its own id), and a broadcast
 * to the union of some rooms minus others. Handlers never loop over
 * sockets: they hand the adapter a packet encoded once. This in-process
 * adapter is the first of several (shared memory, Redis) behind one
 * interface.
 */
#pragma once

#include "core/eio/packet.hpp"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace socketio::sio {

class Socket;

struct BroadcastOptions {
    std::vector<std::string> rooms;     /* empty: the whole namespace */
    std::vector<std::string> except;    /* rooms whose sockets are skipped */
    /* for this server's sockets only, never for other servers (a
       socket's private emit that goes through the log to be kept for
       its recovery) */
    bool local = false;
};

class Adapter {
public:
    virtual ~Adapter() = default;

    virtual void add(Socket& socket, std::string_view room) = 0;
    virtual void remove(Socket& socket, std::string_view room) = 0;
    virtual void remove_all(Socket& socket) = 0;

    /* Sends these packets (one Socket.IO packet, attachments included)
       to every socket selected, each exactly once. */
    virtual void broadcast(const std::vector<eio::EncodedPtr>& packets,
                           const BroadcastOptions& opts) = 0;

    /* This process's sockets that broadcast() would select, for handlers
       that look up one user (a private message by key) and for the
       cluster node, which delivers a broadcast read from the zone's log
       to the sockets of its own worker. */
    virtual void for_each(const BroadcastOptions& opts,
                          const std::function<void(Socket&)>& fn) = 0;

    virtual std::size_t size() const = 0;

    /* A broadcast another server made (read from Redis): to every socket
       selected here, and to no other server. Over one process's sockets
       it is for_each(); a node of several workers logs it for all. */
    virtual void deliver_remote(const std::vector<eio::EncodedPtr>& packets,
                                const BroadcastOptions& opts);

    /* The rooms a socket is in (to carry it to another worker). */
    virtual std::vector<std::string> rooms_of(const Socket& socket) const = 0;
};

class LocalAdapter final : public Adapter {
public:
    void add(Socket& socket, std::string_view room) override;
    void remove(Socket& socket, std::string_view room) override;
    void remove_all(Socket& socket) override;
    void broadcast(const std::vector<eio::EncodedPtr>& packets,
                   const BroadcastOptions& opts) override;
    void for_each(const BroadcastOptions& opts,
                  const std::function<void(Socket&)>& fn) override;
    std::size_t size() const override { return sockets_.size(); }

    /* The sockets a broadcast with these options reaches, each once. */
    std::vector<Socket*> select(const BroadcastOptions& opts) const;
    std::vector<std::string> rooms_of(const Socket& socket) const override;

private:
    /* every socket is in the room of its own id: kept apart, as a map
       from the id to the socket, that costs no set of its own */
    bool own_room(const Socket& socket, std::string_view room) const;

    std::unordered_map<std::string, std::unordered_set<Socket*>> rooms_;
    std::unordered_map<Socket*, std::vector<std::string>> sockets_;
    std::unordered_map<std::string_view, Socket*> by_id_;
};

}  // namespace socketio::sio
