/*
 * The bus shared by several processes (fork() over one MAP_SHARED zone):
 * each publishes to the log while reading all of it from its own cursor,
 * and all see every record once, in one order; the session table and the
 * directory changed by all at once under the zone lock lose nothing.
 */
#include "bus_support.hpp"

#include "core/bus/directory.hpp"
#include "core/bus/log.hpp"
#include "core/bus/mutex.hpp"
#include "core/bus/table.hpp"
#include "core/bus/zone.hpp"

#include <gtest/gtest.h>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace socketio::bus;
using bustest::Fold;
using bustest::reap;
using bustest::SharedMap;
using bustest::spawn;

namespace {

constexpr auto alive = static_cast<std::uint32_t>(SlotState::alive);
constexpr auto departed = static_cast<std::uint32_t>(SlotState::departed);

/* What each child reports of the log. */
struct LogReport {
    std::uint64_t fold;
    std::uint64_t seen;
    std::uint64_t published;
    std::uint64_t refused;
    std::uint64_t wrapped_reads;   /* records read at a lower ring offset */
};

struct LogShared {
    std::atomic<std::uint32_t> abort;  /* a child failed: all stop */
    std::atomic<std::uint32_t> ready;
    LogReport report[8];
};

/* Filler whose bytes depend on who sent it and its counter. */
char filler_byte(std::uint64_t from, std::uint64_t counter, std::size_t i)
{
    return static_cast<char>((from * 131 + counter * 7 + i * 13) & 0xff);
}

std::size_t filler_len(std::uint64_t from, std::uint64_t counter)
{
    return (from * 37 + counter * 11) % 181;
}

/*
 * Child `me` of `procs`: publishes `count` records while reading the log
 * from its cursor, until it has read everything everyone published.
 */
int log_child(char* base, std::size_t size, LogShared* sh, int me, int procs,
              std::uint64_t count)
{
    Zone z;
    if (!z.attach(base, size, false)) {
        return 10;
    }
    Log log(z);
    Slot& slot = z.slot(static_cast<std::uint32_t>(me));
    std::mt19937_64 rng(static_cast<std::uint64_t>(me) + 1);

    auto fail = [&](int code) {
        /* let go of the log so that the others see the abort flag */
        slot.state.store(departed);
        sh->abort.store(1);
        return code;
    };

    sh->ready.fetch_add(1);
    while (sh->ready.load() < static_cast<std::uint32_t>(procs)) {
        sched_yield();
    }

    const std::uint64_t total = count * static_cast<std::uint64_t>(procs);
    std::vector<std::uint64_t> next_counter(static_cast<std::size_t>(procs));
    std::uint64_t cursor = slot.cursor.load();
    std::uint64_t published = 0, seen = 0, refused = 0, wrapped = 0;
    std::uint64_t last_off = 0;
    Fold fold;
    std::string body;

    while (seen < total) {
        if (sh->abort.load() != 0) {
            return fail(11);
        }
        bool progress = false;

        /* publish one, or a few */
        for (int n = static_cast<int>(rng() % 3); n >= 0 && published < count;
             n--)
        {
            std::uint64_t id[2] = {static_cast<std::uint64_t>(me), published};
            std::size_t len = filler_len(me, published);
            body.resize(len);
            for (std::size_t i = 0; i < len; i++) {
                body[i] = filler_byte(me, published, i);
            }
            auto p = log.publish(static_cast<std::uint16_t>(me), any_slot, 1,
                                 {std::string_view(reinterpret_cast<char*>(id),
                                                   sizeof(id)),
                                  body});
            if (!p) {
                refused++;
                break;
            }
            published++;
            progress = true;
        }

        /* read what is there, or some of it */
        std::uint64_t budget = rng() % 4 == 0 ? 1 + rng() % 4 : UINT64_MAX;
        for (; budget > 0 && cursor < log.head(); budget--) {
            Record r = log.read(cursor);
            if (r.writing) {
                break;                     /* its writer is copying it */
            }
            if (r.header->seq != seen) {
                return fail(20);           /* a gap, a repeat, or disorder */
            }
            if (r.body.size() < 16 || r.header->type != 1) {
                return fail(21);
            }
            std::uint64_t id[2];
            std::memcpy(id, r.body.data(), sizeof(id));
            if (id[0] != r.header->from
                || id[0] >= static_cast<std::uint64_t>(procs))
            {
                return fail(22);
            }
            if (id[1] != next_counter[id[0]]++) {
                return fail(23);           /* a publisher's order broken */
            }
            std::size_t len = filler_len(id[0], id[1]);
            if (r.body.size() != 16 + len) {
                return fail(24);
            }
            for (std::size_t i = 0; i < len; i++) {
                if (r.body[16 + i] != filler_byte(id[0], id[1], i)) {
                    return fail(25);       /* overwritten under the reader */
                }
            }
            if (r.pos % log.capacity() < last_off) {
                wrapped++;
            }
            last_off = r.pos % log.capacity();
            fold.add(id[0] << 32 | id[1]);
            seen++;
            cursor = r.next;
            progress = true;
        }
        slot.cursor.store(cursor);
        slot.pin.store(cursor);

        if (!progress) {
            sched_yield();
        }
    }
    if (published != count) {
        return fail(26);
    }
    sh->report[me] = LogReport{fold.value(), seen, published, refused, wrapped};
    return 0;
}

}  // namespace

