/*
 * redis::Conn and redis::Member with no Redis: the bytes a member writes
 * (RESP commands) are read back from its connections' output, and what
 * Redis would send is fed in as RESP. A Socket.IO server with the echo
 * handler on "/" has its sockets on fake WebSocket links, its namespace
 * adapter being redis::Adapter over a LocalAdapter, as in the module.
 */
#include "fakes.hpp"

#include "core/handlers/echo.hpp"
#include "core/redis/adapter.hpp"
#include "core/redis/conn.hpp"
#include "core/redis/member.hpp"
#include "core/redis/msgpack.hpp"
#include "core/redis/resp.hpp"
#include "core/sio/server.hpp"
#include "core/sio/socket.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace socketio;
namespace resp = socketio::redis::resp;
using Strings = std::vector<std::string>;

namespace {

/* The commands in `out`, each as its arguments. */
std::vector<Strings> commands(std::string_view out)
{
    std::vector<Strings> cmds;
    resp::Parser p(1 << 20);
    p.feed(out);
    while (auto r = p.next()) {
        Strings args;
        for (const auto& e : r->elements) {
            args.emplace_back(e.str);
        }
        cmds.push_back(std::move(args));
    }
    return cmds;
}

std::string bulk(std::string_view s)
{
    return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

std::string push_message(std::string_view channel, std::string_view payload)
{
    return "*3\r\n" + bulk("message") + bulk(channel) + bulk(payload);
}

std::string push_pmessage(std::string_view pattern, std::string_view channel,
                          std::string_view payload)
{
    return "*4\r\n" + bulk("pmessage") + bulk(pattern) + bulk(channel)
           + bulk(payload);
}

class FakeHost final : public redis::MemberHost {
public:
    void want_write(redis::Conn&) override { writes++; }
    void log(util::LogLevel level, std::string_view m) override
    {
        logs.emplace_back(level, std::string(m));
    }
    int writes = 0;
    std::vector<std::pair<util::LogLevel, std::string>> logs;
};

class MemberTest : public ::testing::Test {
protected:
    MemberTest()
        : server(10000), h(server, config()), member(member_config(), host,
                                                     server)
    {
        member.add_namespace("/");
        server.add_namespace(
            "/", echo,
            std::make_unique<redis::Adapter>(
                std::make_unique<sio::LocalAdapter>(), member, "/"));
        member.set_uid("ngx-node1-0-1");
    }

    static eio::Config config()
    {
        eio::Config c;
        c.ping_interval = 25000;
        c.ping_timeout = 20000;
        return c;
    }

    redis::MemberConfig member_config()
    {
        redis::MemberConfig c;
        c.node = "ngx-node1-";
        c.requests_timeout = 5000;
        c.clock = [this] { return now; };
        return c;
    }

    /* both connections up, the subscriptions confirmed; output drained */
    void join()
    {
        member.pub().on_connected();
        subscribe();
        /* the first block of keys, asked for when pub came up */
        pub_commands();
        ASSERT_TRUE(member.pub().on_bytes(":64\r\n"));
    }

    /* the subscribed connection up, its subscriptions confirmed */
    void subscribe()
    {
        member.sub().on_connected();
        auto subs = commands(member.sub().output());
        ASSERT_EQ(subs.size(), 2u);
        EXPECT_EQ(subs[0], (Strings{"SUBSCRIBE", "socket.io-request#/#",
                                    "socket.io-response#/#",
                                    "socket.io-response#/#ngx-node1-0-1#"}));
        EXPECT_EQ(subs[1], (Strings{"PSUBSCRIBE", "socket.io#/#*"}));
        member.sub().written(member.sub().output().size());
        std::string confirm;
        for (const char* kind : {"subscribe", "subscribe", "subscribe",
                                 "psubscribe"})
        {
            confirm += "*3\r\n" + bulk(kind) + bulk("x") + ":1\r\n";
        }
        ASSERT_TRUE(member.sub().on_bytes(confirm));
        ASSERT_TRUE(member.connected());
    }

    /* what the member published since the last look */
    std::vector<Strings> pub_commands()
    {
        auto cmds = commands(member.pub().output());
        member.pub().written(member.pub().output().size());
        return cmds;
    }

    /* a socket on "/" over a fake WebSocket, connected */
    struct Client {
        std::string sid;
        fakes::FakeLink* link;
        std::string id;
        std::size_t read = 0;
    };
    /* what the client got since it last looked */
    static Strings fresh(Client& c)
    {
        Strings all = c.link->packets();
        Strings out(all.begin() + static_cast<std::ptrdiff_t>(c.read),
                    all.end());
        c.read = all.size();
        return out;
    }
    Client client()
    {
        links.push_back(std::make_unique<fakes::FakeLink>());
        Client c;
        c.link = links.back().get();
        c.sid = h.engine.open(eio::TransportKind::websocket, 0, c.link).sid();
        h.engine.flush();
        send(c, "0");
        auto got = c.link->packets();
        if (got.size() < 2) {
            ADD_FAILURE() << "no CONNECT answer: " << got.size();
            return c;
        }
        auto v = boost::json::parse(got.at(1).substr(2));
        c.id = std::string(v.at("sid").as_string());
        h.engine.on_timer(10);           /* echo's deferred "auth" */
        h.engine.flush();
        fresh(c);
        return c;
    }
    void send(Client& c, std::string_view sio_packet)
    {
        h.find(c.sid)->on_ws_message(*c.link, false,
                                     "4" + std::string(sio_packet), 1);
        h.engine.flush();
    }
    sio::Socket& socket_of(const Client& c)
    {
        sio::Socket* found = nullptr;
        sio::BroadcastOptions just;
        just.rooms.push_back(c.id);
        server.find("/")->adapter().for_each(
            just, [&](sio::Socket& s) { found = &s; });
        return *found;
    }

    handlers::SocketEcho echo;
    sio::Server server;
    fakes::EngineHarness h;
    FakeHost host;
    eio::Millis now = 0;
    redis::Member member;
    std::vector<std::unique_ptr<fakes::FakeLink>> links;
};

std::string emitter_broadcast(std::string_view uid, std::string_view data,
                              Strings rooms = {}, Strings except = {})
{
    redis::msgpack::Broadcast b;
    b.uid = std::string(uid);
    b.packet.data = std::string(data);
    b.opts.rooms = std::move(rooms);
    b.opts.except = std::move(except);
    std::string out;
    EXPECT_FALSE(redis::msgpack::encode_broadcast(out, b));
    return out;
}

}  // namespace

TEST(RedisConn, AuthAndSelectComeFirstThenCommandsInOrder)
{
    redis::ConnOptions o;
    o.user = "app";
    o.password = "secret";
    o.db = 3;
    redis::Conn c(o);
    bool ready = false;
    c.on_ready([&] { ready = true; });

    EXPECT_FALSE(c.command({"PING"}));
    c.on_connected();
    EXPECT_EQ(commands(c.output()),
              (std::vector<Strings>{{"AUTH", "app", "secret"},
                                    {"SELECT", "3"}}));
    EXPECT_FALSE(ready);
    EXPECT_FALSE(c.command({"PING"})) << "not before the handshake";

    ASSERT_TRUE(c.on_bytes("+OK\r\n+O"));
    EXPECT_FALSE(ready);
    ASSERT_TRUE(c.on_bytes("K\r\n"));
    EXPECT_TRUE(ready);

    Strings got;
    ASSERT_TRUE(c.command({"INCR", "k"}, [&](const resp::Reply* r) {
        got.push_back(r ? std::to_string(r->integer) : "closed");
    }));
    ASSERT_TRUE(c.command({"INCR", "k"}, [&](const resp::Reply* r) {
        got.push_back(r ? std::to_string(r->integer) : "closed");
    }));
    ASSERT_TRUE(c.on_bytes(":1\r\n"));
    EXPECT_EQ(got, (Strings{"1"}));
    c.on_closed();
    EXPECT_EQ(got, (Strings{"1", "closed"})) << "a closed connection says so";
    EXPECT_FALSE(c.ready());
}

TEST(RedisConn, ARefusedHandshakeOrAReplyToNothingBreaksTheStream)
{
    redis::ConnOptions o;
    o.password = "wrong";
    redis::Conn c(o);
    c.on_connected();
    EXPECT_EQ(commands(c.output()), (std::vector<Strings>{{"AUTH", "wrong"}}));
    EXPECT_FALSE(c.on_bytes("-WRONGPASS invalid password\r\n"));
    EXPECT_NE(c.why().find("WRONGPASS"), std::string::npos);

    redis::Conn d({});
    d.on_connected();
    EXPECT_TRUE(d.ready());
    EXPECT_FALSE(d.on_bytes("+OK\r\n")) << "nobody asked";

    redis::Conn e({});
    e.on_connected();
    EXPECT_FALSE(e.on_bytes("?garbage\r\n"));
    EXPECT_NE(e.why().find("does not parse"), std::string::npos);
}

TEST(RedisConn, ACommandOverTheOutputLimitIsRefused)
{
    redis::ConnOptions o;
    o.max_output = 150;
    redis::Conn c(o);
    c.on_connected();
    EXPECT_TRUE(c.command({"PUBLISH", "ch", std::string(40, 'x')}));
    EXPECT_FALSE(c.command({"PUBLISH", "ch", std::string(40, 'x')}));
    c.written(c.output().size());
    EXPECT_TRUE(c.command({"PUBLISH", "ch", std::string(40, 'x')}));
}

TEST_F(MemberTest, KeysComeFromTheClustersCounterABlockAtATime)
{
    EXPECT_FALSE(member.take_key()) << "none without Redis";
    join();                 /* its first INCRBY (by 64) said 64: keys 1-64 */
    EXPECT_EQ(member.take_key(), 1u);
    EXPECT_EQ(member.take_key(), 2u);
    for (int i = 0; i < 46; i++) {
        member.take_key();
    }
    /* a quarter left: the next block is asked for, once */
    auto cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    ASSERT_EQ(cmds[0].size(), 6u);
    EXPECT_EQ(cmds[0][0], "EVAL");
    EXPECT_EQ(cmds[0][3], "socket.io-chat#key");
    EXPECT_EQ(cmds[0][4], "64");
    EXPECT_EQ(cmds[0][5], "64") << "the counter raised to what was drawn";
    EXPECT_EQ(member.take_key(), 49u);
    EXPECT_TRUE(pub_commands().empty());
    ASSERT_TRUE(member.pub().on_bytes(":128\r\n"));
    EXPECT_EQ(member.take_key(), 65u) << "the new block";

    /* Redis out of reach: none, though some are left */
    member.sub().on_closed();
    member.on_closed(member.sub());
    EXPECT_FALSE(member.take_key());
}

TEST_F(MemberTest, BackAfterALossTheCounterIsRaisedAtOnceAndKeysDrawnLater)
{
    join();                                   /* keys 1-64 */
    member.take_key();
    member.pub().on_closed();
    member.on_closed(member.pub());
    member.sub().on_closed();
    member.on_closed(member.sub());

    /* Redis came back empty: raised to 64 before anyone draws again */
    now = 1000;
    member.pub().on_connected();
    auto cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    ASSERT_EQ(cmds[0].size(), 6u);
    EXPECT_EQ(cmds[0][0], "EVAL");
    EXPECT_EQ(cmds[0][4], "0") << "nothing drawn";
    EXPECT_EQ(cmds[0][5], "64") << "raised to the highest drawn";
    ASSERT_TRUE(member.pub().on_bytes(":64\r\n"));
    subscribe();
    EXPECT_FALSE(member.take_key()) << "not within the grace";
    now = 1000 + 5999;
    EXPECT_FALSE(member.take_key());
    now = 1000 + 6000;
    EXPECT_FALSE(member.take_key()) << "the first after: a new block asked";
    cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0][4], "64");
    EXPECT_EQ(cmds[0][5], "64");
    ASSERT_TRUE(member.pub().on_bytes(":128\r\n"));
    EXPECT_EQ(member.take_key(), 65u);
}

