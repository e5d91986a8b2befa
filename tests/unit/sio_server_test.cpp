/*
 * sio::Server and Client as the Engine.IO handler, with the echo handler
 * that the compliance suite drives, and Socket's emit API.
 */
#include "sio_fixture.hpp"

using namespace sio_fixture;
using socketio::eio::Millis;
using socketio::eio::never;

/* --- connection to a namespace --- */

TEST_F(SioTest, ConnectToMainNamespace)
{
    Conn c = ws();
    EXPECT_TRUE(out(c).empty()) << "the server waits for the CONNECT";
    text(c, "0");
    Strings got = out(c);
    ASSERT_EQ(got.size(), 2u);
    ASSERT_EQ(got[0].substr(0, 2), "40");
    auto v = boost::json::parse(got[0].substr(2));
    ASSERT_TRUE(v.is_object());
    EXPECT_EQ(v.as_object().size(), 1u);
    std::string sid(v.at("sid").as_string());
    EXPECT_EQ(sid.size(), 20u);
    EXPECT_NE(sid, c.sid) << "the Socket.IO id is not the Engine.IO one";
    EXPECT_EQ(got[1], "42[\"auth\",{}]");

    ASSERT_EQ(main.sockets.size(), 1u);
    EXPECT_EQ(main.sockets[0]->id(), sid);
    EXPECT_EQ(main.sockets[0]->nsp_name(), "/");
    EXPECT_EQ(&main.sockets[0]->session(), h.find(c.sid));
}

TEST_F(SioTest, ConnectWithAuth)
{
    Conn c = ws();
    text(c, "0{\"token\":\"abc\",\"n\":[1,2.5,null,{\"d\":\"\\u00e9\"}]}");
    Strings got = out(c);
    ASSERT_EQ(got.size(), 2u);
    auto args = boost::json::parse(got[1].substr(2));
    EXPECT_EQ(args.at(0).as_string(), "auth");
    EXPECT_EQ(args.at(1), boost::json::parse(
                              "{\"token\":\"abc\",\"n\":[1,2.5,null,"
                              "{\"d\":\"\xc3\xa9\"}]}"));
}

TEST_F(SioTest, ConnectToCustomNamespace)
{
    Conn c = ws();
    text(c, "0/custom,{\"k\":1}");
    Strings got = out(c);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].substr(0, 10), "40/custom,");
    auto v = boost::json::parse(got[0].substr(10));
    std::string sid(v.at("sid").as_string());
    ASSERT_EQ(custom.log.size(), 1u);
    EXPECT_EQ(custom.log[0], "connect " + sid + " {\"k\":1}");

    /* and without a payload the auth is an empty object */
    Conn d = ws();
    text(d, "0/custom,");
    ASSERT_EQ(custom.log.size(), 2u);
    EXPECT_EQ(custom.log[1].substr(custom.log[1].size() - 3), " {}");
}

TEST_F(SioTest, SocketIdsAreDistinct)
{
    std::vector<std::string> ids;
    for (int i = 0; i < 5; i++) {
        Conn c = ws();
        ids.push_back(c.sid);
        ids.push_back(connect(c));
        ids.push_back(connect(c, "/custom"));
    }
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
}

TEST_F(SioTest, UnknownNamespace)
{
    Conn c = ws();
    text(c, "0/x,");
    EXPECT_EQ(out(c), Strings{"44/x,{\"message\":\"Invalid namespace\"}"});
    EXPECT_TRUE(open(c));
    text(c, "0/x,{\"token\":1}");
    EXPECT_EQ(out(c), Strings{"44/x,{\"message\":\"Invalid namespace\"}"});
    /* the connection goes on, and may connect elsewhere */
    EXPECT_FALSE(connect(c).empty());
    EXPECT_TRUE(open(c));
}

TEST_F(SioTest, ConnectTimeout)
{
    Conn c = ws(0);
    EXPECT_EQ(h.engine.next_deadline(), connect_timeout);
    h.engine.on_timer(connect_timeout - 1);
    EXPECT_TRUE(open(c));
    h.engine.on_timer(connect_timeout);
    EXPECT_TRUE(out_before_close(c).empty());
    EXPECT_TRUE(c.link->closed);
    EXPECT_EQ(h.find(c.sid), nullptr);
}

TEST_F(SioTest, ConnectTimeoutDespiteAnInvalidNamespace)
{
    Conn c = ws(0);
    text(c, "0/nope,", 10);
    h.engine.on_timer(connect_timeout);
    EXPECT_TRUE(c.link->closed);
    EXPECT_EQ(h.find(c.sid), nullptr);
}

