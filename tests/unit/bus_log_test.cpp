/*
 * bus::Log in one process: records written and read back, in order; the
 * end of the ring (a padding record, and less than a header left); pins
 * and replay pins holding space, slots that are not alive holding none;
 * the largest body; filling up and coming back thousands of times around
 * the ring, every byte checked.
 */
#include "bus_support.hpp"

#include "core/bus/log.hpp"
#include "core/bus/zone.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace socketio::bus;
using bustest::Buffer;

namespace {

constexpr auto alive = static_cast<std::uint32_t>(SlotState::alive);

/* A fresh zone whose log is cut down to `cap` bytes (0: as laid out);
   the ring is filled with 0xee first, so that what publish() leaves
   alone shows. */
struct LogZone {
    explicit LogZone(std::size_t cap = 0) : buf(Zone::min_size)
    {
        if (!z.attach(buf.data(), buf.size(), true)) {
            throw std::runtime_error("attach");
        }
        if (cap != 0) {
            z.header().log_cap = cap;
        }
        std::memset(ring(), 0xee, z.header().log_cap);
    }
    char* ring() const { return z.at(z.header().log_off); }
    const RecordHeader& raw(std::uint64_t pos) const
    {
        return *reinterpret_cast<const RecordHeader*>(
            ring() + pos % z.header().log_cap);
    }

    Buffer buf;
    Zone z;
};

/* A worker reading the log from its slot: cursor and pin follow it. */
class Reader {
public:
    Reader(Log& log, Slot& s, std::uint64_t from = 0) : log_(log), s_(s)
    {
        cursor_ = from;
        s_.cursor.store(from);
        s_.pin.store(from);
        s_.state.store(alive);
    }
    /* the next record, or nothing when it has read up to the head */
    std::optional<Record> next()
    {
        if (cursor_ >= log_.head()) {
            return std::nullopt;
        }
        Record r = log_.read(cursor_);
        cursor_ = r.next;
        return r;
    }
    /* lets go of what it has read */
    void commit()
    {
        s_.cursor.store(cursor_);
        s_.pin.store(cursor_);
    }
    std::uint64_t cursor() const { return cursor_; }

private:
    Log& log_;
    Slot& s_;
    std::uint64_t cursor_;
};

/* The bytes of record `seq`'s body: all of them depend on it. */
std::string body_of(std::uint64_t seq, std::size_t len)
{
    std::string b(len, '\0');
    std::uint64_t x = seq * 0x9e3779b97f4a7c15ULL + 1;
    for (std::size_t i = 0; i < len; i++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ULL;
        b[i] = static_cast<char>(x >> 56);
    }
    return b;
}

/* `body` cut into up to four parts at random places (some empty). */
std::vector<std::string_view> cut(std::string_view body, std::mt19937_64& rng)
{
    std::vector<std::string_view> parts;
    std::size_t n = rng() % 4;
    for (std::size_t i = 0; i < n && !body.empty(); i++) {
        std::size_t k = rng() % (body.size() + 1);
        parts.push_back(body.substr(0, k));
        body.remove_prefix(k);
    }
    parts.push_back(body);
    return parts;
}

/* A body whose record takes exactly `size` bytes (a multiple of 8). */
std::string body_for_size(std::size_t size, char c = 'x')
{
    return std::string(size - sizeof(RecordHeader), c);
}

}  // namespace

