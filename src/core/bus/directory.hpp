/*
 * The chat's users as every worker sees them: key, name, the socket's id
 * (its own room, where a private message goes) and the worker that holds
 * it, or `away_slot` and until when: a user whose connection went and
 * whose client may come back to the same socket (connection state
 * recovery) stays listed that long, whatever happens to the worker it
 * left. Fixed-size records in an open-addressing table keyed by the chat
 * key; callers hold the zone lock.
 */
#pragma once

#include "core/bus/zone.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::bus {

/* The slot of a user no worker holds: kept while away (see above). */
inline constexpr std::uint16_t away_slot = 0xfffe;

struct UserEntry {
    char key[16];
    char socket_id[24];
    char name[256];               /* 64 code points of UTF-8 at most */
    std::uint64_t order;          /* when it joined: the list's order */
    std::uint64_t away_until;     /* slot away_slot: listed until then (ms) */
    std::uint16_t used;
    std::uint16_t slot;
    std::uint16_t key_len;
    std::uint16_t socket_len;
    std::uint16_t name_len;
    std::uint16_t pad[3];
};
static_assert(sizeof(UserEntry) == 328);

struct UserRecord {
    std::string key;
    std::string name;
    std::string socket_id;
    std::uint16_t slot = 0;
    std::uint64_t order = 0;      /* when it joined: the list's order */
    std::uint64_t away_until = 0; /* slot away_slot: listed until then */
};

class Directory {
public:
    explicit Directory(const Zone& z) noexcept;

    /* Adds or renames; nullopt: full, or fields too long. The user's
       order (kept from its first put). */
    std::optional<std::uint64_t> put(const UserRecord& u) noexcept;
    bool remove(std::string_view key) noexcept;
    std::optional<UserRecord> find(std::string_view key) const;
    /* In the order they joined. */
    std::vector<UserRecord> list() const;
    /* The users in entries [from, to), appended to `out`: a copy a part
       at a time (see Header::dir_changes). */
    void copy(std::size_t from, std::size_t to,
              std::vector<UserRecord>& out) const;
    /* Removes and returns the users a slot held (its worker died) in
       entries [from, to), as SessionTable::erase_slot does. */
    std::vector<UserRecord> remove_slot(std::uint16_t slot,
                                        std::size_t from = 0,
                                        std::size_t to = SIZE_MAX);
    /* A slot's users (its worker died) kept away until `until`, in
       entries [from, to): the same walk as remove_slot(). */
    std::vector<UserRecord> away_slot_users(std::uint16_t slot,
                                            std::uint64_t until,
                                            std::size_t from = 0,
                                            std::size_t to = SIZE_MAX);
    /* Removes and returns the user if it is away and its time is up at
       `now`: one worker of those that look takes it. */
    std::optional<UserRecord> take_away(std::string_view key,
                                        std::uint64_t now) noexcept;
    std::size_t size() const noexcept;
    std::size_t capacity() const noexcept { return cap_; }

private:
    std::size_t probe(std::string_view key) const noexcept;
    void erase_at(std::size_t i) noexcept;
    static UserRecord record(const UserEntry& e);

    Header& h_;
    UserEntry* e_;
    std::size_t cap_;
};

}  // namespace socketio::bus
