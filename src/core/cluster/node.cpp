#include "core/cluster/node.hpp"

#include "core/cluster/records.hpp"
#include "core/sio/server.hpp"
#include "core/sio/socket.hpp"
#include "core/util/wire.hpp"

#include <algorithm>
#include <cstring>

namespace socketio::cluster {

using util::WireReader;
using util::WireWriter;

/* --- what one worker keeps of the others' work --- */

/* A request here, waiting for the worker that owns its session. */
struct Node::Pending {
    std::uint16_t owner;
    std::string sid;
    RemotePoll* poll = nullptr;
    RemotePost* post = nullptr;
    RemoteWs* ws = nullptr;
    bool upgraded = false;          /* the client's "5" went to the owner */
};

/* A log record that sockets here still view. */
struct Node::RecordRef {
    std::uint64_t pos;
    std::vector<std::weak_ptr<const eio::Encoded>> views;
};

/* A GET on another worker, waiting for a session here. */
class Node::PollProxy final : public eio::PollWaiter {
public:
    PollProxy(Node& node, std::uint16_t origin, std::uint64_t token,
              std::string sid)
        : node_(node), origin_(origin), token_(token), sid_(std::move(sid)) {}

    void respond(std::string payload) override
    {
        WireWriter w;
        w.num(token_).num(std::int32_t{-1}).str(payload);
        node_.publish(origin_, Rec::poll_answer, {w.bytes()});
        done = true;
    }

    std::uint16_t origin() const noexcept { return origin_; }
    const std::string& sid() const noexcept { return sid_; }
    bool done = false;

private:
    Node& node_;
    std::uint16_t origin_;
    std::uint64_t token_;
    std::string sid_;
};

/* A WebSocket on another worker, joined to a session here. */
class Node::WsProxy final : public eio::WebSocketLink {
public:
    WsProxy(Node& node, std::uint16_t origin, std::uint64_t token,
            std::string sid)
        : node_(node), origin_(origin), token_(token), sid_(std::move(sid)) {}

    void send(const std::vector<eio::EncodedPtr>& packets) override
    {
        WireWriter head;
        head.num(token_).num(static_cast<std::uint32_t>(packets.size()));
        std::vector<std::uint32_t> lens;
        lens.reserve(packets.size());
        std::vector<std::string_view> parts{head.bytes()};
        for (const auto& p : packets) {
            lens.push_back(static_cast<std::uint32_t>(p->ws_frame().size()));
        }
        for (std::size_t i = 0; i < packets.size(); i++) {
            parts.emplace_back(reinterpret_cast<const char*>(&lens[i]),
                               sizeof(std::uint32_t));
            parts.push_back(packets[i]->ws_frame());
        }
        node_.publish(origin_, Rec::ws_out, std::move(parts));
    }

    void close(std::uint16_t code, std::string_view reason) override
    {
        WireWriter w;
        w.num(token_).num(code).str(reason);
        node_.publish(origin_, Rec::ws_close, {w.bytes()});
        done = true;
    }

    std::size_t backlog() const noexcept override { return 0; }

