/*
 * Who is named in the chat, server-wide (shared/chat-contract.md, "Who is
 * who"): keys unique among connected users and never reused, the list that
 * `users` answers, the count that `numUsers` reports. This in-process
 * directory serves one worker; a shared-memory one serves all of them
 * behind the same interface.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::chat {

struct User {
    std::string key;
    std::string name;
    std::string socket_id;   /* the socket's own room: where to reach it */
};

class Directory {
public:
    virtual ~Directory() = default;

    virtual std::string new_key() = 0;
    /* Adds the user, or renames it when the key is known. */
    virtual void put(const User& user) = 0;
    virtual void remove(std::string_view key) = 0;
    /*
     * Connection state recovery: the user's connection went, and its
     * client may come back to the same socket. true: it stays listed for
     * a grace (the directory tells it gone if it does not come back);
     * false: this directory keeps nobody away, the caller removes it.
     */
    virtual bool set_away(const User& /* user */) { return false; }
    /* The user's socket is here again: listed as here. true: it had
       stayed listed all along, so nobody was told it left. */
    virtual bool come_back(const User& user)
    {
        bool listed = find(user.key).has_value();
        put(user);
        return listed;
    }
    virtual std::optional<User> find(std::string_view key) const = 0;
    virtual std::vector<User> list() const = 0;
    virtual std::size_t count() const = 0;
    /* Changes whenever list() would answer differently: what is made of
       the list is made again only then. */
    virtual std::uint64_t version() const = 0;

    /*
     * The same questions about every server of a cluster (the contract's
     * "Several servers"): the answer may take a round trip, and comes to
     * `done`, at once when nothing is to be asked of others. `local` in
     * the answer: it is this server's own (list() and count() hold).
     */
    struct Users {
        std::vector<User> users;
        bool local = true;
    };
    /* Whether all_users() and the others ask other servers now. */
    virtual bool cluster_wide() const { return false; }
    virtual void all_users(std::function<void(Users)> done)
    {
        done(Users{list(), true});
    }
    virtual void count_all(std::function<void(std::size_t)> done)
    {
        done(count());
    }
    virtual void exists(std::string_view key, std::function<void(bool)> done)
    {
        done(find(key).has_value());
    }
};

class LocalDirectory final : public Directory {
public:
    std::string new_key() override;
    void put(const User& user) override;
    void remove(std::string_view key) override;
    std::optional<User> find(std::string_view key) const override;
    std::vector<User> list() const override;
    std::size_t count() const override { return users_.size(); }
    std::uint64_t version() const override { return version_; }

private:
    std::uint64_t next_ = 0;
    std::uint64_t version_ = 0;
    std::map<std::string, User, std::less<>> users_;
};

/* A key from a counter: short, and never the same twice. */
std::string key_from_counter(std::uint64_t n);

}  // namespace socketio::chat
