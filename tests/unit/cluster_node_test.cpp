/*
 * cluster::Node, several workers in one process on one zone: slots taken
 * and given back; broadcasts through the shared log reaching every
 * selected socket on every worker exactly once (rooms and except
 * honoured), in one order for all, whoever publishes.
 */
#include "cluster_harness.hpp"

#include <map>
#include <random>

using namespace clustertest;

namespace {

constexpr auto alive = bus::SlotState::alive;
constexpr auto free_slot = bus::SlotState::free;

}  // namespace

TEST(ClusterJoin, DistinctSlotsAndLeaveFreesTheSlot)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);
    Worker& x = c.add("C", 103);

    std::set<std::uint16_t> slots{a.slot(), b.slot(), x.slot()};
    EXPECT_EQ(slots.size(), 3u);
    for (Worker* w : {&a, &b, &x}) {
        EXPECT_TRUE(w->node.joined());
        EXPECT_LT(w->slot(), bus::max_slots);
        EXPECT_EQ(c.state(w->slot()), alive);
    }
    EXPECT_EQ(c.zone.slot(a.slot()).pid.load(), 101);
    EXPECT_EQ(c.zone.slot(b.slot()).pid.load(), 102);
    EXPECT_EQ(c.zone.slot(x.slot()).pid.load(), 103);

    /* joining again changes nothing */
    std::uint16_t bs = b.slot();
    EXPECT_TRUE(b.node.join(102, 1, 1));
    EXPECT_EQ(b.slot(), bs);

    /* B owns a session: leaving gives back the slot and the session's
       place in the table */
    std::string sid = c.open_polling(b);
    ASSERT_TRUE(c.owner_of(sid).has_value());
    EXPECT_EQ(c.owner_of(sid)->slot, bs);

    b.node.leave();
    EXPECT_FALSE(b.node.joined());
    EXPECT_EQ(b.node.stats(), nullptr);
    EXPECT_EQ(c.state(bs), free_slot);
    EXPECT_FALSE(c.owner_of(sid).has_value());
    std::uint16_t owner = 0;
    EXPECT_EQ(a.node.locate(sid, &owner), Where::unknown);
    ASSERT_TRUE(c.settle());

    /* the slot is taken again by the next worker */
    Worker& d = c.add("D", 104);
    EXPECT_EQ(d.slot(), bs);
    EXPECT_EQ(c.state(bs), alive);
    EXPECT_EQ(c.zone.slot(bs).pid.load(), 104);
    /* its gauges start again (counters such as handshakes go on from
       the slot's previous worker: see the report) */
    EXPECT_EQ(d.stats().sessions.load(), 0u);
    EXPECT_EQ(d.stats().polling.load(), 0u);

    /* and nobody sleeps with anything to read */
    c.broadcast(a, "/rec", "hello");
    EXPECT_TRUE(c.settle());
}

TEST(ClusterJoin, SixtyFourSlotsAtMost)
{
    Cluster c;
    std::vector<Worker*> ws;
    std::set<std::uint16_t> slots;
    for (int i = 0; i < static_cast<int>(bus::max_slots); i++) {
        ws.push_back(&c.add("W" + std::to_string(i), 1000 + i));
        slots.insert(ws.back()->slot());
    }
    EXPECT_EQ(slots.size(), bus::max_slots);

    Worker& extra = c.add("extra", 2000, false);
    EXPECT_FALSE(extra.node.join(2000, 1, 99));
    EXPECT_FALSE(extra.node.joined());

    /* one leaves: the next one gets its slot */
    std::uint16_t s = ws[17]->slot();
    ws[17]->node.leave();
    EXPECT_TRUE(extra.node.join(2000, 1, 99));
    EXPECT_EQ(extra.slot(), s);
}