    std::uint16_t origin() const noexcept { return origin_; }
    std::uint64_t token() const noexcept { return token_; }
    const std::string& sid() const noexcept { return sid_; }
    bool done = false;

private:
    Node& node_;
    std::uint16_t origin_;
    std::uint64_t token_;
    std::string sid_;
};

/* A link for a session that arrives after its WebSocket left. */
namespace {

class DeadLink final : public eio::WebSocketLink {
public:
    void send(const std::vector<eio::EncodedPtr>&) override {}
    void close(std::uint16_t, std::string_view) override {}
    std::size_t backlog() const noexcept override { return 0; }
};

DeadLink dead_link;

constexpr std::int32_t no_error = -1;

}  // namespace

/* --- lifetime --- */

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
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [token, p] : pending) {
        if (p->poll) {
            WireWriter w;
            w.str(p->sid).num(token);
            publish(p->owner, Rec::poll_released, {w.bytes()});
            /*
             * an owner of this configuration leaves too (a reload or a
             * quit stops them all): the session ends, say so; an owner of
             * a newer one stays: ask again, and reach it
             */
            bool owner_leaves =
                zone_.slot(p->owner).generation.load(std::memory_order_relaxed)
                == generation_;
            p->poll->answer(owner_leaves ? "1" : "6");
        } else if (p->post) {
            p->post->done(std::nullopt);
        } else if (p->ws) {
            WireWriter w;
            w.str(p->sid).num(token);
            publish(p->owner, Rec::ws_gone, {w.bytes()});
            p->ws->close(1001, "server shutting down");
        }
    }

    /* what sockets here still view of the log becomes theirs */
    for (auto& weak : refs_) {
        if (auto ref = weak.lock()) {
            for (auto& v : ref->views) {
                if (auto e = v.lock()) {
                    e->materialize();
                }
            }
        }
    }
    refs_.clear();

    /* what others wait for from here will not come: they answer it */
    WireWriter gone;
    gone.num(slot_);
    publish(bus::any_slot, Rec::slot_gone, {gone.bytes()});

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
        std::vector<bus::UserRecord> users = remove_users(i);

        s.replay_pin.store(bus::no_pin, std::memory_order_relaxed);
        s.state.store(static_cast<std::uint32_t>(bus::SlotState::free),
                      std::memory_order_release);

        log(1, "worker slot " + std::to_string(i) + " (pid "
                   + std::to_string(s.pid.load()) + ") died: "
                   + std::to_string(n) + " sessions and "
                   + std::to_string(users.size()) + " users dropped");

        WireWriter w;
        w.num(i);
        slot_gone(i);
        if (joined()) {
            publish(bus::any_slot, Rec::slot_gone, {w.bytes()});
        }

        if (!users.empty()) {
            host_.users_gone(users);
        }
    }
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

void Node::session_closed(const eio::Session& s, std::string_view reason)
{
    forget(s.sid());
    if (auto* st = stats()) {
        auto r = static_cast<std::size_t>(bus::reason_of(reason));
        st->disconnects[r].fetch_add(1, std::memory_order_relaxed);
    }
}

/* --- the chat's users --- */

void Node::listen_users(UserListener* listener)
{
    users_ = listener;
    if (users_ != nullptr && joined()) {
        users_->reload();
    }
}

void Node::user_put(const bus::UserRecord& u)
{
    WireWriter w;
    w.str(u.key).str(u.name).str(u.socket_id).num(u.slot).num(u.order);
    publish(bus::any_slot, Rec::user_put, {w.bytes()});
}

void Node::user_removed(std::string_view key)
{
    WireWriter w;
    w.str(key);
    publish(bus::any_slot, Rec::user_removed, {w.bytes()});
}

/* --- publishing --- */

void Node::wake_for(std::uint16_t to)
{
    auto wake = [&](std::uint16_t i) {
        if (i == slot_) {
            host_.schedule();
            return;
        }
        bus::Slot& s = zone_.slot(i);
        if (s.state.load(std::memory_order_acquire)
            != static_cast<std::uint32_t>(bus::SlotState::alive))
        {
            return;
        }
        /* one wake-up at a time: the reader clears the flag first */
        if (s.wake_pending.exchange(1, std::memory_order_acq_rel) == 0
            && !host_.wake(i))
        {
            s.wake_pending.store(0, std::memory_order_release);
        }
    };

    if (to != bus::any_slot) {
        wake(to);
        return;
    }
    for (std::uint16_t i = 0; i < bus::max_slots; i++) {
        wake(i);
    }
}

std::uint64_t Node::publish(std::uint16_t to, Rec type,
                            std::vector<std::string_view> parts)
{
    if (!joined()) {
        return 0;
    }

    if (unpublished_.empty()) {
        auto pos = log_.publish(slot_, to, static_cast<std::uint16_t>(type),
                                parts);
        if (pos) {
            wake_for(log_.readers_waiting() ? bus::any_slot : to);
            return *pos;
        }
        std::size_t size = 0;
        for (auto p : parts) {
            size += p.size();
        }
        if (size > log_.max_body()) {
            log(0, "a record of " + std::to_string(size)
                       + " bytes does not fit in the zone's log: dropped");
            return 0;
        }
        unpublished_since_ = engine_.now();
        log(1, "the zone's log is full: publishing waits for workers to "
               "let go of old records");
    }

    /* keep the order: behind what waits already */
    std::string body;
    for (auto p : parts) {
        body.append(p);
    }
    unpublished_.push_back(Unpublished{to, type, std::move(body)});
    wake_for(bus::any_slot);
    host_.retry_later();
    return 0;
}