TEST_F(SioTest, NoConnectTimeoutOnceConnected)
{
    Conn c = ws(0);
    connect(c);
    EXPECT_EQ(h.engine.next_deadline(), 25000) << "only the ping is left";
    h.engine.on_timer(connect_timeout);
    EXPECT_TRUE(open(c));
    EXPECT_FALSE(c.link->closed);
}

/* --- malformed input closes the connection --- */

TEST_F(SioTest, InvalidPacketCloses)
{
    for (std::string bad :
         {"2{}", "2abc[\"a\"]", "7", "", "2[\"disconnect\"]", "1{}",
          "50-[\"a\"]", "511-[\"a\"]", "0[]", "2[]", "2[\"a\"", "3{}"}) {
        SCOPED_TRACE(bad);
        Conn c = ws();
        std::string sid = connect(c, "/custom");
        std::size_t before = custom.disconnects.size();
        text(c, bad);
        EXPECT_TRUE(out_before_close(c).empty());
        EXPECT_TRUE(c.link->closed);
        EXPECT_EQ(h.find(c.sid), nullptr);
        ASSERT_EQ(custom.disconnects.size(), before + 1);
        EXPECT_EQ(custom.log.back(), "disconnect " + sid + " parse error");
    }
}

TEST_F(SioTest, InvalidPacketBeforeConnectCloses)
{
    Conn c = ws();
    text(c, "2[\"a\"");
    EXPECT_TRUE(c.link->closed);
    EXPECT_EQ(h.find(c.sid), nullptr);
}

TEST_F(SioTest, EventOnANamespaceNotConnectedCloses)
{
    Conn c = ws();
    connect(c);
    text(c, "2/custom,[\"x\"]");
    EXPECT_TRUE(c.link->closed);
    EXPECT_EQ(h.find(c.sid), nullptr);
    EXPECT_TRUE(custom.log.empty());
}

TEST_F(SioTest, EventBeforeAnyConnectCloses)
{
    Conn c = ws();
    text(c, "2[\"message\",1]");
    EXPECT_TRUE(out_before_close(c).empty());
    EXPECT_EQ(h.find(c.sid), nullptr);
}

TEST_F(SioTest, OtherPacketsTheServerDoesNotTake)
{
    for (std::string bad : {"3/custom,0[]", "4{\"message\":\"x\"}",
                            "4/custom,\"x\"", "1/nope,"}) {
        SCOPED_TRACE(bad);
        Conn c = ws();
        connect(c);
        text(c, bad);
        EXPECT_TRUE(c.link->closed);
    }
}

TEST_F(SioTest, BinaryDataWhenNotReconstructing)
{
    Conn c = ws();
    connect(c);
    bin(c, "\x01\x02");
    EXPECT_TRUE(c.link->closed);
    EXPECT_EQ(h.find(c.sid), nullptr);
}

TEST_F(SioTest, TextWhileReconstructing)
{
    Conn c = ws();
    connect(c);
    text(c, "52-[\"message\"," + placeholder(0) + "," + placeholder(1) + "]");
    bin(c, "a");
    text(c, "2[\"message\"]");
    EXPECT_TRUE(c.link->closed);
    EXPECT_EQ(h.find(c.sid), nullptr);
}

TEST_F(SioTest, NothingIsHandledAfterAFailure)
{
    Conn c = ws();
    connect(c, "/custom");
    eio::Session* s = h.find(c.sid);
    /* two packets in one read: the second one is not looked at */
    s->on_ws_message(*c.link, false, "42{}", 1);
    s->on_ws_message(*c.link, false, "42/custom,[\"late\"]", 1);
    h.engine.flush();
    for (const auto& line : custom.log) {
        EXPECT_EQ(line.find("late"), std::string::npos) << line;
    }
}

/* --- events, binary attachments, acks (the echo handler) --- */

TEST_F(SioTest, EventEcho)
{
    Conn c = ws();
    connect(c);
    text(c, "2[\"message\",1,\"two\",{\"3\":[true]}]");
    EXPECT_EQ(out(c),
              Strings{"42[\"message-back\",1,\"two\",{\"3\":[true]}]"});

    /* the arguments are passed on byte for byte */
    text(c, "2[ \"message\" , 1.50 ,  \"\\u0041\" ]");
    EXPECT_EQ(out(c), Strings{"42[\"message-back\", 1.50 ,  \"\\u0041\" ]"});

    text(c, "2[\"message\"]");
    EXPECT_EQ(out(c), Strings{"42[\"message-back\"]"});

    /* other events are not answered */
    text(c, "2[\"other\",1]");
    text(c, "2[12,1]");
    EXPECT_TRUE(out(c).empty());
    EXPECT_TRUE(open(c));
}

