/*
 * The Socket.IO adapter of a worker that is a member of a cluster over
 * Redis: rooms and this node's workers are the shared-memory adapter's
 * (cluster::SharedAdapter); a broadcast also goes to the other servers
 * through the member (redis::Member::publish). What comes from the other
 * servers the member hands to this worker's sockets itself, through
 * for_each(), never through broadcast(): nothing goes round twice.
 */
#pragma once

#include "core/redis/member.hpp"
#include "core/sio/adapter.hpp"

#include <memory>
#include <string>

namespace socketio::redis {

class Adapter final : public sio::Adapter {
public:
    Adapter(std::unique_ptr<sio::Adapter> node, Member& member,
            std::string nsp)
        : node_(std::move(node)), member_(member), nsp_(std::move(nsp)) {}

    void add(sio::Socket& s, std::string_view room) override
    {
        node_->add(s, room);
    }
    void remove(sio::Socket& s, std::string_view room) override
    {
        node_->remove(s, room);
    }
    void remove_all(sio::Socket& s) override { node_->remove_all(s); }

    void broadcast(const std::vector<eio::EncodedPtr>& packets,
                   const sio::BroadcastOptions& opts) override
    {
        node_->broadcast(packets, opts);
        if (!opts.local) {
            member_.publish(nsp_, packets, opts);
        }
    }

    void for_each(const sio::BroadcastOptions& opts,
                  const std::function<void(sio::Socket&)>& fn) override
    {
        node_->for_each(opts, fn);
    }
    /* through the zone's log: every worker's sockets, in the log's order
       (the member that reads Redis is one worker of the node) */
    void deliver_remote(const std::vector<eio::EncodedPtr>& packets,
                        const sio::BroadcastOptions& opts) override
    {
        node_->broadcast(packets, opts);
    }
    std::size_t size() const override { return node_->size(); }
    std::vector<std::string> rooms_of(const sio::Socket& s) const override
    {
        return node_->rooms_of(s);
    }

private:
    std::unique_ptr<sio::Adapter> node_;
    Member& member_;
    std::string nsp_;
};

}  // namespace socketio::redis