TEST(BusProcesses, EveryoneReadsEveryRecordOnceInOneOrder)
{
    const int procs = 4;
    const std::uint64_t count = 4000;
    const std::size_t size = Zone::min_size;
    SharedMap zone_map(size);
    SharedMap shared_map(sizeof(LogShared));
    auto* sh = new (shared_map.data()) LogShared{};

    Zone z;
    ASSERT_TRUE(z.attach(zone_map.data(), size, true));
    z.header().log_cap = 4096;            /* small: it wraps hundreds of times */
    for (int i = 0; i < procs; i++) {
        Slot& s = z.slot(static_cast<std::uint32_t>(i));
        s.cursor.store(0);
        s.pin.store(0);
        s.state.store(alive);
    }

    std::vector<pid_t> kids;
    for (int i = 0; i < procs; i++) {
        kids.push_back(spawn([&, i] {
            return log_child(zone_map.data(), size, sh, i, procs, count);
        }));
    }
    for (int i = 0; i < procs; i++) {
        EXPECT_EQ(reap(kids[i]), 0) << "child " << i;
    }
    ASSERT_EQ(sh->abort.load(), 0u);

    Log log(z);
    EXPECT_EQ(z.header().log.seq.load(), count * procs);
    std::uint64_t refused = 0;
    for (int i = 0; i < procs; i++) {
        const LogReport& r = sh->report[i];
        EXPECT_EQ(r.seen, count * procs) << i;
        EXPECT_EQ(r.published, count) << i;
        EXPECT_EQ(r.fold, sh->report[0].fold) << "child " << i
                                              << " saw another order";
        EXPECT_GT(r.wrapped_reads, 100u) << i;
        refused += r.refused;
        EXPECT_EQ(z.slot(i).cursor.load(), log.head()) << i;
    }
    EXPECT_GT(log.head(), 100 * log.capacity());
    EXPECT_LE(log.head() - log.tail(), log.capacity());
    /* with readers this slow, the log was full more than once */
    EXPECT_GT(refused, 0u);
    EXPECT_EQ(try_hold(z.header().log.lock), Holder::none);
    unlock(z.header().log.lock);
}