TEST(ClusterJoin, ANodeThatNeverJoinedDoesNothing)
{
    Cluster c;
    Worker& w = c.add("W", 101, false);
    EXPECT_FALSE(w.node.joined());
    EXPECT_EQ(w.node.stats(), nullptr);
    EXPECT_TRUE(w.node.reserve("AAAAAAAAAAAAAAAAAAAA"));   /* no table */
    std::uint16_t owner = 0;
    EXPECT_EQ(w.node.locate("AAAAAAAAAAAAAAAAAAAA", &owner), Where::unknown);
    w.node.consume();
    w.node.after_flush();
    w.node.depart();
    w.node.leave();
    EXPECT_EQ(c.log->head(), 0u);
}

namespace {

/* Sockets on three workers in "/rec", over WebSocket, in rooms:
   a1 r1 | a2 r2 | b1 r1 r2 | b2 - | c1 r2 | c2 r1; and c3 in the chat
   ("/") only. */
struct ClusterBroadcast : ::testing::Test {
    ClusterBroadcast()
    {
        a = &c.add("A", 101);
        b = &c.add("B", 102);
        x = &c.add("C", 103);
        add("a1", *a, R"({"rooms":["r1"]})");
        add("a2", *a, R"({"rooms":["r2"]})");
        add("b1", *b, R"({"rooms":["r1","r2"]})");
        add("b2", *b, "");
        add("c1", *x, R"({"rooms":["r2"]})");
        add("c2", *x, R"({"rooms":["r1"]})");

        Cluster::Ws ws = c.open_ws(*x);
        c.ws_send(*x, ws.sid, "40");
        c3 = ws.link;
        c3->got.clear();
    }

    void add(const std::string& name, Worker& w, const std::string& auth)
    {
        Cluster::Ws ws = c.open_ws(w);
        c.ws_send(w, ws.sid, "40/rec," + auth);
        EXPECT_EQ(ws.link->got.size(), 1u);
        sio::Socket* s = socket_of(w.find(ws.sid), "/rec");
        EXPECT_NE(s, nullptr);
        ids[name] = s ? s->id() : std::string();
        ws.link->got.clear();
        links[name] = ws.link;
    }

    /* who got this packet, and how many times each */
    std::map<std::string, std::size_t> who(const std::string& packet)
    {
        std::map<std::string, std::size_t> out;
        for (auto& [name, link] : links) {
            if (std::size_t n = count(link->got, packet)) {
                out[name] = n;
            }
        }
        return out;
    }

    using Got = std::map<std::string, std::size_t>;

    Cluster c;
    Worker* a;
    Worker* b;
    Worker* x;
    std::map<std::string, WireLink*> links;
    std::map<std::string, std::string> ids;
    WireLink* c3 = nullptr;
};

}  // namespace

TEST_F(ClusterBroadcast, ABroadcastReachesEverySelectedSocketOnEveryWorkerOnce)
{
    c.broadcast(*a, "/rec", "all", "[1]");
    /* nothing is delivered before the log is read, not even locally */
    EXPECT_EQ(who(ev("/rec", "all", "[1]")), Got{});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(who(ev("/rec", "all", "[1]")),
              (Got{{"a1", 1}, {"a2", 1}, {"b1", 1}, {"b2", 1}, {"c1", 1},
                   {"c2", 1}}));

    c.broadcast(*b, "/rec", "r1", "[2]", {"r1"});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(who(ev("/rec", "r1", "[2]")),
              (Got{{"a1", 1}, {"b1", 1}, {"c2", 1}}));

    /* a socket in both rooms gets it once */
    c.broadcast(*x, "/rec", "r1r2", "[3]", {"r1", "r2"});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(who(ev("/rec", "r1r2", "[3]")),
              (Got{{"a1", 1}, {"a2", 1}, {"b1", 1}, {"c1", 1}, {"c2", 1}}));

    c.broadcast(*a, "/rec", "not-r2", "[4]", {}, {"r2"});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(who(ev("/rec", "not-r2", "[4]")),
              (Got{{"a1", 1}, {"b2", 1}, {"c2", 1}}));

    c.broadcast(*b, "/rec", "r1-not-r2", "[5]", {"r1"}, {"r2"});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(who(ev("/rec", "r1-not-r2", "[5]")),
              (Got{{"a1", 1}, {"c2", 1}}));

    /* a socket's own room, from another worker: that one socket */
    c.broadcast(*a, "/rec", "to-c1", "[6]", {ids["c1"]});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(who(ev("/rec", "to-c1", "[6]")), (Got{{"c1", 1}}));

    /* everyone but one, on another worker */
    c.broadcast(*x, "/rec", "but-b1", "[7]", {}, {ids["b1"]});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(who(ev("/rec", "but-b1", "[7]")),
              (Got{{"a1", 1}, {"a2", 1}, {"b2", 1}, {"c1", 1}, {"c2", 1}}));

    /* a room nobody is in */
    c.broadcast(*x, "/rec", "nobody", "[8]", {"r9"});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(who(ev("/rec", "nobody", "[8]")), Got{});

    /* the chat's socket heard none of it: another namespace */
    EXPECT_TRUE(c3->got.empty());

    /* nothing else went anywhere */
    std::size_t total = 0;
    for (auto& [name, link] : links) {
        total += link->got.size();
    }
    EXPECT_EQ(total, 6u + 3 + 5 + 3 + 2 + 1 + 5);

    /* every worker counted its own broadcasts */
    EXPECT_EQ(a->stats().broadcasts.load(), 3u);
    EXPECT_EQ(b->stats().broadcasts.load(), 2u);
    EXPECT_EQ(x->stats().broadcasts.load(), 3u);
}

