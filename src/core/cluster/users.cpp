/*
 * cluster::Node, the chat's users: a worker that changes the zone's
 * directory tells the others through the log, so that each keeps its own
 * copy (SharedDirectory) in the log's one order.
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"

namespace socketio::cluster {

void Node::listen_users(UserListener* listener)
{
    users_ = listener;
    if (users_ != nullptr && joined()) {
        users_->reload();
    }
}

void Node::user_put(const bus::UserRecord& u)
{
    send(bus::any_slot, records::UserPut{u.key, u.name, u.socket_id, u.slot,
                                         u.order});
}

void Node::user_removed(std::string_view key)
{
    send(bus::any_slot, records::UserRemoved{key});
}

/* this worker's own changes were applied when it made them */

void Node::on(const records::UserPut& m, const bus::Record& r)
{
    if (r.header->from == slot_ || users_ == nullptr) {
        return;
    }
    bus::UserRecord u;
    u.key = m.key;
    u.name = m.name;
    u.socket_id = m.socket_id;
    u.slot = m.slot;
    u.order = m.order;
    users_->user_put(u);
}

void Node::on(const records::UserRemoved& m, const bus::Record& r)
{
    if (r.header->from != slot_ && users_ != nullptr) {
        users_->user_removed(m.key);
    }
}

}  // namespace socketio::cluster
