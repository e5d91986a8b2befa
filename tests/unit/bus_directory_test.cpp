/*
 * bus::Directory: users put, renamed, found and removed; list() in the
 * order they joined; remove_slot() handing back what it removed; the size
 * limits of the fields; full at 3/4; random operations against a model.
 */
#include "bus_support.hpp"

#include "core/bus/directory.hpp"
#include "core/bus/table.hpp"
#include "core/bus/zone.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace socketio::bus;
using bustest::Buffer;

namespace {

/* A fresh zone whose directory is cut down to `cap` entries (0: as laid out). */
struct DirZone {
    explicit DirZone(std::size_t cap = 0) : buf(Zone::min_size)
    {
        if (!z.attach(buf.data(), buf.size(), true)) {
            throw std::runtime_error("attach");
        }
        if (cap != 0) {
            z.header().dir_cap = cap;
        }
    }
    Buffer buf;
    Zone z;
};

UserRecord user(std::string key, std::string name, std::uint16_t slot = 0)
{
    return UserRecord{key, std::move(name), "sock-" + key, slot};
}

std::vector<std::string> keys(const std::vector<UserRecord>& v)
{
    std::vector<std::string> k;
    for (const auto& u : v) {
        k.push_back(u.key);
    }
    return k;
}

/* A key whose home bucket in a directory of `cap` entries is `home`. */
std::string key_with_home(std::mt19937_64& rng, std::size_t cap,
                          std::size_t home)
{
    for (;;) {
        std::string k = "u" + std::to_string(rng() % 1000000000);
        if (hash_id(k) % cap == home) {
            return k;
        }
    }
}

}  // namespace

TEST(BusDirectory, PutFindRenameRemove)
{
    DirZone dz;
    Directory d(dz.z);
    EXPECT_EQ(d.size(), 0u);
    EXPECT_FALSE(d.find("u1").has_value());
    EXPECT_FALSE(d.remove("u1"));

    ASSERT_TRUE(d.put(UserRecord{"u1", "ann", "sidA", 3}));
    ASSERT_TRUE(d.put(UserRecord{"u2", "bob", "sidB", 4}));
    EXPECT_EQ(d.size(), 2u);

    auto a = d.find("u1");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->key, "u1");
    EXPECT_EQ(a->name, "ann");
    EXPECT_EQ(a->socket_id, "sidA");
    EXPECT_EQ(a->slot, 3);

    /* a rename: same key, new name (shorter: no old bytes left over),
       and the socket moved to another worker */
    ASSERT_TRUE(d.put(UserRecord{"u1", "al", "sidC", 9}));
    EXPECT_EQ(d.size(), 2u);
    a = d.find("u1");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->name, "al");
    EXPECT_EQ(a->socket_id, "sidC");
    EXPECT_EQ(a->slot, 9);
    EXPECT_EQ(d.find("u2")->name, "bob");

    /* keys are exact: no prefixes, no case folding */
    EXPECT_FALSE(d.find("u").has_value());
    EXPECT_FALSE(d.find("u11").has_value());
    EXPECT_FALSE(d.find("U1").has_value());
    EXPECT_FALSE(d.find("").has_value());

    EXPECT_TRUE(d.remove("u1"));
    EXPECT_FALSE(d.remove("u1"));
    EXPECT_FALSE(d.find("u1").has_value());
    EXPECT_EQ(d.size(), 1u);
    EXPECT_EQ(d.find("u2")->name, "bob");

    /* empty names and sockets are kept as empty */
    ASSERT_TRUE(d.put(UserRecord{"u3", "", "", 0}));
    EXPECT_EQ(d.find("u3")->name, "");
    EXPECT_EQ(d.find("u3")->socket_id, "");
}

TEST(BusDirectory, UnicodeAndBinaryNamesComeBackIntact)
{
    DirZone dz;
    Directory d(dz.z);
    std::string name = "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80";
    name.push_back('\0');
    name += "x";
    ASSERT_TRUE(d.put(UserRecord{"k", name, "s", 1}));
    EXPECT_EQ(d.find("k")->name, name);
}

