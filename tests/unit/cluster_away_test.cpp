/*
 * The chat's grace with connection state recovery (Node::sweep_away,
 * SharedDirectory's away users): a user whose connection went without a
 * deliberate disconnect stays listed, and nobody hears of it, unless it
 * has not recovered its socket when the grace is over; then one worker,
 * whichever looks first, tells it gone. It holds when the worker the user
 * left dies or leaves.
 */
#include "cluster_harness.hpp"

#include <boost/json/parse.hpp>

using namespace clustertest;

namespace {

/* A chat user in the events dialect over a WebSocket: its pid. */
struct User {
    Cluster::Ws ws;
    std::string id;    /* the socket's */
    std::string pid;
};

User join(Cluster& c, Worker& w, const std::string& name,
          bool recovering = true)
{
    User u;
    u.ws = c.open_ws(w);
    c.ws_send(w, u.ws.sid, "40");
    c.ws_send(w, u.ws.sid, "420[\"join\",{\"name\":\"" + name + "\"}]");
    for (const auto& g : u.ws.link->got) {
        if (g.rfind("40{", 0) == 0) {
            auto o = boost::json::parse(g.substr(2)).as_object();
            u.id = std::string(o.at("sid").as_string());
            if (const auto* pid = o.if_contains("pid")) {
                u.pid = std::string(pid->as_string());
            }
        }
    }
    EXPECT_EQ(u.pid.empty(), !recovering);
    u.ws.link->got.clear();
    return u;
}

/* Its connection goes (a transport close: recoverable). */
void lose(Cluster& c, Worker& w, const User& u)
{
    w.find(u.ws.sid)->on_ws_gone(*u.ws.link, c.now);
    w.engine.flush();
    EXPECT_TRUE(c.settle());
}

/* A new connection on `w` whose CONNECT brings the pid back: what it
   got (the CONNECT answer included). */
Strings come_back(Cluster& c, Worker& w, const User& u)
{
    Cluster::Ws back = c.open_ws(w);
    c.ws_send(w, back.sid, "40{\"pid\":\"" + u.pid + "\"}");
    EXPECT_TRUE(c.settle());
    return back.link->got;
}

/* The chat's notices a watcher got: "user connected", "user disconnected". */
Strings notices(const User& watcher)
{
    Strings out;
    for (const auto& g : watcher.ws.link->got) {
        if (g.find("\"user connected\"") != std::string::npos
            || g.find("\"user disconnected\"") != std::string::npos)
        {
            out.push_back(g);
        }
    }
    return out;
}

bool listed(Worker& w, const std::string& name)
{
    for (const auto& u : w.directory.list()) {
        if (u.name == name) {
            return true;
        }
    }
    return false;
}

/* Time passes: every live worker looks at its away users. */
void pass(Cluster& c, eio::Millis ms, std::initializer_list<Worker*> ws)
{
    c.now += ms;
    for (Worker* w : ws) {
        w->engine.set_now(c.now);
        w->node.sweep_away(c.now);
    }
    EXPECT_TRUE(c.settle());
}

class ClusterAway : public ::testing::Test {
protected:
    ClusterAway()
    {
        ann = join(c, a, "ann");
        bob = join(c, b, "bob");
        EXPECT_TRUE(c.settle());
        bob.ws.link->got.clear();
    }

    Cluster c;
    Worker& a = c.add("a", 101);
    Worker& b = c.add("b", 102);
    Recovering ra{a};
    Recovering rb{b};
    User ann;
    User bob;
};

}  // namespace

TEST_F(ClusterAway, AUserWhoDoesNotComeBackIsToldGoneOnceWhenTheGraceIsOver)
{
    EXPECT_EQ(a.node.away_grace(), cluster::away_grace_max);
    lose(c, a, ann);
    EXPECT_TRUE(notices(bob).empty());
    EXPECT_TRUE(listed(b, "ann"));
    EXPECT_EQ(a.node.next_sweep(), c.now + cluster::away_grace_max);
    EXPECT_EQ(b.node.next_sweep(), c.now + cluster::away_grace_max);

    pass(c, cluster::away_grace_max - 1, {&a, &b});
    EXPECT_TRUE(notices(bob).empty());
    EXPECT_TRUE(listed(b, "ann"));

    /* both workers look: one takes it, the other finds it gone */
    pass(c, 1, {&b, &a});
    Strings got = notices(bob);
    ASSERT_EQ(got.size(), 1u) << ::testing::PrintToString(got);
    EXPECT_NE(got[0].find("user disconnected"), std::string::npos);
    EXPECT_FALSE(listed(a, "ann"));
    EXPECT_FALSE(listed(b, "ann"));
    EXPECT_EQ(c.zone.header().users.load(), 1u);
    EXPECT_EQ(a.node.next_sweep(), eio::never);
    EXPECT_EQ(b.node.next_sweep(), eio::never);
}

