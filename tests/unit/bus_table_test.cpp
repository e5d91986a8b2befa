/*
 * bus::SessionTable against a std::map: random inserts, finds, sets and
 * erases, in tables so small that every cluster wraps around the end of
 * the array and in one of a real zone's size; clusters built on purpose
 * across the end, and holes made in their middle; the 3/4 limit; sids of
 * the wrong length; erase_slot.
 */
#include "bus_support.hpp"

#include "core/bus/table.hpp"
#include "core/bus/zone.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

using namespace socketio::bus;
using bustest::Buffer;
using bustest::random_sid;
using bustest::sid_with_home;

namespace {

/* A fresh zone whose table is cut down to `cap` entries (0: as laid out). */
struct TableZone {
    explicit TableZone(std::size_t cap = 0) : buf(Zone::min_size)
    {
        if (!z.attach(buf.data(), buf.size(), true)) {
            throw std::runtime_error("attach");
        }
        if (cap != 0) {
            if (cap > z.header().table_cap) {
                throw std::runtime_error("cap");
            }
            z.header().table_cap = cap;
        }
    }
    const SessionEntry* entries() const
    {
        return reinterpret_cast<const SessionEntry*>(
            z.at(z.header().table_off));
    }
    /* where `sid` sits in the array, or -1 */
    long index_of(const std::string& sid) const
    {
        for (std::size_t i = 0; i < z.header().table_cap; i++) {
            if (entries()[i].used
                && std::string(entries()[i].sid, sid_len) == sid)
            {
                return static_cast<long>(i);
            }
        }
        return -1;
    }
    std::size_t used() const
    {
        std::size_t n = 0;
        for (std::size_t i = 0; i < z.header().table_cap; i++) {
            n += entries()[i].used != 0;
        }
        return n;
    }

    Buffer buf;
    Zone z;
};

using Model = std::map<std::string, Owner>;

/* Everything the table holds is what the model holds, and nothing else. */
void check_against(const TableZone& tz, const SessionTable& t,
                   const Model& m, const std::vector<std::string>& pool)
{
    ASSERT_EQ(t.size(), m.size());
    ASSERT_EQ(tz.used(), m.size());
    for (const std::string& s : pool) {
        auto o = t.find(s);
        auto it = m.find(s);
        if (it == m.end()) {
            ASSERT_FALSE(o.has_value()) << "ghost " << s;
        } else {
            ASSERT_TRUE(o.has_value()) << "lost " << s;
            ASSERT_EQ(o->slot, it->second.slot) << s;
            ASSERT_EQ(o->generation, it->second.generation) << s;
        }
    }
}

/*
 * `ops` random operations on sids drawn from a pool of `pool_size`, after
 * filling the table with `prefill` of them. With `crowd` = n, one sid in n
 * has its home in the last three buckets and one in n in two buckets of
 * the middle, so that clusters run across the end and erasures hit their
 * middle.
 */
void random_run(std::size_t cap, std::size_t pool_size, int ops,
                std::uint64_t seed, std::size_t crowd, int check_every,
                std::size_t prefill = 0)
{
    SCOPED_TRACE("cap " + std::to_string(cap) + " seed "
                 + std::to_string(seed));
    TableZone tz(cap);
    SessionTable t(tz.z);
    const std::size_t c = t.capacity();
    const std::size_t limit = c / 4 * 3;
    std::mt19937_64 rng(seed);

    std::vector<std::string> pool;
    for (std::size_t i = 0; i < pool_size; i++) {
        if (crowd != 0 && i % crowd == 0) {
            pool.push_back(sid_with_home(rng, c, c - 1 - rng() % 3));
        } else if (crowd != 0 && i % crowd == 1) {
            pool.push_back(sid_with_home(rng, c, c / 2 + rng() % 2));
        } else {
            pool.push_back(random_sid(rng));
        }
    }

    Model m;
    for (std::size_t i = 0; m.size() < prefill; i++) {
        Owner o{static_cast<std::uint16_t>(i % max_slots), 0};
        ASSERT_EQ(t.insert(pool[i], o), m.count(pool[i]) == 0);
        m.emplace(pool[i], o);
    }
    ASSERT_NO_FATAL_FAILURE(check_against(tz, t, m, pool));

    std::size_t refused_full = 0, wrapped = 0;
    for (int op = 0; op < ops; op++) {
        const std::string& s = pool[rng() % pool.size()];
        Owner o{static_cast<std::uint16_t>(rng() % max_slots),
                static_cast<std::uint32_t>(rng())};
        bool known = m.count(s) != 0;
        switch (rng() % 8) {
        case 0:
        case 1:
        case 2: {
            bool ok = t.insert(s, o);
            bool want = !known && m.size() < limit;
            refused_full += !known && !want;
            ASSERT_EQ(ok, want) << "insert #" << op;
            if (ok) {
                m[s] = o;
            }
            break;
        }
        case 3:
        case 4: {
            ASSERT_EQ(t.erase(s), known) << "erase #" << op;
            m.erase(s);
            break;
        }
        case 5: {
            ASSERT_EQ(t.set(s, o), known) << "set #" << op;
            if (known) {
                m[s] = o;
            }
            break;
        }
        default: {
            auto f = t.find(s);
            ASSERT_EQ(f.has_value(), known) << "find #" << op;
            if (known) {
                ASSERT_EQ(f->slot, m[s].slot);
                ASSERT_EQ(f->generation, m[s].generation);
            }
        }
        }
        if (op % check_every == 0) {
            ASSERT_NO_FATAL_FAILURE(check_against(tz, t, m, pool));
            /* count the entries that sit before their home: wrapped runs */
            for (std::size_t i = 0; i < c; i++) {
                const SessionEntry& e = tz.entries()[i];
                if (e.used
                    && hash_id(std::string_view(e.sid, sid_len)) % c > i)
                {
                    wrapped++;
                }
            }
        }
    }
    ASSERT_NO_FATAL_FAILURE(check_against(tz, t, m, pool));
    EXPECT_GT(refused_full, 0u) << "never filled the table";
    EXPECT_GT(wrapped, 0u) << "no run ever wrapped around the end";

    /* and it empties */
    for (const auto& [s, o] : m) {
        ASSERT_TRUE(t.erase(s));
    }
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(tz.used(), 0u);
}

}  // namespace