TEST_F(MemberTest, ABroadcastFromAnotherServerReachesTheSocketsHereOnce)
{
    join();
    Client a = client();
    Client b = client();
    socket_of(b).join("room1");

    std::string msg = emitter_broadcast("emitter", "[\"news\",1,{\"x\":2}]");
    ASSERT_TRUE(member.sub().on_bytes(
        push_pmessage("socket.io#/#*", "socket.io#/#", msg)));
    h.engine.flush();
    EXPECT_EQ(fresh(a), (Strings{"42[\"news\",1,{\"x\":2}]"}));
    EXPECT_EQ(fresh(b), (Strings{"42[\"news\",1,{\"x\":2}]"}));

    /* to one room, except a room */
    msg = emitter_broadcast("emitter", "[\"r\"]", {"room1"});
    ASSERT_TRUE(member.sub().on_bytes(
        push_pmessage("socket.io#/#*", "socket.io#/#room1#", msg)));
    msg = emitter_broadcast("emitter", "[\"e\"]", {}, {"room1"});
    ASSERT_TRUE(member.sub().on_bytes(
        push_pmessage("socket.io#/#*", "socket.io#/#", msg)));
    h.engine.flush();
    EXPECT_EQ(fresh(a), (Strings{"42[\"e\"]"}));
    EXPECT_EQ(fresh(b), (Strings{"42[\"r\"]"}));

    /* this node's own (another worker published it): the zone brought it */
    msg = emitter_broadcast("ngx-node1-1-1", "[\"twice\"]");
    ASSERT_TRUE(member.sub().on_bytes(
        push_pmessage("socket.io#/#*", "socket.io#/#", msg)));
    h.engine.flush();
    EXPECT_TRUE(fresh(a).empty());
    EXPECT_EQ(member.counters().received, 3u);
}

