/*
 * One worker's place in the cluster of workers that share a zone: its
 * slot, its cursor in the broadcast log, the sessions it owns (an
 * eio::Engine), and the requests it serves for sessions other workers own.
 * What it says to the others are the typed records of records.hpp.
 *
 * Ordering: every worker reads the log in the same order, so a broadcast
 * is seen by all in the order it was published, and a session that moves
 * (migrate) is handed over at one point of that order: records the old
 * owner had not read yet when it let go are replayed by the new one.
 *
 * Memory: a broadcast's frames stay in the log and sockets queue views of
 * them; a worker's pin (the oldest record it still views) holds the log's
 * tail. When the log fills, workers turn their oldest views into private
 * copies (one per worker, not one per socket) and let the tail move.
 *
 * The node is one class whose member functions live in one file per
 * concern, each file owning the state listed under its name below:
 *   node.cpp        lifetime, the session table, after_flush's round
 *   membership.cpp  the slot: claim, recover dead workers, depart, leave
 *   log_bus.cpp     publishing, reading the log in order, decoding and
 *                   dispatching records by kind, the pin, log pressure
 *   forwarding.cpp  GETs, POSTs and WebSockets carried to the owner and
 *                   back (proxies on the owner, pending requests here)
 *   migration.cpp   sessions that move to the worker of their WebSocket
 *   broadcast.cpp   broadcasts: encoded once into the log, delivered as
 *                   views of its bytes
 *   users.cpp       the chat's users, told to every worker
 *   recovery.cpp    connection state recovery: sockets kept in the log,
 *                   found again from its history by any worker
 * One class rather than one per concern: they share one slot, one cursor
 * and one order of the log, and call each other both ways (forwarding
 * publishes through the bus; the bus dispatches to forwarding; migration
 * takes a forwarded WebSocket's proxy; a dead slot ends requests of every
 * kind). Classes of their own would each hold references to all the
 * others: the same coupling, less visible. The records are where the
 * concerns meet, and they are typed: each concern handles its kinds
 * through an on() overload that gets the decoded record.
 */
#pragma once

#include "core/bus/directory.hpp"
#include "core/cluster/records.hpp"
#include "core/bus/log.hpp"
#include "core/bus/table.hpp"
#include "core/bus/zone.hpp"
#include "core/eio/engine.hpp"
#include "core/eio/error.hpp"
#include "core/eio/packet.hpp"
#include "core/eio/session.hpp"
#include "core/eio/transport.hpp"
#include "core/util/log_level.hpp"
#include "core/sio/adapter.hpp"
#include "core/sio/recovery.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace socketio::sio {
class Server;
}

