/*
 * The chat's directory over the zone: keys from one counter for all
 * workers (unique, never reused while the zone lives, reloads included),
 * users every worker sees, and numUsers counting all of them.
 *
 * The zone's table is the truth a worker reads when it starts; after
 * that each worker keeps its own copy, told of every change through the
 * log in one order. So `users` and a private message's lookup read this
 * worker's memory, never the zone under its lock, and the list is made
 * once per change however often it is asked for.
 */
#pragma once

#include "core/chat/directory.hpp"
#include "core/cluster/node.hpp"

#include <map>
#include <set>
#include <string>
#include <unordered_map>

namespace socketio::cluster {

class SharedDirectory final : public chat::Directory, public UserListener {
public:
    explicit SharedDirectory(Node& node);
    ~SharedDirectory() override;

    SharedDirectory(const SharedDirectory&) = delete;
    SharedDirectory& operator=(const SharedDirectory&) = delete;

    /* chat::Directory */
    std::string new_key() override;
    void put(const chat::User& user) override;
    void remove(std::string_view key) override;
    bool set_away(const chat::User& user) override;
    bool come_back(const chat::User& user) override;
    std::optional<chat::User> find(std::string_view key) const override;
    std::vector<chat::User> list() const override;
    std::size_t count() const override;
    std::uint64_t version() const override { return version_; }

    /* UserListener */
    void reload() override;
    void user_put(const bus::UserRecord& u) override;
    void user_removed(std::string_view key) override;
    void slot_gone(std::uint16_t slot) override;
    std::vector<std::string> away_due(eio::Millis now) override;
    eio::Millis next_away() const override;

private:
    struct Entry {
        std::string name;
        std::string socket_id;
        std::uint16_t slot;
        std::uint64_t order;
        std::uint64_t away_until;
    };

    /* put() with this worker's slot, or away */
    void put_as(const chat::User& user, std::uint16_t slot,
                std::uint64_t away_until, bool* listed);
    void apply_put(const bus::UserRecord& u);
    void apply_remove(std::string_view key);
    void erase(std::unordered_map<std::string, Entry>::iterator it);

    Node& node_;
    std::unordered_map<std::string, Entry> users_;
    std::map<std::uint64_t, std::string> order_;   /* the list's order */
    /* the away users, by when their time is up */
    std::set<std::pair<std::uint64_t, std::string>> away_;
    std::uint64_t version_ = 0;
};

}  // namespace socketio::cluster
