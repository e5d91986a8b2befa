/*
 * Several workers of one zone in one test process: each has its own
 * eio::Engine, sio::Server (the chat on "/", a room-joining recorder on
 * "/rec", both over cluster::SharedAdapter) and cluster::Node, joined with
 * a fake pid; the zone is a plain buffer. A fake cluster::Host records
 * wake-ups; the harness runs a worker only when something asked for it,
 * as nginx would (a wake-up from another worker, schedule(), retry_later(),
 * or its engine's waker for a flush), until nobody is asked to run, and
 * then checks that no worker was left asleep with records for it unread.
 * Time is a number: Cluster::now.
 */
#pragma once

#include "bus_support.hpp"
#include "fakes.hpp"

#include "core/bus/directory.hpp"
#include "core/bus/log.hpp"
#include "core/bus/table.hpp"
#include "core/bus/zone.hpp"
#include "core/chat/chat.hpp"
#include "core/cluster/node.hpp"
#include "core/cluster/records.hpp"
#include "core/cluster/recovery.hpp"
#include "core/cluster/shared_directory.hpp"
#include "core/eio/engine.hpp"
#include "core/eio/session.hpp"
#include "core/sio/packet.hpp"
#include "core/sio/server.hpp"
#include "core/sio/socket.hpp"

#include <boost/json/value.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clustertest {

namespace bus = socketio::bus;
namespace eio = socketio::eio;
namespace sio = socketio::sio;
namespace chat = socketio::chat;
namespace cluster = socketio::cluster;
using Strings = std::vector<std::string>;
using Where = cluster::Node::Where;
using LogLevel = socketio::util::LogLevel;

/*
 * Liveness for workers that all run in this one process: a slot lives
 * while the pid it records is not in `dead` (the module asks the slot's
 * life lock, which one process cannot hold for several dying workers).
 */
class PidLiveness final : public bus::Liveness {
public:
    bool take(bus::Slot&) noexcept override { return true; }
    void give_back(bus::Slot&) noexcept override {}
    bool alive(bus::Slot& s) noexcept override
    {
        std::int32_t pid = s.pid.load();
        return pid <= 0 || dead.count(pid) == 0;
    }

    std::set<std::int32_t> dead;
};

/* What the web server does for a node: recorded. */
class FakeHost final : public cluster::Host {
public:
    bool wake(std::uint16_t slot) override
    {
        wakes.push_back(slot);
        if (on_wake) {
            on_wake(slot);
        }
        return true;
    }
    void schedule() override
    {
        schedules++;
        runnable = true;
    }
    void retry_later() override
    {
        retries++;
        runnable = true;
    }
    void log(socketio::util::LogLevel level, std::string_view message) override
    {
        logs.emplace_back(level, std::string(message));
    }
    void users_gone(const std::vector<bus::UserRecord>& users) override
    {
        gone.insert(gone.end(), users.begin(), users.end());
        if (on_users_gone) {
            on_users_gone(users);
        }
    }

    /* log lines of this level that contain `part` */
    int count_logs(socketio::util::LogLevel level, std::string_view part) const
    {
        int n = 0;
        for (const auto& [l, m] : logs) {
            if (l == level && m.find(part) != std::string::npos) {
                n++;
            }
        }
        return n;
    }

    std::vector<std::uint16_t> wakes;         /* slots this node woke */
    int schedules = 0;
    int retries = 0;
    bool runnable = false;                    /* consume() is due */
    std::vector<std::pair<socketio::util::LogLevel, std::string>> logs;
    std::vector<bus::UserRecord> gone;
    std::function<void(std::uint16_t)> on_wake;
    std::function<void(const std::vector<bus::UserRecord>&)> on_users_gone;
};

/* A WebSocket connection that writes at once: what it carried, as
   Engine.IO packets (it keeps no reference to them). */
class WireLink final : public eio::WebSocketLink {
public:
    void send(const std::vector<eio::EncodedPtr>& packets) override
    {
        if (closes > 0) {
            sent_after_close++;
        }
        for (const auto& p : packets) {
            got.emplace_back(p->packet());
        }
    }
    void close(std::uint16_t c, std::string_view r) override
    {
        closes++;
        code = c;
        reason.assign(r);
    }
    std::size_t backlog() const noexcept override { return 0; }

    Strings got;
    int closes = 0;
    int sent_after_close = 0;
    std::uint16_t code = 0;
    std::string reason;
};

/* A WebSocket here for a session another worker owns. Frames the owner
   sends and, once the session moved here, what the session sends, are one
   stream, as on the wire. */