namespace socketio::cluster {

/*
 * The chat's grace (issue 11): a user whose connection went without a
 * deliberate disconnect stays listed this long at most (less when the
 * recovery window is shorter), and is told gone only if its client has
 * not recovered its socket by then. Long enough for a client to
 * reconnect after a blip, a reload or a worker's death (t/recovery.test.js:
 * its soak hears no notice); short enough that the others soon know of
 * someone who really left.
 */
inline constexpr eio::Millis away_grace_max = 5000;

/* What the web server does for the node. */
class Host {
public:
    virtual ~Host() = default;
    /* Another worker has records to read: wake it up. false: it could
       not be told (the next publisher tries again). */
    virtual bool wake(std::uint16_t slot) = 0;
    /* This worker has records to read: consume() soon, in this iteration. */
    virtual void schedule() = 0;
    /* Publishing waits for room in the log: consume() again a little later. */
    virtual void retry_later() = 0;
    virtual void log(util::LogLevel level, std::string_view message) = 0;
    /* Users gone from the directory: their worker died, or they were
       away (Node::sweep_away) and did not come back in time. */
    virtual void users_gone(const std::vector<bus::UserRecord>& users) = 0;
};

/* A GET here for a session another worker owns. */
class RemotePoll {
public:
    virtual void answer(std::string_view payload) = 0;
    virtual void fail(eio::Error e) = 0;

protected:
    ~RemotePoll() = default;
};

/* A POST here for a session another worker owns. */
class RemotePost {
public:
    virtual void done(std::optional<eio::Error> e) = 0;

protected:
    ~RemotePost() = default;
};

/* A WebSocket here joining a session another worker owns. */
class RemoteWs {
public:
    /* frames the owner sends through it */
    virtual void deliver(const std::vector<eio::EncodedPtr>& frames) = 0;
    /* the owner closes it, or refuses it (code 1005: no status) */
    virtual void close(std::uint16_t code, std::string_view reason) = 0;
    /* the session moved here: this link is now its transport */
    virtual eio::WebSocketLink& link() = 0;
    virtual void adopted(eio::Session& session) = 0;

protected:
    ~RemoteWs() = default;
};

/*
 * What a worker keeps of the chat's users (SharedDirectory): told, in the
 * log's order, what the other workers changed.
 */
class UserListener {
public:
    /* This worker joined: whatever it knew is out of date. */
    virtual void reload() = 0;
    virtual void user_put(const bus::UserRecord& u) = 0;
    virtual void user_removed(std::string_view key) = 0;
    /* The users of a worker that died or left are gone. */
    virtual void slot_gone(std::uint16_t slot) = 0;
    /* Away users (bus::away_slot) whose time is up at `now`, no longer
       watched here: Node::sweep_away() looks at each once. */
    virtual std::vector<std::string> away_due(eio::Millis now) = 0;
    /* When the next away user's time is up (eio::never: none). */
    virtual eio::Millis next_away() const = 0;

protected:
    ~UserListener() = default;
};

class Node {
public:
    /* `liveness` null: each slot's life lock says (bus::LifeLocks) */
    Node(bus::Zone& zone, eio::Engine& engine, sio::Server* sio, Host& host,
         bus::Liveness* liveness = nullptr);
    ~Node();

    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    /* Takes a free slot, then cleans up after dead workers. */
    bool join(std::int32_t pid, std::uint32_t generation,
              std::uint32_t index);
    /* The same in two steps, for a host that must set up its wake-ups in
       between (the clean-up wakes the others). */
    bool claim(std::int32_t pid, std::uint32_t generation,
               std::uint32_t index);
    void recover();
    bool departed() const noexcept { return departed_; }
    /* Shutting down: no more log for this worker. */
    void depart();
    /* Gives the slot back (worker exit). */
    void leave();
    /*
     * Whether this worker is the one of the node that reads the other
     * servers' broadcasts (from Redis) and logs them for every worker;
     * it takes the part when no live worker has it. Cheap: asked after
     * every read of the log.
     */
    bool reads_cluster();

    bool joined() const noexcept { return slot_ != bus::any_slot; }
    std::uint16_t slot() const noexcept { return slot_; }
    bus::Zone& zone() noexcept { return zone_; }

    /* --- sessions --- */

    /* A new session here: false when the zone's table is full. */
    bool reserve(std::string_view sid);
    /* A session here ended (or never started). */
    void forget(std::string_view sid);

    enum class Where { local, remote, unknown };
    Where locate(std::string_view sid, std::uint16_t* owner);

    /* --- requests here for sessions elsewhere (tokens name them) --- */

    std::uint64_t poll(std::string_view sid, std::uint16_t owner,
                       RemotePoll& p);
    void poll_gone(std::uint64_t token);
    std::uint64_t post(std::string_view sid, std::uint16_t owner,
                       std::string_view payload, RemotePost& p);
    void post_gone(std::uint64_t token);
    /* A POST's payload for the owner, with no answer awaited (this worker
       is leaving and will not read one). */
    void post_detached(std::string_view sid, std::uint16_t owner,
                       std::string_view payload);
    std::uint64_t ws_attach(std::string_view sid, std::uint16_t owner,
                            RemoteWs& w);
    void ws_in(std::uint64_t token, bool binary, std::string_view data);
    void ws_gone(std::uint64_t token);

