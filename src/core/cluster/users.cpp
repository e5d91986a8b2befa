/*
 * cluster::Node, the chat's users: a worker that changes the zone's
 * directory tells the others through the log, so that each keeps its own
 * copy (SharedDirectory) in the log's one order.
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"

#include "core/bus/directory.hpp"

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
                                         u.order, u.away_until});
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
    u.away_until = m.away_until;
    users_->user_put(u);
}

void Node::on(const records::UserRemoved& m, const bus::Record& r)
{
    if (r.header->from != slot_ && users_ != nullptr) {
        users_->user_removed(m.key);
    }
}

/*
 * Every worker watches the away users it knows of; the first to look
 * once a user's time is up takes it out of the zone's directory, under
 * the lock, and tells it gone. The others find it taken (or back, or
 * away again with a later time) and do nothing: so it holds whatever
 * became of the worker it left, across a reload or a kill -9, as long
 * as one worker lives. One lookup a user, never a scan under the lock.
 */
void Node::sweep_away(eio::Millis now)
{
    if (users_ == nullptr || !joined() || departed_) {
        return;
    }

    std::vector<bus::UserRecord> gone;
    for (const std::string& key : users_->away_due(now)) {
        std::optional<bus::UserRecord> u;
        {
            bus::Guard g(zone_.header().lock);
            u = bus::Directory(zone_).take_away(key, static_cast<std::uint64_t>(now));
        }
        if (!u) {
            continue;
        }
        users_->user_removed(key);
        gone.push_back(std::move(*u));
        user_removed(key);
    }

    if (!gone.empty()) {
        host_.users_gone(gone);
    }
}

eio::Millis Node::next_sweep() const
{
    if (users_ == nullptr || !joined() || departed_) {
        return eio::never;
    }
    return users_->next_away();
}

}  // namespace socketio::cluster