class FakeRemoteWs final : public cluster::RemoteWs,
                           public eio::WebSocketLink {
public:
    void deliver(const std::vector<eio::EncodedPtr>& frames) override
    {
        if (closes > 0) {
            sent_after_close++;
        }
        delivered += frames.size();
        for (const auto& f : frames) {
            got.emplace_back(f->packet());
        }
    }
    void send(const std::vector<eio::EncodedPtr>& packets) override
    {
        if (closes > 0) {
            sent_after_close++;
        }
        for (const auto& p : packets) {
            got.emplace_back(p->packet());
        }
    }
    /* cluster::RemoteWs and eio::WebSocketLink alike */
    void close(std::uint16_t c, std::string_view r) override
    {
        closes++;
        code = c;
        reason.assign(r);
    }
    std::size_t backlog() const noexcept override { return 0; }
    eio::WebSocketLink& link() override { return *this; }
    void adopted(eio::Session& s) override
    {
        adoptions++;
        session = &s;
    }

    Strings got;
    std::size_t delivered = 0;
    int closes = 0;
    int sent_after_close = 0;
    std::uint16_t code = 0;
    std::string reason;
    int adoptions = 0;
    eio::Session* session = nullptr;
};

class FakeRemotePoll final : public cluster::RemotePoll {
public:
    void answer(std::string_view payload) override
    {
        answers.emplace_back(payload);
    }
    void fail(eio::Error e) override { fails.push_back(e); }
    std::size_t calls() const { return answers.size() + fails.size(); }

    Strings answers;
    std::vector<eio::Error> fails;
};

class FakeRemotePost final : public cluster::RemotePost {
public:
    void done(std::optional<eio::Error> e) override { results.push_back(e); }

    std::vector<std::optional<eio::Error>> results;
};

/* "/rec": joins the rooms its auth names ({"rooms":[...]}), records
   events and disconnections. */
class RoomsHandler final : public sio::Handler {
public:
    void on_connect(sio::Socket& socket,
                    const boost::json::value& auth) override
    {
        connects++;
        if (const auto* o = auth.if_object()) {
            if (const auto* rooms = o->if_contains("rooms")) {
                for (const auto& r : rooms->as_array()) {
                    socket.join(std::string(r.as_string()));
                }
            }
        }
    }
    void on_event(sio::Socket& socket, const sio::Event& ev) override
    {
        events.push_back(socket.id() + " " + std::string(ev.name())
                         + std::string(ev.rest()));
    }
    void on_disconnect(sio::Socket& socket, std::string_view reason) override
    {
        disconnects.push_back(socket.id() + " " + std::string(reason));
    }

    int connects = 0;
    Strings events;
    Strings disconnects;
};

/* One worker: engine, Socket.IO server, node, chat; its counters kept
   as the module's Runtime keeps them. */
class Worker {
public:
    Worker(bus::Zone& zone, bus::Liveness* liveness, std::string n,
           std::uint64_t seed, eio::Config config)
        : name(std::move(n)),
          server(10000),
          engine(config, server, random, waker),
          node(zone, engine, &server, host, liveness),
          directory(node),
          chat(directory, {}),
          monitor(*this)
    {
        random.next = seed;
        server.add_namespace(
            "/", chat, std::make_unique<cluster::SharedAdapter>(node, "/"));
        server.add_namespace(
            "/rec", rooms,
            std::make_unique<cluster::SharedAdapter>(node, "/rec"));
        engine.set_monitor(&monitor);
        host.on_users_gone = [this](const std::vector<bus::UserRecord>& u) {
            /* as the Runtime does: the chat tells who listens */
            std::vector<chat::User> users;
            for (const auto& r : u) {
                users.push_back(chat::User{r.key, r.name, r.socket_id});
            }
            chat.users_gone(*server.find("/"), users);
        };
    }

    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    std::uint16_t slot() const { return node.slot(); }
    eio::Session* find(const std::string& sid) { return engine.find(sid); }
    bus::Stats& stats() { return *node.stats(); }

    struct Monitor final : eio::Monitor {
        explicit Monitor(Worker& w) : w(w) {}
        void on_session_opened(const eio::Session& s) override
        {
            if (bus::Stats* st = w.node.stats()) {
                st->sessions++;
                (s.transport() == eio::TransportKind::polling ? st->polling
                                                              : st->websocket)++;
                if (!s.upgraded()) {
                    st->handshakes++;
                }
            }
        }
        void on_session_upgraded(const eio::Session&) override
        {
            if (bus::Stats* st = w.node.stats()) {
                st->polling--;
                st->websocket++;
            }
        }
        void on_session_closed(const eio::Session& s,
                               eio::Reason reason) override
        {
            w.closed.push_back(s.sid() + " " + std::string(eio::text(reason)));
            if (bus::Stats* st = w.node.stats()) {
                st->sessions--;
                (s.transport() == eio::TransportKind::polling ? st->polling
                                                              : st->websocket)--;
            }
            w.node.session_closed(s, reason);
        }
        Worker& w;
    };