TEST(BusLog, RoundTripWithMultiPartBodies)
{
    LogZone lz;
    Log log(lz.z);
    EXPECT_EQ(log.capacity(), lz.z.header().log_cap);
    EXPECT_EQ(log.head(), 0u);
    EXPECT_EQ(log.tail(), 0u);

    std::string bin("a\0b\xff", 4);
    auto p = log.publish(2, any_slot, 7, {"head:", "", bin, "tail"}, 3);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(*p, 0u);

    Record r = log.read(*p);
    ASSERT_NE(r.header, nullptr);
    EXPECT_EQ(r.header->type, 7);
    EXPECT_EQ(r.header->from, 2);
    EXPECT_EQ(r.header->to, any_slot);
    EXPECT_EQ(r.header->flags, 3);
    EXPECT_EQ(r.header->seq, 0u);
    EXPECT_EQ(r.body, "head:" + bin + "tail");
    EXPECT_EQ(r.header->body_len, r.body.size());
    EXPECT_EQ(r.header->size % 8, 0u);
    EXPECT_GE(r.header->size, sizeof(RecordHeader) + r.body.size());
    EXPECT_LT(r.header->size, sizeof(RecordHeader) + r.body.size() + 8);
    EXPECT_EQ(r.pos, 0u);
    EXPECT_EQ(r.next, r.header->size);
    EXPECT_EQ(log.head(), r.next);

    /* empty bodies, with no parts or empty ones */
    auto q = log.publish(5, 9, 1, {});
    auto q2 = log.publish(6, 9, 1, {"", ""});
    ASSERT_TRUE(q && q2);
    EXPECT_EQ(*q, r.next);
    Record e = log.read(*q);
    EXPECT_EQ(e.body.size(), 0u);
    EXPECT_EQ(e.header->size, sizeof(RecordHeader));
    EXPECT_EQ(e.header->seq, 1u);
    EXPECT_EQ(e.header->from, 5);
    EXPECT_EQ(e.header->to, 9);
    EXPECT_EQ(e.header->flags, 0);
    EXPECT_EQ(e.next, *q2);
    EXPECT_EQ(log.read(*q2).header->seq, 2u);

    /* the first is untouched by what came after it */
    EXPECT_EQ(log.read(0).body, "head:" + bin + "tail");
}

TEST(BusLog, RecordsComeBackInOrder)
{
    LogZone lz;
    Log log(lz.z);
    std::mt19937_64 rng(1);
    std::vector<std::uint64_t> at;
    std::vector<std::string> bodies;
    for (std::uint64_t i = 0; i < 500; i++) {
        bodies.push_back(body_of(i, rng() % 300));
        auto p = log.publish(static_cast<std::uint16_t>(i % 64),
                             static_cast<std::uint16_t>(i % 7),
                             static_cast<std::uint16_t>(1 + i % 5),
                             cut(bodies.back(), rng));
        ASSERT_TRUE(p.has_value()) << i;
        ASSERT_EQ(*p % 8, 0u);
        at.push_back(*p);
    }
    ASSERT_LT(log.head(), log.capacity()) << "meant not to wrap";

    std::uint64_t pos = 0;
    for (std::uint64_t i = 0; i < 500; i++) {
        ASSERT_LT(pos, log.head());
        Record r = log.read(pos);
        ASSERT_EQ(r.pos, at[i]);
        ASSERT_EQ(r.header->seq, i);
        ASSERT_EQ(r.header->from, i % 64);
        ASSERT_EQ(r.header->to, i % 7);
        ASSERT_EQ(r.header->type, 1 + i % 5);
        ASSERT_EQ(r.body, bodies[i]);
        pos = r.next;
    }
    EXPECT_EQ(pos, log.head());
    EXPECT_EQ(lz.z.header().log.seq.load(), 500u);
}

TEST(BusLog, PaddingRecordFillsTheEnd)
{
    /* records of 80 bytes in a ring of 1024: 12 fit, 64 bytes are left,
       room for a header but not the 13th */
    LogZone lz(1024);
    Log log(lz.z);
    Reader rd(log, lz.z.slot(0));
    for (int i = 0; i < 12; i++) {
        ASSERT_TRUE(log.publish(0, any_slot, 1, {body_for_size(80)}));
        ASSERT_TRUE(rd.next());
    }
    ASSERT_EQ(log.head(), 960u);
    rd.commit();

    auto p = log.publish(0, any_slot, 1, {body_for_size(80, 'z')});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(*p, 1024u) << "a record must not straddle the end";
    EXPECT_EQ(log.head(), 1104u);

    /* what sits at 960 is padding to the end */
    ASSERT_EQ(lz.raw(960).type, record_padding);
    ASSERT_EQ(lz.raw(960).size, 64u);

    /* a reader at 960 skips it */
    auto r = rd.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->pos, 1024u);
    EXPECT_EQ(r->next, 1104u);
    EXPECT_EQ(r->body, body_for_size(80, 'z'));
    EXPECT_EQ(r->header->seq, 12u);
    EXPECT_FALSE(rd.next().has_value());
}