TEST_F(SioTest, BinaryEventWithTwoAttachmentsIsEchoedWithTheSameBytes)
{
    Conn c = ws();
    connect(c);
    std::string a("\x00\x01\xff\xfe", 4);
    std::string b(1000, '\0');
    for (std::size_t i = 0; i < b.size(); i++) {
        b[i] = static_cast<char>(i * 31);
    }

    text(c, "52-[\"message\"," + placeholder(0) + ",\"mid\"," + placeholder(1)
                + "]");
    EXPECT_TRUE(out(c).empty()) << "not before its attachments";
    bin(c, a);
    EXPECT_TRUE(out(c).empty());
    bin(c, b);

    Strings got = out(c);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], "452-[\"message-back\"," + placeholder(0) + ",\"mid\","
                          + placeholder(1) + "]");
    const auto& sent = c.link->sent;
    ASSERT_EQ(sent.size(), c.read);
    EXPECT_FALSE(sent[c.read - 3]->is_binary());
    EXPECT_TRUE(sent[c.read - 2]->is_binary());
    EXPECT_TRUE(sent[c.read - 1]->is_binary());
    EXPECT_EQ(got[1], a);
    EXPECT_EQ(got[2], b);

    /* and the decoder is ready for the next packet */
    text(c, "2[\"message\",1]");
    EXPECT_EQ(out(c), Strings{"42[\"message-back\",1]"});
}

TEST_F(SioTest, BinaryEventOverPolling)
{
    std::string sid = h.open_polling(0);
    EXPECT_FALSE(h.post(sid, "40", 1));
    h.engine.on_timer(1 + echo_delay);   /* echo's "auth" comes later */
    fakes::FakePoll& first = h.poll(sid, 2);
    auto packets = fakes::split_payload(first.last());
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_EQ(packets[0].substr(0, 9), "40{\"sid\":");
    EXPECT_EQ(packets[1], "42[\"auth\",{}]");

    std::string head = "452-[\"message\"," + placeholder(0) + ","
                       + placeholder(1) + "]";
    EXPECT_FALSE(h.post(sid, head + "\x1e" "bAQI=\x1e" "bAw==", 3));
    fakes::FakePoll& second = h.poll(sid, 4);
    EXPECT_EQ(second.last(), "452-[\"message-back\"," + placeholder(0) + ","
                                 + placeholder(1) + "]\x1e" "bAQI=\x1e"
                                 "bAw==");
}

TEST_F(SioTest, Ack)
{
    Conn c = ws();
    connect(c);
    text(c, "21[\"message-with-ack\",1,\"2\",{\"3\":[true]}]");
    EXPECT_EQ(out(c), Strings{"431[1,\"2\",{\"3\":[true]}]"});

    text(c, "29007199254740992[\"message-with-ack\"]");
    EXPECT_EQ(out(c), Strings{"439007199254740992[]"});

    /* no ack id: nothing to answer */
    text(c, "2[\"message-with-ack\",1]");
    EXPECT_TRUE(out(c).empty());
}

TEST_F(SioTest, BinaryAck)
{
    Conn c = ws();
    connect(c);
    text(c, "51-7[\"message-with-ack\"," + placeholder(0) + "]");
    bin(c, std::string("\x00\xff", 2));
    Strings got = out(c);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], "461-7[" + placeholder(0) + "]");
    EXPECT_EQ(got[1], std::string("\x00\xff", 2));
}

TEST_F(SioTest, EventsReachTheirNamespace)
{
    Conn c = ws();
    std::string main_id = connect(c);
    std::string custom_id = connect(c, "/custom");
    text(c, "2/custom,5[\"hi\",1]");
    ASSERT_EQ(custom.log.size(), 2u);
    EXPECT_EQ(custom.log[1], "event " + custom_id + " hi ,1] buffers=0");
    text(c, "2[\"hi\",2]");
    EXPECT_EQ(main.log.back(), "event " + main_id + " hi ,2] buffers=0");
    EXPECT_EQ(custom.log.size(), 2u);

    text(c, "51-/custom,[\"bin\"," + placeholder(0) + "]");
    bin(c, "x");
    EXPECT_EQ(custom.log.back(), "event " + custom_id + " bin ,"
                                     + placeholder(0) + "] buffers=1");
}

