/*
 * Connection state recovery in sio (sio/recovery.hpp): which packets carry
 * an offset and where, the pid and offset shapes, and what a Client does
 * with a Recovery: a pid in the CONNECT answer, the sockets kept when the
 * connection goes (and only then), the missed packets before the CONNECT
 * answer, and a fresh socket for every refusal.
 */
#include "sio_fixture.hpp"

#include "core/sio/recovery.hpp"

#include <gtest/gtest.h>

using namespace sio_fixture;

namespace {

std::optional<std::string> offset_of(std::string_view eio_packet,
                                     std::string_view offset = "0123456789abcdef")
{
    auto in = eio::Encoded::text(eio::PacketType::message,
                                 eio_packet.substr(1));
    auto out = sio::with_offset(*in, offset);
    if (!out) {
        return std::nullopt;
    }
    return std::string((*out)->packet());
}

}  // namespace

TEST(SioRecoveryWire, AnEventGetsItsOffsetAsItsLastArgument)
{
    EXPECT_EQ(offset_of("42[\"a\",1]"), "42[\"a\",1,\"0123456789abcdef\"]");
    EXPECT_EQ(offset_of("42[\"a\"]"), "42[\"a\",\"0123456789abcdef\"]");
    EXPECT_EQ(offset_of("42/custom,[\"a\",{\"x\":[1]}]"),
              "42/custom,[\"a\",{\"x\":[1]},\"0123456789abcdef\"]");
    /* a binary event's placeholders stay where they are */
    EXPECT_EQ(offset_of("451-[\"a\",{\"_placeholder\":true,\"num\":0}]"),
              "451-[\"a\",{\"_placeholder\":true,\"num\":0},"
              "\"0123456789abcdef\"]");
    EXPECT_EQ(offset_of("451-/n,[\"a\"]"), "451-/n,[\"a\",\"0123456789abcdef\"]");
}

TEST(SioRecoveryWire, OnlyEventsWithoutAnAckCarryOne)
{
    EXPECT_EQ(offset_of("421[\"a\"]"), std::nullopt);          /* ack id */
    EXPECT_EQ(offset_of("42/n,7[\"a\"]"), std::nullopt);
    EXPECT_EQ(offset_of("451-7[\"a\"]"), std::nullopt);
    EXPECT_EQ(offset_of("431[\"a\"]"), std::nullopt);          /* ACK */
    EXPECT_EQ(offset_of("461-[{}]"), std::nullopt);            /* BINARY_ACK */
    EXPECT_EQ(offset_of("40{\"sid\":\"x\"}"), std::nullopt);    /* CONNECT */
    EXPECT_EQ(offset_of("41"), std::nullopt);                  /* DISCONNECT */
    EXPECT_EQ(offset_of("44{\"message\":\"x\"}"), std::nullopt);
    EXPECT_EQ(offset_of("45-[\"a\"]"), std::nullopt);          /* no count */
    EXPECT_EQ(offset_of("42/n[\"a\"]"), std::nullopt);         /* no comma */
    auto bin = eio::Encoded::binary("42[\"a\"]");
    EXPECT_FALSE(sio::with_offset(*bin, "0123456789abcdef"));
    auto ping = eio::Encoded::text(eio::PacketType::ping);
    EXPECT_FALSE(sio::with_offset(*ping, "0123456789abcdef"));
}

TEST(SioRecoveryWire, OffsetsHaveOneShape)
{
    for (std::uint64_t v : {std::uint64_t{1}, std::uint64_t{0xabc},
                            std::uint64_t{0xffffffffffffffff}}) {
        std::string t = sio::offset_text(v);
        EXPECT_EQ(t.size(), 16u);
        EXPECT_EQ(sio::offset_value(t), v);
    }
    EXPECT_EQ(sio::offset_value("0000000000000000"), std::nullopt);
    EXPECT_EQ(sio::offset_value("000000000000000A"), std::nullopt);
    EXPECT_EQ(sio::offset_value("00000000000000g1"), std::nullopt);
    EXPECT_EQ(sio::offset_value("000000000000001"), std::nullopt);
    EXPECT_EQ(sio::offset_value("00000000000000001"), std::nullopt);
    EXPECT_EQ(sio::offset_value(""), std::nullopt);
}

TEST(SioRecoveryWire, PidsHaveOneShape)
{
    EXPECT_TRUE(sio::pid_shaped("AAAAAAAAAAAAAAAAAA-_"));
    EXPECT_FALSE(sio::pid_shaped("AAAAAAAAAAAAAAAAAAA"));
    EXPECT_FALSE(sio::pid_shaped("AAAAAAAAAAAAAAAAAAAAA"));
    EXPECT_FALSE(sio::pid_shaped("AAAAAAAAAAAAAAAAAAA+"));
    EXPECT_FALSE(sio::pid_shaped("AAAAAAAAAAAAAAAAAAA/"));
    EXPECT_FALSE(sio::pid_shaped(std::string_view("AAAAAAAAAAAAAAAAAAA\0", 20)));
}