TEST_F(ClusterAway, AUserBackWithinTheGraceIsNeitherToldGoneNorBack)
{
    lose(c, a, ann);
    pass(c, 2000, {&a, &b});
    Strings got = come_back(c, b, ann);
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back().rfind("40{\"sid\":\"" + ann.id, 0), 0u);

    pass(c, cluster::away_grace_max, {&a, &b});
    EXPECT_TRUE(notices(bob).empty()) << ::testing::PrintToString(bob.ws.link->got);
    EXPECT_TRUE(listed(a, "ann"));
    EXPECT_EQ(c.user_named("ann")->slot, b.slot());
    EXPECT_EQ(c.zone.header().users.load(), 2u);
}

TEST_F(ClusterAway, AUserBackAfterTheGraceIsToldGoneThenBack)
{
    lose(c, a, ann);
    pass(c, cluster::away_grace_max, {&a, &b});
    ASSERT_EQ(notices(bob).size(), 1u);

    come_back(c, b, ann);
    Strings got = notices(bob);
    ASSERT_EQ(got.size(), 2u) << ::testing::PrintToString(got);
    EXPECT_NE(got[1].find("user connected"), std::string::npos);
    EXPECT_TRUE(listed(a, "ann"));
}

TEST_F(ClusterAway, ADeliberateDisconnectIsToldAtOnce)
{
    c.ws_send(a, ann.ws.sid, "41");
    ASSERT_TRUE(c.settle());
    ASSERT_EQ(notices(bob).size(), 1u);
    EXPECT_FALSE(listed(b, "ann"));
    EXPECT_EQ(b.node.next_sweep(), eio::never);
}

TEST_F(ClusterAway, TheUsersOfAWorkerKilledWithSignal9AreKeptAwayToo)
{
    c.kill(a, 101);
    b.node.recover();
    ASSERT_TRUE(c.settle());
    EXPECT_TRUE(notices(bob).empty());
    EXPECT_TRUE(listed(b, "ann"));
    EXPECT_EQ(b.host.count_logs(socketio::util::LogLevel::warn,
                                "1 users kept away for recovery"),
              1);

    /* a worker that joins now (the dead one's replacement) knows it too */
    Worker& a2 = c.add("a2", 103);
    Recovering ra2{a2};
    ASSERT_TRUE(c.settle());
    EXPECT_TRUE(listed(a2, "ann"));
    EXPECT_EQ(a2.node.next_sweep(), b.node.next_sweep());

    Strings back = come_back(c, a2, ann);
    ASSERT_FALSE(back.empty());
    EXPECT_EQ(back.back().rfind("40{\"sid\":\"" + ann.id, 0), 0u)
        << ::testing::PrintToString(back);
    pass(c, cluster::away_grace_max, {&a2, &b});
    EXPECT_TRUE(notices(bob).empty());
    EXPECT_TRUE(listed(b, "ann"));
}

TEST_F(ClusterAway, TheUsersOfAWorkerThatLeavesStayAwayForTheOthers)
{
    /* a reload: the old worker closes its sessions (server shutting
       down, recoverable), then leaves */
    a.engine.close_all(eio::Reason::server_shutdown);
    a.engine.flush();
    ASSERT_TRUE(c.settle());
    a.node.depart();
    ASSERT_TRUE(c.settle());
    EXPECT_TRUE(notices(bob).empty());
    EXPECT_TRUE(listed(b, "ann"));

    pass(c, cluster::away_grace_max, {&b});
    EXPECT_EQ(notices(bob).size(), 1u);
}

TEST(ClusterAwayOff, WithoutRecoveryAConnectionThatGoesIsToldAtOnce)
{
    Cluster c;
    Worker& a = c.add("a", 101);
    Worker& b = c.add("b", 102);
    EXPECT_EQ(a.node.away_grace(), 0);
    User ann = join(c, a, "ann", false);
    User bob = join(c, b, "bob", false);
    ASSERT_TRUE(c.settle());
    bob.ws.link->got.clear();

    lose(c, a, ann);
    EXPECT_EQ(notices(bob).size(), 1u);
    EXPECT_EQ(b.node.next_sweep(), eio::never);
}