TEST(BusLog, LessThanAHeaderLeftAtTheEnd)
{
    /* records of 48 bytes in a ring of 1024: 21 fit, 16 bytes are left,
       too few for even a padding header */
    LogZone lz(1024);
    Log log(lz.z);
    Reader rd(log, lz.z.slot(0));
    for (int i = 0; i < 21; i++) {
        ASSERT_TRUE(log.publish(0, any_slot, 1, {body_for_size(48)}));
        ASSERT_TRUE(rd.next());
    }
    ASSERT_EQ(log.head(), 1008u);
    rd.commit();

    auto p = log.publish(0, any_slot, 1, {body_for_size(48, 'q')});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(*p, 1024u);

    /* nothing was written in the last 16 bytes */
    for (int i = 1008; i < 1024; i++) {
        ASSERT_EQ(static_cast<unsigned char>(lz.ring()[i]), 0xeeu) << i;
    }
    auto r = rd.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->pos, 1024u);
    EXPECT_EQ(r->body, body_for_size(48, 'q'));
    EXPECT_EQ(r->header->seq, 21u);
    for (std::uint64_t pos = 1008; pos <= 1024; pos += 8) {
        EXPECT_EQ(log.read(pos).pos, 1024u) << pos;
    }
}

TEST(BusLog, RecordEndingExactlyAtTheEndNeedsNoPadding)
{
    LogZone lz(1024);
    Log log(lz.z);
    Reader rd(log, lz.z.slot(0));
    for (int i = 0; i < 16; i++) {
        auto p = log.publish(0, any_slot, 1, {body_for_size(64)});
        ASSERT_TRUE(p.has_value());
        EXPECT_EQ(*p, 64u * i);
        ASSERT_TRUE(rd.next());
    }
    rd.commit();
    auto p = log.publish(0, any_slot, 1, {body_for_size(64)});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(*p, 1024u);
}

TEST(BusLog, PinHoldsItsSpace)
{
    LogZone lz(1024);
    Log log(lz.z);
    Slot& s = lz.z.slot(3);
    s.state.store(alive);
    s.pin.store(0);
    const auto p0 = log.pressure();

    /* 960 bytes written: 64 left in front of the pin */
    for (int i = 0; i < 15; i++) {
        ASSERT_TRUE(log.publish(1, any_slot, 1, {body_for_size(64)})) << i;
    }
    EXPECT_EQ(log.pressure(), p0);

    EXPECT_FALSE(log.publish(1, any_slot, 1, {body_for_size(72)}));
    const auto p1 = log.pressure();
    EXPECT_GT(p1, p0);
    EXPECT_EQ(lz.z.header().log.full.load(), 1u);
    EXPECT_EQ(log.head(), 960u);

    /* what fits exactly still goes in; then nothing does */
    ASSERT_TRUE(log.publish(1, any_slot, 1, {body_for_size(64)}));
    EXPECT_EQ(log.head(), 1024u);
    EXPECT_FALSE(log.publish(1, any_slot, 1, {}));
    EXPECT_GT(log.pressure(), p1);
    EXPECT_EQ(log.tail(), 0u);
    log.reclaim();
    EXPECT_EQ(log.tail(), 0u);
    EXPECT_FALSE(log.publish(1, any_slot, 1, {}));

    /* the reader has read four records: their space comes back */
    const auto p2 = log.pressure();
    s.pin.store(256);
    log.reclaim();
    EXPECT_EQ(log.tail(), 256u);
    for (int i = 0; i < 4; i++) {
        auto p = log.publish(1, any_slot, 1, {body_for_size(64, 'n')});
        ASSERT_TRUE(p.has_value()) << i;
        EXPECT_EQ(*p, 1024u + 64u * i);
    }
    EXPECT_EQ(log.pressure(), p2);
    EXPECT_FALSE(log.publish(1, any_slot, 1, {}));

    /* and what the pin holds was not written over */
    for (std::uint64_t pos = 256; pos < 1024; pos += 64) {
        EXPECT_EQ(log.read(pos).body, body_for_size(64)) << pos;
    }
    EXPECT_EQ(log.read(1024).body, body_for_size(64, 'n'));

    /* publish() reclaims by itself when it needs to */
    s.pin.store(1024 + 128);
    EXPECT_TRUE(log.publish(1, any_slot, 1, {body_for_size(128)}));
    EXPECT_EQ(log.tail(), 1024u + 128u);
}

