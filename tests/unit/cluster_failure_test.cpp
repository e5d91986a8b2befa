/*
 * When workers fail or go: a worker killed with -9 is cleaned up after by
 * the next one that joins (its sessions and users dropped, its users
 * announced gone, what waits on it answered, a lock it held freed), or by
 * one whose publishing its stale pin blocks; a log too small for what a
 * slow socket holds (views copied out, publishing resumes, nothing lost);
 * a worker that departs (its requests answered, no wake-ups, no pin).
 */
#include "cluster_harness.hpp"

#include <map>

using namespace clustertest;

namespace {

/* A named chat user polling on `w`. */
std::string chat_user(Cluster& c, Worker& w, const std::string& name)
{
    std::string sid = c.open_polling(w);
    c.post(w, sid, "40");
    c.post(w, sid, "42[\"login\",\"" + name + "\"]");
    c.get(w, sid);
    return sid;
}

/* A "/rec" session polling on `w`, its CONNECT answer taken. */
std::string rec_polling(Cluster& c, Worker& w, const std::string& auth = "")
{
    std::string sid = c.open_polling(w);
    c.post(w, sid, "40/rec," + auth);
    EXPECT_EQ(c.get(w, sid).responses.size(), 1u);
    return sid;
}

}  // namespace

TEST(ClusterDeadWorker, TheNextWorkerToJoinCleansUpAfterIt)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);
    Worker& x = c.add("C", 103);

    /* carol listens on C, in the events dialect */
    Cluster::Ws carol = c.open_ws(x);
    c.ws_send(x, carol.sid, "40");
    c.ws_send(x, carol.sid, "42[\"join\",{\"name\":\"carol\"}]");

    /* alice lives on A; erin was made on A but moved to B */
    std::string alice_sid = chat_user(c, a, "alice");
    std::string erin_sid = chat_user(c, a, "erin");
    Upgrade ue = probe(c, a, b, erin_sid);
    b.node.ws_in(ue.token, false, "5");
    ASSERT_TRUE(c.settle());
    ASSERT_NE(b.find(erin_sid), nullptr);
    auto alice = c.user_named("alice");
    ASSERT_TRUE(alice.has_value());
    EXPECT_EQ(c.zone.header().users.load(), 3u);

    /* B waits on A: a GET parked at A, a WebSocket probing at A */
    std::string probed_sid = c.open_polling(a);
    FakeRemotePoll& parked = c.remote_poll();
    b.node.poll(alice_sid, a.slot(), parked);
    Upgrade up = probe(c, a, b, probed_sid);
    ASSERT_EQ(up.ws->got, Strings{"3probe"});
    EXPECT_EQ(parked.calls(), 0u);

    /* A waits on B: a GET parked at B, a WebSocket probing at B */
    std::string b_polled = c.open_polling(b);
    std::string b_probed = c.open_polling(b);
    FakeRemotePoll& a_parked = c.remote_poll();
    a.node.poll(b_polled, b.slot(), a_parked);
    probe(c, b, a, b_probed);
    ASSERT_TRUE(b.find(b_probed)->upgrading());
    carol.link->got.clear();

    /* A is killed; requests sent to it after are never read */
    const std::uint16_t dead_slot = a.slot();
    c.kill(a, 101);
    FakeRemotePoll& late_poll = c.remote_poll();
    FakeRemotePost& late_post = c.remote_post();
    FakeRemoteWs& late_ws = c.remote_ws();
    b.node.poll(probed_sid, dead_slot, late_poll);
    b.node.post(alice_sid, dead_slot, "42[\"new message\",\"x\"]", late_post);
    b.node.ws_attach(alice_sid, dead_slot, late_ws);
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(late_poll.calls() + late_post.results.size()
                  + late_ws.closes,
              0u);

    /* nobody noticed yet: the table still says A */
    std::uint16_t owner = 0;
    EXPECT_EQ(b.node.locate(alice_sid, &owner), Where::remote);

    /* ...and it died while writing a record into the log: the others
       stop at it, as at any record not committed yet */
    auto half = c.log->publish(dead_slot, bus::any_slot,
                               static_cast<std::uint16_t>(
                                   cluster::Rec::broadcast),
                               {"half written"});
    ASSERT_TRUE(half.has_value());
    auto* rh = reinterpret_cast<bus::RecordHeader*>(
        c.zone.at(c.zone.header().log_off)
        + *half % c.zone.header().log_cap);
    rh->type = bus::record_writing;
    c.zone.slot(dead_slot).writing.store(*half);
    EXPECT_TRUE(c.log->read(*half).writing);

    /* its replacement joins: the record is skipped by all from now */
    Worker& d = c.add("D", 104);
    EXPECT_NE(d.slot(), dead_slot);
    EXPECT_EQ(rh->type, bus::record_padding);
    EXPECT_EQ(c.zone.slot(dead_slot).writing.load(), bus::no_pin);
    EXPECT_EQ(c.state(dead_slot), bus::SlotState::free);
    EXPECT_EQ(d.host.count_logs(LogLevel::warn, "died"), 1);

    /* A's sessions and users are gone from the zone; erin stays */
    for (const std::string& sid : {alice_sid, probed_sid}) {
        EXPECT_FALSE(c.owner_of(sid).has_value());
        EXPECT_EQ(b.node.locate(sid, &owner), Where::unknown);
    }
    EXPECT_FALSE(c.user_named("alice").has_value());
    ASSERT_TRUE(c.user_named("erin").has_value());
    EXPECT_EQ(c.user_named("erin")->slot, b.slot());
    EXPECT_EQ(c.zone.header().users.load(), 2u);
    ASSERT_EQ(d.host.gone.size(), 1u);
    EXPECT_EQ(d.host.gone[0].name, "alice");
    EXPECT_EQ(d.host.gone[0].key, alice->key);

    ASSERT_TRUE(c.settle());

    /* every worker's own copy of the users lost alice, and only her */
    for (Worker* w : {&b, &x, &d}) {
        EXPECT_FALSE(w->directory.find(alice->key).has_value()) << w->name;
        ASSERT_EQ(w->directory.list().size(), 2u) << w->name;
        EXPECT_TRUE(w->directory.find(c.user_named("erin")->key).has_value())
            << w->name;
    }

    /* what waited at B on A is answered */
    EXPECT_TRUE(parked.answers.empty());
    EXPECT_EQ(parked.fails, std::vector<eio::Error>{eio::Error::unknown_sid});
    EXPECT_EQ(late_poll.fails,
              std::vector<eio::Error>{eio::Error::unknown_sid});
    ASSERT_EQ(late_post.results.size(), 1u);
    EXPECT_EQ(late_post.results[0], eio::Error::unknown_sid);
    for (FakeRemoteWs* w : {up.ws, &late_ws}) {
        EXPECT_EQ(w->closes, 1);
        EXPECT_EQ(w->code, 1011);
        EXPECT_EQ(w->reason, "worker gone");
        EXPECT_EQ(w->adoptions, 0);
    }

    /* what A's requests held at B is let go: the GET as if its client
       left, the probe dropped */
    EXPECT_EQ(b.find(b_polled), nullptr);
    EXPECT_EQ(count(b.closed, b_polled + " transport error"), 1u);
    ASSERT_NE(b.find(b_probed), nullptr);
    EXPECT_FALSE(b.find(b_probed)->upgrading());
    EXPECT_EQ(b.find(b_probed)->state(), eio::Session::State::open);

    /* carol is told alice left, once */
    EXPECT_EQ(carol.link->got,
              Strings{"42[\"user disconnected\",\"" + alice->key + "\"]"});

    /* erin goes on */
    c.ws_send(x, carol.sid, "42[\"new message\",\"still there?\"]");
    EXPECT_EQ(count(ue.ws->got, "42[\"message\",\"carol: still there?\"]"),
              1u);
    c.ws_send(b, erin_sid, "42[\"new message\",\"yes\"]");
    EXPECT_EQ(count(carol.link->got,
                    "42[\"new chat msg\",{\"key\":\""
                        + c.user_named("erin")->key
                        + "\",\"sender\":\"erin\",\"message\":\"yes\"}]"),
              1u);

    /* the slot is taken again, and the log works for its new owner */
    Worker& e = c.add("E", 105);
    EXPECT_EQ(e.slot(), dead_slot);
    c.broadcast(e, "/", "hello", "[]", {"chat:events"});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(carol.link->got.back(), ev("/", "hello"));
}

