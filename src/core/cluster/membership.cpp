/*
 * cluster::Node, membership: a worker takes a slot in the zone, cleans up
 * after workers that died (their sessions, users and half-written record),
 * and gives its slot back when it departs and leaves.
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"

#include <string>

namespace socketio::cluster {

bool Node::join(std::int32_t pid, std::uint32_t generation,
                std::uint32_t index)
{
    if (joined()) {
        return true;
    }

    if (!claim(pid, generation, index)) {
        return false;
    }

    /*
     * a worker that starts is often the one nginx made to replace a dead
     * one: clean up after it, now that this one can tell the others
     */
    recover();
    return true;
}

bool Node::claim(std::int32_t pid, std::uint32_t generation,
                 std::uint32_t index)
{
    if (!take_slot(pid, generation, index)) {
        return false;
    }

    /* what the directory holds before this worker's cursor, it reads;
       what changes after, the log tells */
    if (users_ != nullptr) {
        users_->reload();
    }
    return true;
}

bool Node::take_slot(std::int32_t pid, std::uint32_t generation,
                     std::uint32_t index)
{
    bus::Guard g(zone_.header().lock);

    for (std::uint16_t i = 0; i < bus::max_slots; i++) {
        bus::Slot& s = zone_.slot(i);
        if (s.state.load(std::memory_order_acquire)
            != static_cast<std::uint32_t>(bus::SlotState::free)
            || !liveness_.take(s))
        {
            continue;
        }

        std::uint64_t head = log_.head();
        s.pid.store(pid, std::memory_order_relaxed);
        s.generation.store(generation, std::memory_order_relaxed);
        s.index.store(index, std::memory_order_relaxed);
        s.cursor.store(head, std::memory_order_relaxed);
        s.pin.store(head, std::memory_order_relaxed);
        s.replay_pin.store(bus::no_pin, std::memory_order_relaxed);
        s.scan_pin.store(bus::no_pin, std::memory_order_relaxed);
        s.writing.store(bus::no_pin, std::memory_order_relaxed);
        s.replays.store(0, std::memory_order_relaxed);
        s.wake_pending.store(0, std::memory_order_relaxed);
        /* a new worker: its counters start from nothing */
        bus::Stats& st = s.stats;
        for (auto* c : {&st.sessions, &st.polling, &st.websocket,
                        &st.handshakes, &st.events_in, &st.packets_out,
                        &st.bytes_in, &st.bytes_out, &st.broadcasts,
                        &st.forwarded, &st.migrated})
        {
            c->store(0, std::memory_order_relaxed);
        }
        for (auto& d : st.disconnects) {
            d.store(0, std::memory_order_relaxed);
        }
        s.state.store(static_cast<std::uint32_t>(bus::SlotState::alive),
                      std::memory_order_release);

        slot_ = i;
        generation_ = generation;
        cursor_ = head;
        seen_pressure_ = log_.pressure();
        return true;
    }

    return false;
}

void Node::depart()
{
    if (!joined() || departed_) {
        return;
    }
    departed_ = true;

    /* what waits here on other workers is answered as if it were done:
       clients ask again, and reach a worker that stays */
    release_pending();

    /* what sockets here still view of the log becomes theirs */
    copy_views_before(bus::no_pin);
    refs_.clear();

    /* someone else reads the other servers now: this record wakes them */
    std::uint32_t me = slot_ + 1u;
    zone_.header().reader.compare_exchange_strong(me, 0,
                                                  std::memory_order_acq_rel);

    /* what others wait for from here will not come: they answer it */
    send(bus::any_slot, records::SlotGone{slot_, engine_.now()});

    zone_.slot(slot_).state.store(
        static_cast<std::uint32_t>(bus::SlotState::departed),
        std::memory_order_release);
}

void Node::leave()
{
    if (!joined()) {
        return;
    }

    if (!departed_) {
        depart();
    }

    erase_slot(slot_);

    bus::Slot& me = zone_.slot(slot_);
    me.state.store(static_cast<std::uint32_t>(bus::SlotState::free),
                   std::memory_order_release);
    liveness_.give_back(me);

    slot_ = bus::any_slot;
}

/*
 * The sessions a slot held leave the table a part at a time, so that the
 * zone lock is never held for a scan. Entries that other workers' erases
 * shift back past the part already scanned are caught by another pass.
 */
std::size_t Node::erase_slot(std::uint16_t slot)
{
    constexpr std::size_t part = 256;
    std::size_t total = 0;

    for (int pass = 0; pass < 4; pass++) {
        std::size_t n = 0;
        std::size_t cap = bus::SessionTable(zone_).capacity();
        for (std::size_t at = 0; at < cap; at += part) {
            bus::Guard g(zone_.header().lock);
            n += bus::SessionTable(zone_).erase_slot(slot, at, at + part);
        }
        total += n;
        if (n == 0) {
            break;
        }
    }
    return total;
}

