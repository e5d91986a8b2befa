/*
 * cluster records (records.hpp): every kind encodes and decodes to the
 * same value, byte for byte; a body cut anywhere, of another version, with
 * bytes left over or a value out of range is an error, never a value or a
 * crash; big byte strings are borrowed when encoding and viewed when
 * decoding. And a node that reads a record it cannot decode drops it with
 * a warning and reads on.
 */
#include "cluster_harness.hpp"

#include "core/cluster/records.hpp"

#include <functional>

using namespace clustertest;
namespace records = cluster::records;
using cluster::Body;
using cluster::DecodeError;
using cluster::Rec;

namespace {

/* One record of a kind, as its body's bytes. */
struct Sample {
    Rec kind;
    std::string body;
};

template <typename T>
Sample sample(const T& record)
{
    Body b;
    record.encode(b);
    return Sample{T::kind, b.bytes()};
}

const std::string frame1 = "\x81\x05" "42[1]";
const std::string frame2 = "\x82\x03" "abc";
const std::vector<std::string> rooms{"r1", "room two"};
const std::vector<std::string> except{"x"};

std::vector<Sample> samples()
{
    std::vector<Sample> out;

    Body b;
    records::Broadcast::encode(b, 42, "/rec", rooms, except,
                               std::vector<std::string_view>{frame1, frame2});
    out.push_back({Rec::broadcast, b.bytes()});
    Body empty;
    records::Broadcast::encode(empty, 0, "/", std::vector<std::string>{},
                               std::vector<std::string>{},
                               std::vector<std::string_view>{});
    out.push_back({Rec::broadcast, empty.bytes()});

    out.push_back(sample(records::Post{"sid-1", 7, "4hello"}));
    out.push_back(sample(records::Post{"sid-1", 0, ""}));
    out.push_back(sample(records::PostDone{7, std::nullopt}));
    out.push_back(sample(records::PostDone{8, eio::Error::bad_request}));
    out.push_back(sample(records::Poll{"sid-2", 9}));
    out.push_back(sample(records::PollGone{"sid-2", 9}));
    out.push_back(sample(records::PollAnswer{9, std::nullopt, "4a\x1e" "4b"}));
    out.push_back(sample(records::PollAnswer{9, eio::Error::unknown_sid, ""}));
    out.push_back(sample(records::WsAttach{"sid-3", 10}));
    out.push_back(sample(records::WsRefuse{10}));
    out.push_back(sample(records::WsIn{"sid-3", 10, true, "\x01\x02"}));
    out.push_back(sample(records::WsIn{"sid-3", 10, false, "2probe"}));

    Body ws_out;
    records::WsOut::encode(ws_out, 10,
                           std::vector<std::string_view>{frame1, frame2});
    out.push_back({Rec::ws_out, ws_out.bytes()});

    out.push_back(sample(records::WsClose{10, 1000, "bye"}));
    out.push_back(sample(records::WsGone{"sid-3", 10}));
    out.push_back(sample(records::Migrate{"sid-4", 11, 4096, "state bytes"}));
    out.push_back(sample(records::SlotGone{63, 12345}));
    out.push_back(sample(records::PollReleased{"sid-2", 9}));
    out.push_back(sample(records::UserPut{"k1", "alice", "sock", 3, 12}));
    out.push_back(sample(records::UserRemoved{"k1"}));
    Body kept;
    records::Persist::encode(kept, "pid-1", 1234, 4096, 3, 7, 4242, true,
                             "/rec", rooms, "socket bytes");
    out.push_back({Rec::persist, kept.bytes()});
    out.push_back(sample(records::Forget{"pid-1"}));
    return out;
}

/* The body decoded as its kind, then encoded again: its bytes. */
std::optional<std::string> reencode(Rec kind, std::string_view body,
                                    DecodeError* error = nullptr)
{
    std::optional<std::string> out;
    auto e = records::visit(static_cast<std::uint16_t>(kind), body,
                            [&](const auto& m) {
                                Body b;
                                m.encode(b);
                                out = b.bytes();
                            });
    if (e && error != nullptr) {
        *error = *e;
    }
    return out;
}

/* Whether a body decodes to a value equal to a fresh decoding of its own
   re-encoding (values, not only bytes). */
bool same_value_again(Rec kind, std::string_view body)
{
    bool same = false;
    records::visit(static_cast<std::uint16_t>(kind), body,
                   [&](const auto& m) {
                       using T = std::decay_t<decltype(m)>;
                       Body b;
                       m.encode(b);
                       std::string again = b.bytes();
                       auto d = T::decode(again);
                       same = d.ok() && *d == m;
                   });
    return same;
}

}  // namespace