TEST(ClusterDeadWorker, ItsStalePinIsLetGoWhenTheLogFills)
{
    Cluster c(8192);
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);
    ASSERT_TRUE(c.settle());

    Cluster::Ws ws = c.open_ws(b);
    c.ws_send(b, ws.sid, "40/rec,");
    ws.link->got.clear();

    /* A dies and reads no more: its pin stays where it was */
    c.kill(a, 101);

    Strings want;
    for (int i = 0; i < 100; i++) {
        c.broadcast(b, "/rec", "m", padded(i, 100));
        want.push_back(ev("/rec", "m", padded(i, 100)));
        ASSERT_TRUE(c.settle()) << i;
    }

    EXPECT_GT(c.log->pressure(), 0u);
    EXPECT_EQ(b.host.count_logs(LogLevel::warn, "died"), 1);
    EXPECT_EQ(c.state(a.slot()), bus::SlotState::free);
    EXPECT_EQ(ws.link->got, want);
    EXPECT_EQ(b.host.count_logs(LogLevel::error, "dropped"), 0);
}

TEST(ClusterLogPressure, HoldersCopyWhatTheyViewAndPublishingResumes)
{
    constexpr std::size_t cap = 16384;
    constexpr int n = 200;
    fakes::FakeLink slow;             /* outlives the workers */
    Cluster c(cap);
    Worker& h = c.add("H", 101);      /* holds views */
    Worker& p = c.add("P", 102);      /* publishes */
    Worker& f = c.add("F", 103);      /* reads at once */

    /* on H: a polling socket that never asks, and a WebSocket whose
       writes never complete (its link keeps every packet it is given) */
    std::string held = rec_polling(c, h);
    std::string slow_sid = c.open_ws_with(h, slow);
    c.ws_send(h, slow_sid, "40/rec,");
    const std::size_t slow_before = slow.sent.size();

    Cluster::Ws fast = c.open_ws(f);
    c.ws_send(f, fast.sid, "40/rec,");
    fast.link->got.clear();

    const std::uint64_t tail0 = c.log->tail();
    Strings want;
    std::uint64_t pressure_at = 0;
    for (int i = 0; i < n; i++) {
        c.broadcast(p, "/rec", "m", padded(i, 300));
        want.push_back(ev("/rec", "m", padded(i, 300)));
        ASSERT_TRUE(c.settle()) << i;
        if (i == 0) {
            /* one copy, in the log, for every socket of H */
            ASSERT_EQ(slow.sent.size(), slow_before + 1);
            EXPECT_TRUE(slow.sent.back()->is_view());
            EXPECT_EQ(c.log->pressure(), 0u);
        }
        if (pressure_at == 0 && c.log->pressure() > 0) {
            pressure_at = static_cast<std::uint64_t>(i) + 1;
        }
    }

    /* the log filled more than once, and came back each time */
    ASSERT_GT(pressure_at, 0u);
    EXPECT_LT(pressure_at, static_cast<std::uint64_t>(n) / 2);
    EXPECT_GT(c.log->tail(), tail0 + cap);
    EXPECT_GE(h.host.count_logs(LogLevel::info, "under pressure"), 1);
    EXPECT_GE(p.host.count_logs(LogLevel::warn, "log is full"), 1);
    EXPECT_EQ(p.host.count_logs(LogLevel::error, "dropped"), 0);
    EXPECT_FALSE(p.host.runnable);   /* nothing waits to be published */

    /* the reader that keeps up got everything, in order */
    EXPECT_EQ(fast.link->got, want);

    /* the slow link holds every packet, intact though the log moved on;
       the old ones are private copies now */
    ASSERT_EQ(slow.sent.size(), slow_before + n);
    Strings slow_got;
    std::size_t views = 0;
    for (std::size_t i = slow_before; i < slow.sent.size(); i++) {
        slow_got.emplace_back(slow.sent[i]->packet());
        views += slow.sent[i]->is_view() ? 1 : 0;
    }
    EXPECT_EQ(slow_got, want);
    EXPECT_FALSE(slow.sent[slow_before]->is_view());
    EXPECT_LT(views, static_cast<std::size_t>(n) / 2);

    /* the socket that never asked gets all of it when it does */
    fakes::FakePoll& g = c.get(h, held);
    ASSERT_EQ(g.responses.size(), 1u);
    EXPECT_EQ(fakes::split_payload(g.responses[0]), want);

    /* once they are written, H pins nothing older than it reads */
    slow.sent.clear();
    h.node.after_flush();
    EXPECT_EQ(c.zone.slot(h.slot()).pin.load(), c.log->head());
}