    std::string name;
    FakeHost host;
    fakes::CountingRandom random;
    fakes::CountingWaker waker;
    sio::Server server;
    eio::Engine engine;
    cluster::Node node;
    cluster::SharedDirectory directory;
    chat::Chat chat;
    RoomsHandler rooms;
    Monitor monitor;

    Strings closed;              /* "sid reason" of each session closed */
    bool dead = false;           /* killed: never runs again */
    bool paused = false;         /* busy elsewhere: runs when resumed */
    int flushed_wakes = 0;       /* the waker's count at the last flush */
    int handled_inputs = 0;      /* ...and of input waiting, handled */
};

/* Connection state recovery on for a worker (a one-minute window). */
struct Recovering {
    explicit Recovering(Worker& w, std::size_t max = 1 << 20)
        : recovery(w.node, w.host, max)
    {
        w.node.enable_recovery(60000);
        w.server.set_recovery(&recovery);
    }
    cluster::ZoneRecovery recovery;
};

/* The Engine.IO packet a broadcast of this event carries. */
inline std::string ev(std::string_view nsp, std::string_view event,
                      std::string_view args = "[]")
{
    return std::string(
        sio::encode(sio::PacketType::event, nsp, std::nullopt, 0,
                    sio::event_payload(event, args))
            ->packet());
}

inline std::size_t count(const Strings& v, const std::string& s)
{
    return static_cast<std::size_t>(std::count(v.begin(), v.end(), s));
}

/* Those of `v` that start with `prefix`, in order. */
inline Strings starting(const Strings& v, std::string_view prefix)
{
    Strings out;
    for (const auto& s : v) {
        if (s.compare(0, prefix.size(), prefix) == 0) {
            out.push_back(s);
        }
    }
    return out;
}

inline sio::Socket* socket_of(eio::Session* s, std::string_view nsp)
{
    if (s == nullptr) {
        return nullptr;
    }
    auto* client = dynamic_cast<sio::Client*>(&s->endpoint());
    if (client == nullptr) {
        return nullptr;
    }
    for (const auto& sock : client->sockets()) {
        if (sock->nsp_name() == nsp) {
            return sock.get();
        }
    }
    return nullptr;
}

class Cluster {
public:
    /* `log_cap`: the log cut down to this many bytes (0: as laid out) */
    explicit Cluster(std::size_t log_cap = 0)
        : buf_(bus::Zone::min_size)
    {
        if (!zone.attach(buf_.data(), buf_.size(), true, 42)) {
            throw std::runtime_error("zone attach");
        }
        if (log_cap != 0) {
            zone.header().log_cap = log_cap;
        }
        log = std::make_unique<bus::Log>(zone);
    }

    ~Cluster()
    {
        /* nodes leave as they go: nobody is woken any more */
        for (auto& w : workers_) {
            w->host.on_wake = nullptr;
            w->host.on_users_gone = nullptr;
        }
        while (!workers_.empty()) {
            workers_.pop_back();
        }
    }

    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    /* A worker with its own ids (seeded apart), joined as `pid`. */
    Worker& add(std::string name, std::int32_t pid, bool join = true,
                eio::Config config = {}, std::uint32_t generation = 1)
    {
        std::uint64_t seed = (static_cast<std::uint64_t>(workers_.size()) + 1)
                             << 40;
        workers_.push_back(std::make_unique<Worker>(
            zone, &liveness, std::move(name), seed, config));
        Worker& w = *workers_.back();
        w.host.on_wake = [this](std::uint16_t slot) {
            if (Worker* t = at(slot)) {
                t->host.runnable = true;
            }
        };
        w.engine.set_now(now);
        if (join) {
            EXPECT_TRUE(w.node.join(pid, generation, static_cast<std::uint32_t>(
                                                 workers_.size() - 1)))
                << w.name;
            w.host.runnable = true;       /* the Runtime consumes at start */
        }
        return w;
    }

    /* The live worker holding a slot. */
    Worker* at(std::uint16_t slot)
    {
        for (auto& w : workers_) {
            if (!w->dead && w->node.joined() && w->slot() == slot) {
                return w.get();
            }
        }
        return nullptr;
    }