namespace {

constexpr int pool_size = 1000;         /* sids all processes race for */
constexpr std::size_t max_own = 300;    /* sessions a process keeps */

/* What a child leaves for the parent: its own sessions and users. */
struct TableReport {
    std::uint32_t sessions;
    char sids[max_own][sid_len];
    std::uint32_t users;
    char keys[200][16];      /* in the order they joined */
    std::uint8_t key_len[200];
    std::uint32_t erased_by_slot;
    std::uint32_t removed_by_slot;
};

struct TableShared {
    std::atomic<std::uint32_t> ready;
    std::atomic<std::uint32_t> won[pool_size];  /* race: who inserted each sid */
    TableReport report[4];
};

/* A sid no other process makes: its first two characters say whose. */
std::string own_sid(int me, std::mt19937_64& rng)
{
    std::string s = bustest::random_sid(rng);
    s[0] = 'P';
    s[1] = static_cast<char>('0' + me);
    return s;
}

/*
 * Child `me`: random changes to its own sessions and users (and, all of
 * them at once, to a pool everyone races for), each under the zone lock,
 * checking after each one that what it put there is still there.
 */
int table_child(char* base, std::size_t size, TableShared* sh, int me,
                int procs, int ops)
{
    Zone z;
    if (!z.attach(base, size, false)) {
        return 10;
    }
    Header& h = z.header();
    const auto slot = static_cast<std::uint16_t>(me);
    std::mt19937_64 rng(static_cast<std::uint64_t>(me) * 1000 + 7);

    std::map<std::string, std::uint32_t> sessions;     /* sid -> generation */
    std::vector<std::string> users;                    /* in join order */
    std::map<std::string, std::string> names;
    std::uint32_t gen = 0, next_user = 0;
    TableReport& out = sh->report[me];
    out.erased_by_slot = 0;
    out.removed_by_slot = 0;

    /* the same pool in every process, raced for in different orders */
    std::mt19937_64 pool_rng(4242);
    std::vector<std::string> pool;
    for (int i = 0; i < pool_size; i++) {
        pool.push_back(bustest::random_sid(pool_rng));
        pool.back()[0] = 'Q';
    }
    std::vector<int> order(pool.size());
    for (std::size_t i = 0; i < order.size(); i++) {
        order[i] = static_cast<int>(i);
    }
    std::shuffle(order.begin(), order.end(), rng);
    std::size_t raced = 0;

    sh->ready.fetch_add(1);
    while (sh->ready.load() < static_cast<std::uint32_t>(procs)) {
        sched_yield();
    }

    for (int op = 0; op < ops; op++) {
        Guard g(h.lock);
        SessionTable t(z);
        Directory d(z);
        std::uint64_t r = rng() % 16;

        if (op % 1500 == 750) {
            /* as if it died: everything of this slot goes at once */
            std::size_t mine = sessions.size();
            for (const std::string& s : pool) {
                auto o = t.find(s);
                mine += o && o->slot == slot;
            }
            std::size_t n = t.erase_slot(slot);
            if (n != mine) {
                return 26;
            }
            for (const std::string& s : pool) {
                auto o = t.find(s);
                if (o && o->slot == slot) {
                    return 27;
                }
            }
            sessions.clear();
            out.erased_by_slot++;
            auto gone = d.remove_slot(slot);
            if (gone.size() != users.size()) {
                return 28;
            }
            for (const auto& u : gone) {
                if (names.count(u.key) == 0 || u.slot != slot
                    || u.name != names[u.key])
                {
                    return 29;
                }
            }
            users.clear();
            names.clear();
            out.removed_by_slot++;
        } else if (r < 5 && sessions.size() < max_own) {
            std::string s = own_sid(me, rng);
            if (sessions.count(s) == 0) {
                if (!t.insert(s, Owner{slot, ++gen})) {
                    return 20;
                }
                sessions[s] = gen;
            }
        } else if (r < 8 && !sessions.empty()) {
            auto it = sessions.begin();
            std::advance(it, static_cast<long>(rng() % sessions.size()));
            if (!t.erase(it->first)) {
                return 21;
            }
            sessions.erase(it);
        } else if (r < 9 && !sessions.empty()) {
            auto it = sessions.begin();
            std::advance(it, static_cast<long>(rng() % sessions.size()));
            if (!t.set(it->first, Owner{slot, ++gen})) {
                return 22;
            }
            it->second = gen;
        } else if (r < 11 && users.size() < 150) {
            std::string k = "p" + std::to_string(me) + "u"
                            + std::to_string(next_user++);
            std::string n = "n" + std::to_string(rng() % 1000);
            if (!d.put(UserRecord{k, n, "s" + k, slot})) {
                return 23;
            }
            users.push_back(k);
            names[k] = n;
        } else if (r < 12 && !users.empty()) {
            std::string k = users[rng() % users.size()];
            std::string n = "m" + std::to_string(rng() % 1000);
            if (!d.put(UserRecord{k, n, "s" + k, slot})) {
                return 24;
            }
            names[k] = n;
        } else if (r < 13 && !users.empty()) {
            auto i = static_cast<long>(rng() % users.size());
            if (!d.remove(users[static_cast<std::size_t>(i)])) {
                return 25;
            }
            names.erase(users[static_cast<std::size_t>(i)]);
            users.erase(users.begin() + i);
        } else if (r < 15 && raced < order.size()) {
            /* the race: only one process may insert each pool sid */
            for (int n = 0; n < 4 && raced < order.size(); n++, raced++) {
                int i = order[raced];
                if (t.insert(pool[static_cast<std::size_t>(i)],
                             Owner{slot, 0}))
                {
                    sh->won[i].fetch_add(1u << (8 * me));
                }
            }
        }

        /* nothing of mine went missing or changed behind my back */
        for (int k = 0; k < 3 && !sessions.empty(); k++) {
            auto it = sessions.begin();
            std::advance(it, static_cast<long>(rng() % sessions.size()));
            auto o = t.find(it->first);
            if (!o || o->slot != slot || o->generation != it->second) {
                return 30;
            }
        }
        if (!users.empty()) {
            const std::string& k = users[rng() % users.size()];
            auto u = d.find(k);
            if (!u || u->name != names[k] || u->slot != slot) {
                return 31;
            }
        }
    }

    out.sessions = 0;
    for (const auto& [s, g] : sessions) {
        std::memcpy(out.sids[out.sessions++], s.data(), sid_len);
    }
    out.users = 0;
    for (const std::string& k : users) {
        std::memcpy(out.keys[out.users], k.data(), k.size());
        out.key_len[out.users++] = static_cast<std::uint8_t>(k.size());
    }
    return 0;
}

}  // namespace

