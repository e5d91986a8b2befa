/*
 * cluster::SharedDirectory: the chat's users as each worker keeps them.
 * A worker reads the zone's table when it joins and hears of every later
 * change through the log, so that its list and lookups need no lock and
 * match every other worker's once the log is read.
 */
#include "cluster_harness.hpp"

#include <gtest/gtest.h>

using namespace clustertest;

namespace {

chat::User user(int i, const std::string& name)
{
    return chat::User{"k" + std::to_string(i), name,
                      "sock" + std::to_string(i)};
}

Strings names(const Worker& w)
{
    Strings out;
    for (const chat::User& u : w.directory.list()) {
        out.push_back(u.name);
    }
    return out;
}

}  // namespace

TEST(ClusterDirectory, EveryWorkerSeesEveryChangeInOneOrder)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);
    ASSERT_TRUE(c.settle());

    a.directory.put(user(1, "ann"));
    b.directory.put(user(2, "bob"));
    a.directory.put(user(3, "cat"));

    /* the one that made a change sees it at once */
    EXPECT_EQ(names(a), (Strings{"ann", "cat"}));
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(names(a), (Strings{"ann", "bob", "cat"}));
    EXPECT_EQ(names(b), (Strings{"ann", "bob", "cat"}));
    ASSERT_TRUE(b.directory.find("k1").has_value());
    EXPECT_EQ(b.directory.find("k1")->socket_id, "sock1");

    /* a rename keeps the place in the list */
    b.directory.put(chat::User{"k1", "anna", "sock9"});
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(names(a), (Strings{"anna", "bob", "cat"}));
    EXPECT_EQ(a.directory.find("k1")->socket_id, "sock9");

    a.directory.remove("k2");
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(names(b), (Strings{"anna", "cat"}));
    EXPECT_FALSE(b.directory.find("k2").has_value());
    EXPECT_EQ(a.directory.count(), 2u);
    EXPECT_EQ(b.directory.count(), 2u);
}

TEST(ClusterDirectory, TheVersionMovesOnChangesOnly)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);
    ASSERT_TRUE(c.settle());

    std::uint64_t v = b.directory.version();
    b.directory.list();
    b.directory.find("k1");
    EXPECT_EQ(b.directory.version(), v);

    a.directory.put(user(1, "ann"));
    ASSERT_TRUE(c.settle());
    EXPECT_NE(b.directory.version(), v);
    v = b.directory.version();

    a.directory.remove("nobody");
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(b.directory.version(), v);
}

TEST(ClusterDirectory, AWorkerThatJoinsReadsWhatIsThereAlready)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Strings want;
    for (int i = 0; i < 300; i++) {
        a.directory.put(user(i, "n" + std::to_string(i)));
        want.push_back("n" + std::to_string(i));
    }
    for (int i = 0; i < 300; i += 3) {
        a.directory.remove("k" + std::to_string(i));
    }
    Strings left;
    for (int i = 0; i < 300; i++) {
        if (i % 3 != 0) {
            left.push_back("n" + std::to_string(i));
        }
    }

    /* before it reads a single record of the log */
    Worker& late = c.add("L", 109);
    EXPECT_EQ(names(late), left);
    EXPECT_EQ(late.directory.find("k1")->name, "n1");

    /* the records it reads after (older ones among them) change nothing */
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(names(late), left);
    EXPECT_EQ(names(a), left);
}

TEST(ClusterDirectory, AWorkerThatLeavesTakesItsUsersFromTheOthers)
{
    Cluster c;
    Worker& a = c.add("A", 101);
    Worker& b = c.add("B", 102);
    a.directory.put(user(1, "ann"));
    b.directory.put(user(2, "bob"));
    ASSERT_TRUE(c.settle());
    ASSERT_EQ(names(a).size(), 2u);

    /* b goes (a reload): what was b's goes from a's list with it */
    b.node.depart();
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(names(a), (Strings{"ann"}));
}