/*
 * One worker of a node reads the other servers' broadcasts for all (the
 * zone's log carries them on): the others take back their pattern, drop
 * what Redis sent before it had that, and subscribe without it.
 */
TEST_F(MemberTest, OnlyTheNodesReaderReadsTheOtherServersBroadcasts)
{
    join();
    Client a = client();

    member.set_reader(false);
    EXPECT_EQ(commands(member.sub().output()),
              (std::vector<Strings>{{"PUNSUBSCRIBE", "socket.io#/#*"}}));
    member.sub().written(member.sub().output().size());

    std::string msg = emitter_broadcast("emitter", "[\"late\"]");
    ASSERT_TRUE(member.sub().on_bytes(
        push_pmessage("socket.io#/#*", "socket.io#/#", msg)));
    h.engine.flush();
    EXPECT_TRUE(fresh(a).empty());
    EXPECT_EQ(member.counters().received, 0u);

    /* back after a loss: the requests' channels only */
    member.on_closed(member.sub());
    member.sub().on_closed();
    member.sub().on_connected();
    auto subs = commands(member.sub().output());
    ASSERT_EQ(subs.size(), 1u);
    EXPECT_EQ(subs[0][0], "SUBSCRIBE");
    member.sub().written(member.sub().output().size());
    std::string confirm;
    for (int i = 0; i < 3; i++) {
        confirm += "*3\r\n" + bulk("subscribe") + bulk("x") + ":1\r\n";
    }
    ASSERT_TRUE(member.sub().on_bytes(confirm));
    EXPECT_TRUE(member.connected());

    /* the reader left: this one takes the part */
    member.set_reader(true);
    EXPECT_EQ(commands(member.sub().output()),
              (std::vector<Strings>{{"PSUBSCRIBE", "socket.io#/#*"}}));
    member.sub().written(member.sub().output().size());
    ASSERT_TRUE(member.sub().on_bytes(
        push_pmessage("socket.io#/#*", "socket.io#/#", msg)));
    h.engine.flush();
    EXPECT_EQ(fresh(a), (Strings{"42[\"late\"]"}));
}

