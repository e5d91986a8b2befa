/*
 * The chat's directory over the zone: keys from one counter for all
 * workers (unique, never reused while the zone lives, reloads included),
 * users every worker sees, and numUsers counting all of them.
 */
#pragma once

#include "core/chat/directory.hpp"
#include "core/cluster/node.hpp"

namespace socketio::cluster {

class SharedDirectory final : public chat::Directory {
public:
    explicit SharedDirectory(Node& node) : node_(node) {}

    std::string new_key() override;
    void put(const chat::User& user) override;
    void remove(std::string_view key) override;
    std::optional<chat::User> find(std::string_view key) const override;
    std::vector<chat::User> list() const override;
    std::size_t count() const override;

private:
    std::uint32_t tag() const noexcept { return node_.slot() + 1u; }

    Node& node_;
};

}  // namespace socketio::cluster
