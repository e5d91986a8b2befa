/*
 * cluster::Node, connection state recovery (sio/recovery.hpp) over the
 * zone: the log is the store. With recovery on it keeps its history (the
 * tail moves only as far as new records need), every recoverable packet
 * is a broadcast record there (a socket's private emits go to its own
 * room), its offset the record's id, and a socket is a `persist` record:
 * live when it connects or changes, not live when its connection went.
 * Whichever worker the client comes back to, after a reload or a worker's
 * death too, reads the history: the socket's latest persist record not
 * followed by a `forget`, the record of its offset, and the broadcasts
 * after it that the socket's rooms select. A live record counts as gone
 * from when its worker was found dead (the `slot_gone` after it). Nothing
 * is kept per socket but those records; the window and the zone's size
 * bound how far back a recovery reaches.
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"

#include <algorithm>

namespace socketio::cluster {

namespace {

bool any_in(const StringList& list, const std::vector<std::string>& rooms)
{
    for (std::string_view r : list) {
        if (std::find(rooms.begin(), rooms.end(), r) != rooms.end()) {
            return true;
        }
    }
    return false;
}

/* The adapter's rule (sio::LocalAdapter::select), for a socket that is
   in no adapter while it is away. */
bool selects(const records::Broadcast& m,
             const std::vector<std::string>& rooms)
{
    return (m.rooms.empty() || any_in(m.rooms, rooms))
           && !any_in(m.except, rooms);
}

/* The history stays pinned for as long as a recovery reads it. */
class HistoryHold {
public:
    HistoryHold(bus::Log& log, bus::Slot& slot) noexcept
        : log_(log), slot_(slot), from_(log.hold_history(slot)) {}
    ~HistoryHold() { log_.release_history(slot_); }
    HistoryHold(const HistoryHold&) = delete;
    HistoryHold& operator=(const HistoryHold&) = delete;

    std::uint64_t from() const noexcept { return from_; }

private:
    bus::Log& log_;
    bus::Slot& slot_;
    std::uint64_t from_;
};

}  // namespace

void Node::on(const records::Persist& m, const bus::Record& r)
{
    if (!kept_built_) {
        return;          /* built from the history when first needed */
    }
    kept_[std::string(m.pid)] = r.pos;

    /* entries whose record has left the history go, now and then: the
       index never outgrows what the log holds */
    if (++kept_puts_ % 1024 == 0) {
        std::uint64_t tail = log_.tail();
        for (auto it = kept_.begin(); it != kept_.end();) {
            it = it->second < tail ? kept_.erase(it) : std::next(it);
        }
    }
}

void Node::on(const records::Forget& m, const bus::Record&)
{
    if (kept_built_) {
        kept_.erase(std::string(m.pid));
    }
}

void Node::build_kept(std::uint64_t from)
{
    for (std::uint64_t pos = from; pos < cursor_;) {
        const bus::Record r = log_.read(pos);
        if (r.writing) {
            break;
        }
        pos = r.next;
        auto type = static_cast<Rec>(r.header->type);
        if (type == Rec::persist) {
            if (auto m = records::Persist::decode(r.body)) {
                kept_[std::string(m->pid)] = r.pos;
            }
        } else if (type == Rec::forget) {
            if (auto m = records::Forget::decode(r.body)) {
                kept_.erase(std::string(m->pid));
            }
        }
    }
    kept_built_ = true;
}

std::optional<std::uint64_t> Node::kept_at(std::string_view pid,
                                           std::uint64_t from,
                                           std::uint64_t end)
{
    std::optional<std::uint64_t> at;
    if (auto it = kept_.find(std::string(pid)); it != kept_.end()) {
        at = it->second;
    }

    /* what other workers wrote and this one has not read yet */
    for (std::uint64_t pos = std::max(cursor_, from); pos < end;) {
        const bus::Record r = log_.read(pos);
        if (r.writing || r.pos >= end) {
            break;
        }
        pos = r.next;
        auto type = static_cast<Rec>(r.header->type);
        if (type == Rec::persist) {
            auto m = records::Persist::decode(r.body);
            if (m && m->pid == pid) {
                at = r.pos;
            }
        } else if (type == Rec::forget) {
            auto m = records::Forget::decode(r.body);
            if (m && m->pid == pid) {
                at.reset();
            }
        }
    }

    if (at && *at < from) {
        at.reset();          /* gone from the history */
    }
    return at;
}

bool Node::owner_lives(std::uint16_t owner, std::uint32_t generation,
                       std::int32_t process)
{
    bus::Slot& s = zone_.slot(owner);
    return s.state.load(std::memory_order_acquire)
               == static_cast<std::uint32_t>(bus::SlotState::alive)
           && s.generation.load(std::memory_order_relaxed) == generation
           && s.pid.load(std::memory_order_relaxed) == process
           && (owner == slot_ || liveness_.alive(s));
}

void Node::enable_recovery(eio::Millis window)
{
    recovery_window_ = window;
    log_.retain(window > 0);
}

void Node::persist(std::string_view pid, std::uint64_t floor,
                   std::string_view nsp, const std::vector<std::string>& rooms,
                   std::string_view socket, bool live)
{
    if (!joined() || departed_ || !recovers()) {
        return;
    }
    Body body;
    records::Persist::encode(
        body, pid, engine_.now(), floor, slot_, generation_,
        zone_.slot(slot_).pid.load(std::memory_order_relaxed), live, nsp,
        rooms, socket);
    publish(bus::any_slot, Rec::persist, body);
    if (auto* st = stats(); st != nullptr && !live) {
        st->persisted.fetch_add(1, std::memory_order_relaxed);
    }
}