TEST(BusLog, SlowestPinDecides)
{
    LogZone lz(1024);
    Log log(lz.z);
    Reader fast(log, lz.z.slot(0));
    Reader slow(log, lz.z.slot(7));
    for (int i = 0; i < 16; i++) {
        ASSERT_TRUE(log.publish(0, any_slot, 1, {body_for_size(64)}));
    }
    while (fast.next()) {
    }
    fast.commit();
    EXPECT_FALSE(log.publish(0, any_slot, 1, {}));
    ASSERT_TRUE(slow.next());
    slow.commit();
    EXPECT_TRUE(log.publish(0, any_slot, 1, {body_for_size(64)}));
    EXPECT_FALSE(log.publish(0, any_slot, 1, {}));
}

TEST(BusLog, SlotsNotAliveHoldNothing)
{
    LogZone lz(1024);
    Log log(lz.z);
    Header& h = lz.z.header();
    /* a departed, a dead and a free slot, all pinning the start */
    h.slots[1].state.store(static_cast<std::uint32_t>(SlotState::departed));
    h.slots[2].state.store(static_cast<std::uint32_t>(SlotState::dead));
    h.slots[3].state.store(static_cast<std::uint32_t>(SlotState::free));
    for (int i : {1, 2, 3}) {
        h.slots[i].pin.store(0);
        h.slots[i].replay_pin.store(0);
    }
    /* and a live one that pins nothing */
    h.slots[4].state.store(alive);
    const auto p0 = log.pressure();

    for (int i = 0; i < 200; i++) {
        std::string b = body_of(i, 40 + i % 50);
        auto p = log.publish(4, any_slot, 1, {b});
        ASSERT_TRUE(p.has_value()) << i;
        EXPECT_EQ(log.read(*p).body, b);
        EXPECT_LE(log.head() - log.tail(), log.capacity());
    }
    EXPECT_EQ(log.pressure(), p0);
    EXPECT_GT(log.head(), 10 * log.capacity());

    /* a live slot pinning holds again; dying lets go */
    h.slots[5].state.store(alive);
    h.slots[5].pin.store(log.head());
    log.reclaim();
    EXPECT_EQ(log.tail(), log.head());
    int n = 0;
    while (log.publish(4, any_slot, 1, {body_for_size(64)})) {
        ASSERT_LT(++n, 100);
    }
    EXPECT_GE(n, 15);        /* the end of the ring may cost one */
    h.slots[5].state.store(static_cast<std::uint32_t>(SlotState::dead));
    EXPECT_TRUE(log.publish(4, any_slot, 1, {body_for_size(64)}));
}

TEST(BusLog, ReplayPinHoldsItsSpace)
{
    LogZone lz(1024);
    Log log(lz.z);
    Slot& s = lz.z.slot(9);
    s.state.store(alive);
    s.pin.store(no_pin);
    s.replay_pin.store(128);     /* kept for a migration */

    /* nothing below 128 matters: the tail goes up to it */
    log.reclaim();
    EXPECT_EQ(log.tail(), 0u) << "the tail never passes the head";

    for (int i = 0; i < 16; i++) {
        ASSERT_TRUE(log.publish(2, any_slot, 1, {body_for_size(64)})) << i;
    }
    EXPECT_TRUE(log.publish(2, any_slot, 1, {body_for_size(64)}));
    EXPECT_TRUE(log.publish(2, any_slot, 1, {body_for_size(64)}));
    EXPECT_EQ(log.tail(), 128u);
    EXPECT_FALSE(log.publish(2, any_slot, 1, {}));

    /* the lower of pin and replay pin counts */
    s.pin.store(64);
    s.replay_pin.store(256);
    EXPECT_FALSE(log.publish(2, any_slot, 1, {}));
    s.pin.store(512);
    EXPECT_TRUE(log.publish(2, any_slot, 1, {body_for_size(64)}));
    EXPECT_EQ(log.tail(), 256u);

    s.replay_pin.store(no_pin);
    log.reclaim();
    EXPECT_EQ(log.tail(), 512u);
    EXPECT_EQ(log.read(512).body, body_for_size(64));
}