    /* --- the chat's users --- */

    void listen_users(UserListener* listener);
    /* This worker changed the directory: the others are told. */
    void user_put(const bus::UserRecord& u);
    void user_removed(std::string_view key);
    /* How long a user whose connection went stays listed, so that a
       client that recovers its socket meanwhile comes back unnoticed:
       0 without connection state recovery. */
    eio::Millis away_grace() const noexcept
    {
        return std::min<eio::Millis>(away_grace_max, recovery_window_);
    }
    /* Away users whose time is up are removed (by whichever worker
       comes first) and told gone (Host::users_gone); when to look next. */
    void sweep_away(eio::Millis now);
    eio::Millis next_sweep() const;

    /* --- broadcasts --- */

    void broadcast(std::string_view nsp, const sio::BroadcastOptions& opts,
                   const std::vector<eio::EncodedPtr>& packets);

    /* --- the log --- */

    /* Reads what is new, in order. */
    void consume();
    /* Whether the log holds records this worker has not read. */
    bool behind() const noexcept
    {
        return joined() && !departed_ && cursor_ < log_.head();
    }
    /* After the engine flushed: sessions whose WebSocket is elsewhere
       move there, proxies done are dropped, the pin moves. */
    void after_flush();

    /* A local session closed (the engine's monitor says so). */
    void session_closed(const eio::Session& s, eio::Reason reason);

    /* This worker's counters in the zone. */
    bus::Stats* stats() noexcept;

    /* --- connection state recovery (recovery.cpp) --- */

    /* `window` 0: off. On, the log keeps its history and recoverable
       packets carry offsets. */
    void enable_recovery(eio::Millis window);
    bool recovers() const noexcept { return recovery_window_ > 0; }
    /* A fresh socket's pid, and where in the log it starts. */
    std::string recovery_pid() { return engine_.make_id(); }
    std::uint64_t recovery_floor() const noexcept { return cursor_; }
    eio::Millis now() const noexcept { return engine_.now(); }
    void persist(std::string_view pid, std::uint64_t floor,
                 std::string_view nsp, const std::vector<std::string>& rooms,
                 std::string_view socket, bool live);
    void forget_kept(std::string_view pid);
    /* Finds the socket kept under `pid` in the log's history, and what
       it missed after `offset` (or since it connected). */
    std::variant<sio::Kept, sio::Refusal> restore(
        std::string_view nsp, std::string_view pid,
        std::optional<std::uint64_t> offset, std::size_t max_bytes);

    /* Records dropped because they did not decode (logged as warnings). */
    std::uint64_t records_dropped() const noexcept { return dropped_; }

private:
    class PollProxy;
    class PostProxy;
    class WsProxy;
    struct Pending;
    struct RecordRef;

    /* --- membership.cpp --- */

    bool take_slot(std::int32_t pid, std::uint32_t generation,
                   std::uint32_t index);
    /* A slot's sessions and users out of the zone, a part at a time. */
    std::size_t erase_slot(std::uint16_t slot);
    std::vector<bus::UserRecord> remove_users(std::uint16_t slot);
    /* ... or kept away (recovery on): its clients may come back. */
    std::vector<bus::UserRecord> away_users(std::uint16_t slot);
    /* A worker died or left: what waits on it here is let go. */
    void slot_gone(std::uint16_t slot);
    void on(const records::SlotGone& m, const bus::Record& r);

    /* --- log_bus.cpp --- */