bool Node::flush_pending()
{
    while (!unpublished_.empty()) {
        Unpublished& u = unpublished_.front();
        auto pos = log_.publish(slot_, u.to, static_cast<std::uint16_t>(u.type),
                                {u.body});
        if (!pos) {
            if (engine_.now() - unpublished_since_ > 5000) {
                log(0, "the zone's log stayed full for 5 s: "
                       + std::to_string(unpublished_.size())
                       + " records dropped");
                unpublished_.clear();
                return true;
            }
            recover();
            host_.retry_later();
            return false;
        }
        wake_for(log_.readers_waiting() ? bus::any_slot : u.to);
        unpublished_.pop_front();
    }
    return true;
}

/* --- requests for sessions elsewhere --- */

template <typename T>
std::uint64_t Node::add_pending(std::string_view sid,
                                std::uint16_t owner, T* Pending::*which,
                                T& request)
{
    std::uint64_t token = next_token_++;
    auto pend = std::make_unique<Pending>();
    pend->owner = owner;
    pend->sid = std::string(sid);
    pend.get()->*which = &request;
    pending_[token] = std::move(pend);
    return token;
}

std::uint64_t Node::poll(std::string_view sid, std::uint16_t owner,
                         RemotePoll& p)
{
    std::uint64_t token = add_pending(sid, owner, &Pending::poll, p);

    WireWriter w;
    w.str(sid).num(token);
    publish(owner, Rec::poll, {w.bytes()});
    if (auto* st = stats()) {
        st->forwarded.fetch_add(1, std::memory_order_relaxed);
    }
    return token;
}

void Node::let_go(std::uint64_t token, Rec type)
{
    auto it = pending_.find(token);
    if (it == pending_.end()) {
        return;
    }
    WireWriter w;
    w.str(it->second->sid).num(token);
    std::uint16_t owner = it->second->owner;
    pending_.erase(it);
    publish(owner, type, {w.bytes()});
}

void Node::poll_gone(std::uint64_t token)
{
    let_go(token, Rec::poll_gone);
}

std::uint64_t Node::post(std::string_view sid, std::uint16_t owner,
                         std::string_view payload, RemotePost& p)
{
    std::uint64_t token = add_pending(sid, owner, &Pending::post, p);

    WireWriter w;
    w.str(sid).num(token).num(static_cast<std::uint32_t>(payload.size()));
    publish(owner, Rec::post, {w.bytes(), payload});
    if (auto* st = stats()) {
        st->forwarded.fetch_add(1, std::memory_order_relaxed);
    }
    return token;
}

void Node::post_gone(std::uint64_t token)
{
    pending_.erase(token);
}

void Node::post_detached(std::string_view sid, std::uint16_t owner,
                         std::string_view payload)
{
    /* token 0: the owner's answer goes to nobody */
    WireWriter w;
    w.str(sid).num(std::uint64_t{0})
        .num(static_cast<std::uint32_t>(payload.size()));
    publish(owner, Rec::post, {w.bytes(), payload});
}

std::uint64_t Node::ws_attach(std::string_view sid, std::uint16_t owner,
                              RemoteWs& ws)
{
    std::uint64_t token = add_pending(sid, owner, &Pending::ws, ws);

    WireWriter w;
    w.str(sid).num(token);
    publish(owner, Rec::ws_attach, {w.bytes()});
    return token;
}

void Node::ws_in(std::uint64_t token, bool binary, std::string_view data)
{
    auto it = pending_.find(token);
    if (it == pending_.end()) {
        return;
    }
    WireWriter w;
    w.str(it->second->sid).num(token).num(std::uint8_t{binary})
        .num(static_cast<std::uint32_t>(data.size()));
    publish(it->second->owner, Rec::ws_in, {w.bytes(), data});
}

void Node::ws_gone(std::uint64_t token)
{
    let_go(token, Rec::ws_gone);
}

/* --- broadcasts --- */

