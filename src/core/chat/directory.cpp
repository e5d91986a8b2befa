#include "core/chat/directory.hpp"

#include <algorithm>

namespace socketio::chat {

std::string key_from_counter(std::uint64_t n)
{
    static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string key;
    do {
        key.push_back(digits[n % 36]);
        n /= 36;
    } while (n != 0);
    key.push_back('u');
    std::reverse(key.begin(), key.end());
    return key;
}

std::string LocalDirectory::new_key()
{
    return key_from_counter(++next_);
}

void LocalDirectory::put(const User& user)
{
    users_[user.key] = user;
    version_++;
}

void LocalDirectory::remove(std::string_view key)
{
    auto it = users_.find(key);
    if (it != users_.end()) {
        users_.erase(it);
        version_++;
    }
}

std::optional<User> LocalDirectory::find(std::string_view key) const
{
    auto it = users_.find(key);
    if (it == users_.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::vector<User> LocalDirectory::list() const
{
    std::vector<User> out;
    out.reserve(users_.size());
    for (const auto& [key, user] : users_) {
        out.push_back(user);
    }
    return out;
}

}  // namespace socketio::chat