TEST_F(MemberTest, ABinaryBroadcastIsABinaryEvent)
{
    join();
    Client a = client();

    redis::msgpack::Broadcast bc;
    bc.uid = "other";
    bc.packet.data = "[\"file\",{\"_placeholder\":true,\"num\":0}]";
    bc.packet.attachments.push_back(std::string("\x00\x01\xff", 3));
    std::string msg;
    ASSERT_FALSE(redis::msgpack::encode_broadcast(msg, bc));
    ASSERT_TRUE(member.sub().on_bytes(
        push_pmessage("socket.io#/#*", "socket.io#/#", msg)));
    h.engine.flush();
    auto got = fresh(a);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], "451-[\"file\",{\"_placeholder\":true,\"num\":0}]");
    EXPECT_EQ(got[1], std::string("\x00\x01\xff", 3));
}

TEST_F(MemberTest, AMalformedBroadcastIsDroppedWithALogLine)
{
    join();
    Client a = client();
    ASSERT_TRUE(member.sub().on_bytes(
        push_pmessage("socket.io#/#*", "socket.io#/#", "\xc1 not msgpack")));
    h.engine.flush();
    EXPECT_TRUE(fresh(a).empty());
    EXPECT_EQ(member.counters().dropped, 1u);
    ASSERT_FALSE(host.logs.empty());
    EXPECT_EQ(host.logs.back().first, util::LogLevel::warn);
}