void Node::broadcast(std::string_view nsp, const sio::BroadcastOptions& opts,
                     const std::vector<eio::EncodedPtr>& packets)
{
    if (!joined()) {
        return;
    }

    WireWriter head;
    head.str(nsp);
    head.num(static_cast<std::uint32_t>(opts.rooms.size()));
    for (const auto& r : opts.rooms) {
        head.str(r);
    }
    head.num(static_cast<std::uint32_t>(opts.except.size()));
    for (const auto& r : opts.except) {
        head.str(r);
    }
    head.num(static_cast<std::uint32_t>(packets.size()));

    /* the frames go into the log once, from where they are */
    std::vector<std::uint32_t> lens;
    lens.reserve(packets.size());
    for (const auto& p : packets) {
        lens.push_back(static_cast<std::uint32_t>(p->ws_frame().size()));
    }
    std::vector<std::string_view> parts{head.bytes()};
    for (std::size_t i = 0; i < packets.size(); i++) {
        parts.emplace_back(reinterpret_cast<const char*>(&lens[i]),
                           sizeof(std::uint32_t));
        parts.push_back(packets[i]->ws_frame());
    }

    publish(bus::any_slot, Rec::broadcast, std::move(parts));
    if (auto* st = stats()) {
        st->broadcasts.fetch_add(1, std::memory_order_relaxed);
    }
}

/* --- reading the log --- */

void Node::consume()
{
    if (!joined() || departed_) {
        return;
    }

    bus::Slot& me = zone_.slot(slot_);

    if (!flush_pending()) {
        /* still waiting for room; read on, which lets room come */
    }

    for (;;) {
        /* clear first: a record published after this read wakes us again */
        me.wake_pending.store(0, std::memory_order_seq_cst);

        std::uint64_t head = log_.head();
        if (cursor_ >= head) {
            break;
        }

        bool stopped = false;
        while (cursor_ < head) {
            bus::Record r = log_.read(cursor_);
            if (r.writing) {
                /* its writer wakes us when it is committed */
                if (log_.wait_for(r.pos)) {
                    stopped = true;
                    break;
                }
                continue;
            }
            cursor_ = r.next;
            me.cursor.store(cursor_, std::memory_order_release);
            if (r.header->to == bus::any_slot || r.header->to == slot_) {
                handle(r);
            }
        }
        if (stopped) {
            break;
        }
    }

    if (log_.pressure() != seen_pressure_) {
        seen_pressure_ = log_.pressure();
        relieve_pressure();
    }

    if (!in_flight_.empty()) {
        check_in_flight();
    }

    update_pin();
}

void Node::update_pin()
{
    if (!joined() || departed_) {
        return;
    }
    while (!refs_.empty() && refs_.front().expired()) {
        refs_.pop_front();
    }
    std::uint64_t pin = cursor_;
    if (!refs_.empty()) {
        if (auto ref = refs_.front().lock()) {
            pin = std::min(pin, ref->pos);
        }
    }
    zone_.slot(slot_).pin.store(pin, std::memory_order_release);
}

/* The log is full: the oldest half of what sockets here view becomes
   private copies, so that the tail can move. */
void Node::relieve_pressure()
{
    std::uint64_t head = log_.head();
    std::uint64_t keep_from = head - std::min(head, log_.capacity() / 2);
    std::size_t copied = 0;

    while (!refs_.empty()) {
        auto ref = refs_.front().lock();
        if (ref && ref->pos >= keep_from) {
            break;
        }
        if (ref) {
            for (auto& v : ref->views) {
                if (auto e = v.lock()) {
                    e->materialize();
                    copied++;
                }
            }
        }
        refs_.pop_front();
    }

    if (copied > 0) {
        log(2, "the zone's log is under pressure: " + std::to_string(copied)
                   + " queued packets copied out of it");
    }
}

template <typename T>
T* Node::take_pending(std::uint64_t token, T* Pending::*which)
{
    auto it = pending_.find(token);
    if (it == pending_.end() || it->second.get()->*which == nullptr) {
        return nullptr;
    }
    T* p = it->second.get()->*which;
    pending_.erase(it);
    return p;
}

template <typename Proxies, typename Fn>
void Node::end_proxy(Proxies& proxies, std::uint16_t from, WireReader& in,
                     Fn fn)
{
    std::string sid(in.str());
    auto token = in.num<std::uint64_t>();
    auto it = proxies.find({from, token});
    if (it == proxies.end()) {
        return;
    }
    if (eio::Session* s = engine_.find(sid)) {
        fn(*s, *it->second);
    }
    proxies.erase(it);
}