TEST(ClusterRecords, EveryKindHasASample)
{
    std::set<Rec> kinds;
    for (const Sample& s : samples()) {
        kinds.insert(s.kind);
    }
    EXPECT_EQ(kinds.size(),
              static_cast<std::size_t>(cluster::rec_last
                                       - cluster::rec_first + 1));
}

TEST(ClusterRecords, EachKindRoundTrips)
{
    for (const Sample& s : samples()) {
        SCOPED_TRACE(static_cast<int>(s.kind));
        ASSERT_FALSE(s.body.empty());
        EXPECT_EQ(static_cast<std::uint8_t>(s.body[0]),
                  cluster::record_version);
        auto again = reencode(s.kind, s.body);
        ASSERT_TRUE(again.has_value());
        EXPECT_EQ(*again, s.body);
        EXPECT_TRUE(same_value_again(s.kind, s.body));
    }
}

TEST(ClusterRecords, FieldsComeBackAsWritten)
{
    Body b;
    records::Broadcast::encode(b, 0, "/rec", rooms, except,
                               std::vector<std::string_view>{frame1, frame2});
    std::string body = b.bytes();
    auto m = records::Broadcast::decode(body);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->nsp, "/rec");
    EXPECT_EQ(m->rooms.to_strings(), rooms);
    EXPECT_EQ(m->except.to_strings(), except);
    ASSERT_EQ(m->frames.size(), 2u);
    EXPECT_EQ(m->frames.to_strings(), (Strings{frame1, frame2}));

    Body u;
    records::UserPut{"k1", "alice", "sock", 3, 12, 0}.encode(u);
    std::string ub = u.bytes();
    auto user = records::UserPut::decode(ub);
    ASSERT_TRUE(user.ok());
    EXPECT_EQ(user->key, "k1");
    EXPECT_EQ(user->name, "alice");
    EXPECT_EQ(user->socket_id, "sock");
    EXPECT_EQ(user->slot, 3);
    EXPECT_EQ(user->order, 12u);
    EXPECT_EQ(user->away_until, 0u);

    /* away: no worker's slot, and until when */
    Body away;
    records::UserPut{"k1", "alice", "sock", bus::away_slot, 12, 5000}
        .encode(away);
    std::string ab = away.bytes();
    auto kept = records::UserPut::decode(ab);
    ASSERT_TRUE(kept.ok());
    EXPECT_EQ(kept->slot, bus::away_slot);
    EXPECT_EQ(kept->away_until, 5000u);
    Body wrong;
    records::UserPut{"k1", "alice", "sock", bus::max_slots, 12, 0}
        .encode(wrong);
    std::string wb = wrong.bytes();
    EXPECT_FALSE(records::UserPut::decode(wb).ok());

    Body d;
    records::PostDone{8, eio::Error::bad_request}.encode(d);
    std::string db = d.bytes();
    auto done = records::PostDone::decode(db);
    ASSERT_TRUE(done.ok());
    EXPECT_EQ(done->error, eio::Error::bad_request);
}

/* Frames and payloads are not copied on the way in (the log copies them
   once) nor on the way out (sockets view the log's bytes). */
TEST(ClusterRecords, BigBytesAreBorrowedAndViewed)
{
    std::string payload(1000, 'p');
    Body b;
    records::Broadcast::encode(b, 0, "/", rooms, except,
                               std::vector<std::string_view>{frame1, payload});
    bool borrowed = false;
    for (std::string_view part : b.parts()) {
        borrowed |= part.data() == payload.data();
    }
    EXPECT_TRUE(borrowed);

    std::string body = b.bytes();
    auto m = records::Broadcast::decode(body);
    ASSERT_TRUE(m.ok());
    for (std::string_view f : m->frames) {
        EXPECT_GE(f.data(), body.data());
        EXPECT_LE(f.data() + f.size(), body.data() + body.size());
    }

    Body p;
    records::Post{"sid", 1, payload}.encode(p);
    borrowed = false;
    for (std::string_view part : p.parts()) {
        borrowed |= part.data() == payload.data();
    }
    EXPECT_TRUE(borrowed);
}