TEST(BusTable, RandomOpsMatchAMapInTinyTables)
{
    std::uint64_t seed = 1;
    for (std::size_t cap : {4, 5, 8, 13, 16, 31, 64, 101}) {
        std::size_t limit = cap / 4 * 3;
        int every = cap <= 16 ? 1 : 5;
        random_run(cap, limit * 2 + 2, 5000, seed++, 0, every);
        random_run(cap, limit * 2 + 2, 5000, seed++, 3, every);
        if (HasFatalFailure()) {
            return;
        }
    }
}

TEST(BusTable, RandomOpsMatchAMapInAZoneSizedTable)
{
    TableZone probe;
    std::size_t limit = probe.z.header().table_cap / 4 * 3;
    /* a pool of twice what fits, so that it keeps filling up */
    random_run(0, 2 * limit, 30000, 99, 16, 2000, limit - 50);
}

TEST(BusTable, ClusterAcrossTheEndSurvivesHolesInItsMiddle)
{
    const std::size_t cap = 16;
    TableZone tz(cap);
    SessionTable t(tz.z);
    std::mt19937_64 rng(3);

    /* five sids at home 14: they take 14, 15, 0, 1, 2 */
    std::vector<std::string> a;
    for (int i = 0; i < 5; i++) {
        a.push_back(sid_with_home(rng, cap, cap - 2));
        ASSERT_TRUE(t.insert(a.back(), Owner{static_cast<std::uint16_t>(i), 0}));
    }
    std::string b = sid_with_home(rng, cap, 0);   /* pushed to 3 */
    std::string c = sid_with_home(rng, cap, 1);   /* pushed to 4 */
    std::string d = sid_with_home(rng, cap, 5);   /* at home, after the run */
    ASSERT_TRUE(t.insert(b, Owner{10, 0}));
    ASSERT_TRUE(t.insert(c, Owner{11, 0}));
    ASSERT_TRUE(t.insert(d, Owner{12, 0}));
    EXPECT_EQ(tz.index_of(a[0]), 14);
    EXPECT_EQ(tz.index_of(a[1]), 15);
    EXPECT_EQ(tz.index_of(a[2]), 0);
    EXPECT_EQ(tz.index_of(a[3]), 1);
    EXPECT_EQ(tz.index_of(a[4]), 2);
    EXPECT_EQ(tz.index_of(b), 3);
    EXPECT_EQ(tz.index_of(c), 4);
    EXPECT_EQ(tz.index_of(d), 5);

    /* a hole at 0, in the middle of the run: all behind it move back one,
       but d, at its home, stays */
    ASSERT_TRUE(t.erase(a[2]));
    EXPECT_FALSE(t.find(a[2]).has_value());
    EXPECT_EQ(tz.index_of(a[3]), 0);
    EXPECT_EQ(tz.index_of(a[4]), 1);
    EXPECT_EQ(tz.index_of(b), 2);
    EXPECT_EQ(tz.index_of(c), 3);
    EXPECT_EQ(tz.index_of(d), 5);

    /* a hole at the run's start, before the end: the entries after the
       end come back over it */
    ASSERT_TRUE(t.erase(a[0]));
    EXPECT_EQ(tz.index_of(a[1]), 14);
    EXPECT_EQ(tz.index_of(a[3]), 15);
    EXPECT_EQ(tz.index_of(a[4]), 0);
    EXPECT_EQ(tz.index_of(b), 1);      /* home 0: may sit at 0 or after */
    EXPECT_EQ(tz.index_of(c), 2);

    for (std::size_t i : {1, 3, 4}) {
        auto o = t.find(a[i]);
        ASSERT_TRUE(o.has_value()) << i;
        EXPECT_EQ(o->slot, i);
    }
    EXPECT_EQ(t.find(b)->slot, 10);
    EXPECT_EQ(t.find(c)->slot, 11);
    EXPECT_EQ(t.find(d)->slot, 12);
    EXPECT_EQ(t.size(), 6u);
    EXPECT_EQ(tz.used(), 6u);
}

