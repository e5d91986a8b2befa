/*
 * LocalAdapter: rooms, and broadcasts that reach each selected socket
 * exactly once, through real sessions.
 */
#include "sio_fixture.hpp"

#include "core/sio/adapter.hpp"

#include <map>
#include <set>

using namespace sio_fixture;

namespace {

class AdapterTest : public SioTest {
protected:
    /* n clients on "/custom", client i in the rooms given by rooms_of(i) */
    void populate(int n, const std::function<Strings(int)>& rooms_of)
    {
        for (int i = 0; i < n; i++) {
            conns.push_back(ws());
            std::string auth = "{\"rooms\":[";
            Strings rooms = rooms_of(i);
            for (std::size_t k = 0; k < rooms.size(); k++) {
                auth += (k ? ",\"" : "\"") + rooms[k] + "\"";
            }
            auth += "]}";
            ids.push_back(connect(conns.back(), "/custom", auth));
        }
    }

    sio::Adapter& adapter() { return server.find("/custom")->adapter(); }

    /* Broadcasts one event and returns, per client, how many times it
       arrived. */
    std::vector<int> broadcast(const Strings& rooms, const Strings& except)
    {
        sio::BroadcastOptions opts;
        opts.rooms = rooms;
        opts.except = except;
        adapter().broadcast(
            {sio::encode(sio::PacketType::event, "/custom", std::nullopt, 0,
                         "[\"news\"]")},
            opts);
        h.engine.flush();
        std::vector<int> counts;
        for (Conn& c : conns) {
            Strings got = out(c);
            int n = 0;
            for (const auto& p : got) {
                EXPECT_EQ(p, "42/custom,[\"news\"]");
                n++;
            }
            counts.push_back(n);
        }
        return counts;
    }

    /* The same selection, by for_each. */
    std::vector<int> visited(const Strings& rooms, const Strings& except)
    {
        sio::BroadcastOptions opts;
        opts.rooms = rooms;
        opts.except = except;
        std::map<std::string, int> seen;
        adapter().for_each(opts, [&](sio::Socket& s) { seen[s.id()]++; });
        std::vector<int> counts;
        for (const auto& id : ids) {
            counts.push_back(seen.count(id) ? seen[id] : 0);
        }
        return counts;
    }

    std::vector<Conn> conns;
    Strings ids;
};

using V = std::vector<int>;

}  // namespace

TEST_F(AdapterTest, BroadcastWithRoomsAndExcept)
{
    /* 0: a b   1: a   2: b c   3: c   4: (none) */
    populate(5, [](int i) -> Strings {
        switch (i) {
        case 0: return {"a", "b"};
        case 1: return {"a"};
        case 2: return {"b", "c"};
        case 3: return {"c"};
        default: return {};
        }
    });
    EXPECT_EQ(adapter().size(), 5u);

    struct {
        Strings rooms, except;
        V want;
    } cases[] = {
        {{}, {}, {1, 1, 1, 1, 1}},
        {{"a"}, {}, {1, 1, 0, 0, 0}},
        {{"a", "b"}, {}, {1, 1, 1, 0, 0}},
        {{"a", "b", "a", "c"}, {}, {1, 1, 1, 1, 0}},
        {{"a", "b"}, {"c"}, {1, 1, 0, 0, 0}},
        {{}, {"a"}, {0, 0, 1, 1, 1}},
        {{}, {"a", "c"}, {0, 0, 0, 0, 1}},
        {{"a"}, {"a"}, {0, 0, 0, 0, 0}},
        {{"nobody"}, {}, {0, 0, 0, 0, 0}},
        {{}, {"nobody"}, {1, 1, 1, 1, 1}},
    };
    for (const auto& c : cases) {
        std::string what;
        for (const auto& r : c.rooms) what += r + " ";
        what += "except ";
        for (const auto& r : c.except) what += r + " ";
        EXPECT_EQ(broadcast(c.rooms, c.except), c.want) << what;
        EXPECT_EQ(visited(c.rooms, c.except), c.want) << what;
    }

    /* a socket's own room, as the one room or as the one skipped */
    EXPECT_EQ(broadcast({ids[2]}, {}), (V{0, 0, 1, 0, 0}));
    EXPECT_EQ(broadcast({ids[2]}, {"b"}), (V{0, 0, 0, 0, 0}));
    EXPECT_EQ(broadcast({"b"}, {ids[0]}), (V{0, 0, 1, 0, 0}));
    EXPECT_EQ(broadcast({"a", "b"}, {ids[0], ids[2], ids[4]}),
              (V{0, 1, 0, 0, 0}));
    EXPECT_EQ(visited({"a", "b"}, {ids[1], ids[0]}), (V{0, 0, 1, 0, 0}));
}

TEST_F(AdapterTest, EachSocketIsInTheRoomOfItsOwnId)
{
    populate(3, [](int) { return Strings{"all"}; });
    EXPECT_EQ(broadcast({ids[1]}, {}), (V{0, 1, 0}));
    EXPECT_EQ(broadcast({"all"}, {ids[1]}), (V{1, 0, 1}));
    EXPECT_EQ(broadcast({ids[0], "all", ids[2]}, {}), (V{1, 1, 1}));
}