TEST(BusDirectory, ListIsInJoinOrder)
{
    DirZone dz;
    Directory d(dz.z);
    std::vector<std::string> order;
    for (int i = 0; i < 40; i++) {
        /* keys in no order of their own */
        std::string k = "k" + std::to_string((i * 7919) % 1000);
        order.push_back(k);
        ASSERT_TRUE(d.put(user(k, "name" + std::to_string(i))));
    }
    EXPECT_EQ(keys(d.list()), order);

    /* renames keep the place; a removal leaves the others in order */
    ASSERT_TRUE(d.put(user(order[0], "renamed")));
    ASSERT_TRUE(d.put(user(order[17], "again", 5)));
    ASSERT_TRUE(d.remove(order[3]));
    order.erase(order.begin() + 3);
    auto l = d.list();
    EXPECT_EQ(keys(l), order);
    EXPECT_EQ(l[0].name, "renamed");
    EXPECT_EQ(l[16].name, "again");
    EXPECT_EQ(l[16].slot, 5);

    /* who leaves and comes back joins again: at the end */
    std::string back = order[1];
    ASSERT_TRUE(d.remove(back));
    ASSERT_TRUE(d.put(user(back, "back")));
    order.erase(order.begin() + 1);
    order.push_back(back);
    EXPECT_EQ(keys(d.list()), order);
    EXPECT_EQ(d.list().size(), d.size());
}

TEST(BusDirectory, ListOrderSurvivesKeysFromTheSharedCounter)
{
    /* the chat takes its keys from header().next_key, all at once or
       one at a time: either way, the list is in the order of put() */
    DirZone dz;
    Directory d(dz.z);
    Header& h = dz.z.header();
    std::vector<std::string> k;
    for (int i = 0; i < 6; i++) {
        k.push_back("u" + std::to_string(h.next_key.fetch_add(1) + 1));
    }
    std::vector<std::string> order = {k[4], k[1], k[5], k[0], k[3], k[2]};
    for (const auto& key : order) {
        ASSERT_TRUE(d.put(user(key, key)));
    }
    std::string late = "u" + std::to_string(h.next_key.fetch_add(1) + 1);
    ASSERT_TRUE(d.put(user(late, late)));
    order.push_back(late);
    EXPECT_EQ(keys(d.list()), order);
}

TEST(BusDirectory, FieldsTooLongAreRefused)
{
    DirZone dz;
    Directory d(dz.z);
    const std::string k16(16, 'k'), n256(256, 'n'), s24(24, 's');

    ASSERT_TRUE(d.put(UserRecord{k16, n256, s24, 1}));
    auto u = d.find(k16);
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->key, k16);
    EXPECT_EQ(u->name, n256);
    EXPECT_EQ(u->socket_id, s24);

    EXPECT_FALSE(d.put(UserRecord{k16 + "k", "n", "s", 1}));
    EXPECT_FALSE(d.put(UserRecord{"a", n256 + "n", "s", 1}));
    EXPECT_FALSE(d.put(UserRecord{"a", "n", s24 + "s", 1}));
    EXPECT_FALSE(d.put(UserRecord{"", "n", "s", 1}));
    EXPECT_FALSE(d.find("a").has_value());
    EXPECT_FALSE(d.find(k16 + "k").has_value());
    EXPECT_EQ(d.size(), 1u);

    /* a rename too long leaves the user as it was */
    EXPECT_FALSE(d.put(UserRecord{k16, n256 + "!", s24, 2}));
    EXPECT_EQ(d.find(k16)->name, n256);
    EXPECT_EQ(d.find(k16)->slot, 1);
}

TEST(BusDirectory, FullAtThreeQuarters)
{
    DirZone dz;
    Directory d(dz.z);
    const std::size_t limit = d.capacity() / 4 * 3;
    ASSERT_GT(limit, 100u);
    for (std::size_t i = 0; i < limit; i++) {
        ASSERT_TRUE(d.put(user("u" + std::to_string(i), "n"))) << i;
    }
    EXPECT_EQ(d.size(), limit);
    EXPECT_FALSE(d.put(user("extra", "n")));
    EXPECT_FALSE(d.find("extra").has_value());
    EXPECT_EQ(d.size(), limit);

    /* renames still work when full */
    EXPECT_TRUE(d.put(user("u7", "renamed")));
    EXPECT_EQ(d.find("u7")->name, "renamed");

    ASSERT_TRUE(d.remove("u0"));
    EXPECT_TRUE(d.put(user("extra", "n")));
    EXPECT_FALSE(d.put(user("extra2", "n")));
    EXPECT_EQ(d.list().size(), limit);
    EXPECT_EQ(d.list().back().key, "extra");
}