TEST(BusTable, FullAtThreeQuartersThenRoomAgain)
{
    TableZone tz;
    SessionTable t(tz.z);
    const std::size_t limit = t.capacity() / 4 * 3;
    ASSERT_GT(limit, 1000u);
    std::mt19937_64 rng(21);

    std::vector<std::string> in;
    while (in.size() < limit) {
        std::string s = random_sid(rng);
        if (t.find(s)) {
            continue;
        }
        ASSERT_TRUE(t.insert(s, Owner{1, 1})) << in.size();
        in.push_back(s);
    }
    EXPECT_EQ(t.size(), limit);

    std::string extra = random_sid(rng);
    EXPECT_FALSE(t.insert(extra, Owner{1, 1}));
    EXPECT_FALSE(t.find(extra).has_value());
    EXPECT_EQ(t.size(), limit);

    /* still all there, and still changeable */
    for (const std::string& s : in) {
        ASSERT_TRUE(t.find(s).has_value());
    }
    EXPECT_TRUE(t.set(in[5], Owner{2, 2}));

    ASSERT_TRUE(t.erase(in[limit / 2]));
    EXPECT_TRUE(t.insert(extra, Owner{3, 3}));
    EXPECT_FALSE(t.insert(random_sid(rng), Owner{3, 3}));
    EXPECT_EQ(t.find(extra)->slot, 3);
    EXPECT_EQ(t.find(in[5])->slot, 2);
}

TEST(BusTable, TinyTablesAreFullAtThreeQuarters)
{
    std::mt19937_64 rng(8);
    for (std::size_t cap : {1, 2, 3, 4, 7, 8, 9}) {
        TableZone tz(cap);
        SessionTable t(tz.z);
        std::size_t n = 0;
        while (t.insert(random_sid(rng), Owner{0, 0})) {
            n++;
            ASSERT_LE(n, cap) << cap;
        }
        EXPECT_EQ(n, cap / 4 * 3) << cap;
        EXPECT_LT(tz.used(), cap) << "no free bucket left to end a probe";
        EXPECT_FALSE(t.find(random_sid(rng)).has_value());
    }
}