    /* A record for `to` (or any_slot): its log position, 0 when it waits
       for room (it is published later, in order) or was dropped. */
    template <typename T>
    std::uint64_t send(std::uint16_t to, const T& record);
    std::uint64_t publish(std::uint16_t to, Rec type, const Body& body);
    bool flush_pending();
    void wake_for(std::uint16_t to);
    void handle(const bus::Record& r);
    template <typename T>
    void dispatch(const bus::Record& r);
    /* A record that does not decode: a warning, counted, nothing else. */
    void drop(const bus::Record& r, DecodeError e);
    void update_pin();
    void relieve_pressure();
    void log(util::LogLevel level, const std::string& message)
    {
        host_.log(level, message);
    }

    /* --- forwarding.cpp --- */

    /* A request here that waits for a session elsewhere: its token. */
    template <typename T>
    std::uint64_t add_pending(std::string_view sid, std::uint16_t owner,
                              T* Pending::*which, T& request);
    /* A request here that waited went away: the owner is told. */
    template <typename T>
    void let_go(std::uint64_t token);
    /* The request here that an answer is for, taken out of pending_ (null
       when it went meanwhile). */
    template <typename T>
    T* take_pending(std::uint64_t token, T* Pending::*which);
    /* A request elsewhere that let go of a session here: the proxy goes,
       after `fn(session, proxy)` when the session is still here. */
    template <typename Proxies, typename Fn>
    void end_proxy(Proxies& proxies, std::uint16_t from, std::string_view sid,
                   std::uint64_t token, Fn fn);
    /* Departing: every request waiting here is answered as if done. */
    void release_pending();
    /* What waits here on `slot`, and what it asked of sessions here. */
    void end_requests_of(std::uint16_t slot);
    /* Proxies whose request was answered or closed. */
    void drop_finished_proxies();
    void on(const records::Post& m, const bus::Record& r);
    void on(const records::PostDone& m, const bus::Record& r);
    void on(const records::Poll& m, const bus::Record& r);
    void on(const records::PollGone& m, const bus::Record& r);
    void on(const records::PollReleased& m, const bus::Record& r);
    void on(const records::PollAnswer& m, const bus::Record& r);
    void on(const records::WsAttach& m, const bus::Record& r);
    void on(const records::WsRefuse& m, const bus::Record& r);
    void on(const records::WsIn& m, const bus::Record& r);
    void on(const records::WsOut& m, const bus::Record& r);
    void on(const records::WsClose& m, const bus::Record& r);
    void on(const records::WsGone& m, const bus::Record& r);

    /* --- migration.cpp --- */

    /* Sessions here whose WebSocket another worker holds move there. */
    void move_upgraded();
    void migrate(eio::Session& s, WsProxy& proxy);
    /* Rec::migrate: a session arrives (adopt). */
    void on(const records::Migrate& m, const bus::Record& r);
    void check_in_flight();

    /* --- broadcast.cpp --- */

    void on(const records::Broadcast& m, const bus::Record& r);
    /* This worker's sockets among those `m` selects get views of its
       frames in the log. `only`: a moved session's replay. */
    void deliver(const records::Broadcast& m, const bus::Record& r,
                 eio::Session* only);
    /* The frames as views of the log's bytes that pin the record while a
       socket holds one. */
    void views(const bus::Record& r, const StringList& frames,
               std::vector<eio::EncodedPtr>& out);
    /* Views of records older than `keep_from` become private copies;
       how many packets were copied. */
    std::size_t copy_views_before(std::uint64_t keep_from);

    /* --- recovery.cpp --- */

    void on(const records::Persist& m, const bus::Record& r);
    void on(const records::Forget& m, const bus::Record& r);
    /* The index of kept pids from the log's history below the cursor. */
    void build_kept(std::uint64_t from);
    /* Where the latest record kept under `pid` is (also among records not
       read yet), if anywhere in [from, end). */
    std::optional<std::uint64_t> kept_at(std::string_view pid,
                                         std::uint64_t from,
                                         std::uint64_t end);
    /* Whether the worker of a live socket's record still runs. */
    bool owner_lives(std::uint16_t owner, std::uint32_t generation,
                     std::int32_t process);

    /* --- users.cpp --- */

