/*
 * Connection state recovery over the zone (cluster/recovery.cpp): a socket
 * kept by one worker comes back on another with what it missed (what its
 * rooms select, after its offset, once), a private emit included; a
 * worker that has not read as far as the client's offset does not deliver
 * again what the client has; an offset the history no longer holds gives a
 * fresh socket.
 */
#include "cluster_harness.hpp"

#include <boost/json/parse.hpp>

using namespace clustertest;

namespace {


/* The Socket.IO packets a link got, Engine.IO "4" taken off. */
Strings sio_of(const Strings& got)
{
    Strings out;
    for (const auto& g : got) {
        if (!g.empty() && g[0] == '4') {
            out.push_back(g.substr(1));
        }
    }
    return out;
}

/* The last argument of an event: its offset. */
std::string offset_in(const std::string& packet)
{
    auto at = packet.find('[');
    auto v = boost::json::parse(packet.substr(at)).as_array();
    return std::string(v.back().as_string());
}

struct Connected {
    Cluster::Ws ws;
    std::string sid;
    std::string pid;
};

Connected connect(Cluster& c, Worker& w, const std::string& auth)
{
    Connected out;
    out.ws = c.open_ws(w);
    c.ws_send(w, out.ws.sid, "40/rec," + auth);
    EXPECT_TRUE(c.settle());
    for (const auto& p : sio_of(out.ws.link->got)) {
        if (p.rfind("0/rec,", 0) == 0) {
            auto o = boost::json::parse(p.substr(6)).as_object();
            out.sid = std::string(o.at("sid").as_string());
            out.pid = std::string(o.at("pid").as_string());
        }
    }
    EXPECT_FALSE(out.pid.empty());
    out.ws.link->got.clear();
    return out;
}

/* A new connection on `w` whose CONNECT brings the pid (and offset) back;
   settled. */
Cluster::Ws come_back(Cluster& c, Worker& w, const std::string& pid,
                      const std::string& offset = {})
{
    Cluster::Ws back = c.open_ws(w);
    std::string auth = "{\"pid\":\"" + pid + "\"";
    if (!offset.empty()) {
        auth += ",\"offset\":\"" + offset + "\"";
    }
    c.ws_send(w, back.sid, "40/rec," + auth + "}");
    EXPECT_TRUE(c.settle());
    return back;
}

/* A socket in room "r" on `a`, sent one event from `from`: its offset. */
std::string seen_once(Cluster& c, Worker& from, const Connected& x)
{
    c.broadcast(from, "/rec", "seen", "[1]", {"r"});
    EXPECT_TRUE(c.settle());
    Strings got = sio_of(x.ws.link->got);
    EXPECT_EQ(got.size(), 1u);
    return got.empty() ? std::string() : offset_in(got[0]);
}

void lose(Cluster& c, Worker& w, const Connected& x)
{
    w.find(x.ws.sid)->on_ws_gone(*x.ws.link, c.now);
    w.engine.flush();
    EXPECT_TRUE(c.settle());
}

/* Two workers with recovery on, and a socket in room "r" on the first
   that the second sent one event. */
class ClusterRecoveryTwoWorkers : public ::testing::Test {
protected:
    ClusterRecoveryTwoWorkers()
        : x(connect(c, a, "{\"rooms\":[\"r\"]}")), offset(seen_once(c, b, x))
    {
    }

    Cluster c;
    Worker& a = c.add("a", 101);
    Worker& b = c.add("b", 102);
    Recovering ra{a};
    Recovering rb{b};
    Connected x;
    std::string offset;
};

}  // namespace

TEST_F(ClusterRecoveryTwoWorkers, ASocketKeptByOneWorkerComesBackOnAnotherWithWhatItMissed)
{
    EXPECT_EQ(offset.size(), 16u);

    lose(c, a, x);
    c.broadcast(b, "/rec", "missed", "[2]", {"r"});
    c.broadcast(a, "/rec", "not for it", "[3]", {"elsewhere"});
    c.broadcast(a, "/rec", "missed", "[4]");
    c.broadcast(b, "/rec", "skipped", "[5]", {}, {"r"});
    ASSERT_TRUE(c.settle());

    Cluster::Ws back = come_back(c, b, x.pid, offset);
    c.broadcast(a, "/rec", "live", "[6]", {"r"});
    ASSERT_TRUE(c.settle());

    Strings got = sio_of(back.link->got);
    ASSERT_EQ(got.size(), 4u) << ::testing::PrintToString(got);
    EXPECT_EQ(got[0].rfind("2/rec,[\"missed\",2,\"", 0), 0u);
    EXPECT_EQ(got[1].rfind("2/rec,[\"missed\",4,\"", 0), 0u);
    EXPECT_EQ(got[2], "0/rec,{\"sid\":\"" + x.sid + "\",\"pid\":\"" + x.pid
                          + "\"}");
    EXPECT_EQ(got[3].rfind("2/rec,[\"live\",6,\"", 0), 0u);
    EXPECT_EQ(b.stats().recovered.load(), 1u);
    EXPECT_EQ(a.stats().persisted.load(), 1u);
}