TEST_F(ClusterBroadcast, EveryWorkerSeesBroadcastsOfSeveralPublishersInOneOrder)
{
    /* a polling socket too, whose packets pile up until it asks */
    std::string psid = c.open_polling(*b);
    c.post(*b, psid, "40/rec,");
    fakes::FakePoll& first = c.get(*b, psid);
    ASSERT_EQ(first.responses.size(), 1u);

    std::mt19937 rng(7);
    Worker* pubs[] = {a, b, x};
    Strings expected;
    for (int i = 0; i < 90; i++) {
        Worker& p = *pubs[rng() % 3];
        std::string args = "[" + std::to_string(i) + ",\"" + p.name + "\"]";
        c.broadcast(p, "/rec", "seq", args);
        expected.push_back(ev("/rec", "seq", args));
        if (rng() % 4 == 0) {
            ASSERT_TRUE(c.settle());
        }
    }
    ASSERT_TRUE(c.settle());

    for (auto& [name, link] : links) {
        EXPECT_EQ(link->got, expected) << name;
    }
    fakes::FakePoll& g = c.get(*b, psid);
    ASSERT_EQ(g.responses.size(), 1u);
    EXPECT_EQ(fakes::split_payload(g.responses[0]), expected);
}

TEST_F(ClusterBroadcast, BroadcastsWithinOneWorkerOnlyNeedNoOtherWorkerAwake)
{
    /* a worker that publishes reads its own record back: schedule() */
    int before = a->host.schedules;
    c.broadcast(*a, "/rec", "x", "[1]", {ids["a1"]});
    EXPECT_GT(a->host.schedules, before);
    /* the others are woken once each, however many records wait */
    std::size_t wakes = a->host.wakes.size();
    c.broadcast(*a, "/rec", "x", "[2]", {ids["a1"]});
    c.broadcast(*a, "/rec", "x", "[3]", {ids["a1"]});
    EXPECT_EQ(a->host.wakes.size(), wakes);
    std::set<std::uint16_t> woken(a->host.wakes.begin(),
                                  a->host.wakes.end());
    EXPECT_EQ(woken, (std::set<std::uint16_t>{b->slot(), x->slot()}));
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(links["a1"]->got,
              (Strings{ev("/rec", "x", "[1]"), ev("/rec", "x", "[2]"),
                       ev("/rec", "x", "[3]")}));

    /* once they have read, the next record wakes them again */
    c.broadcast(*a, "/rec", "x", "[4]", {ids["a1"]});
    EXPECT_EQ(a->host.wakes.size(), wakes + 2);
    ASSERT_TRUE(c.settle());
}