TEST(BusProcesses, TableAndDirectoryLoseNothingUnderTheZoneLock)
{
    const int procs = 4, ops = 6000;
    const std::size_t size = Zone::min_size;
    SharedMap zone_map(size);
    SharedMap shared_map(sizeof(TableShared));
    auto* sh = new (shared_map.data()) TableShared{};

    Zone z;
    ASSERT_TRUE(z.attach(zone_map.data(), size, true));
    {
        SessionTable t(z);
        Directory d(z);
        ASSERT_GT(t.capacity() / 4 * 3, procs * max_own + pool_size);
        ASSERT_GT(d.capacity() / 4 * 3, procs * 150u);
    }

    std::vector<pid_t> kids;
    for (int i = 0; i < procs; i++) {
        kids.push_back(spawn([&, i] {
            return table_child(zone_map.data(), size, sh, i, procs, ops);
        }));
    }
    for (int i = 0; i < procs; i++) {
        EXPECT_EQ(reap(kids[i]), 0) << "child " << i;
    }
    if (HasFailure()) {
        return;
    }
    EXPECT_EQ(try_hold(z.header().lock), Holder::none);
    unlock(z.header().lock);

    SessionTable t(z);
    Directory d(z);

    /* the race: every pool sid inserted by exactly one process, and held
       by it unless it later erased its slot */
    std::mt19937_64 pool_rng(4242);
    std::size_t pool_left = 0;
    for (int i = 0; i < pool_size; i++) {
        std::string s = bustest::random_sid(pool_rng);
        s[0] = 'Q';
        std::uint32_t w = sh->won[i].load();
        int winners = 0;
        for (int p = 0; p < procs; p++) {
            winners += static_cast<int>(w >> (8 * p) & 0xff);
        }
        /* a sid erased with its slot may be won again by another */
        ASSERT_GE(winners, 1) << "pool sid " << i << " never inserted";
        auto o = t.find(s);
        if (o) {
            pool_left++;
            ASSERT_EQ(w >> (8 * o->slot) & 0xff, 1u)
                << "held by a process that did not insert it";
        }
    }

    /* the sessions: the union of what each kept */
    std::size_t want = pool_left;
    for (int p = 0; p < procs; p++) {
        const TableReport& r = sh->report[p];
        EXPECT_GT(r.erased_by_slot, 0u);
        want += r.sessions;
        for (std::uint32_t k = 0; k < r.sessions; k++) {
            std::string s(r.sids[k], sid_len);
            auto o = t.find(s);
            ASSERT_TRUE(o.has_value()) << "lost a session of " << p;
            EXPECT_EQ(o->slot, p);
        }
    }
    EXPECT_EQ(t.size(), want);
    const auto* e = reinterpret_cast<const SessionEntry*>(
        z.at(z.header().table_off));
    std::size_t used = 0;
    for (std::size_t i = 0; i < t.capacity(); i++) {
        used += e[i].used != 0;
    }
    EXPECT_EQ(used, want) << "entries nobody accounts for";

    /* the users: the union, each process's own in the order they joined */
    auto l = d.list();
    std::size_t users = 0;
    for (int p = 0; p < procs; p++) {
        const TableReport& r = sh->report[p];
        users += r.users;
        std::vector<std::string> mine, listed;
        for (std::uint32_t k = 0; k < r.users; k++) {
            mine.emplace_back(r.keys[k], r.key_len[k]);
        }
        std::string prefix = "p" + std::to_string(p) + "u";
        for (const UserRecord& u : l) {
            if (u.key.compare(0, prefix.size(), prefix) == 0) {
                EXPECT_EQ(u.slot, p);
                listed.push_back(u.key);
            }
        }
        EXPECT_EQ(listed, mine) << "process " << p;
    }
    EXPECT_EQ(d.size(), users);
    EXPECT_EQ(l.size(), users);
}
