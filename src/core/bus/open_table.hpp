/*
 * Open addressing over a fixed array of entries in the zone: linear
 * probing from the key's hash, and backward-shift deletion (Knuth, TAOCP
 * vol. 3, 6.4, algorithm R), so that no tombstones pile up in a table that
 * lives as long as the zone. Shared by the session table and the user
 * directory; an entry has a `used` field, and `key_of(entry)` gives its key.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace socketio::bus {

/* FNV-1a: ids are random or short, a simple hash spreads them well. */
std::uint64_t hash_id(std::string_view s) noexcept;

/* The entry holding `key`, or the free one where it would go. */
template <typename Entry, typename KeyOf>
std::size_t probe(const Entry* e, std::size_t cap, std::string_view key,
                  KeyOf key_of) noexcept
{
    std::size_t i = hash_id(key) % cap;
    while (e[i].used && key_of(e[i]) != key) {
        i = (i + 1) % cap;
    }
    return i;
}

/* Empties entry i: the entries of the run after it that hash at or
   before it move back, so that every key stays on its probe path. */
template <typename Entry, typename KeyOf>
void erase_at(Entry* e, std::size_t cap, std::size_t i, KeyOf key_of) noexcept
{
    std::size_t hole = i;
    std::size_t j = i;
    for (;;) {
        j = (j + 1) % cap;
        if (!e[j].used) {
            break;
        }
        std::size_t home = hash_id(key_of(e[j])) % cap;
        bool movable = (hole <= j) ? (home <= hole || home > j)
                                   : (home <= hole && home > j);
        if (movable) {
            e[hole] = e[j];
            hole = j;
        }
    }
    std::memset(&e[hole], 0, sizeof(Entry));
}

}  // namespace socketio::bus