TEST(ClusterLogPressure, ASocketOverItsOutputLimitIsDropped)
{
    Cluster c;
    eio::Config small;
    small.max_buffered = 2000;
    Worker& h = c.add("H", 101, true, small);
    Worker& p = c.add("P", 102);

    std::string slow = rec_polling(c, h);          /* never asks again */
    Cluster::Ws fast = c.open_ws(h);
    c.ws_send(h, fast.sid, "40/rec,");
    fast.link->got.clear();

    Strings want;
    for (int i = 0; i < 10; i++) {
        c.broadcast(p, "/rec", "m", padded(i, 300));
        want.push_back(ev("/rec", "m", padded(i, 300)));
        ASSERT_TRUE(c.settle());
    }

    EXPECT_EQ(h.find(slow), nullptr);
    EXPECT_EQ(h.closed, Strings{slow + " transport buffer full"});
    EXPECT_FALSE(c.owner_of(slow).has_value());
    EXPECT_EQ(h.stats().disconnects[static_cast<int>(
                                        eio::Reason::slow_reader)]
                  .load(),
              1u);
    EXPECT_EQ(fast.link->got, want);
    /* what it held is let go */
    EXPECT_EQ(c.zone.slot(h.slot()).pin.load(), c.log->head());
}

TEST(ClusterDepart, RequestsAreAnsweredAndItNeitherWakesNorPins)
{
    constexpr std::size_t cap = 16384;
    Cluster c(cap);
    Worker& a = c.add("A", 101, true, {}, 2);  /* owns sessions */
    Worker& x = c.add("X", 102, true, {}, 1);  /* departs: older */
    Worker& b = c.add("B", 103);

    /* X waits on A: a GET parked, a WebSocket probing */
    std::string s1 = rec_polling(c, a);
    std::string s2 = rec_polling(c, a);
    std::string s3 = rec_polling(c, a);
    FakeRemotePoll& xpoll = c.remote_poll();
    x.node.poll(s1, a.slot(), xpoll);
    Upgrade xws = probe(c, a, x, s2);
    ASSERT_EQ(xws.ws->got, Strings{"3probe"});
    ASSERT_EQ(xpoll.calls(), 0u);

    /* X's own socket holds views of the log (room "h": only it and a
       fast reader on B hear these broadcasts) */
    std::string held = rec_polling(c, x, R"({"rooms":["h"]})");
    Cluster::Ws fast = c.open_ws(b);
    c.ws_send(b, fast.sid, R"(40/rec,{"rooms":["h"]})");
    fast.link->got.clear();
    Strings before;
    for (int i = 0; i < 3; i++) {
        c.broadcast(b, "/rec", "before", padded(i, 300), {"h"});
        before.push_back(ev("/rec", "before", padded(i, 300)));
    }
    ASSERT_TRUE(c.settle());

    /* a POST through X, not yet read by A when X departs */
    FakeRemotePost& xpost = c.remote_post();
    x.node.post(s3, a.slot(), "42/rec,[\"hi\"]", xpost);

    x.node.depart();
    EXPECT_EQ(c.state(x.slot()), bus::SlotState::departed);
    EXPECT_TRUE(x.node.joined());
    EXPECT_EQ(xpoll.answers, Strings{"6"});
    EXPECT_TRUE(xpoll.fails.empty());
    ASSERT_EQ(xpost.results.size(), 1u);
    EXPECT_FALSE(xpost.results[0].has_value());
    EXPECT_EQ(xws.ws->closes, 1);
    EXPECT_EQ(xws.ws->code, 1001);
    EXPECT_EQ(xws.ws->reason, "server shutting down");

    std::map<Worker*, std::size_t> wakes;
    for (Worker* w : {&a, &b}) {
        wakes[w] = w->host.wakes.size();
    }
    const std::uint64_t x_cursor = c.zone.slot(x.slot()).cursor.load();
    const std::uint64_t pressure = c.log->pressure();
    ASSERT_TRUE(c.settle());

    /* A let go of what X's requests held; the POST was carried */
    ASSERT_NE(a.find(s2), nullptr);
    EXPECT_FALSE(a.find(s2)->upgrading());
    EXPECT_EQ(a.find(s2)->transport(), eio::TransportKind::polling);
    EXPECT_EQ(count(a.rooms.events,
                    socket_of(a.find(s3), "/rec")->id() + " hi]"),
              1u);
    /* nothing more reaches X's requests */
    EXPECT_EQ(xpoll.calls(), 1u);
    EXPECT_EQ(xpost.results.size(), 1u);
    EXPECT_EQ(xws.ws->closes, 1);
    EXPECT_EQ(xws.ws->sent_after_close, 0);

    /* X's sessions are no one's to reach */
    std::uint16_t owner = 0;
    EXPECT_EQ(a.node.locate(held, &owner), Where::unknown);

    /* the log goes round several times: X is not woken, does not read,
       and holds nothing back */
    Strings after;
    for (int i = 0; i < 150; i++) {
        c.broadcast(b, "/rec", "after", padded(i, 300), {"h"});
        after.push_back(ev("/rec", "after", padded(i, 300)));
        ASSERT_TRUE(c.settle()) << i;
    }
    EXPECT_GT(c.log->head(), x_cursor + 3 * cap);
    EXPECT_EQ(c.log->pressure(), pressure);
    for (Worker* w : {&a, &b}) {
        for (std::size_t i = wakes[w]; i < w->host.wakes.size(); i++) {
            EXPECT_NE(w->host.wakes[i], x.slot()) << w->name;
        }
    }
    x.node.consume();
    EXPECT_EQ(c.zone.slot(x.slot()).cursor.load(), x_cursor);
    Strings fast_want = before;
    fast_want.insert(fast_want.end(), after.begin(), after.end());
    EXPECT_EQ(fast.link->got, fast_want);

    /* what X's socket held was copied out before it let go */
    fakes::FakePoll& g = c.get(x, held);
    ASSERT_EQ(g.responses.size(), 1u);
    EXPECT_EQ(fakes::split_payload(g.responses[0]), before);

    /* leaving gives the slot back */
    std::uint16_t xs = x.slot();
    x.node.leave();
    EXPECT_EQ(c.state(xs), bus::SlotState::free);
}