TEST_F(MemberTest, ABroadcastHereIsPublishedOnceToItsChannel)
{
    join();
    Client a = client();
    Client b = client();

    /* b says something every socket hears, through the adapter */
    auto packet = sio::encode(sio::PacketType::event, "/", std::nullopt, 0,
                              "[\"hi\",\"there\"]");
    sio::BroadcastOptions opts;
    opts.except.push_back(b.id);
    server.find("/")->adapter().broadcast({packet}, opts);
    h.engine.flush();
    EXPECT_EQ(fresh(a), (Strings{"42[\"hi\",\"there\"]"}));
    EXPECT_TRUE(fresh(b).empty());

    auto cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0][0], "PUBLISH");
    EXPECT_EQ(cmds[0][1], "socket.io#/#");
    auto d = redis::msgpack::decode_broadcast(cmds[0][2]);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->uid, "ngx-node1-0-1");
    EXPECT_EQ(d->packet.type, 2);
    EXPECT_EQ(d->packet.data, "[\"hi\",\"there\"]");
    EXPECT_EQ(d->opts.except, (Strings{b.id}));

    /* to one room: that room's channel */
    opts = {};
    opts.rooms.push_back("r1");
    server.find("/")->adapter().broadcast({packet}, opts);
    cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0][1], "socket.io#/#r1#");
}

TEST_F(MemberTest, NothingIsPublishedWithoutRedis)
{
    Client a = client();
    auto packet = sio::encode(sio::PacketType::event, "/", std::nullopt, 0,
                              "[\"hi\"]");
    server.find("/")->adapter().broadcast({packet}, {});
    h.engine.flush();
    EXPECT_EQ(fresh(a), (Strings{"42[\"hi\"]"}));
    EXPECT_TRUE(member.pub().output().empty());
}