void Node::forget_kept(std::string_view pid)
{
    if (!joined() || departed_ || !recovers()) {
        return;
    }
    send(bus::any_slot, records::Forget{pid});
}

std::variant<sio::Kept, sio::Refusal> Node::restore(
    std::string_view nsp, std::string_view pid,
    std::optional<std::uint64_t> offset, std::size_t max_bytes)
{
    if (!joined() || departed_ || !recovers()) {
        return sio::Refusal::unknown_pid;
    }

    HistoryHold hold(log_, zone_.slot(slot_));
    const std::uint64_t end = log_.head();

    /*
     * The index answers first, so that a pid nobody kept (forged, stale)
     * or one whose socket is connected costs no scan of the history: only
     * a socket that is really away is looked for record by record.
     */
    if (!kept_built_) {
        build_kept(hold.from());
    }
    std::optional<std::uint64_t> at = kept_at(pid, hold.from(), end);
    if (!at) {
        return sio::Refusal::unknown_pid;
    }
    if (auto m = records::Persist::decode(log_.read(*at).body);
        m && m->live != 0
        && owner_lives(m->owner, m->generation, m->process))
    {
        return sio::Refusal::in_use;
    }

    /* the socket as last kept, and where its offset is */
    struct Found {
        std::string socket;
        std::vector<std::string> rooms;
        std::int64_t at = 0;
        std::uint64_t floor = 0;
        std::uint16_t owner = 0;
        std::uint32_t generation = 0;
        std::int32_t process = 0;
        bool live = false;
        bool other_nsp = false;
    };
    std::optional<Found> kept;
    std::optional<std::uint64_t> after;

    for (std::uint64_t pos = hold.from(); pos < end;) {
        const bus::Record r = log_.read(pos);
        if (r.writing || r.pos >= end) {
            break;
        }
        pos = r.next;

        switch (static_cast<Rec>(r.header->type)) {
        case Rec::persist: {
            auto m = records::Persist::decode(r.body);
            if (m && m->pid == pid) {
                Found f;
                f.socket = std::string(m->socket);
                f.rooms = m->rooms.to_strings();
                f.at = m->at;
                f.floor = m->floor;
                f.owner = m->owner;
                f.generation = m->generation;
                f.process = m->process;
                f.live = m->live != 0;
                f.other_nsp = m->nsp != nsp;
                kept = std::move(f);
            }
            break;
        }
        case Rec::slot_gone: {
            /* the worker of a live socket died (or left): gone from then */
            auto m = records::SlotGone::decode(r.body);
            if (m && kept && kept->live && m->slot == kept->owner) {
                kept->live = false;
                kept->at = m->at;
            }
            break;
        }
        case Rec::forget: {
            auto m = records::Forget::decode(r.body);
            if (m && m->pid == pid) {
                kept.reset();
            }
            break;
        }
        case Rec::broadcast:
            if (offset && !after
                && records::Broadcast::peek_offset(r.body) == *offset)
            {
                after = r.next;
            }
            break;
        default:
            break;
        }
    }

    if (!kept) {
        return sio::Refusal::unknown_pid;
    }
    if (kept->other_nsp) {
        return sio::Refusal::other_namespace;
    }
    if (kept->live) {
        /* its worker lives: the socket is connected still (its client
           came back before the old connection was seen to go). Else the
           worker died and nobody has said so yet: gone from now */
        if (owner_lives(kept->owner, kept->generation, kept->process)) {
            return sio::Refusal::in_use;
        }
        kept->at = engine_.now();
    }
    if (engine_.now() - kept->at > recovery_window_) {
        return sio::Refusal::expired;
    }

    /* with no offset (no event ever reached it), from where it started */
    std::uint64_t start;
    if (offset) {
        if (!after) {
            return sio::Refusal::offset_gone;
        }
        start = *after;
    } else {
        if (kept->floor < hold.from()) {
            return sio::Refusal::offset_gone;
        }
        start = kept->floor;
    }

    /*
     * What this worker has read already the socket missed, and gets now;
     * what it has not read yet it delivers live to the socket, back in its
     * rooms by then, from where the client's offset is.
     */
    sio::Kept out;
    out.socket = std::move(kept->socket);
    out.live_from = std::max(start, cursor_);
    std::size_t bytes = 0;

    for (std::uint64_t pos = start; pos < std::min(cursor_, end);) {
        const bus::Record r = log_.read(pos);
        if (r.writing || r.pos >= end) {
            break;
        }
        pos = r.next;
        if (static_cast<Rec>(r.header->type) != Rec::broadcast
            || records::Broadcast::peek_offset(r.body) == 0)
        {
            continue;
        }
        auto m = records::Broadcast::decode(r.body);
        if (!m || m->nsp != nsp || !selects(*m, kept->rooms)) {
            continue;
        }
        for (std::string_view frame : m->frames) {
            bytes += frame.size();
            if (bytes > max_bytes) {
                return sio::Refusal::too_much_missed;
            }
            /* a copy: the history may move once the hold is gone */
            auto e = eio::Encoded::view(frame, std::make_shared<int>(0));
            e->materialize();
            out.missed.push_back(std::move(e));
        }
    }

    /* restored once: the pid brings back nothing more until it is kept
       again */
    send(bus::any_slot, records::Forget{pid});
    return out;
}

}  // namespace socketio::cluster
