/*
 * The chat's directory when the server is one member of a cluster over
 * Redis (shared/chat-contract.md, "Several servers"): keys from the
 * cluster's counter (INCRBY <key>-chat#key, a block at a time), and
 * `users`, `numUsers` and the target of a private message asked of every
 * member (the adapter's fetchSockets(): a socket's data is {key, name}).
 * This node's own users are the shared directory's, which answers alone
 * while Redis is out of reach; keys made then carry this node's tag and
 * a '.', so that they never equal one of the counter's.
 *
 * Questions asked while one is on its way share its answer: a client
 * asking `users` as fast as it can costs the cluster one question per
 * round trip, not one per ask.
 */
#pragma once

#include "core/chat/directory.hpp"
#include "core/eio/config.hpp"
#include "core/redis/member.hpp"

#include <functional>
#include <string>
#include <vector>

namespace socketio::redis {

class Directory final : public chat::Directory {
public:
    /* `node`: short text unique to this node, for the keys made alone */
    Directory(chat::Directory& local, Member& member, std::string node,
              std::function<eio::Millis()> clock);

    std::string new_key() override;
    void put(const chat::User& user) override { local_.put(user); }
    void remove(std::string_view key) override { local_.remove(key); }
    bool set_away(const chat::User& user) override
    {
        return local_.set_away(user);
    }
    bool come_back(const chat::User& user) override
    {
        return local_.come_back(user);
    }
    std::optional<chat::User> find(std::string_view key) const override
    {
        return local_.find(key);
    }
    std::vector<chat::User> list() const override { return local_.list(); }
    std::size_t count() const override { return local_.count(); }
    std::uint64_t version() const override { return local_.version(); }

    bool cluster_wide() const override { return member_.connected(); }
    void all_users(std::function<void(Users)> done) override;
    void count_all(std::function<void(std::size_t)> done) override;
    void exists(std::string_view key, std::function<void(bool)> done) override;

private:
    /* the named sockets of every member, for whoever asked meanwhile */
    void ask(std::function<void(Users)> done);
    void start();

    chat::Directory& local_;
    Member& member_;
    std::string node_;
    std::function<eio::Millis()> clock_;
    std::vector<std::function<void(Users)>> waiting_;   /* the one asked */
    std::vector<std::function<void(Users)>> next_;      /* the next one */
    bool asking_ = false;
};

}  // namespace socketio::redis