TEST(BusTable, DuplicateInsertIsRefused)
{
    TableZone tz;
    SessionTable t(tz.z);
    std::mt19937_64 rng(4);
    std::string s = random_sid(rng);
    ASSERT_TRUE(t.insert(s, Owner{1, 7}));
    EXPECT_FALSE(t.insert(s, Owner{2, 8}));
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(t.find(s)->slot, 1);
    EXPECT_EQ(t.find(s)->generation, 7u);

    EXPECT_TRUE(t.set(s, Owner{2, 8}));
    EXPECT_EQ(t.find(s)->slot, 2);
    EXPECT_EQ(t.find(s)->generation, 8u);
    EXPECT_FALSE(t.set(random_sid(rng), Owner{2, 8}));
    EXPECT_EQ(t.size(), 1u);

    ASSERT_TRUE(t.erase(s));
    EXPECT_FALSE(t.erase(s));
    EXPECT_FALSE(t.find(s).has_value());
    EXPECT_TRUE(t.insert(s, Owner{4, 4}));
}

TEST(BusTable, WrongLengthSidIsRefused)
{
    TableZone tz;
    SessionTable t(tz.z);
    std::mt19937_64 rng(6);
    std::string s = random_sid(rng);
    ASSERT_TRUE(t.insert(s, Owner{1, 1}));

    for (std::string bad : {std::string(), s.substr(0, 19), s + "x",
                            s + s, std::string(sid_len - 1, '\0')})
    {
        EXPECT_FALSE(t.insert(bad, Owner{2, 2})) << bad.size();
        EXPECT_FALSE(t.find(bad).has_value()) << bad.size();
        EXPECT_FALSE(t.set(bad, Owner{2, 2})) << bad.size();
        EXPECT_FALSE(t.erase(bad)) << bad.size();
    }
    /* a prefix of a known sid is not that sid */
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(t.find(s)->slot, 1);

    /* any bytes at all, when there are 20 of them */
    std::string odd(sid_len, '\0');
    odd[7] = '\xff';
    EXPECT_TRUE(t.insert(odd, Owner{5, 5}));
    EXPECT_EQ(t.find(odd)->slot, 5);
    EXPECT_FALSE(t.find(std::string(sid_len, '\0')).has_value());
}

TEST(BusTable, EraseSlotRemovesExactlyThatSlot)
{
    for (std::size_t cap : {16, 61, 0}) {
        SCOPED_TRACE(cap);
        TableZone tz(cap);
        SessionTable t(tz.z);
        const std::size_t c = t.capacity();
        std::mt19937_64 rng(cap + 100);
        Model m;
        std::vector<std::string> pool;

        /* nearly full, with clusters over the end of the array */
        while (m.size() < c / 4 * 3) {
            std::string s = (rng() % 4 == 0) ? sid_with_home(rng, c, c - 1)
                                        : random_sid(rng);
            Owner o{static_cast<std::uint16_t>(rng() % 5),
                    static_cast<std::uint32_t>(m.size())};
            if (t.insert(s, o)) {
                m[s] = o;
                pool.push_back(s);
            }
        }

        EXPECT_EQ(t.erase_slot(7), 0u);
        for (std::uint16_t slot : {2, 0, 4, 1, 3}) {
            std::size_t want = 0;
            for (auto it = m.begin(); it != m.end();) {
                if (it->second.slot == slot) {
                    it = m.erase(it);
                    want++;
                } else {
                    ++it;
                }
            }
            EXPECT_EQ(t.erase_slot(slot), want) << slot;
            for (std::size_t i = 0; i < c; i++) {
                const SessionEntry& e = tz.entries()[i];
                ASSERT_FALSE(e.used && e.slot == slot) << "left at " << i;
            }
            ASSERT_NO_FATAL_FAILURE(check_against(tz, t, m, pool));
            EXPECT_EQ(t.erase_slot(slot), 0u);
        }
        EXPECT_EQ(t.size(), 0u);
    }
}