TEST(BusDirectory, RemoveSlotReturnsWhomItRemoved)
{
    for (std::size_t cap : {12, 0}) {
        SCOPED_TRACE(cap);
        DirZone dz(cap);
        Directory d(dz.z);
        const std::size_t c = d.capacity();
        std::mt19937_64 rng(cap + 1);

        /* half of them piled up at the last bucket: a run over the end */
        std::map<std::string, std::uint16_t> m;
        std::vector<std::string> order;
        while (m.size() < c / 4 * 3) {
            std::string k = rng() % 2 ? key_with_home(rng, c, c - 1)
                                      : "r" + std::to_string(rng() % 100000);
            if (m.count(k)) {
                continue;
            }
            auto slot = static_cast<std::uint16_t>(rng() % 4);
            ASSERT_TRUE(d.put(user(k, "n" + k, slot)));
            m[k] = slot;
            order.push_back(k);
        }

        EXPECT_TRUE(d.remove_slot(9).empty());
        for (std::uint16_t slot : {1, 3, 0, 2}) {
            std::vector<std::string> want, got;
            for (auto it = m.begin(); it != m.end();) {
                if (it->second == slot) {
                    want.push_back(it->first);
                    it = m.erase(it);
                } else {
                    ++it;
                }
            }
            for (const UserRecord& u : d.remove_slot(slot)) {
                EXPECT_EQ(u.slot, slot);
                EXPECT_EQ(u.name, "n" + u.key);
                EXPECT_EQ(u.socket_id, "sock-" + u.key);
                got.push_back(u.key);
            }
            std::sort(got.begin(), got.end());
            EXPECT_EQ(got, want) << "slot " << slot;
            EXPECT_EQ(d.size(), m.size());

            /* the others stay, findable, in their order */
            order.erase(std::remove_if(order.begin(), order.end(),
                                       [&](const std::string& k) {
                                           return m.count(k) == 0;
                                       }),
                        order.end());
            for (const auto& [k, s] : m) {
                auto u = d.find(k);
                ASSERT_TRUE(u.has_value()) << k;
                EXPECT_EQ(u->slot, s);
            }
            for (const std::string& k : want) {
                EXPECT_FALSE(d.find(k).has_value()) << k;
            }
            EXPECT_EQ(keys(d.list()), order);
        }
        EXPECT_EQ(d.size(), 0u);
    }
}

TEST(BusDirectory, RandomOpsMatchAModel)
{
    for (std::size_t cap : {4, 9, 16, 40, 0}) {
        SCOPED_TRACE(cap);
        DirZone dz(cap);
        Directory d(dz.z);
        const std::size_t c = d.capacity();
        const std::size_t limit = c / 4 * 3;
        std::mt19937_64 rng(cap * 31 + 5);

        std::vector<std::string> pool;
        for (std::size_t i = 0; i < std::max<std::size_t>(2 * limit, 8); i++) {
            pool.push_back(i % 3 == 0 ? key_with_home(rng, c, c - 1)
                                      : "p" + std::to_string(i));
        }
        std::map<std::string, UserRecord> m;
        std::vector<std::string> order;
        std::size_t refused = 0;
        const int ops = cap == 0 ? 9000 : 3000;
        for (int op = 0; op < ops; op++) {
            const std::string& k = pool[rng() % pool.size()];
            bool known = m.count(k) != 0;
            if (rng() % 3 != 0) {
                UserRecord u{k, "n" + std::to_string(rng() % 1000),
                             "s" + std::to_string(op),
                             static_cast<std::uint16_t>(rng() % 64)};
                bool want = known || m.size() < limit;
                refused += !want;
                ASSERT_EQ(d.put(u).has_value(), want) << op;
                if (want) {
                    m[k] = u;
                    if (!known) {
                        order.push_back(k);
                    }
                }
            } else {
                ASSERT_EQ(d.remove(k), known) << op;
                m.erase(k);
                order.erase(std::remove(order.begin(), order.end(), k),
                            order.end());
            }
            if (cap != 0 || op % 200 == 0) {
                ASSERT_EQ(d.size(), m.size());
                for (const std::string& p : pool) {
                    auto f = d.find(p);
                    auto it = m.find(p);
                    ASSERT_EQ(f.has_value(), it != m.end()) << p;
                    if (f) {
                        ASSERT_EQ(f->name, it->second.name);
                        ASSERT_EQ(f->socket_id, it->second.socket_id);
                        ASSERT_EQ(f->slot, it->second.slot);
                    }
                }
                ASSERT_EQ(keys(d.list()), order) << op;
            }
        }
        EXPECT_GT(refused, 0u) << "never full";
    }
}