TEST(BusLog, BodyOverMaxBodyIsRefused)
{
    for (std::size_t cap : {1024, 1000, 0}) {
        SCOPED_TRACE(cap);
        LogZone lz(cap);
        Log log(lz.z);
        const std::size_t max = log.max_body();
        ASSERT_GT(max, 0u);
        ASSERT_LE(sizeof(RecordHeader) + max, log.capacity() / 4);
        const auto p0 = log.pressure();

        std::string big = body_of(1, max + 1);
        EXPECT_FALSE(log.publish(0, any_slot, 1, {big}));
        EXPECT_FALSE(log.publish(0, any_slot, 1,
                                 {std::string_view(big).substr(0, 10),
                                  std::string_view(big).substr(10)}));
        EXPECT_EQ(log.head(), 0u);
        EXPECT_EQ(lz.z.header().log.seq.load(), 0u);
        EXPECT_EQ(log.pressure(), p0) << "too big is no shortage of room";

        std::string fits = body_of(2, max);
        auto p = log.publish(0, any_slot, 1,
                             {std::string_view(fits).substr(0, 1),
                              std::string_view(fits).substr(1)});
        ASSERT_TRUE(p.has_value());
        EXPECT_EQ(log.read(*p).body, fits);
    }
}

namespace {

/*
 * Publishes until the log is full, then reads some or all of it (all when
 * `keep_up`: then after every publish), thousands of times around a ring
 * of `cap`, checking every record against what was published.
 */
void churn(std::size_t cap, bool keep_up, std::uint64_t seed)
{
    SCOPED_TRACE("cap " + std::to_string(cap));
    LogZone lz(cap);
    Log log(lz.z);
    Reader rd(log, lz.z.slot(11));
    std::mt19937_64 rng(seed);

    const std::size_t max = log.max_body();
    std::uint64_t published = 0, read = 0, refusals = 0;
    std::uint64_t paddings = 0, short_ends = 0;
    std::vector<std::size_t> lens;       /* body length of each seq */
    auto pressure = log.pressure();

    auto consume = [&](std::uint64_t n) {
        for (std::uint64_t k = 0; k < n; k++) {
            std::uint64_t want = rd.cursor();
            auto r = rd.next();
            if (!r) {
                break;
            }
            if (r->pos != want) {
                if (cap - want % cap < sizeof(RecordHeader)) {
                    short_ends++;
                } else {
                    paddings++;
                }
                ASSERT_EQ(r->pos % cap, 0u) << "skipped to mid-ring";
            }
            ASSERT_EQ(r->header->seq, read);
            ASSERT_EQ(r->header->from, 11);
            ASSERT_EQ(r->header->type, 1 + read % 3);
            ASSERT_EQ(r->pos % 8, 0u);
            ASSERT_LE(r->pos % cap + r->header->size, cap) << "straddles";
            ASSERT_EQ(r->body, body_of(read, lens[read])) << "seq " << read;
            read++;
        }
        rd.commit();
    };

    while (log.head() < 3000 * cap) {
        /* mostly small records, some as big as allowed */
        std::size_t len = rng() % 4 == 0 ? rng() % (max + 1) : rng() % 64;
        std::string b = body_of(published, len);
        auto p = log.publish(11, any_slot,
                             static_cast<std::uint16_t>(1 + published % 3),
                             cut(b, rng));
        if (p) {
            ASSERT_EQ(log.read(*p).header->seq, published);
            lens.push_back(len);
            published++;
            ASSERT_LE(log.head() - log.tail(), cap);
            ASSERT_LE(log.tail(), rd.cursor());
            if (keep_up) {
                ASSERT_NO_FATAL_FAILURE(consume(UINT64_MAX));
                ASSERT_EQ(read, published);
            }
            continue;
        }
        ASSERT_FALSE(keep_up) << "refused while the reader kept up";
        refusals++;
        ASSERT_GT(log.pressure(), pressure);
        pressure = log.pressure();
        /* read a few, or all */
        ASSERT_NO_FATAL_FAILURE(
            consume(rng() % 3 == 0 ? UINT64_MAX : 1 + rng() % 8));
    }
    ASSERT_NO_FATAL_FAILURE(consume(UINT64_MAX));
    EXPECT_EQ(read, published);
    EXPECT_EQ(lz.z.header().log.seq.load(), published);
    EXPECT_GT(paddings, 0u);
    EXPECT_GT(short_ends, 0u);
    if (!keep_up) {
        EXPECT_GT(refusals, 1000u);
    }
}

}  // namespace

