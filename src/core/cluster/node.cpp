/*
 * cluster::Node: its lifetime, the zone's session table as this worker
 * uses it, and the round after each flush of the engine (see node.hpp for
 * which file holds which concern).
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"

namespace socketio::cluster {

Node::Node(bus::Zone& zone, eio::Engine& engine, sio::Server* sio,
           Host& host, bus::Liveness* liveness)
    : zone_(zone),
      log_(zone),
      engine_(engine),
      sio_(sio),
      host_(host),
      liveness_(liveness != nullptr ? *liveness : life_locks_)
{
}

Node::~Node()
{
    leave();
}

bus::Stats* Node::stats() noexcept
{
    return joined() ? &zone_.slot(slot_).stats : nullptr;
}

/* --- sessions --- */

bool Node::reserve(std::string_view sid)
{
    if (!joined()) {
        return true;
    }
    bus::Guard g(zone_.header().lock);
    bus::SessionTable table(zone_);
    if (!table.insert(sid, bus::Owner{slot_, generation_})) {
        zone_.header().refused.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void Node::forget(std::string_view sid)
{
    if (!joined()) {
        return;
    }
    bus::Guard g(zone_.header().lock);
    bus::SessionTable table(zone_);
    auto owner = table.find(sid);
    if (owner && owner->slot == slot_) {
        table.erase(sid);
    }
}

Node::Where Node::locate(std::string_view sid, std::uint16_t* owner)
{
    if (!joined()) {
        return Where::unknown;
    }

    std::optional<bus::Owner> o;
    {
        bus::Guard g(zone_.header().lock);
        o = bus::SessionTable(zone_).find(sid);
    }
    if (!o) {
        return Where::unknown;
    }
    if (o->slot == slot_) {
        return Where::local;
    }

    auto state = static_cast<bus::SlotState>(
        zone_.slot(o->slot).state.load(std::memory_order_acquire));
    if (state != bus::SlotState::alive) {
        return Where::unknown;
    }
    *owner = o->slot;
    return Where::remote;
}

static_assert(eio::reason_count <= bus::max_reasons,
              "the zone counts every reason a session closes for");

void Node::session_closed(const eio::Session& s, eio::Reason reason)
{
    forget(s.sid());
    if (auto* st = stats()) {
        st->disconnects[static_cast<std::size_t>(reason)].fetch_add(
            1, std::memory_order_relaxed);
    }
}

/* --- after a flush --- */

void Node::after_flush()
{
    if (!joined()) {
        return;
    }

    if (!in_flight_.empty()) {
        check_in_flight();
    }
    drop_finished_proxies();
    move_upgraded();
    update_pin();
}

}  // namespace socketio::cluster
