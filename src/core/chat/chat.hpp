/*
 * The built-in chat (shared/chat-contract.md): three doors to a name, each
 * fixing the dialect a socket is spoken to in (classic: seed 000's
 * `login`; events: seed 003's `join`; demo: the official Socket.IO demo's
 * `add user`), posts that reach every other socket exactly once in its
 * dialect, announcements, `users`, private messages by key, and the relay
 * of configured events (seed 002's `tweet`).
 *
 * It never loops over sockets: a post is three broadcasts, one per dialect
 * room, each encoded once, through the namespace's adapter.
 */
#pragma once

#include "core/chat/directory.hpp"
#include "core/sio/handler.hpp"

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::sio {
class Adapter;
class Namespace;
}

namespace socketio::chat {

enum class Dialect { classic, events, demo };

/* typing notices a socket may make at once, and then a second */
inline constexpr std::int64_t typing_burst = 10;
inline constexpr std::int64_t typing_per_second = 5;

class Chat final : public sio::Handler {
public:
    Chat(Directory& directory, std::vector<std::string> relay_events);

    void on_connect(sio::Socket& socket,
                    const boost::json::value& auth) override;
    void on_event(sio::Socket& socket, const sio::Event& event) override;
    void on_disconnect(sio::Socket& socket, std::string_view reason) override;
    std::string save(const sio::Socket& socket) const override;
    void restore(sio::Socket& socket, std::string_view state) override;
    /* A recovered socket is the same user (restore() listed it again);
       back within the directory's grace, nobody hears of it. */
    void on_recovered(sio::Socket& socket,
                      const boost::json::value& auth) override;
    /* {key, name} of a named socket: what other servers' fetchSockets()
       see (the contract's "Several servers") */
    std::string data_json(const sio::Socket& socket) const override;

    /*
     * Users whose worker died, or who were away and did not come back in
     * time: they are gone from the directory already; the sockets that
     * listen are told, as if each had disconnected.
     */
    void users_gone(sio::Namespace& nsp, const std::vector<User>& users);

    static std::string_view room(Dialect d) noexcept;
    /* chat:user:KEY, where a user's private messages go */
    static std::string user_room(std::string_view key);

private:
    struct Member;

    void on_login(sio::Socket& s, Member& m, const sio::Event& e);
    void on_join(sio::Socket& s, Member& m, const sio::Event& e);
    void on_add_user(sio::Socket& s, Member& m, const sio::Event& e);
    void on_message(sio::Socket& s, Member& m, const sio::Event& e);
    void on_typing(sio::Socket& s, Member& m, std::string_view event);
    void tell_typing(sio::Socket& s, const Member& m, std::string_view event);
    void on_users(sio::Socket& s, const sio::Event& e);
    void on_private(sio::Socket& s, Member& m, const sio::Event& e);
    void relay(sio::Socket& s, const sio::Event& e);
    static std::string users_ack(const std::vector<User>& users);
    const std::string& local_users();
    /* fn(the socket of this id), if it is still here (an answer that
       took a round trip) */
    static void with_socket(sio::Adapter& adapter, const std::string& id,
                            const std::function<void(sio::Socket&)>& fn);

    /* what a door answers once the user is named and announced, with the
       number of users */
    using Then = std::function<void(sio::Socket&, std::size_t)>;
    void name(sio::Socket& s, Member& m, std::string name, Dialect d,
              Then then);
    void post(sio::Socket& s, const Member& m, std::string_view text);
    void announce_joined(sio::Socket& s, const Member& m, Then then);
    void announce_left(sio::Socket& s, const Member& m);

    /* one event to one room, the sender excepted */
    void to_room(sio::Socket& from, std::string_view room,
                 std::string_view event, std::string_view args_json);
    void to_room(sio::Adapter& adapter, std::string_view nsp,
                 std::string_view room, std::string_view event,
                 std::string_view args_json, std::string_view except);
    void announce_gone(sio::Adapter& adapter, std::string_view nsp,
                       std::string_view key, std::string_view name,
                       std::string_view except);

    Directory& directory_;
    std::set<std::string, std::less<>> relay_;

    /* the `users` answer, and the directory's version it was made of */
    std::string users_json_;
    std::uint64_t users_version_ = 0;
};

}  // namespace socketio::chat