TEST(ClusterRecovery, PrivateEmitsAreKeptAndReplayedToo)
{
    Cluster c;
    Worker& a = c.add("a", 101);
    Recovering ra(a);

    Connected x = connect(c, a, "{}");
    sio::Socket* s = socket_of(a.find(x.ws.sid), "/rec");
    ASSERT_NE(s, nullptr);
    s->emit("first", "[1]");
    ASSERT_TRUE(c.settle());
    Strings got = sio_of(x.ws.link->got);
    ASSERT_EQ(got.size(), 1u);
    std::string offset = offset_in(got[0]);
    s->emit("second", "[2]");
    lose(c, a, x);                       /* before it went out */

    Cluster::Ws back = come_back(c, a, x.pid, offset);
    got = sio_of(back.link->got);
    ASSERT_EQ(got.size(), 2u) << ::testing::PrintToString(got);
    EXPECT_EQ(got[0].rfind("2/rec,[\"second\",2,\"", 0), 0u);
    EXPECT_EQ(got[1].rfind("0/rec,{\"sid\":\"" + x.sid, 0), 0u);
}

TEST(ClusterRecovery, AnOffsetTheHistoryNoLongerHoldsGivesAFreshSocket)
{
    Cluster c(8192);
    Worker& a = c.add("a", 101);
    Recovering ra(a);

    Connected x = connect(c, a, "{\"rooms\":[\"r\"]}");
    std::string offset = seen_once(c, a, x);
    /* the ring goes round many times, with nothing for this socket */
    for (int i = 0; i < 200; i++) {
        c.broadcast(a, "/rec", "flood", "[\"" + std::string(100, 'x') + "\"]",
                    {"elsewhere"});
        ASSERT_TRUE(c.settle());
    }
    lose(c, a, x);

    Cluster::Ws back = come_back(c, a, x.pid, offset);
    Strings got = sio_of(back.link->got);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].find(x.sid), std::string::npos);
    EXPECT_EQ(a.stats().recovered.load(), 0u);
    EXPECT_EQ(a.stats().refused[static_cast<int>(sio::Refusal::offset_gone)]
                  .load(),
              1u);
    EXPECT_EQ(a.host.count_logs(socketio::util::LogLevel::notice,
                                "recovery refused"),
              1);
}

TEST(ClusterRecovery, ASocketKeptLongerAgoThanTheHistoryIsUnknown)
{
    Cluster c(8192);
    Worker& a = c.add("a", 101);
    Recovering ra(a);

    Connected x = connect(c, a, "{}");
    lose(c, a, x);
    for (int i = 0; i < 200; i++) {
        c.broadcast(a, "/rec", "flood", "[\"" + std::string(100, 'x') + "\"]");
        ASSERT_TRUE(c.settle());
    }
    Cluster::Ws back = come_back(c, a, x.pid);
    EXPECT_EQ(a.stats().refused[static_cast<int>(sio::Refusal::unknown_pid)]
                  .load(),
              1u);
}

TEST_F(ClusterRecoveryTwoWorkers, TheSocketsOfAWorkerKilledWithSignal9AreFoundToo)
{

    /* while its worker lives, its pid is in use: a fresh socket */
    Cluster::Ws early = come_back(c, b, x.pid, offset);
    EXPECT_EQ(b.stats().refused[static_cast<int>(sio::Refusal::in_use)]
                  .load(),
              1u);

    c.kill(a, 101);

    /* before anybody has cleaned up after the dead worker, and after */
    for (bool cleaned : {false, true}) {
        SCOPED_TRACE(cleaned);
        if (cleaned) {
            b.node.recover();
            ASSERT_TRUE(c.settle());
        }
        c.broadcast(b, "/rec", "missed", "[2]", {"r"});
        ASSERT_TRUE(c.settle());
        Cluster::Ws back = come_back(c, b, x.pid, offset);
        Strings got = sio_of(back.link->got);
        ASSERT_EQ(got.size(), 2u) << ::testing::PrintToString(got);
        EXPECT_EQ(got[0].rfind("2/rec,[\"missed\",2,\"", 0), 0u);
        EXPECT_EQ(got[1].rfind("0/rec,{\"sid\":\"" + x.sid, 0), 0u);
        /* lost again, so that the second round finds it kept */
        b.find(back.sid)->on_ws_gone(*back.link, c.now);
        b.engine.flush();
        ASSERT_TRUE(c.settle());
        offset = offset_in(got[0]);
    }
}

TEST_F(ClusterRecoveryTwoWorkers, ADeliberateDisconnectIsNeverRestored)
{
    c.ws_send(a, x.ws.sid, "41/rec,");
    ASSERT_TRUE(c.settle());
    c.kill(a, 101);
    b.node.recover();
    ASSERT_TRUE(c.settle());
    Cluster::Ws back = come_back(c, b, x.pid);
    EXPECT_EQ(b.stats().refused[static_cast<int>(sio::Refusal::unknown_pid)]
                  .load(),
              1u);
}