namespace {

/* Keeps sockets in memory, as the reference's in-memory adapter does. */
class FakeRecovery final : public sio::Recovery {
public:
    std::string issue() override { return "PPPPPPPPPPPPPPPPPP" + std::to_string(10 + issued++); }
    std::uint64_t floor() override { return 77; }
    void persist(std::string_view pid, std::uint64_t floor,
                 std::string_view nsp, const std::vector<std::string>& rooms,
                 std::string_view socket, bool live) override
    {
        kept[std::string(pid)] = {std::string(nsp), rooms,
                                  std::string(socket), live};
        EXPECT_EQ(floor, 77u);
    }
    void forget(std::string_view pid) override
    {
        kept.erase(std::string(pid));
    }
    std::variant<sio::Kept, sio::Refusal> restore(
        std::string_view nsp, std::string_view pid,
        std::optional<std::string_view> offset) override
    {
        asked.push_back(std::string(pid) + " "
                        + (offset ? std::string(*offset) : "-"));
        auto it = kept.find(std::string(pid));
        if (it == kept.end()) {
            return sio::Refusal::unknown_pid;
        }
        if (it->second.nsp != nsp) {
            return sio::Refusal::other_namespace;
        }
        if (it->second.live) {
            return sio::Refusal::in_use;
        }
        sio::Kept k;
        k.socket = it->second.socket;
        k.missed = missed;
        kept.erase(it);
        return k;
    }
    void count(std::optional<sio::Refusal> refused) override
    {
        counted.push_back(refused ? std::string(sio::counter(*refused))
                                  : "recovered");
    }

    struct Entry {
        std::string nsp;
        std::vector<std::string> rooms;
        std::string socket;
        bool live;
    };
    std::map<std::string, Entry> kept;
    std::vector<eio::EncodedPtr> missed;
    Strings asked;
    Strings counted;
    int issued = 0;
};

class SioRecovery : public SioTest {
protected:
    SioRecovery() { server.set_recovery(&recovery); }

    /* The CONNECT answer's JSON. */
    boost::json::object connect_answer(Conn& c, const std::string& auth = "")
    {
        text(c, "0" + auth);
        for (const std::string& p : out(c)) {
            if (p.rfind("40{", 0) == 0) {
                return boost::json::parse(p.substr(2)).as_object();
            }
        }
        ADD_FAILURE() << "no CONNECT answer";
        return {};
    }

    void lose(Conn& c)
    {
        h.find(c.sid)->on_ws_gone(*c.link, 2);
        h.engine.flush();
    }

    FakeRecovery recovery;
};

}  // namespace

TEST_F(SioRecovery, TheConnectAnswerGivesAPid)
{
    Conn c = ws();
    auto a = connect_answer(c);
    EXPECT_EQ(a.at("pid").as_string(), "PPPPPPPPPPPPPPPPPP10");
    EXPECT_EQ(a.at("sid").as_string().size(), 20u);
}

TEST_F(SioRecovery, ALostConnectionKeepsTheSocketWithItsRooms)
{
    Conn c = ws();
    auto a = connect_answer(c, "{\"rooms\":[\"r1\"]}");
    ASSERT_EQ(recovery.kept.size(), 1u);
    EXPECT_TRUE(recovery.kept.begin()->second.live);
    lose(c);
    ASSERT_EQ(recovery.kept.size(), 1u);
    const auto& e = recovery.kept.begin()->second;
    EXPECT_FALSE(e.live);
    EXPECT_EQ(e.nsp, "/");
    auto rooms = e.rooms;
    std::sort(rooms.begin(), rooms.end());
    EXPECT_EQ(rooms, (Strings{std::string(a.at("sid").as_string()), "r1"}));
    EXPECT_EQ(main.disconnects, (Strings{"transport close"}));
}

TEST_F(SioRecovery, ADeliberateDisconnectOrAParseErrorKeepsNothing)
{
    Conn c = ws();
    connect_answer(c);
    text(c, "1");
    Conn d = ws();
    connect_answer(d);
    text(d, "9garbage");
    EXPECT_TRUE(recovery.kept.empty());
}