TEST(BusLog, FullThenBackAgainThousandsOfTimes)
{
    churn(1024, false, 1);
    churn(1000, false, 2);       /* a capacity that is no power of two */
    churn(4096, false, 3);
}

TEST(BusLog, ReaderKeepingUpNeverFillsIt)
{
    churn(1024, true, 4);
    churn(1000, true, 5);
    churn(8192, true, 6);
}

/*
 * Publishing copies a body after the lock is let go, and commits it with
 * one store of its type: a record still being written (made so here by
 * hand, as a writer stopped between the two would leave it) stops the
 * readers, who ask to be woken; its commit lets them on.
 */
TEST(BusLog, ARecordBeingWrittenStopsReadersUntilItIsCommitted)
{
    LogZone lz;
    Log log(lz.z);

    auto first = log.publish(3, any_slot, 7, {"first"});
    auto second = log.publish(3, any_slot, 7, {"second"});
    ASSERT_TRUE(first && second);
    EXPECT_FALSE(log.readers_waiting());
    EXPECT_EQ(lz.z.slot(3).writing.load(), no_pin) << "committed: forgotten";

    auto& h = const_cast<RecordHeader&>(lz.raw(*second));
    h.type = record_writing;

    Record r = log.read(*first);
    EXPECT_FALSE(r.writing);
    EXPECT_EQ(r.body, "first");
    r = log.read(r.next);
    EXPECT_TRUE(r.writing);
    EXPECT_EQ(r.pos, *second);
    EXPECT_EQ(r.next, *second) << "a reader does not pass it";
    EXPECT_TRUE(r.body.empty());

    EXPECT_TRUE(log.wait_for(*second));
    h.type = 7;                                  /* committed */
    EXPECT_TRUE(log.readers_waiting()) << "the writer is told to wake them";
    EXPECT_FALSE(log.readers_waiting()) << "once";
    EXPECT_FALSE(log.wait_for(*second)) << "committed meanwhile: read on";
    EXPECT_TRUE(log.readers_waiting());

    r = log.read(*second);
    EXPECT_FALSE(r.writing);
    EXPECT_EQ(r.body, "second");
}

TEST(BusLog, TheRecordOfAWriterThatDiedIsSkippedByAll)
{
    LogZone lz;
    Log log(lz.z);

    auto a = log.publish(5, any_slot, 7, {"before"});
    auto b = log.publish(5, any_slot, 7, {"half written"});
    auto c = log.publish(6, any_slot, 7, {"after"});
    ASSERT_TRUE(a && b && c);

    /* slot 5 died between reserving b and committing it */
    const_cast<RecordHeader&>(lz.raw(*b)).type = record_writing;
    lz.z.slot(5).writing.store(*b);
    EXPECT_TRUE(log.read(*b).writing);

    /* another slot's reservation is not its to abandon */
    log.abandon(6);
    EXPECT_TRUE(log.read(*b).writing);

    log.abandon(5);
    EXPECT_EQ(lz.z.slot(5).writing.load(), no_pin);
    Record r = log.read(*a);
    EXPECT_EQ(r.body, "before");
    r = log.read(r.next);
    EXPECT_FALSE(r.writing);
    EXPECT_EQ(r.body, "after") << "the dead writer's record reads as padding";

    /* abandoning what is committed already changes nothing */
    lz.z.slot(6).writing.store(*c);
    log.abandon(6);
    EXPECT_EQ(log.read(*c).body, "after");
}

/* --- history (connection state recovery) --- */