    /* A worker is killed (-9): it runs no more, its pid is gone. */
    void kill(Worker& w, std::int32_t pid)
    {
        w.dead = true;
        liveness.dead.insert(pid);
    }

    /* --- running the workers, as nginx's event loop would --- */

    void consume(Worker& w)
    {
        w.engine.set_now(now);
        w.host.runnable = false;
        w.node.consume();
    }

    void flush(Worker& w)
    {
        w.engine.set_now(now);
        w.flushed_wakes = w.waker.wakes;
        w.engine.flush();
        w.node.after_flush();
    }

    /* What is due for one worker; false: nothing was. */
    bool step(Worker& w)
    {
        if (w.dead || w.paused) {
            return false;
        }
        bool did = false;
        if (w.host.runnable) {
            consume(w);
            did = true;
        }
        if (w.waker.inputs != w.handled_inputs) {
            /* a POST's next slice, as the next turn of the loop runs it */
            w.handled_inputs = w.waker.inputs;
            w.engine.set_now(now);
            w.engine.continue_input();
            did = true;
        }
        if (w.waker.wakes != w.flushed_wakes) {
            flush(w);
            did = true;
        }
        return did;
    }

    /* Runs whoever is due until nobody is. false: it did not settle. */
    bool settle(int max_rounds = 1000)
    {
        for (int i = 0; i < max_rounds; i++) {
            bool any = false;
            for (auto& w : workers_) {
                any |= step(*w);
            }
            if (!any) {
                check_wakeups();
                return true;
            }
        }
        return false;
    }

    /* A live worker asleep with records for it unread missed a wake-up. */
    void check_wakeups()
    {
        for (auto& w : workers_) {
            if (w->dead || w->paused || !w->node.joined()) {
                continue;
            }
            bus::Slot& s = zone.slot(w->slot());
            if (s.state.load() != static_cast<std::uint32_t>(
                                      bus::SlotState::alive))
            {
                continue;
            }
            for (std::uint64_t pos = s.cursor.load(); pos < log->head();) {
                bus::Record r = log->read(pos);
                if (r.header->to == bus::any_slot
                    || r.header->to == w->slot())
                {
                    ADD_FAILURE() << w->name << " (slot " << w->slot()
                                  << ") sleeps with record type "
                                  << r.header->type << " unread";
                    break;
                }
                pos = r.next;
            }
        }
    }

    /* --- clients --- */

    /* A polling handshake on `w` (the GET that carries the open packet
       answered); the session's id. */
    std::string open_polling(Worker& w)
    {
        w.engine.set_now(now);
        std::string sid = w.engine.make_id();
        EXPECT_TRUE(w.node.reserve(sid));
        w.engine.open(eio::TransportKind::polling, now, nullptr, sid);
        fakes::FakePoll& g = get(w, sid);
        EXPECT_EQ(g.responses.size(), 1u);
        EXPECT_TRUE(!g.responses.empty() && g.responses[0][0] == '0');
        return sid;
    }

    /* A WebSocket handshake on `w`; its link (the open packet taken). */
    struct Ws {
        std::string sid;
        WireLink* link = nullptr;
    };

    Ws open_ws(Worker& w)
    {
        w.engine.set_now(now);
        Ws c;
        c.sid = w.engine.make_id();
        EXPECT_TRUE(w.node.reserve(c.sid));
        links_.push_back(std::make_unique<WireLink>());
        c.link = links_.back().get();
        w.engine.open(eio::TransportKind::websocket, now, c.link, c.sid);
        EXPECT_TRUE(settle());
        EXPECT_EQ(c.link->got.size(), 1u);
        c.link->got.clear();
        return c;
    }

    /* The same over a link the test provides. */
    std::string open_ws_with(Worker& w, eio::WebSocketLink& link)
    {
        w.engine.set_now(now);
        std::string sid = w.engine.make_id();
        EXPECT_TRUE(w.node.reserve(sid));
        w.engine.open(eio::TransportKind::websocket, now, &link, sid);
        EXPECT_TRUE(settle());
        return sid;
    }

    /* A GET on the worker that has the session; settled. */
    fakes::FakePoll& get(Worker& w, const std::string& sid)
    {
        polls_.push_back(std::make_unique<fakes::FakePoll>());
        fakes::FakePoll& g = *polls_.back();
        eio::Session* s = w.find(sid);
        EXPECT_NE(s, nullptr) << "no session " << sid << " on " << w.name;
        if (s != nullptr) {
            auto err = s->on_poll(g, now);
            EXPECT_FALSE(err.has_value());
        }
        EXPECT_TRUE(settle());
        return g;
    }

