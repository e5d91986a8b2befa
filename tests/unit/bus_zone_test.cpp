/*
 * bus::Zone: the layout of a fresh zone over a byte span (regions inside
 * it, apart, aligned, the log big enough), attaching again to a zone laid
 * out before, and refusing spans that are too small or hold something
 * else.
 */
#include "bus_support.hpp"

#include "core/bus/directory.hpp"
#include "core/bus/log.hpp"
#include "core/bus/table.hpp"
#include "core/bus/zone.hpp"
#include "core/eio/reason.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string_view>
#include <vector>

using namespace socketio::bus;
using bustest::Buffer;

namespace {

struct Region {
    const char* name;
    std::uint64_t begin;
    std::uint64_t end;
};

void check_layout(std::size_t size)
{
    SCOPED_TRACE("zone of " + std::to_string(size) + " bytes");
    Buffer buf(size);
    std::memset(buf.data(), 0x5a, size);      /* the zone must not need zeros */

    Zone z;
    ASSERT_TRUE(z.attach(buf.data(), size, true, 42));
    Header& h = z.header();

    EXPECT_EQ(h.magic, zone_magic);
    EXPECT_EQ(h.version, zone_version);
    EXPECT_EQ(h.size, size);
    EXPECT_EQ(h.id, 42u);
    EXPECT_EQ(z.size(), size);

    EXPECT_GT(h.table_cap, 0u);
    EXPECT_GT(h.dir_cap, 0u);
    EXPECT_GT(h.log_cap, 0u);
    EXPECT_EQ(h.log_cap % 8, 0u);
    EXPECT_GE(h.log_cap, size / 3) << "the log gets too little of the zone";
    EXPECT_EQ(h.table_off % 8, 0u);
    EXPECT_EQ(h.dir_off % 8, 0u);
    EXPECT_EQ(h.log_off % 8, 0u);

    std::vector<Region> r = {
        {"header", 0, sizeof(Header)},
        {"table", h.table_off, h.table_off + h.table_cap * sizeof(SessionEntry)},
        {"directory", h.dir_off, h.dir_off + h.dir_cap * sizeof(UserEntry)},
        {"log", h.log_off, h.log_off + h.log_cap},
    };
    for (const Region& a : r) {
        EXPECT_LE(a.begin, a.end) << a.name;
        EXPECT_LE(a.end, size) << a.name << " runs past the span";
    }
    for (std::size_t i = 0; i < r.size(); i++) {
        for (std::size_t j = i + 1; j < r.size(); j++) {
            bool apart = r[i].end <= r[j].begin || r[j].end <= r[i].begin;
            EXPECT_TRUE(apart) << r[i].name << " overlaps " << r[j].name;
        }
    }

    /* an empty table and directory; no worker, nothing pinned */
    EXPECT_EQ(h.sessions.load(), 0u);
    EXPECT_EQ(h.users.load(), 0u);
    EXPECT_EQ(try_hold(h.lock), Holder::none);
    unlock(h.lock);
    EXPECT_EQ(h.log.head.load(), 0u);
    EXPECT_EQ(h.log.tail.load(), 0u);
    EXPECT_EQ(try_hold(h.log.lock), Holder::none);
    unlock(h.log.lock);
    for (std::uint32_t i = 0; i < max_slots; i++) {
        EXPECT_EQ(try_hold(z.slot(i).life), Holder::none);
        unlock(z.slot(i).life);
    }
    for (std::uint32_t i = 0; i < max_slots; i++) {
        EXPECT_EQ(z.slot(i).state.load(),
                  static_cast<std::uint32_t>(SlotState::free));
        EXPECT_EQ(z.slot(i).pin.load(), no_pin);
        EXPECT_EQ(z.slot(i).replay_pin.load(), no_pin);
    }
    const auto* e = reinterpret_cast<const SessionEntry*>(z.at(h.table_off));
    for (std::uint64_t i = 0; i < h.table_cap; i++) {
        ASSERT_EQ(e[i].used, 0u) << "stale session entry " << i;
    }
    const auto* u = reinterpret_cast<const UserEntry*>(z.at(h.dir_off));
    for (std::uint64_t i = 0; i < h.dir_cap; i++) {
        ASSERT_EQ(u[i].used, 0u) << "stale user entry " << i;
    }

    /* and every region is usable to its last byte */
    SessionTable t(z);
    Directory d(z);
    Log log(z);
    EXPECT_EQ(t.capacity(), h.table_cap);
    EXPECT_EQ(d.capacity(), h.dir_cap);
    EXPECT_EQ(log.capacity(), h.log_cap);
}

}  // namespace

TEST(BusZone, FreshLayoutFitsTheSpan)
{
    check_layout(Zone::min_size);
    check_layout(Zone::min_size + 3);          /* sizes nobody rounded */
    check_layout(Zone::min_size + 4096 + 57);
    check_layout(4 * Zone::min_size);
    check_layout(10 * Zone::min_size + 12345);
}

TEST(BusZone, FreshLayoutScalesWithTheSpan)
{
    Buffer small(Zone::min_size), big(8 * Zone::min_size);
    Zone a, b;
    ASSERT_TRUE(a.attach(small.data(), small.size(), true));
    ASSERT_TRUE(b.attach(big.data(), big.size(), true));
    EXPECT_GT(b.header().table_cap, 4 * a.header().table_cap);
    EXPECT_GT(b.header().dir_cap, 4 * a.header().dir_cap);
    EXPECT_GT(b.header().log_cap, 4 * a.header().log_cap);
}