TEST_F(AdapterTest, JoinAndLeave)
{
    populate(3, [](int) { return Strings{}; });
    custom.sockets[0]->join("r");
    custom.sockets[2]->join("r");
    custom.sockets[2]->join("r");
    EXPECT_EQ(broadcast({"r"}, {}), (V{1, 0, 1}));
    custom.sockets[2]->leave("r");
    EXPECT_EQ(broadcast({"r"}, {}), (V{1, 0, 0}));
    custom.sockets[2]->leave("r");
    custom.sockets[1]->leave("never joined");
    custom.sockets[0]->leave("r");
    EXPECT_EQ(broadcast({"r"}, {}), (V{0, 0, 0}));
    /* each is still in the room of its own id */
    EXPECT_EQ(broadcast({}, {}), (V{1, 1, 1}));
}

TEST_F(AdapterTest, DisconnectedSocketsAreLeftOut)
{
    populate(3, [](int) { return Strings{"r"}; });
    text(conns[1], "1/custom,");
    EXPECT_EQ(adapter().size(), 2u);
    EXPECT_EQ(broadcast({"r"}, {}), (V{1, 0, 1}));
    EXPECT_EQ(broadcast({}, {}), (V{1, 0, 1}));

    /* and a closed session */
    h.find(conns[2].sid)->on_ws_gone(*conns[2].link, 2);
    h.engine.flush();
    EXPECT_EQ(adapter().size(), 1u);
    EXPECT_EQ(visited({"r"}, {}), (V{1, 0, 0}));
}

TEST_F(AdapterTest, OtherNamespacesAreNotReached)
{
    populate(2, [](int) { return Strings{}; });
    /* client 0 is also on "/" */
    connect(conns[0]);
    out(conns[0]);
    EXPECT_EQ(server.find("/")->adapter().size(), 1u);
    EXPECT_EQ(broadcast({}, {}), (V{1, 1}));

    sio::BroadcastOptions all;
    server.find("/")->adapter().broadcast(
        {sio::encode(sio::PacketType::event, "/", std::nullopt, 0, "[\"x\"]")},
        all);
    h.engine.flush();
    EXPECT_EQ(out(conns[0]), Strings{"42[\"x\"]"});
    EXPECT_TRUE(out(conns[1]).empty());
}

TEST_F(AdapterTest, BinaryBroadcastKeepsItsPacketsTogetherAndShared)
{
    populate(3, [](int i) { return i == 1 ? Strings{} : Strings{"r"}; });
    auto head = sio::encode(sio::PacketType::binary_event, "/custom",
                            std::nullopt, 1,
                            "[\"pic\"," + placeholder(0) + "]");
    auto body = eio::Encoded::binary(std::string("\x89PNG", 4));
    sio::BroadcastOptions opts;
    opts.rooms = {"r"};
    adapter().broadcast({head, body}, opts);
    h.engine.flush();
    for (int i : {0, 2}) {
        Strings got = out(conns[i]);
        ASSERT_EQ(got.size(), 2u) << i;
        EXPECT_EQ(got[0], "451-/custom,[\"pic\"," + placeholder(0) + "]");
        EXPECT_EQ(got[1], std::string("\x89PNG", 4));
        /* encoded once: every socket gets the same buffer */
        EXPECT_EQ(conns[i].link->sent.back().get(), body.get());
    }
    EXPECT_TRUE(out(conns[1]).empty());
}

TEST_F(AdapterTest, BroadcastFromAHandler)
{
    /* a chat-like handler: an event goes to everyone in the room but the
       sender */
    custom.event_fn = [this](sio::Socket& s, const sio::Event& ev) {
        sio::BroadcastOptions opts;
        opts.rooms = {"room"};
        opts.except = {s.id()};
        s.adapter().broadcast(
            {sio::encode(sio::PacketType::event, "/custom", std::nullopt, 0,
                         "[\"said\"" + std::string(ev.rest()))},
            opts);
    };
    populate(4, [](int i) { return i == 3 ? Strings{} : Strings{"room"}; });
    text(conns[0], "2/custom,[\"say\",\"hi\"]");
    for (int i = 0; i < 4; i++) {
        Strings got = out(conns[i]);
        if (i == 1 || i == 2) {
            EXPECT_EQ(got, Strings{"42/custom,[\"said\",\"hi\"]"}) << i;
        } else {
            EXPECT_TRUE(got.empty()) << i;
        }
    }
}

TEST_F(AdapterTest, SlowReaderInABroadcastDoesNotStopTheOthers)
{
    populate(3, [](int) { return Strings{"r"}; });
    conns[1].link->backlog_bytes = h.engine.config().max_buffered;
    EXPECT_EQ(broadcast({"r"}, {}), (V{1, 0, 1}));
    EXPECT_EQ(h.find(conns[1].sid), nullptr);
    EXPECT_EQ(custom.disconnects, Strings{"transport buffer full"});
    EXPECT_EQ(adapter().size(), 2u);
    EXPECT_EQ(broadcast({"r"}, {}), (V{1, 0, 1}));
}