    /* A POST on the worker that has the session; settled. */
    std::optional<eio::Error> post(Worker& w, const std::string& sid,
                                   std::string_view payload)
    {
        eio::Session* s = w.find(sid);
        EXPECT_NE(s, nullptr) << "no session " << sid << " on " << w.name;
        if (s == nullptr) {
            return eio::Error::unknown_sid;
        }
        std::optional<eio::Error> err = s->begin_post();
        if (!err) {
            err = s->on_post(std::string(payload), now).error;
        }
        EXPECT_TRUE(settle());
        return err;
    }

    /* A text frame from the client of a WebSocket session on `w`. */
    void ws_send(Worker& w, const std::string& sid, std::string_view data)
    {
        eio::Session* s = w.find(sid);
        ASSERT_NE(s, nullptr) << "no session " << sid << " on " << w.name;
        ASSERT_NE(s->websocket(), nullptr);
        s->on_ws_message(*s->websocket(), false, data, now);
        EXPECT_TRUE(settle());
    }

    /* A broadcast of one event, as a handler on `w` makes it. */
    void broadcast(Worker& w, std::string_view nsp, std::string_view event,
                   std::string_view args = "[]", Strings rooms = {},
                   Strings except = {})
    {
        auto p = sio::encode(sio::PacketType::event, nsp, std::nullopt, 0,
                             sio::event_payload(event, args));
        sio::BroadcastOptions o;
        o.rooms = std::move(rooms);
        o.except = std::move(except);
        w.server.find(nsp)->adapter().broadcast({p}, o);
    }

    FakeRemotePoll& remote_poll()
    {
        rpolls_.push_back(std::make_unique<FakeRemotePoll>());
        return *rpolls_.back();
    }
    FakeRemotePost& remote_post()
    {
        rposts_.push_back(std::make_unique<FakeRemotePost>());
        return *rposts_.back();
    }
    FakeRemoteWs& remote_ws()
    {
        rws_.push_back(std::make_unique<FakeRemoteWs>());
        return *rws_.back();
    }

    /* --- the zone, as a test reads it --- */

    std::optional<bus::Owner> owner_of(const std::string& sid)
    {
        return bus::SessionTable(zone).find(sid);
    }

    std::optional<bus::UserRecord> user_named(std::string_view name)
    {
        for (auto& u : bus::Directory(zone).list()) {
            if (u.name == name) {
                return u;
            }
        }
        return std::nullopt;
    }

    bus::SlotState state(std::uint16_t slot)
    {
        return static_cast<bus::SlotState>(zone.slot(slot).state.load());
    }

    eio::Millis now = 1000;

private:
    bustest::Buffer buf_;

public:
    bus::Zone zone;
    PidLiveness liveness;
    std::unique_ptr<bus::Log> log;

private:
    /* the web server's side of things outlives the workers */
    std::deque<std::unique_ptr<WireLink>> links_;
    std::deque<std::unique_ptr<fakes::FakePoll>> polls_;
    std::deque<std::unique_ptr<FakeRemotePoll>> rpolls_;
    std::deque<std::unique_ptr<FakeRemotePost>> rposts_;
    std::deque<std::unique_ptr<FakeRemoteWs>> rws_;
    std::vector<std::unique_ptr<Worker>> workers_;
};

/* A WebSocket for a session that `owner` holds arrives at `at` and
   probes ("2probe", settled): the link, and the token that names it. */
struct Upgrade {
    FakeRemoteWs* ws = nullptr;
    std::uint64_t token = 0;
};

inline Upgrade probe(Cluster& c, Worker& owner, Worker& at,
                     const std::string& sid)
{
    Upgrade u;
    u.ws = &c.remote_ws();
    std::uint16_t where = bus::any_slot;
    EXPECT_EQ(at.node.locate(sid, &where), Where::remote);
    EXPECT_EQ(where, owner.slot());
    u.token = at.node.ws_attach(sid, owner.slot(), *u.ws);
    EXPECT_TRUE(c.settle());
    at.node.ws_in(u.token, false, "2probe");
    EXPECT_TRUE(c.settle());
    return u;
}

/* Event arguments `[i,"ppp..."]`, `pad` characters of padding. */
inline std::string padded(int i, std::size_t pad)
{
    return "[" + std::to_string(i) + ",\"" + std::string(pad, 'p') + "\"]";
}

}  // namespace clustertest