TEST_F(MemberTest, AFetchRequestIsAnsweredWithTheSocketsHere)
{
    join();
    Client a = client();
    Client b = client();
    socket_of(a).join("room1");

    std::string req = "{\"uid\":\"node-js\",\"requestId\":\"r1\",\"type\":5,"
                      "\"opts\":{\"rooms\":[\"room1\"],\"except\":[]}}";
    ASSERT_TRUE(member.sub().on_bytes(
        push_message("socket.io-request#/#", req)));
    auto cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0][1], "socket.io-response#/#");
    auto v = boost::json::parse(cmds[0][2]);
    EXPECT_EQ(v.at("requestId"), "r1");
    const auto& sockets = v.at("sockets").as_array();
    ASSERT_EQ(sockets.size(), 1u);
    EXPECT_EQ(sockets[0].at("id"), a.id.c_str());
    EXPECT_TRUE(sockets[0].at("data").is_object());
    Strings rooms;
    for (const auto& r : sockets[0].at("rooms").as_array()) {
        rooms.emplace_back(r.as_string());
    }
    std::sort(rooms.begin(), rooms.end());
    Strings want{a.id, "room1"};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(rooms, want);

    /* its own request: not answered */
    req = "{\"uid\":\"ngx-node1-0-1\",\"requestId\":\"r2\",\"type\":5,"
          "\"opts\":{\"rooms\":[],\"except\":[]}}";
    ASSERT_TRUE(member.sub().on_bytes(
        push_message("socket.io-request#/#", req)));
    EXPECT_TRUE(pub_commands().empty());
}

TEST_F(MemberTest, JoinLeaveAndDisconnectRequestsActOnTheSocketsHere)
{
    join();
    Client a = client();
    Client b = client();

    std::string req = "{\"type\":2,\"opts\":{\"rooms\":[],\"except\":[\""
                      + b.id + "\"]},\"rooms\":[\"vip\"]}";
    ASSERT_TRUE(member.sub().on_bytes(
        push_message("socket.io-request#/#", req)));
    auto rooms = server.find("/")->adapter().rooms_of(socket_of(a));
    EXPECT_NE(std::find(rooms.begin(), rooms.end(), "vip"), rooms.end());
    rooms = server.find("/")->adapter().rooms_of(socket_of(b));
    EXPECT_EQ(std::find(rooms.begin(), rooms.end(), "vip"), rooms.end());

    req = "{\"type\":3,\"opts\":{\"rooms\":[\"vip\"],\"except\":[]},"
          "\"rooms\":[\"vip\"]}";
    ASSERT_TRUE(member.sub().on_bytes(
        push_message("socket.io-request#/#", req)));
    rooms = server.find("/")->adapter().rooms_of(socket_of(a));
    EXPECT_EQ(std::find(rooms.begin(), rooms.end(), "vip"), rooms.end());

    fresh(a);
    req = "{\"type\":4,\"opts\":{\"rooms\":[\"" + a.id
          + "\"],\"except\":[]},\"close\":false}";
    ASSERT_TRUE(member.sub().on_bytes(
        push_message("socket.io-request#/#", req)));
    h.engine.flush();
    EXPECT_EQ(fresh(a), (Strings{"41"}));
    EXPECT_EQ(server.find("/")->adapter().size(), 1u);
}

