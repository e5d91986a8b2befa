/*
 * The chat (shared/chat-contract.md) on a Socket.IO server with fake
 * transports: what a flooding client costs. `users` is answered from a
 * list made once per change of the directory, and typing notices are
 * told on a change of state, within a budget.
 */
#include "sio_fixture.hpp"

#include "core/chat/chat.hpp"
#include "core/chat/directory.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace sio_fixture;
namespace chat = socketio::chat;

namespace {

/* A directory that counts how often its list is made. */
class CountingDirectory final : public chat::Directory {
public:
    std::string new_key() override { return inner.new_key(); }
    void put(const chat::User& u) override { inner.put(u); }
    void remove(std::string_view key) override { inner.remove(key); }
    std::optional<chat::User> find(std::string_view key) const override
    {
        return inner.find(key);
    }
    std::vector<chat::User> list() const override
    {
        lists++;
        return inner.list();
    }
    std::size_t count() const override { return inner.count(); }
    std::uint64_t version() const override { return inner.version(); }

    chat::LocalDirectory inner;
    mutable int lists = 0;
};

class ChatTest : public SioTest {
protected:
    ChatTest() : chat_(directory, {}) { main.forward = &chat_; }

    /* a connected socket, named through the demo door */
    Conn demo_user(const std::string& name)
    {
        Conn c = ws();
        connect(c);
        text(c, "2[\"add user\",\"" + name + "\"]");
        out(c);
        return c;
    }

    /* the packets of `c` that start with `prefix` */
    Strings with_prefix(Conn& c, const std::string& prefix)
    {
        Strings got;
        for (const std::string& p : out(c)) {
            if (p.compare(0, prefix.size(), prefix) == 0) {
                got.push_back(p);
            }
        }
        return got;
    }

    CountingDirectory directory;
    chat::Chat chat_;
};

}  // namespace

TEST_F(ChatTest, UsersIsAnsweredFromOneListPerChange)
{
    Conn ann = demo_user("ann");
    Conn bob = demo_user("bob");
    directory.lists = 0;

    for (int i = 0; i < 50; i++) {
        text(ann, "2" + std::to_string(i) + "[\"users\"]");
    }
    Strings acks = with_prefix(ann, "43");
    ASSERT_EQ(acks.size(), 50u);
    EXPECT_EQ(acks[0], "430[[{\"key\":\"u1\",\"name\":\"ann\"},"
                       "{\"key\":\"u2\",\"name\":\"bob\"}]]");
    EXPECT_EQ(acks[49].substr(4), acks[0].substr(3));
    EXPECT_EQ(directory.lists, 1) << "the list was made again unchanged";

    /* a change: made once more, and the answer says it */
    Conn cat = demo_user("cat");
    text(bob, "27[\"users\"]");
    text(ann, "28[\"users\"]");
    EXPECT_EQ(directory.lists, 2);
    Strings got = with_prefix(ann, "43");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NE(got[0].find("\"cat\""), std::string::npos) << got[0];

    text(cat, "1");                   /* cat leaves the namespace */
    text(ann, "29[\"users\"]");
    EXPECT_EQ(directory.lists, 3);
    got = with_prefix(ann, "43");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].find("\"cat\""), std::string::npos) << got[0];
}

TEST_F(ChatTest, TypingIsToldOnAChangeOfState)
{
    Conn ann = demo_user("ann");
    Conn bob = demo_user("bob");
    out(bob);

    for (int i = 0; i < 5; i++) {
        text(ann, "2[\"typing\"]");
    }
    EXPECT_EQ(with_prefix(bob, "42[\"typing\"").size(), 1u)
        << "typing, typing, typing: told once";

    text(ann, "2[\"stop typing\"]");
    text(ann, "2[\"stop typing\"]");
    EXPECT_EQ(with_prefix(bob, "42[\"stop typing\"").size(), 1u);
}

TEST_F(ChatTest, ATypingFloodIsCutToABudgetAndTheLastStateIsTold)
{
    Conn ann = demo_user("ann");
    Conn bob = demo_user("bob");
    out(bob);

    /* 1,000 changes within one millisecond: a burst's worth go out */
    for (int i = 0; i < 1000; i++) {
        text(ann, i % 2 == 0 ? "2[\"typing\"]" : "2[\"stop typing\"]", 2);
    }
    Strings got = with_prefix(bob, "42[\"");
    EXPECT_EQ(got.size(), static_cast<std::size_t>(chat::typing_burst));
    EXPECT_EQ(got.back(), "42[\"stop typing\",{\"username\":\"ann\"}]")
        << "an even burst ends where it began";

    /* a second later the budget is back: a human's typing gets through */
    text(ann, "2[\"typing\"]", 1002);
    text(ann, "2[\"stop typing\"]", 1402);
    got = with_prefix(bob, "42[\"");
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], "42[\"typing\",{\"username\":\"ann\"}]");
    EXPECT_EQ(got[1], "42[\"stop typing\",{\"username\":\"ann\"}]");
}