/* Walks the history from the tail: every record is whole, and in order. */
std::vector<std::uint64_t> history(Log& log, std::uint64_t from)
{
    std::vector<std::uint64_t> seqs;
    for (std::uint64_t pos = from; pos < log.head();) {
        Record r = log.read(pos);
        EXPECT_FALSE(r.writing);
        seqs.push_back(r.header->seq);
        EXPECT_EQ(r.body, body_of(r.header->seq, r.body.size()));
        pos = r.next;
    }
    return seqs;
}

TEST(BusLogHistory, ARetainingLogKeepsItsCapacityOfOldRecords)
{
    LogZone lz(4096);
    Log log(lz.z);
    log.retain(true);
    Reader reader(log, lz.z.slot(0));
    std::mt19937_64 rng(7);

    for (std::uint64_t seq = 0; seq < 2000; seq++) {
        std::string body = body_of(seq, rng() % 300);
        ASSERT_TRUE(log.publish(0, any_slot, 1, cut(body, rng)).has_value());
        while (reader.next()) {
        }
        reader.commit();

        /* the tail is where a record starts, and it moved only as far as
           the new record needed */
        std::uint64_t kept = log.head() - log.tail();
        ASSERT_LE(kept, log.capacity());
        if (seq > 100) {
            ASSERT_GT(kept, log.capacity() - 300 - 2 * sizeof(RecordHeader)
                                - 8);
        }
        auto seqs = history(log, log.tail());
        ASSERT_FALSE(seqs.empty());
        ASSERT_EQ(seqs.back(), seq);
        for (std::size_t i = 1; i < seqs.size(); i++) {
            ASSERT_EQ(seqs[i], seqs[i - 1] + 1);
        }
    }
}

TEST(BusLogHistory, WithoutRetainingTheTailFollowsThePins)
{
    LogZone lz(4096);
    Log log(lz.z);
    Reader reader(log, lz.z.slot(0));
    int jumps = 0;
    for (std::uint64_t seq = 0; seq < 100; seq++) {
        std::uint64_t pin = reader.cursor();
        std::uint64_t before = log.tail();
        ASSERT_TRUE(log.publish(0, any_slot, 1, {body_of(seq, 200)}));
        /* the tail stays, or goes all the way to the reader's pin */
        ASSERT_TRUE(log.tail() == before || log.tail() == pin);
        jumps += log.tail() != before;
        while (reader.next()) {
        }
        reader.commit();
    }
    EXPECT_GT(jumps, 0);
}

TEST(BusLogHistory, AHeldHistoryIsNotWrittenOver)
{
    LogZone lz(4096);
    Log log(lz.z);
    log.retain(true);
    Reader reader(log, lz.z.slot(0));
    Slot& scanner = lz.z.slot(1);
    scanner.state.store(alive);
    scanner.pin.store(no_pin);

    std::uint64_t seq = 0;
    for (; seq < 40; seq++) {
        ASSERT_TRUE(log.publish(0, any_slot, 1, {body_of(seq, 200)}));
        while (reader.next()) {
        }
        reader.commit();
    }
    std::uint64_t from = log.hold_history(scanner);
    EXPECT_EQ(from, log.tail());
    auto before = history(log, from);

    /* publishers fill the ring: they stop at the hold */
    bool refused = false;
    for (int i = 0; i < 40 && !refused; i++, seq++) {
        refused = !log.publish(0, any_slot, 1, {body_of(seq, 200)});
        while (reader.next()) {
        }
        reader.commit();
    }
    EXPECT_TRUE(refused);
    EXPECT_EQ(log.tail(), from);
    auto after = history(log, from);
    ASSERT_GE(after.size(), before.size());
    EXPECT_TRUE(std::equal(before.begin(), before.end(), after.begin()));

    /* let go: room again */
    log.release_history(scanner);
    EXPECT_TRUE(log.publish(0, any_slot, 1, {body_of(seq, 200)}));
    EXPECT_GT(log.tail(), from);
}

TEST(BusLogHistory, OffsetsAreNeverZeroAndNeverRepeat)
{
    LogZone lz(4096);
    Log log(lz.z);
    std::uint64_t last = log.next_offset();
    EXPECT_NE(last, 0u);
    for (int i = 0; i < 1000; i++) {
        std::uint64_t o = log.next_offset();
        ASSERT_GT(o, last);
        last = o;
    }
}