TEST_F(MemberTest, ABroadcastWithAcksCountsTheClientsAndPassesTheirAcksOn)
{
    join();
    Client a = client();

    redis::msgpack::Document d;
    std::string body = "{\"uid\":\"node-js\",\"requestId\":\"q7\",\"type\":7,"
                       "\"packet\":{\"type\":2,\"data\":[\"ping-test\",1],"
                       "\"nsp\":\"/\"},\"opts\":{\"rooms\":[],\"except\":[]}}";
    std::string req;
    redis::msgpack::encode(req, boost::json::parse(body));
    ASSERT_TRUE(member.sub().on_bytes(
        push_message("socket.io-request#/#", req)));
    h.engine.flush();
    auto got = fresh(a);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], "420[\"ping-test\",1]");

    auto cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    auto count = boost::json::parse(cmds[0][2]);
    EXPECT_EQ(count.at("type"), 8);
    EXPECT_EQ(count.at("clientCount"), 1);

    send(a, "30[\"pong\"]");
    cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0][1], "socket.io-response#/#");
    auto ack = redis::msgpack::decode_request(cmds[0][2]);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->json.at("type"), 9);
    EXPECT_EQ(ack->json.at("requestId"), "q7");
    EXPECT_EQ(ack->json.at("packet"), "pong");
}

TEST_F(MemberTest, AFetchHereAsksTheOthersAndWaitsForEachOrTheTimeout)
{
    join();
    Client a = client();

    std::vector<redis::FetchedSocket> got;
    int calls = 0;
    bool complete = false;
    member.fetch("/", {}, 100, [&](auto sockets, bool all) {
        calls++;
        got = std::move(sockets);
        complete = all;
    });
    auto cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_EQ(cmds[0], (Strings{"PUBSUB", "NUMSUB", "socket.io-request#/#"}));

    /* three members: two others to hear from */
    ASSERT_TRUE(member.pub().on_bytes("*2\r\n" + bulk("socket.io-request#/#")
                                      + ":3\r\n"));
    cmds = pub_commands();
    ASSERT_EQ(cmds.size(), 1u);
    auto req = boost::json::parse(cmds[0][2]);
    EXPECT_EQ(req.at("type"), 5);
    std::string id(req.at("requestId").as_string());

    std::string res = "{\"requestId\":\"" + id + "\",\"sockets\":[{\"id\":"
                      "\"far\",\"rooms\":[\"far\"],\"data\":{\"key\":\"u9\","
                      "\"name\":\"zed\"}}]}";
    ASSERT_TRUE(member.sub().on_bytes(
        push_message("socket.io-response#/#", res)));
    EXPECT_EQ(calls, 0);
    ASSERT_TRUE(member.sub().on_bytes(push_message(
        "socket.io-response#/#",
        "{\"requestId\":\"" + id + "\",\"sockets\":[]}")));
    ASSERT_EQ(calls, 1);
    EXPECT_TRUE(complete);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].id, a.id);
    EXPECT_EQ(got[1].id, "far");
    EXPECT_EQ(got[1].data_json, "{\"key\":\"u9\",\"name\":\"zed\"}");

    /* nobody answers: the timeout gives what there is */
    calls = 0;
    member.fetch("/", {}, 200, [&](auto sockets, bool all) {
        calls++;
        got = std::move(sockets);
        complete = all;
    });
    pub_commands();
    ASSERT_TRUE(member.pub().on_bytes("*2\r\n" + bulk("socket.io-request#/#")
                                      + ":2\r\n"));
    pub_commands();
    EXPECT_EQ(member.next_deadline(), 5200);
    member.on_timer(5199);
    EXPECT_EQ(calls, 0);
    member.on_timer(5200);
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(complete);
    EXPECT_EQ(got.size(), 1u);
}

TEST_F(MemberTest, WithoutRedisAFetchIsAnsweredAtOnceWithWhatIsHere)
{
    Client a = client();
    int calls = 0;
    member.fetch("/", {}, 0, [&](auto sockets, bool all) {
        calls++;
        EXPECT_EQ(sockets.size(), 1u);
        EXPECT_FALSE(all);
    });
    EXPECT_EQ(calls, 1);

    /* and a lost connection answers what waited */
    join();
    member.fetch("/", {}, 0, [&](auto, bool all) {
        calls++;
        EXPECT_FALSE(all);
    });
    member.sub().on_closed();
    member.on_closed(member.sub());
    EXPECT_EQ(calls, 2);
    EXPECT_FALSE(member.connected());
}
