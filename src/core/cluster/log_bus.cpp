/*
 * cluster::Node, the log bus: records out (publishing, in order, waiting
 * for room when the log is full, waking their readers) and records in
 * (read in the log's order, decoded, handed to the on() overload of their
 * kind), and the pin that tells the log what this worker still reads.
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"

#include <algorithm>
#include <string>

namespace socketio::cluster {

/* --- records out --- */

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

std::uint64_t Node::publish(std::uint16_t to, Rec type, const Body& body)
{
    if (!joined()) {
        return 0;
    }

    if (unpublished_.empty()) {
        std::vector<std::string_view> parts = body.parts();
        auto pos = log_.publish(slot_, to, static_cast<std::uint16_t>(type),
                                parts);
        if (pos) {
            wake_for(log_.readers_waiting() ? bus::any_slot : to);
            return *pos;
        }
        std::size_t size = body.size();
        if (size > log_.max_body()) {
            log(util::LogLevel::error, "a record of " + std::to_string(size)
                       + " bytes does not fit in the zone's log: dropped");
            return 0;
        }
        unpublished_since_ = engine_.now();
        log(util::LogLevel::warn, "the zone's log is full: publishing waits for workers to "
               "let go of old records");
    }

    /* keep the order: behind what waits already */
    unpublished_.push_back(Unpublished{to, type, body.bytes()});
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
                log(util::LogLevel::error, "the zone's log stayed full for 5 s: "
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

/* --- records in --- */

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

/* --- records, by kind --- */

template <typename T>
void Node::dispatch(const bus::Record& r)
{
    auto m = T::decode(r.body);
    if (!m) {
        drop(r, m.error());
        return;
    }
    on(*m, r);
}

void Node::handle(const bus::Record& r)
{
    using namespace records;
    switch (static_cast<Rec>(r.header->type)) {
    case Rec::broadcast: return dispatch<Broadcast>(r);
    case Rec::post: return dispatch<Post>(r);
    case Rec::post_done: return dispatch<PostDone>(r);
    case Rec::poll: return dispatch<Poll>(r);
    case Rec::poll_gone: return dispatch<PollGone>(r);
    case Rec::poll_answer: return dispatch<PollAnswer>(r);
    case Rec::ws_attach: return dispatch<WsAttach>(r);
    case Rec::ws_refuse: return dispatch<WsRefuse>(r);
    case Rec::ws_in: return dispatch<WsIn>(r);
    case Rec::ws_out: return dispatch<WsOut>(r);
    case Rec::ws_close: return dispatch<WsClose>(r);
    case Rec::ws_gone: return dispatch<WsGone>(r);
    case Rec::migrate: return dispatch<Migrate>(r);
    case Rec::slot_gone: return dispatch<SlotGone>(r);
    case Rec::poll_released: return dispatch<PollReleased>(r);
    case Rec::user_put: return dispatch<UserPut>(r);
    case Rec::user_removed: return dispatch<UserRemoved>(r);
    case Rec::persist: return dispatch<Persist>(r);
    case Rec::forget: return dispatch<Forget>(r);
    }
    drop(r, DecodeError::unknown_kind);
}

/*
 * A record this worker cannot read (a bug, a worker of another version
 * across a reload, bytes gone bad) is skipped, not guessed at: whatever it
 * asked for times out or is asked again, as when a worker dies.
 */
void Node::drop(const bus::Record& r, DecodeError e)
{
    dropped_++;
    log(util::LogLevel::warn, "a record of type " + std::to_string(r.header->type)
               + " from worker slot " + std::to_string(r.header->from)
               + " was dropped: " + std::string(describe(e)) + " ("
               + std::to_string(dropped_) + " dropped by this worker)");
}

/* --- the pin --- */

void Node::update_pin()
{
    if (!joined() || departed_) {
        return;
    }
    while (!refs_.empty() && refs_.front().ref.expired()) {
        refs_.pop_front();
    }
    std::uint64_t pin = cursor_;
    if (!refs_.empty()) {
        pin = std::min(pin, refs_.front().pos);
    }
    zone_.slot(slot_).pin.store(pin, std::memory_order_release);
}

/* The log is full: the oldest half of what sockets here view becomes
   private copies, so that the tail can move. */
void Node::relieve_pressure()
{
    std::uint64_t head = log_.head();
    std::uint64_t keep_from = head - std::min(head, log_.capacity() / 2);
    std::size_t copied = copy_views_before(keep_from);

    if (copied > 0) {
        log(util::LogLevel::info, "the zone's log is under pressure: " + std::to_string(copied)
                   + " queued packets copied out of it");
    }
}

}  // namespace socketio::cluster