TEST(BusZone, TooSmallOrNoSpanIsRefused)
{
    Buffer buf(Zone::min_size);
    Zone z;
    EXPECT_FALSE(z.attach(buf.data(), Zone::min_size - 1, true));
    EXPECT_FALSE(z.attach(buf.data(), 4096, true));
    EXPECT_FALSE(z.attach(buf.data(), 0, true));
    EXPECT_FALSE(z.attach(nullptr, Zone::min_size, true));
    EXPECT_FALSE(z.attach(nullptr, Zone::min_size, false));
    EXPECT_FALSE(z.attach(buf.data(), Zone::min_size - 1, false));
}

TEST(BusZone, AttachAgainKeepsWhatWasThere)
{
    const std::size_t size = 2 * Zone::min_size;
    Buffer buf(size);
    std::mt19937_64 rng(7);
    std::string sid = bustest::random_sid(rng);

    {
        Zone z;
        ASSERT_TRUE(z.attach(buf.data(), size, true, 9));
        SessionTable t(z);
        ASSERT_TRUE(t.insert(sid, Owner{3, 17}));
        Directory d(z);
        ASSERT_TRUE(d.put(UserRecord{"u1", "ann", "sock1", 3}));
        Log log(z);
        ASSERT_TRUE(log.publish(3, any_slot, 5, {"hello"}).has_value());
        z.slot(3).state.store(static_cast<std::uint32_t>(SlotState::alive));
    }

    /* what a reload sees: the same span, not laid out again */
    Zone z;
    ASSERT_TRUE(z.attach(buf.data(), size, false));
    EXPECT_EQ(z.header().id, 9u);
    EXPECT_EQ(z.slot(3).state.load(),
              static_cast<std::uint32_t>(SlotState::alive));
    auto o = SessionTable(z).find(sid);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->slot, 3);
    EXPECT_EQ(o->generation, 17u);
    auto u = Directory(z).find("u1");
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->name, "ann");
    Log log(z);
    ASSERT_GT(log.head(), 0u);
    EXPECT_EQ(log.read(0).body, "hello");

    /* offsets, not pointers: a copy at another address is the same zone */
    Buffer copy(size);
    std::memcpy(copy.data(), buf.data(), size);
    Zone z2;
    ASSERT_TRUE(z2.attach(copy.data(), size, false));
    EXPECT_TRUE(SessionTable(z2).find(sid).has_value());
    EXPECT_EQ(Directory(z2).find("u1")->socket_id, "sock1");
    EXPECT_EQ(Log(z2).read(0).body, "hello");
}

TEST(BusZone, AttachToSomethingElseIsRefused)
{
    const std::size_t size = Zone::min_size;
    Buffer buf(size);
    Zone z;

    /* zeros: nothing laid out yet */
    EXPECT_FALSE(z.attach(buf.data(), size, false));

    /* garbage */
    std::mt19937_64 rng(11);
    for (std::size_t i = 0; i < size; i++) {
        buf.data()[i] = static_cast<char>(rng());
    }
    EXPECT_FALSE(z.attach(buf.data(), size, false));

    /* a zone, but seen with another size */
    ASSERT_TRUE(z.attach(buf.data(), size, true));
    Buffer bigger(size + 4096);
    std::memcpy(bigger.data(), buf.data(), size);
    EXPECT_FALSE(z.attach(bigger.data(), size + 4096, false));
    EXPECT_FALSE(z.attach(buf.data(), size - 8, false));
    EXPECT_TRUE(z.attach(buf.data(), size, false));

    /* a zone of another version, or whose magic was overwritten */
    z.header().version = zone_version + 1;
    EXPECT_FALSE(z.attach(buf.data(), size, false));
    ASSERT_TRUE(z.attach(buf.data(), size, true));
    z.header().magic ^= 1;
    EXPECT_FALSE(z.attach(buf.data(), size, false));
}

TEST(BusZone, FreshAttachWipesAnOldZone)
{
    const std::size_t size = Zone::min_size;
    Buffer buf(size);
    std::mt19937_64 rng(5);
    std::string sid = bustest::random_sid(rng);
    Zone z;
    ASSERT_TRUE(z.attach(buf.data(), size, true));
    ASSERT_TRUE(SessionTable(z).insert(sid, Owner{1, 1}));
    ASSERT_TRUE(Directory(z).put(UserRecord{"k", "n", "s", 1}));
    z.slot(1).pin.store(0);

    ASSERT_TRUE(z.attach(buf.data(), size, true));
    EXPECT_FALSE(SessionTable(z).find(sid).has_value());
    EXPECT_EQ(SessionTable(z).size(), 0u);
    EXPECT_FALSE(Directory(z).find("k").has_value());
    EXPECT_EQ(Directory(z).size(), 0u);
    EXPECT_EQ(z.slot(1).pin.load(), no_pin);
}

TEST(BusZone, EveryCloseReasonHasACounter)
{
    static_assert(socketio::eio::reason_count <= max_reasons);
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < socketio::eio::reason_count; i++) {
        const auto& r = socketio::eio::info(static_cast<socketio::eio::Reason>(i));
        EXPECT_FALSE(r.text.empty()) << i;
        EXPECT_TRUE(names.insert(r.counter).second) << r.counter;
    }
    EXPECT_EQ(socketio::eio::info(socketio::eio::Reason::slow_reader).counter,
              "slow_reader");
    EXPECT_EQ(socketio::eio::text(socketio::eio::Reason::slow_reader),
              "transport buffer full");
    EXPECT_EQ(socketio::eio::info(socketio::eio::Reason::rate_limit).close_code,
              1008);
    EXPECT_EQ(socketio::eio::info(socketio::eio::Reason::parse_error).level,
              socketio::util::LogLevel::info);
}