/* --- leaving --- */

TEST_F(SioTest, DisconnectRemovesTheSocketAndTheSessionStaysOpen)
{
    Conn c = ws();
    std::string main_id = connect(c);
    std::string id = connect(c, "/custom");
    ASSERT_EQ(custom.sockets.size(), 1u);
    EXPECT_EQ(server.find("/custom")->adapter().size(), 1u);

    text(c, "1/custom,");
    EXPECT_EQ(custom.disconnects, Strings{"client namespace disconnect"});
    EXPECT_TRUE(custom.sockets.empty());
    EXPECT_EQ(server.find("/custom")->adapter().size(), 0u);
    EXPECT_TRUE(open(c));
    EXPECT_TRUE(out(c).empty());

    /* the other namespace is still there */
    text(c, "2[\"message\",1]");
    EXPECT_EQ(out(c), Strings{"42[\"message-back\",1]"});

    /* and the namespace can be joined again, as a new socket */
    std::string again = connect(c, "/custom");
    EXPECT_NE(again, id);

    /* the last namespace left: the session still stays */
    text(c, "1");
    text(c, "1/custom,");
    EXPECT_TRUE(main.sockets.empty());
    EXPECT_TRUE(custom.sockets.empty());
    EXPECT_TRUE(open(c));
}

TEST_F(SioTest, EventAfterDisconnectCloses)
{
    Conn c = ws();
    connect(c, "/custom");
    text(c, "1/custom,");
    EXPECT_TRUE(open(c));
    text(c, "2/custom,[\"x\"]");
    EXPECT_TRUE(c.link->closed);
    EXPECT_EQ(h.find(c.sid), nullptr);
}

TEST_F(SioTest, TransportCloseDisconnectsEverySocket)
{
    Conn c = ws();
    std::string a = connect(c);
    std::string b = connect(c, "/custom");
    h.find(c.sid)->on_ws_gone(*c.link, 5);
    h.engine.flush();
    EXPECT_EQ(main.disconnects, Strings{"transport close"});
    EXPECT_EQ(custom.disconnects, Strings{"transport close"});
    EXPECT_EQ(server.find("/")->adapter().size(), 0u);
    EXPECT_EQ(server.find("/custom")->adapter().size(), 0u);
    EXPECT_EQ(h.find(c.sid), nullptr);
}

TEST_F(SioTest, PingTimeoutDisconnects)
{
    Conn c = ws(0);
    connect(c, "/custom");
    h.engine.on_timer(25000);
    h.engine.on_timer(45000);
    EXPECT_EQ(custom.disconnects, Strings{"ping timeout"});
}

/* --- Socket's API, as a handler uses it --- */

TEST_F(SioTest, Emit)
{
    Conn c = ws();
    connect(c, "/custom");
    sio::Socket& s = *custom.sockets.at(0);

    s.emit("ev");
    s.emit("ev", "[1,2]");
    s.emit("ev", " [ ] ");
    s.emit("ev", "[ {\"a\":1} ]");
    s.emit("q\"uote\\");
    EXPECT_EQ(out(c), Strings{}) << "nothing before the flush";
    h.engine.flush();
    EXPECT_EQ(out(c), (Strings{"42/custom,[\"ev\"]", "42/custom,[\"ev\",1,2]",
                               "42/custom,[\"ev\" ] ",
                               "42/custom,[\"ev\", {\"a\":1} ]",
                               "42/custom,[\"q\\\"uote\\\\\"]"}));
}

TEST_F(SioTest, EmitBinary)
{
    Conn c = ws();
    connect(c);
    sio::Socket& s = *main.sockets.at(0);
    s.emit_binary("a", "[" + placeholder(0) + "," + placeholder(1) + "]",
                  {std::string("\x01\x02", 2), std::string("\0", 1)});
    h.engine.flush();
    Strings got = out(c);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], "452-[\"a\"," + placeholder(0) + "," + placeholder(1)
                          + "]");
    EXPECT_EQ(got[1], std::string("\x01\x02", 2));
    EXPECT_EQ(got[2], std::string("\0", 1));
    EXPECT_TRUE(c.link->sent.back()->is_binary());

    /* no buffers: a plain EVENT */
    s.emit_binary("a", "[1]", {});
    h.engine.flush();
    EXPECT_EQ(out(c), Strings{"42[\"a\",1]"});
}