/*
 * A GET that a departing worker held for a session another worker owns is
 * answered with a noop, "so that the client asks again and reaches a
 * worker that stays" (Node::depart). The session should then still be
 * there for that next GET.
 */
/*
 * DISABLED: a bug in Node::depart. It answers the GET "6" and publishes
 * poll_gone to the owner, whose Session::on_poll_gone() aborts the session
 * ("transport error", as for a client that went away mid-poll): the
 * client's next GET finds no session (unknown sid) and it reconnects from
 * scratch, its chat user leaving and joining again.
 */
TEST(ClusterDepart, APollHeldByADepartingWorkerLeavesTheSessionAlive)
{
    Cluster c;
    Worker& a = c.add("A", 101, true, {}, 2);
    /* X is of the configuration before: a reload stops it, not A */
    Worker& x = c.add("X", 102, true, {}, 1);

    std::string sid = rec_polling(c, a);
    FakeRemotePoll& xpoll = c.remote_poll();
    x.node.poll(sid, a.slot(), xpoll);
    ASSERT_TRUE(c.settle());

    x.node.depart();
    ASSERT_EQ(xpoll.answers, Strings{"6"});
    ASSERT_TRUE(c.settle());

    /* the client asks again, at A */
    EXPECT_EQ(a.closed, Strings{});
    ASSERT_NE(a.find(sid), nullptr);
    c.broadcast(a, "/rec", "m", "[1]");
    ASSERT_TRUE(c.settle());
    fakes::FakePoll& g = c.get(a, sid);
    EXPECT_EQ(g.responses, Strings{ev("/rec", "m", "[1]")});
}

