/*
 * cluster::Node, moving sessions: a polling session that upgrades to a
 * WebSocket held by another worker moves there (its endpoint's state in a
 * migrate record), so that a WebSocket session's traffic never crosses
 * workers. The new owner replays the broadcasts the old one had not read
 * when it let go; the old one keeps the state until the table says the
 * move arrived, and closes the session properly when it never does.
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"
#include "core/ws/frame.hpp"

#include <algorithm>

namespace socketio::cluster {

namespace {

/* A link for a session that arrives after its WebSocket left. */
class DeadLink final : public eio::WebSocketLink {
public:
    void send(const std::vector<eio::EncodedPtr>&) override {}
    void close(std::uint16_t, std::string_view) override {}
    std::size_t backlog() const noexcept override { return 0; }
};

DeadLink dead_link;

/* A replay a migration asked of `slot` is over (or never comes): the
   last one lets the log go. */
void replay_done(bus::Zone& zone, std::uint16_t slot) noexcept
{
    bus::Guard g(zone.header().lock);
    bus::Slot& dst = zone.slot(slot);
    if (dst.replays.fetch_sub(1, std::memory_order_relaxed) == 1) {
        dst.replay_pin.store(bus::no_pin, std::memory_order_release);
    }
}

}  // namespace

void Node::move_upgraded()
{
    for (auto it = wss_.begin(); it != wss_.end();) {
        WsProxy& proxy = *it->second;
        eio::Session* s = engine_.find(proxy.sid());
        /* upgraded to a WebSocket that another worker holds, nothing
           left for the engine to hand it here, and no answer on its way
           to it */
        if (s != nullptr && s->state() == eio::Session::State::open
            && s->websocket() == &proxy && !s->flush_due() && !s->held())
        {
            /* the proxy goes once the session has: should the move fail
               (memory), both stay, and it is tried again */
            migrate(*s, proxy);
            it = wss_.erase(it);
            continue;
        }
        ++it;
    }
}

/* What can fail (memory) comes before the record goes, and changes
   nothing; from the record on, nothing throws. */
void Node::migrate(eio::Session& s, WsProxy& proxy)
{
    std::uint16_t to = proxy.origin();
    /* what this worker has not read yet, the new owner replays */
    std::uint64_t from = cursor_;

    InFlight flight{s.sid(), to, s.endpoint().save(), engine_.now()};
    in_flight_.reserve(in_flight_.size() + 1);

    {
        bus::Guard g(zone_.header().lock);
        bus::Slot& dst = zone_.slot(to);
        dst.replays.fetch_add(1, std::memory_order_relaxed);
        std::uint64_t pin = dst.replay_pin.load(std::memory_order_relaxed);
        dst.replay_pin.store(std::min(pin, from), std::memory_order_release);
    }

    try {
        send(to, records::Migrate{s.sid(), proxy.token(), from, flight.state});
    } catch (...) {
        replay_done(zone_, to);
        throw;
    }

    /* kept until the other worker has it: it may leave or die first */
    in_flight_.push_back(std::move(flight));

    if (auto* st = stats()) {
        st->migrated.fetch_add(1, std::memory_order_relaxed);
        st->sessions.fetch_sub(1, std::memory_order_relaxed);
        st->websocket.fetch_sub(1, std::memory_order_relaxed);
    }

    /* it lives on over there: no close, no disconnect */
    engine_.release(s);
}

void Node::on(const records::Migrate& m, const bus::Record& r)
{
    /* the sender raised our replay count; it comes down however this
       ends (out of memory included), or the pin would hold the log */
    struct ReplayDone {
        bus::Zone& zone;
        std::uint16_t slot;
        ~ReplayDone() { replay_done(zone, slot); }
    } done{zone_, slot_};

    std::string sid(m.sid);

    RemoteWs* ws = nullptr;
    auto it = pending_.find(m.token);
    if (it != pending_.end() && it->second->ws != nullptr) {
        ws = it->second->ws;
        pending_.erase(it);
    }

    eio::WebSocketLink& link = ws ? ws->link() : dead_link;
    eio::Session* adopted = nullptr;

    try {
        eio::Session& s = engine_.adopt(sid, link, engine_.now());
        adopted = &s;
        s.endpoint().restore(m.state);

        {
            bus::Guard g(zone_.header().lock);
            bus::SessionTable table(zone_);
            if (!table.set(sid, bus::Owner{slot_, generation_})) {
                table.insert(sid, bus::Owner{slot_, generation_});
            }
        }

        /* broadcasts the old owner had not read when it let go (one that
           does not decode was dropped, and logged, when this worker first
           read it); the replay pin kept them: a position outside that is
           not read */
        std::uint64_t replay_from = m.from;
        if (replay_from > r.pos || replay_from < log_.tail()) {
            log(util::LogLevel::warn, "a session moved here with a replay position outside "
                   "the log: nothing replayed");
            replay_from = r.pos;
        }
        for (std::uint64_t pos = replay_from; pos < r.pos;) {
            bus::Record rec = log_.read(pos);
            if (rec.pos >= r.pos) {
                break;
            }
            if (static_cast<Rec>(rec.header->type) == Rec::broadcast) {
                if (auto b = records::Broadcast::decode(rec.body)) {
                    deliver(*b, rec, &s);
                }
            }
            pos = rec.next;
        }

    } catch (...) {
        /* out of memory half way: the session already points to the link,
           which does not know it yet and would go without telling it; both
           end here, the client with a close it can act on */
        if (adopted != nullptr) {
            try {
                adopted->on_ws_gone(link, engine_.now());
            } catch (...) {
                /* it let go of the link first; its close is its own */
            }
        }
        if (ws != nullptr) {
            ws->close(socketio::ws::close_code::internal_error,
                      "internal error");
        }
        throw;
    }

    if (ws == nullptr) {
        /* its WebSocket closed on the way: it ends here */
        adopted->on_ws_gone(dead_link, engine_.now());
        return;
    }
    ws->adopted(*adopted);
}

/*
 * Sessions sent to another worker: done when the table says it has them
 * (or has let them go since); back here, to be closed properly, when that
 * worker left or died before it read them.
 */
void Node::check_in_flight()
{
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
        std::optional<bus::Owner> owner;
        {
            bus::Guard g(zone_.header().lock);
            owner = bus::SessionTable(zone_).find(it->sid);
        }

        if (!owner || owner->slot != slot_) {
            it = in_flight_.erase(it);
            continue;
        }

        auto state = static_cast<bus::SlotState>(
            zone_.slot(it->to).state.load(std::memory_order_acquire));
        bool lost = state != bus::SlotState::alive
                    || !liveness_.alive(zone_.slot(it->to));

        if (!lost && engine_.now() - it->since < 10000) {
            ++it;
            continue;
        }

        /* it never arrived: it ends here, and its handlers say so */
        InFlight f = std::move(*it);
        it = in_flight_.erase(it);
        eio::Session& s = engine_.adopt(f.sid, dead_link, engine_.now());
        try {
            s.endpoint().restore(f.state);
        } catch (...) {
            /* half restored, it still ends, as it would have whole */
            s.on_ws_gone(dead_link, engine_.now());
            throw;
        }
        s.on_ws_gone(dead_link, engine_.now());
        log(util::LogLevel::info, "a session sent to worker slot " + std::to_string(f.to)
                   + " never arrived: closed here");
    }
}

}  // namespace socketio::cluster