TEST(ClusterRecords, EveryTruncationIsAnError)
{
    for (const Sample& s : samples()) {
        SCOPED_TRACE(static_cast<int>(s.kind));
        for (std::size_t n = 0; n < s.body.size(); n++) {
            /* a copy of just that many bytes: a read past it is caught */
            std::string cut = s.body.substr(0, n);
            DecodeError e = DecodeError::unknown_kind;
            EXPECT_FALSE(reencode(s.kind, cut, &e).has_value()) << n;
            EXPECT_EQ(e, DecodeError::truncated) << n;
        }
    }
}

TEST(ClusterRecords, AnotherVersionIsRefused)
{
    for (const Sample& s : samples()) {
        SCOPED_TRACE(static_cast<int>(s.kind));
        for (int v : {0, cluster::record_version - 1,
                      cluster::record_version + 1, 255}) {
            std::string other = s.body;
            other[0] = static_cast<char>(v);
            DecodeError e = DecodeError::unknown_kind;
            EXPECT_FALSE(reencode(s.kind, other, &e).has_value());
            EXPECT_EQ(e, DecodeError::version);
        }
    }
}

TEST(ClusterRecords, BytesAfterTheEndAreRefused)
{
    for (const Sample& s : samples()) {
        SCOPED_TRACE(static_cast<int>(s.kind));
        DecodeError e = DecodeError::unknown_kind;
        EXPECT_FALSE(reencode(s.kind, s.body + "x", &e).has_value());
        EXPECT_EQ(e, DecodeError::trailing);
    }
}

TEST(ClusterRecords, ValuesOutOfRangeAreRefused)
{
    auto with = [](const Sample& s, std::size_t at, std::string_view bytes) {
        std::string b = s.body;
        b.replace(at, bytes.size(), bytes);
        return b;
    };
    auto error_of = [](Rec kind, const std::string& body) {
        DecodeError e = DecodeError::unknown_kind;
        reencode(kind, body, &e);
        return e;
    };

    /* post_done: version, token (8), error (4) */
    Sample done = sample(records::PostDone{1, std::nullopt});
    EXPECT_EQ(error_of(Rec::post_done,
                       with(done, 9, std::string("\x63\0\0\0", 4))),
              DecodeError::value);
    EXPECT_EQ(error_of(Rec::post_done,
                       with(done, 9, std::string("\xfe\xff\xff\xff", 4))),
              DecodeError::value);

    /* poll_answer: the same error field */
    Sample answer = sample(records::PollAnswer{1, std::nullopt, "x"});
    EXPECT_EQ(error_of(Rec::poll_answer,
                       with(answer, 9, std::string("\x06\0\0\0", 4))),
              DecodeError::value);

    /* ws_in: version, sid (4 + 1), token (8), binary */
    Sample in = sample(records::WsIn{"s", 1, false, "d"});
    EXPECT_EQ(error_of(Rec::ws_in, with(in, 14, "\x02")), DecodeError::value);

    /* slot_gone and user_put: a slot there is no such slot */
    Sample gone = sample(records::SlotGone{1});
    EXPECT_EQ(error_of(Rec::slot_gone, with(gone, 1, std::string("\x40\0", 2))),
              DecodeError::value);
    Sample put = sample(records::UserPut{"", "", "", 1, 0});
    EXPECT_EQ(error_of(Rec::user_put,
                       with(put, 13, std::string("\xff\xff", 2))),
              DecodeError::value);
}