TEST_F(SioRecovery, TheSocketComesBackWithWhatItMissedBeforeTheConnectAnswer)
{
    Conn c = ws();
    auto first = connect_answer(c, "{\"rooms\":[\"r1\"]}");
    std::string sid(first.at("sid").as_string());
    std::string pid(first.at("pid").as_string());
    lose(c);

    recovery.missed = {
        eio::Encoded::text(eio::PacketType::message,
                           "2[\"missed\",1,\"0000000000000002\"]"),
        eio::Encoded::text(eio::PacketType::message,
                           "2[\"missed\",2,\"0000000000000003\"]")};
    Conn back = ws();
    text(back, "0{\"pid\":\"" + pid + "\",\"offset\":\"0000000000000001\"}");
    Strings got = out(back);
    ASSERT_GE(got.size(), 3u);
    EXPECT_EQ(got[0], "42[\"missed\",1,\"0000000000000002\"]");
    EXPECT_EQ(got[1], "42[\"missed\",2,\"0000000000000003\"]");
    auto answer = boost::json::parse(got[2].substr(2)).as_object();
    EXPECT_EQ(answer.at("sid").as_string(), sid);
    EXPECT_EQ(answer.at("pid").as_string(), pid);
    EXPECT_EQ(recovery.asked, (Strings{pid + " 0000000000000001"}));
    EXPECT_EQ(recovery.counted, (Strings{"recovered"}));

    /* its rooms came back; the handler heard it connect again */
    ASSERT_EQ(main.sockets.size(), 1u);
    EXPECT_EQ(main.sockets[0]->id(), sid);
    auto rooms = main.sockets[0]->adapter().rooms_of(*main.sockets[0]);
    EXPECT_NE(std::find(rooms.begin(), rooms.end(), "r1"), rooms.end());
}

TEST_F(SioRecovery, AConnectedSocketIsNotTaken)
{
    Conn c = ws();
    auto first = connect_answer(c);
    Conn d = ws();
    auto a = connect_answer(d, "{\"pid\":\""
                                   + std::string(first.at("pid").as_string())
                                   + "\"}");
    EXPECT_NE(a.at("sid").as_string(), first.at("sid").as_string());
    EXPECT_EQ(recovery.counted, (Strings{"in_use"}));
    EXPECT_TRUE(open(c));
}

TEST_F(SioRecovery, NoOffsetIsAskedForToo)
{
    Conn c = ws();
    std::string pid(connect_answer(c).at("pid").as_string());
    lose(c);
    Conn back = ws();
    auto a = connect_answer(back, "{\"pid\":\"" + pid + "\"}");
    EXPECT_EQ(recovery.asked, (Strings{pid + " -"}));
    EXPECT_EQ(recovery.counted, (Strings{"recovered"}));
    EXPECT_EQ(a.at("pid").as_string(), pid);
}

TEST_F(SioRecovery, EveryRefusalGivesAFreshSocket)
{
    Conn c = ws();
    auto first = connect_answer(c);
    std::string pid(first.at("pid").as_string());
    lose(c);

    const Strings auths = {
        "{\"pid\":\"short\",\"offset\":\"0000000000000001\"}",
        "{\"pid\":\"" + pid + "\",\"offset\":7}",
        "{\"pid\":\"BBBBBBBBBBBBBBBBBBBB\"}",
    };
    for (const std::string& auth : auths) {
        Conn d = ws();
        auto a = connect_answer(d, auth);
        EXPECT_NE(a.at("sid").as_string(), first.at("sid").as_string());
        EXPECT_NE(a.at("pid").as_string(), pid);
    }
    EXPECT_EQ(recovery.counted,
              (Strings{"malformed", "malformed", "unknown_pid"}));
    /* a pid that is not a string asks for nothing (as the reference) */
    Conn e = ws();
    connect_answer(e, "{\"pid\":5}");
    EXPECT_EQ(recovery.counted.size(), 3u);

    /* the kept socket is still there for its own client */
    Conn back = ws();
    auto again = connect_answer(back, "{\"pid\":\"" + pid + "\"}");
    EXPECT_EQ(again.at("sid").as_string(), first.at("sid").as_string());
}

TEST_F(SioRecovery, AnotherNamespacesPidGivesAFreshSocket)
{
    Conn c = ws();
    text(c, "0/custom,");
    std::string pid;
    for (const std::string& p : out(c)) {
        if (p.rfind("40/custom,", 0) == 0) {
            pid = std::string(boost::json::parse(p.substr(10)).at("pid")
                                  .as_string());
        }
    }
    ASSERT_FALSE(pid.empty());
    lose(c);
    Conn d = ws();
    connect_answer(d, "{\"pid\":\"" + pid + "\"}");
    EXPECT_EQ(recovery.counted, (Strings{"other_namespace"}));
}