bool Node::views(const bus::Record& r, std::string_view rest,
                 std::uint32_t n, std::vector<eio::EncodedPtr>& out)
{
    auto ref = std::make_shared<RecordRef>();
    ref->pos = r.pos;
    bool whole = true;
    for (std::uint32_t i = 0; i < n && rest.size() >= 4; i++) {
        std::uint32_t len;
        std::memcpy(&len, rest.data(), 4);
        rest.remove_prefix(4);
        if (len > rest.size()) {
            whole = false;
            break;
        }
        auto v = eio::Encoded::view(rest.substr(0, len), ref);
        ref->views.push_back(v);
        out.push_back(std::move(v));
        rest.remove_prefix(len);
    }
    refs_.push_back(ref);
    return whole;
}

void Node::handle(const bus::Record& r)
{
    WireReader in(r.body);
    auto type = static_cast<Rec>(r.header->type);
    std::uint16_t from = r.header->from;

    switch (type) {

    case Rec::broadcast:
        deliver(r, nullptr);
        return;

    case Rec::post: {
        std::string sid(in.str());
        auto token = in.num<std::uint64_t>();
        auto len = in.num<std::uint32_t>();
        std::string_view payload = r.body.substr(r.body.size() - len);

        std::int32_t code = no_error;
        eio::Session* s = engine_.find(sid);
        if (s == nullptr || !engine_.touch(*s, engine_.now())) {
            code = static_cast<std::int32_t>(eio::Error::unknown_sid);
        } else if (auto err = s->begin_post()) {
            code = static_cast<std::int32_t>(*err);
        } else {
            auto e = s->on_post(payload, engine_.now());
            s->end_post();
            if (e) {
                code = static_cast<std::int32_t>(*e);
            }
        }
        if (token != 0) {
            WireWriter w;
            w.num(token).num(code);
            publish(from, Rec::post_done, {w.bytes()});
        }
        return;
    }

    case Rec::post_done: {
        auto token = in.num<std::uint64_t>();
        auto code = in.num<std::int32_t>();
        RemotePost* p = take_pending(token, &Pending::post);
        if (p == nullptr) {
            return;
        }
        p->done(code == no_error ? std::nullopt
                                 : std::optional<eio::Error>(
                                       static_cast<eio::Error>(code)));
        return;
    }

    case Rec::poll: {
        std::string sid(in.str());
        auto token = in.num<std::uint64_t>();
        eio::Session* s = engine_.find(sid);
        auto proxy = std::make_unique<PollProxy>(*this, from, token, sid);
        std::optional<eio::Error> err;
        if (s == nullptr || !engine_.touch(*s, engine_.now())) {
            err = eio::Error::unknown_sid;
        } else {
            err = s->on_poll(*proxy, engine_.now());
        }
        if (err) {
            WireWriter w;
            w.num(token).num(static_cast<std::int32_t>(*err)).str("");
            publish(from, Rec::poll_answer, {w.bytes()});
            return;
        }
        polls_[{from, token}] = std::move(proxy);
        return;
    }

    case Rec::poll_gone:
        end_proxy(polls_, from, in, [&](eio::Session& s, PollProxy& p) {
            s.on_poll_gone(p, engine_.now());
        });
        return;

    case Rec::poll_released:
        end_proxy(polls_, from, in, [](eio::Session& s, PollProxy& p) {
            s.on_poll_released(p);
        });
        return;

    case Rec::poll_answer: {
        auto token = in.num<std::uint64_t>();
        auto code = in.num<std::int32_t>();
        std::string_view payload = in.str();
        RemotePoll* p = take_pending(token, &Pending::poll);
        if (p == nullptr) {
            return;
        }
        if (code == no_error) {
            p->answer(payload);
        } else {
            p->fail(static_cast<eio::Error>(code));
        }
        return;
    }

    case Rec::ws_attach: {
        std::string sid(in.str());
        auto token = in.num<std::uint64_t>();
        eio::Session* s = engine_.find(sid);
        auto proxy = std::make_unique<WsProxy>(*this, from, token, sid);
        if (s == nullptr || !engine_.touch(*s, engine_.now())
            || !s->attach_websocket(*proxy, engine_.now()))
        {
            WireWriter w;
            w.num(token);
            publish(from, Rec::ws_refuse, {w.bytes()});
            return;
        }
        wss_[{from, token}] = std::move(proxy);
        return;
    }

    case Rec::ws_refuse: {
        auto token = in.num<std::uint64_t>();
        if (RemoteWs* w = take_pending(token, &Pending::ws)) {
            w->close(1005, "");
        }
        return;
    }

    case Rec::ws_in: {
        std::string sid(in.str());
        auto token = in.num<std::uint64_t>();
        bool binary = in.num<std::uint8_t>() != 0;
        auto len = in.num<std::uint32_t>();
        std::string_view data = r.body.substr(r.body.size() - len);
        auto it = wss_.find({from, token});
        if (it == wss_.end()) {
            return;
        }
        if (eio::Session* s = engine_.find(sid)) {
            s->on_ws_message(*it->second, binary, data, engine_.now());
        }
        return;
    }

    case Rec::ws_out: {
        auto token = in.num<std::uint64_t>();
        auto n = in.num<std::uint32_t>();
        auto it = pending_.find(token);
        if (it == pending_.end() || it->second->ws == nullptr) {
            return;
        }
        /* the frames follow the head */
        std::vector<eio::EncodedPtr> frames;
        views(r, r.body.substr(r.body.size() - in.remaining()), n, frames);
        it->second->ws->deliver(frames);
        return;
    }

    case Rec::ws_close: {
        auto token = in.num<std::uint64_t>();
        auto code = in.num<std::uint16_t>();
        std::string reason(in.str());
        if (RemoteWs* w = take_pending(token, &Pending::ws)) {
            w->close(code, reason);
        }
        return;
    }

    case Rec::ws_gone:
        end_proxy(wss_, from, in, [&](eio::Session& s, WsProxy& p) {
            s.on_ws_gone(p, engine_.now());
        });
        return;

    case Rec::migrate:
        adopt(r);
        return;

    case Rec::slot_gone: {
        auto slot = in.num<std::uint16_t>();
        if (from != slot_) {
            slot_gone(slot);
        }
        return;
    }

    case Rec::user_put: {
        /* this worker's own changes were applied when it made them */
        if (from == slot_ || users_ == nullptr) {
            return;
        }
        bus::UserRecord u;
        u.key = in.str();
        u.name = in.str();
        u.socket_id = in.str();
        u.slot = in.num<std::uint16_t>();
        u.order = in.num<std::uint64_t>();
        if (in.ok()) {
            users_->user_put(u);
        }
        return;
    }

    case Rec::user_removed: {
        std::string_view key = in.str();
        if (from != slot_ && users_ != nullptr && in.ok()) {
            users_->user_removed(key);
        }
        return;
    }
    }
}