TEST(ClusterRecords, LengthsPastTheEndAreTruncation)
{
    /* a string's length, and a list's count, larger than what follows */
    Sample post = sample(records::Post{"sid", 1, "payload"});
    std::string b = post.body;
    b.replace(1, 4, std::string("\xff\xff\xff\x7f", 4));
    DecodeError e = DecodeError::unknown_kind;
    EXPECT_FALSE(reencode(Rec::post, b, &e).has_value());
    EXPECT_EQ(e, DecodeError::truncated);

    Body w;
    records::WsOut::encode(w, 1, std::vector<std::string_view>{frame1});
    std::string out = w.bytes();
    out.replace(9, 4, std::string("\xff\xff\xff\xff", 4));
    EXPECT_FALSE(reencode(Rec::ws_out, out, &e).has_value());
    EXPECT_EQ(e, DecodeError::truncated);
}

TEST(ClusterRecords, UnknownKindsAreRefused)
{
    for (std::uint16_t type : {std::uint16_t{0},
                               static_cast<std::uint16_t>(cluster::rec_last + 1),
                               std::uint16_t{0xffff}})
    {
        auto e = records::visit(type, std::string_view("\x01", 1),
                                [](const auto&) { FAIL(); });
        ASSERT_TRUE(e.has_value());
        EXPECT_EQ(*e, DecodeError::unknown_kind);
    }
}

/*
 * Records a node cannot read, among those it can: each dropped with a
 * warning naming its type and why, counted; the next ones are read as if
 * nothing happened, and nobody is left asleep with records unread.
 */
TEST(ClusterRecords, ANodeDropsWhatDoesNotDecodeAndReadsOn)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);
    std::vector<WireLink*> links;
    for (Worker* w : {&a, &b}) {
        Cluster::Ws ws = c.open_ws(*w);
        c.ws_send(*w, ws.sid, "40/rec,");
        ws.link->got.clear();
        links.push_back(ws.link);
    }
    ASSERT_TRUE(c.settle());

    auto put = [&](std::uint16_t type, std::string_view body) {
        ASSERT_TRUE(c.log->publish(a.slot(), bus::any_slot, type, {body})
                        .has_value());
    };
    auto type = [](Rec r) { return static_cast<std::uint16_t>(r); };

    /* a broadcast cut short, one of another version, a post whose
       payload's length runs past the record (the old reader's substr
       threw on it), a kind nobody knows, an empty body */
    Body good;
    records::Broadcast::encode(good, 0, "/rec", std::vector<std::string>{},
                               std::vector<std::string>{},
                               std::vector<std::string_view>{frame1});
    std::string cut = good.bytes().substr(0, good.size() - 2);
    put(type(Rec::broadcast), cut);
    std::string v2 = good.bytes();
    v2[0] = static_cast<char>(cluster::record_version + 1);
    put(type(Rec::broadcast), v2);
    std::string post = sample(records::Post{"sid", 1, "payload"}).body;
    post.replace(post.size() - 11, 4, std::string("\xff\xff\xff\x7f", 4));
    put(type(Rec::post), post);
    put(999, "\x01");
    put(type(Rec::user_removed), "");

    for (Worker* w : {&a, &b}) {
        w->host.runnable = true;
    }
    c.broadcast(a, "/rec", "after", "[1]");
    ASSERT_TRUE(c.settle());

    /* the good one after them reached both workers' sockets */
    for (WireLink* l : links) {
        EXPECT_EQ(l->got, (Strings{ev("/rec", "after", "[1]")}));
    }
    for (Worker* w : {&a, &b}) {
        SCOPED_TRACE(w->name);
        EXPECT_EQ(w->node.records_dropped(), 5u);
        EXPECT_EQ(w->host.count_logs(LogLevel::warn, "dropped"), 5);
        EXPECT_EQ(w->host.count_logs(LogLevel::warn, "truncated"), 3);
        EXPECT_EQ(w->host.count_logs(LogLevel::warn, "unknown version"), 1);
        EXPECT_EQ(w->host.count_logs(LogLevel::warn, "type 999"), 1);
    }
    /* the node goes on: a later broadcast too */
    c.broadcast(b, "/rec", "later");
    ASSERT_TRUE(c.settle());
    for (WireLink* l : links) {
        EXPECT_EQ(count(l->got, ev("/rec", "later")), 1u);
    }
}
