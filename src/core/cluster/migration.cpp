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
            auto owned = std::move(it->second);
            it = wss_.erase(it);
            migrate(*s, *owned);
            continue;
        }
        ++it;
    }
}

void Node::migrate(eio::Session& s, WsProxy& proxy)
{
    std::string state = s.endpoint().save();
    std::uint16_t to = proxy.origin();

    /* what this worker has not read yet, the new owner replays */
    std::uint64_t from = cursor_;
    {
        bus::Guard g(zone_.header().lock);
        bus::Slot& dst = zone_.slot(to);
        dst.replays.fetch_add(1, std::memory_order_relaxed);
        std::uint64_t pin = dst.replay_pin.load(std::memory_order_relaxed);
        dst.replay_pin.store(std::min(pin, from), std::memory_order_release);
    }

    send(to, records::Migrate{s.sid(), proxy.token(), from, state});

    /* kept until the other worker has it: it may leave or die first */
    in_flight_.push_back(InFlight{s.sid(), to, std::move(state),
                                  engine_.now()});

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
        ~ReplayDone()
        {
            bus::Guard g(zone.header().lock);
            bus::Slot& me = zone.slot(slot);
            if (me.replays.fetch_sub(1, std::memory_order_relaxed) == 1) {
                me.replay_pin.store(bus::no_pin, std::memory_order_release);
            }
        }
    } replay_done{zone_, slot_};

    std::string sid(m.sid);

    RemoteWs* ws = nullptr;
    auto it = pending_.find(m.token);
    if (it != pending_.end() && it->second->ws != nullptr) {
        ws = it->second->ws;
        pending_.erase(it);
    }

    eio::Session& s = engine_.adopt(sid, ws ? ws->link() : dead_link,
                                    engine_.now());
    s.endpoint().restore(m.state);

    {
        bus::Guard g(zone_.header().lock);
        bus::SessionTable table(zone_);
        if (!table.set(sid, bus::Owner{slot_, generation_})) {
            table.insert(sid, bus::Owner{slot_, generation_});
        }
    }

    /* broadcasts the old owner had not read when it let go (one that does
       not decode was dropped, and logged, when this worker first read it);
       the replay pin kept them: a position outside that is not read */
    std::uint64_t replay_from = m.from;
    if (replay_from > r.pos || replay_from < log_.tail()) {
        log(util::LogLevel::warn, "a session moved here with a replay position outside the "
               "log: nothing replayed");
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

    if (ws == nullptr) {
        /* its WebSocket closed on the way: it ends here */
        s.on_ws_gone(dead_link, engine_.now());
        return;
    }
    ws->adopted(s);
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
        s.endpoint().restore(f.state);
        s.on_ws_gone(dead_link, engine_.now());
        log(util::LogLevel::info, "a session sent to worker slot " + std::to_string(f.to)
                   + " never arrived: closed here");
    }
}

}  // namespace socketio::cluster