/* A broadcast: this worker's sockets among those it selects get views of
   the frames in the log. `only`: a moved session's replay. */
void Node::deliver(const bus::Record& r, eio::Session* only)
{
    if (sio_ == nullptr) {
        return;
    }

    WireReader in(r.body);
    std::string_view nsp_name = in.str();
    sio::BroadcastOptions opts;
    auto nrooms = in.num<std::uint32_t>();
    for (std::uint32_t i = 0; i < nrooms && in.ok(); i++) {
        opts.rooms.emplace_back(in.str());
    }
    auto nexcept = in.num<std::uint32_t>();
    for (std::uint32_t i = 0; i < nexcept && in.ok(); i++) {
        opts.except.emplace_back(in.str());
    }
    auto npackets = in.num<std::uint32_t>();
    if (!in.ok()) {
        return;
    }

    sio::Namespace* nsp = sio_->find(nsp_name);
    if (nsp == nullptr) {
        return;
    }
    auto* shared = dynamic_cast<SharedAdapter*>(&nsp->adapter());
    if (shared == nullptr) {
        return;
    }

    std::vector<sio::Socket*> targets = shared->local().select(opts);
    if (only != nullptr) {
        targets.erase(std::remove_if(targets.begin(), targets.end(),
                                     [&](sio::Socket* s) {
                                         return &s->session() != only;
                                     }),
                      targets.end());
    }
    if (targets.empty()) {
        return;
    }

    /* where the frames start: right after what was read */
    std::size_t consumed = 0;
    {
        WireReader skip(r.body);
        skip.str();
        skip.num<std::uint32_t>();
        for (std::uint32_t i = 0; i < nrooms; i++) {
            skip.str();
        }
        skip.num<std::uint32_t>();
        for (std::uint32_t i = 0; i < nexcept; i++) {
            skip.str();
        }
        skip.num<std::uint32_t>();
        consumed = r.body.size() - skip.remaining();
    }

    std::vector<eio::EncodedPtr> packets;
    if (!views(r, r.body.substr(consumed), npackets, packets)) {
        return;
    }

    for (sio::Socket* s : targets) {
        for (const auto& p : packets) {
            s->session().send(p);
        }
    }
}