    void on(const records::UserPut& m, const bus::Record& r);
    void on(const records::UserRemoved& m, const bus::Record& r);

    /* --- state --- */

    bus::Zone& zone_;
    bus::Log log_;
    eio::Engine& engine_;
    sio::Server* sio_;
    Host& host_;

    /* membership */
    bus::LifeLocks life_locks_;
    bus::Liveness& liveness_;
    std::uint16_t slot_ = bus::any_slot;
    std::uint32_t generation_ = 0;
    bool departed_ = false;

    /* users */
    UserListener* users_ = nullptr;

    /* recovery: how long a kept socket may be found again (0: off) */
    eio::Millis recovery_window_ = 0;
    /* where the latest persist record of each kept pid is, as read from
       the log (built from the history at the first recovery, then kept as
       records are read): a pid that is not here costs no scan */
    std::unordered_map<std::string, std::uint64_t> kept_;
    bool kept_built_ = false;
    std::size_t kept_puts_ = 0;

    /* log bus */
    std::uint64_t cursor_ = 0;
    std::uint64_t seen_pressure_ = 0;
    std::uint64_t dropped_ = 0;
    /* records waiting for room in the log, in order */
    struct Unpublished {
        std::uint16_t to;
        Rec type;
        std::string body;
    };
    std::deque<Unpublished> unpublished_;
    eio::Millis unpublished_since_ = 0;

    /* forwarding */
    std::uint64_t next_token_ = 1;
    /* requests here waiting for an owner elsewhere */
    std::unordered_map<std::uint64_t, std::unique_ptr<Pending>> pending_;
    /* requests elsewhere attached to sessions here, by (origin, token) */
    std::map<std::pair<std::uint16_t, std::uint64_t>,
             std::unique_ptr<PollProxy>> polls_;
    std::map<std::pair<std::uint16_t, std::uint64_t>,
             std::unique_ptr<WsProxy>> wss_;
    /* POSTs elsewhere whose packets sessions here handle over turns */
    std::vector<std::unique_ptr<PostProxy>> posts_;

    /* broadcast: records the sockets here still view, in log order (a
       migration's replay views older records than the last read: they
       go in their place, or the pin would pass them) */
    struct HeldRecord {
        std::uint64_t pos;
        std::weak_ptr<RecordRef> ref;
    };
    std::deque<HeldRecord> refs_;

    /* migration: sessions moved away, until the other worker has them */
    struct InFlight {
        std::string sid;
        std::uint16_t to;
        std::string state;
        eio::Millis since;
    };
    std::vector<InFlight> in_flight_;
};

/* The Socket.IO adapter over the log: rooms are this worker's; a
   broadcast goes to every worker, each picking its own sockets (through
   for_each, which selects this worker's sockets only). */
class SharedAdapter final : public sio::Adapter {
public:
    SharedAdapter(Node& node, std::string nsp) : node_(node),
                                                  nsp_(std::move(nsp)) {}

    void add(sio::Socket& s, std::string_view room) override
    {
        local_.add(s, room);
    }
    void remove(sio::Socket& s, std::string_view room) override
    {
        local_.remove(s, room);
    }
    void remove_all(sio::Socket& s) override { local_.remove_all(s); }
    void broadcast(const std::vector<eio::EncodedPtr>& packets,
                   const sio::BroadcastOptions& opts) override
    {
        node_.broadcast(nsp_, opts, packets);
    }
    void for_each(const sio::BroadcastOptions& opts,
                  const std::function<void(sio::Socket&)>& fn) override
    {
        local_.for_each(opts, fn);
    }
    std::size_t size() const override { return local_.size(); }
    std::vector<std::string> rooms_of(const sio::Socket& s) const override
    {
        return local_.rooms_of(s);
    }

    sio::LocalAdapter& local() noexcept { return local_; }

private:
    Node& node_;
    std::string nsp_;
    sio::LocalAdapter local_;
};

}  // namespace socketio::cluster