TEST_F(SioTest, EmitWithAck)
{
    Conn c = ws();
    connect(c, "/custom");
    sio::Socket& s = *custom.sockets.at(0);
    Strings acks;
    std::vector<std::size_t> buffers;
    auto cb = [&](const sio::Packet& p) {
        acks.push_back(p.raw);
        buffers.push_back(p.buffers.size());
    };
    s.emit_with_ack("q", "[1]", cb);
    s.emit_with_ack("q", "[2]", cb);
    h.engine.flush();
    EXPECT_EQ(out(c), (Strings{"42/custom,0[\"q\",1]", "42/custom,1[\"q\",2]"}));

    text(c, "3/custom,1[\"two\"]");
    EXPECT_EQ(acks, Strings{"[\"two\"]"});
    /* answered once only; unknown ids are ignored */
    text(c, "3/custom,1[\"again\"]");
    text(c, "3/custom,9[]");
    EXPECT_EQ(acks.size(), 1u);
    EXPECT_TRUE(open(c));

    text(c, "61-/custom,0[" + placeholder(0) + "]");
    EXPECT_EQ(acks.size(), 1u) << "not before its attachment";
    bin(c, "z");
    ASSERT_EQ(acks.size(), 2u);
    EXPECT_EQ(acks[1], "[" + placeholder(0) + "]");
    EXPECT_EQ(buffers[1], 1u);
}

TEST_F(SioTest, AckFromTheHandler)
{
    custom.event_fn = [](sio::Socket& s, const sio::Event& ev) {
        if (ev.ack_id()) {
            s.ack(*ev.ack_id(), "[\"ok\"]");
            s.ack(*ev.ack_id() + 1, "[]", {"bin"});
        }
    };
    Conn c = ws();
    connect(c, "/custom");
    text(c, "2/custom,41[\"x\"]");
    EXPECT_EQ(out(c), (Strings{"43/custom,41[\"ok\"]", "461-/custom,42[]",
                               "bin"}));
}

TEST_F(SioTest, EmitFromConnect)
{
    custom.connect_fn = [](sio::Socket& s, const boost::json::value&) {
        s.emit("welcome", "[\"hi\"]");
    };
    Conn c = ws();
    text(c, "0/custom,");
    Strings got = out(c);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].substr(0, 10), "40/custom,") << "CONNECT answer first";
    EXPECT_EQ(got[1], "42/custom,[\"welcome\",\"hi\"]");
}

/* --- random traffic --- */

TEST_F(SioTest, RandomTrafficKeepsTheBooksStraight)
{
    /* packets good and bad in random order: a connection ends up open or
       gone, never half-way, and the namespaces only list live sockets */
    const std::vector<std::string> texts = {
        "0", "0/custom,", "0/custom,{\"rooms\":[\"r\"]}", "0/nope,", "1",
        "1/custom,", "2[\"message\",1]", "2/custom,[\"x\"]",
        "21[\"message-with-ack\",2]", "51-[\"message\"," + placeholder(0) + "]",
        "52-/custom,3[\"m\"," + placeholder(0) + "," + placeholder(1) + "]",
        "61-/custom,0[" + placeholder(0) + "]", "3/custom,0[]", "2{}",
        "4\"x\"", "2[\"disconnect\"]",
    };
    std::minstd_rand gen(3);
    for (int round = 0; round < 300; round++) {
        Conn c = ws(0);
        int steps = 1 + static_cast<int>(gen() % 12);
        for (int i = 0; i < steps && open(c); i++) {
            if (gen() % 5 == 0) {
                bin(c, std::string(gen() % 4, 'b'));
            } else {
                text(c, texts[gen() % texts.size()]);
            }
        }
        if (gen() % 2 && open(c)) {
            h.find(c.sid)->on_ws_gone(*c.link, 2);
            h.engine.flush();
        }
        eio::Session* s = h.find(c.sid);
        if (s != nullptr) {
            EXPECT_EQ(s->state(), eio::Session::State::open) << round;
            EXPECT_FALSE(c.link->closed) << round;
        } else {
            EXPECT_TRUE(c.link->closed || c.link->closes == 0) << round;
        }
        EXPECT_EQ(server.find("/")->adapter().size(), main.sockets.size());
        EXPECT_EQ(server.find("/custom")->adapter().size(),
                  custom.sockets.size());
        for (sio::Socket* sock : custom.sockets) {
            EXPECT_EQ(sock->session().state(), eio::Session::State::open);
        }
    }
    h.engine.close_all(socketio::eio::Reason::server_shutdown);
    EXPECT_TRUE(main.sockets.empty());
    EXPECT_TRUE(custom.sockets.empty());
    EXPECT_EQ(h.engine.size(), 0u);
}