/* --- sessions that move --- */

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
        log(2, "a session sent to worker slot " + std::to_string(f.to)
                   + " never arrived: closed here");
    }
}

void Node::after_flush()
{
    if (!joined()) {
        return;
    }

    if (!in_flight_.empty()) {
        check_in_flight();
    }

    for (auto it = polls_.begin(); it != polls_.end();) {
        it = it->second->done ? polls_.erase(it) : std::next(it);
    }

    for (auto it = wss_.begin(); it != wss_.end();) {
        WsProxy& proxy = *it->second;
        if (proxy.done) {
            it = wss_.erase(it);
            continue;
        }
        eio::Session* s = engine_.find(proxy.sid());
        if (s != nullptr && s->state() == eio::Session::State::open
            && s->websocket() == &proxy && !s->dirty_)
        {
            /* upgraded to a WebSocket that another worker holds */
            auto owned = std::move(it->second);
            it = wss_.erase(it);
            migrate(*s, *owned);
            continue;
        }
        ++it;
    }

    update_pin();
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

    WireWriter w;
    w.str(s.sid()).num(proxy.token()).num(from).str(state);
    publish(to, Rec::migrate, {w.bytes()});

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

void Node::adopt(const bus::Record& r)
{
    WireReader in(r.body);
    std::string sid(in.str());
    auto token = in.num<std::uint64_t>();
    auto from = in.num<std::uint64_t>();
    std::string_view state = in.str();

    RemoteWs* ws = nullptr;
    auto it = pending_.find(token);
    if (it != pending_.end() && it->second->ws != nullptr) {
        ws = it->second->ws;
        pending_.erase(it);
    }

    eio::Session& s = engine_.adopt(sid, ws ? ws->link() : dead_link,
                                    engine_.now());
    s.endpoint().restore(state);

    {
        bus::Guard g(zone_.header().lock);
        bus::SessionTable table(zone_);
        if (!table.set(sid, bus::Owner{slot_, generation_})) {
            table.insert(sid, bus::Owner{slot_, generation_});
        }
    }

    /* broadcasts the old owner had not read when it let go */
    for (std::uint64_t pos = from; pos < r.pos;) {
        bus::Record rec = log_.read(pos);
        if (rec.pos >= r.pos) {
            break;
        }
        if (static_cast<Rec>(rec.header->type) == Rec::broadcast) {
            deliver(rec, &s);
        }
        pos = rec.next;
    }

    {
        bus::Guard g(zone_.header().lock);
        bus::Slot& me = zone_.slot(slot_);
        if (me.replays.fetch_sub(1, std::memory_order_relaxed) == 1) {
            me.replay_pin.store(bus::no_pin, std::memory_order_release);
        }
    }

    if (ws == nullptr) {
        /* its WebSocket closed on the way: it ends here */
        s.on_ws_gone(dead_link, engine_.now());
        return;
    }
    ws->adopted(s);
}

/* A worker died or left: what waits on it here is let go. */
void Node::slot_gone(std::uint16_t slot)
{
    if (users_ != nullptr) {
        users_->slot_gone(slot);
    }

    std::vector<std::pair<std::uint64_t, Pending*>> waiting;
    for (auto& [token, p] : pending_) {
        if (p->owner == slot) {
            waiting.emplace_back(token, p.get());
        }
    }
    for (auto& [token, p] : waiting) {
        auto owned = std::move(pending_[token]);
        pending_.erase(token);
        if (owned->poll) {
            owned->poll->fail(eio::Error::unknown_sid);
        } else if (owned->post) {
            owned->post->done(eio::Error::unknown_sid);
        } else if (owned->ws) {
            owned->ws->close(1011, "worker gone");
        }
    }

    for (auto it = polls_.begin(); it != polls_.end();) {
        if (it->first.first == slot) {
            if (eio::Session* s = engine_.find(it->second->sid())) {
                s->on_poll_gone(*it->second, engine_.now());
            }
            it = polls_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = wss_.begin(); it != wss_.end();) {
        if (it->first.first == slot) {
            if (eio::Session* s = engine_.find(it->second->sid())) {
                s->on_ws_gone(*it->second, engine_.now());
            }
            it = wss_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace socketio::cluster