/*
 * Requests published to an owner that departs before it reads them: the
 * worker holding them (B) should not wait on a worker that will never
 * answer; like requests to a dead worker, they should be answered.
 */
/*
 * DISABLED: a bug. A departing worker never reads the log again and
 * publishes nothing to say so; slot_gone is only sent for dead workers.
 * B's GET and WebSocket wait until their clients give up (ping timeout),
 * even after A's leave().
 */
TEST(ClusterDepart, RequestsToAnOwnerThatDepartsUnreadAreAnswered)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);

    std::string s1 = rec_polling(c, a);
    std::string s2 = rec_polling(c, a);
    FakeRemotePoll& g = c.remote_poll();
    FakeRemoteWs& w = c.remote_ws();
    b.node.poll(s1, a.slot(), g);
    b.node.ws_attach(s2, a.slot(), w);

    /* A shuts down as the Runtime does, without reading them */
    a.engine.close_all(eio::Reason::server_shutdown);
    a.node.after_flush();
    a.node.depart();
    ASSERT_TRUE(c.settle());

    EXPECT_EQ(g.calls(), 1u);
    EXPECT_EQ(w.closes, 1);

    /* nor when it leaves */
    a.node.leave();
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(g.calls(), 1u);
    EXPECT_EQ(w.closes, 1);
}

/*
 * A session on its way to a worker that departs before it reads the
 * migration: the session is lost (its WebSocket was closed with 1001, the
 * client reconnects); its user and its entry in the session table should
 * not outlive it.
 */