std::vector<bus::UserRecord> Node::remove_users(std::uint16_t slot)
{
    constexpr std::size_t part = 64;
    std::vector<bus::UserRecord> gone;

    for (int pass = 0; pass < 4; pass++) {
        std::size_t before = gone.size();
        std::size_t cap = bus::Directory(zone_).capacity();
        for (std::size_t at = 0; at < cap; at += part) {
            bus::Guard g(zone_.header().lock);
            auto some = bus::Directory(zone_).remove_slot(slot, at, at + part);
            gone.insert(gone.end(), some.begin(), some.end());
        }
        if (gone.size() == before) {
            break;
        }
    }
    return gone;
}

std::vector<bus::UserRecord> Node::away_users(std::uint16_t slot)
{
    constexpr std::size_t part = 64;
    std::uint64_t until = static_cast<std::uint64_t>(engine_.now() + away_grace());
    std::vector<bus::UserRecord> away;

    /* an entry only changes its slot: none moves, one pass sees all */
    std::size_t cap = bus::Directory(zone_).capacity();
    for (std::size_t at = 0; at < cap; at += part) {
        bus::Guard g(zone_.header().lock);
        auto some = bus::Directory(zone_).away_slot_users(slot, until, at,
                                                          at + part);
        away.insert(away.end(), some.begin(), some.end());
    }
    return away;
}

/*
 * One worker of the node reads the broadcasts of the other servers and
 * writes them into the log, for every worker to read in the log's order:
 * all sockets of the node get them in one order, among the node's own, and
 * a session moving between workers replays them like the node's own.
 * Were every worker to read Redis for its own sockets, one moving would
 * miss what its old worker read after letting it go and its new one
 * before taking it.
 */
bool Node::reads_cluster()
{
    if (!joined() || departed_) {
        return false;
    }

    bus::Header& h = zone_.header();
    const std::uint32_t me = slot_ + 1u;
    auto holder_alive = [&](std::uint32_t r) {
        return r != 0 && r <= bus::max_slots
               && zone_.slot(r - 1).state.load(std::memory_order_acquire)
                      == static_cast<std::uint32_t>(bus::SlotState::alive);
    };

    std::uint32_t r = h.reader.load(std::memory_order_acquire);
    if (r == me || holder_alive(r)) {
        return r == me;
    }

    bus::Guard g(h.lock);
    r = h.reader.load(std::memory_order_acquire);
    if (!holder_alive(r)) {
        h.reader.store(me, std::memory_order_release);
        return true;
    }
    return r == me;
}

/* A worker that died holds a slot: take its sessions and users out, and
   tell the others to let go of what waits on it. */
void Node::recover()
{
    std::vector<std::uint16_t> dead;

    for (std::uint16_t i = 0; i < bus::max_slots; i++) {
        if (i == slot_) {
            continue;
        }

        bus::Slot& s = zone_.slot(i);
        auto state = s.state.load(std::memory_order_acquire);
        if ((state != static_cast<std::uint32_t>(bus::SlotState::alive)
             && state != static_cast<std::uint32_t>(bus::SlotState::departed))
            || liveness_.alive(s))
        {
            continue;
        }

        /* one worker cleans up after it: the one that marks it dead */
        if (!s.state.compare_exchange_strong(
                state, static_cast<std::uint32_t>(bus::SlotState::dead),
                std::memory_order_acq_rel))
        {
            continue;
        }

        dead.push_back(i);
    }

    for (std::uint16_t i : dead) {
        bus::Slot& s = zone_.slot(i);

        /* what it was writing into the log when it died, nobody reads */
        log_.abandon(i);

        std::size_t n = erase_slot(i);
        /* with connection state recovery, its users' clients may come
           back to their sockets on another worker: kept for the grace,
           told (before slot_gone, which would drop them) */
        std::vector<bus::UserRecord> away;
        std::vector<bus::UserRecord> users;
        if (recovers()) {
            away = away_users(i);
        } else {
            users = remove_users(i);
        }

        s.replay_pin.store(bus::no_pin, std::memory_order_relaxed);
        s.scan_pin.store(bus::no_pin, std::memory_order_relaxed);
        s.state.store(static_cast<std::uint32_t>(bus::SlotState::free),
                      std::memory_order_release);

        log(util::LogLevel::warn, "worker slot " + std::to_string(i) + " (pid "
                   + std::to_string(s.pid.load()) + ") died: "
                   + std::to_string(n) + " sessions and "
                   + std::to_string(users.size()) + " users dropped"
                   + (away.empty() ? std::string()
                                   : ", " + std::to_string(away.size())
                                     + " users kept away for recovery"));

        for (const auto& u : away) {
            if (users_ != nullptr) {
                users_->user_put(u);
            }
            if (joined()) {
                user_put(u);
            }
        }
        slot_gone(i);
        if (joined()) {
            send(bus::any_slot, records::SlotGone{i, engine_.now()});
        }

        if (!users.empty()) {
            host_.users_gone(users);
        }
    }
}

/* A worker died or left: what waits on it here is let go. */
void Node::slot_gone(std::uint16_t slot)
{
    if (users_ != nullptr) {
        users_->slot_gone(slot);
    }
    end_requests_of(slot);
}

void Node::on(const records::SlotGone& m, const bus::Record& r)
{
    /* this worker's own news was acted on when it was sent */
    if (r.header->from != slot_) {
        slot_gone(m.slot);
    }
}

}  // namespace socketio::cluster