/*
 * DISABLED: a bug. The migrate record is never read: nobody closes the
 * session, so chat on_disconnect never runs. "alice" stays in the zone's
 * directory (filed under A's slot, which A no longer knows) for as long as
 * the zone lives, in `users` and numUsers. The table entry for the sid
 * stays under A until A leaves.
 */
TEST(ClusterDepart, ASessionMovingToADepartingWorkerLeavesNoGhost)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);

    std::string sid = chat_user(c, a, "alice");
    ASSERT_TRUE(c.user_named("alice").has_value());
    Upgrade u = probe(c, a, b, sid);
    b.node.ws_in(u.token, false, "5");
    c.consume(a);
    c.flush(a);                          /* the migration is published */
    ASSERT_EQ(a.find(sid), nullptr);

    b.node.depart();                     /* before B reads it */
    EXPECT_EQ(u.ws->closes, 1);
    EXPECT_EQ(u.ws->code, 1001);
    ASSERT_TRUE(c.settle());

    EXPECT_EQ(u.ws->adoptions, 0);
    EXPECT_FALSE(c.user_named("alice").has_value());
    EXPECT_EQ(c.zone.header().users.load(), 0u);
    EXPECT_FALSE(c.owner_of(sid).has_value());

    /* not even once both workers are gone */
    a.engine.close_all(eio::Reason::server_shutdown);
    a.node.leave();
    b.node.leave();
    EXPECT_FALSE(c.user_named("alice").has_value());
    EXPECT_FALSE(c.owner_of(sid).has_value());
}

/* The same when the worker it moves to dies before it reads the
   migration: its replacement cleans up after the dead one, but the user
   is filed under the worker the session left. */
/*
 * DISABLED: the same bug as DISABLED_ASessionMovingToADepartingWorker...
 * recover() drops the dead slot's users, but alice is still filed under A.
 * Her entry in the table stays too.
 */
TEST(ClusterDeadWorker, ASessionMovingToAWorkerThatDiesLeavesNoGhost)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);

    std::string sid = chat_user(c, a, "alice");
    Upgrade u = probe(c, a, b, sid);
    b.node.ws_in(u.token, false, "5");
    c.consume(a);
    c.flush(a);
    ASSERT_EQ(a.find(sid), nullptr);

    c.kill(b, 102);                      /* before B reads it */
    c.add("D", 103);
    ASSERT_TRUE(c.settle());

    EXPECT_FALSE(c.user_named("alice").has_value());
    EXPECT_EQ(c.zone.header().users.load(), 0u);
    EXPECT_FALSE(c.owner_of(sid).has_value());
}


/* A reload or a quit stops every worker of a configuration: a GET held
   for an owner of the same one is told the session ends. */
TEST(ClusterDepart, APollHeldForAnOwnerThatLeavesTooGetsTheClosePacket)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& x = c.add("X", 102);

    std::string sid = rec_polling(c, a);
    FakeRemotePoll& xpoll = c.remote_poll();
    x.node.poll(sid, a.slot(), xpoll);
    ASSERT_TRUE(c.settle());

    x.node.depart();
    EXPECT_EQ(xpoll.answers, Strings{"1"});
}

/*
 * One worker reads the other servers (Redis) for the node: the first to
 * ask takes the part; when it departs or dies, the next to ask does.
 */
TEST(ClusterReader, OneWorkerReadsTheOtherServersAndAnotherTakesOver)
{
    Cluster c;
    Worker& a = c.add("A", 201);
    Worker& b = c.add("B", 202);
    Worker& x = c.add("C", 203);

    EXPECT_TRUE(a.node.reads_cluster());
    EXPECT_FALSE(b.node.reads_cluster());
    EXPECT_FALSE(x.node.reads_cluster());
    EXPECT_TRUE(a.node.reads_cluster());

    /* A shuts down: its record wakes the others, the first to ask reads */
    a.node.depart();
    EXPECT_FALSE(a.node.reads_cluster());
    ASSERT_TRUE(c.settle());
    EXPECT_TRUE(b.node.reads_cluster());
    EXPECT_FALSE(x.node.reads_cluster());

    /* B dies: once the next worker has cleaned up after it, C reads */
    c.kill(b, 202);
    Worker& d = c.add("D", 204);
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(c.state(b.slot()), bus::SlotState::free);
    EXPECT_TRUE(x.node.reads_cluster());
    EXPECT_FALSE(d.node.reads_cluster());
}
