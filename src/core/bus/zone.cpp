#include "core/bus/zone.hpp"

#include "core/bus/directory.hpp"
#include "core/bus/table.hpp"

#include <cstring>
#include <new>

namespace socketio::bus {

bool LifeLocks::take(Slot& s) noexcept
{
    /* a holder that died is as good as none: its slot was cleaned */
    return try_hold(s.life) != Holder::alive;
}

void LifeLocks::give_back(Slot& s) noexcept
{
    unlock(s.life);
}

bool LifeLocks::alive(Slot& s) noexcept
{
    if (try_hold(s.life) == Holder::alive) {
        return true;
    }

    /* nobody holds it, or nobody will again: let it go for the next */
    unlock(s.life);
    return false;
}

namespace {

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) noexcept
{
    return (v + a - 1) / a * a;
}

}  // namespace

bool Zone::attach(void* base, std::size_t size, bool fresh,
                  std::uint64_t id) noexcept
{
    if (size < min_size || base == nullptr) {
        return false;
    }

    base_ = static_cast<char*>(base);
    size_ = size;
    header_ = reinterpret_cast<Header*>(base_);

    if (!fresh) {
        return header_->magic == zone_magic
               && header_->version == zone_version && header_->size == size;
    }

    std::memset(base_, 0, sizeof(Header));
    Header* h = new (base_) Header;

    /*
     * The log gets half the zone: it is what traffic needs. The rest is
     * shared by the session table (32 bytes a session) and the directory
     * (328 bytes a user), sized for as many users as sessions / 4.
     */
    std::uint64_t off = align_up(sizeof(Header), 64);
    std::uint64_t rest = size - off;
    std::uint64_t log_cap = align_up(rest / 2, 8);
    if (log_cap > rest) {
        log_cap = rest / 2 / 8 * 8;
    }
    std::uint64_t tables = rest - log_cap;
    std::uint64_t per = sizeof(SessionEntry) * 4 + sizeof(UserEntry);
    std::uint64_t n = tables / per;

    h->table_off = off;
    h->table_cap = n * 4;
    off = align_up(off + h->table_cap * sizeof(SessionEntry), 64);
    h->dir_off = off;
    h->dir_cap = n;
    off = align_up(off + h->dir_cap * sizeof(UserEntry), 64);
    h->log_off = off;
    h->log_cap = (size - off) / 8 * 8;

    std::memset(base_ + h->table_off, 0, h->table_cap * sizeof(SessionEntry));
    std::memset(base_ + h->dir_off, 0, h->dir_cap * sizeof(UserEntry));

    if (!init(h->lock) || !init(h->log.lock)) {
        return false;
    }

    for (auto& s : h->slots) {
        if (!init(s.life)) {
            return false;
        }
        s.pin.store(no_pin, std::memory_order_relaxed);
        s.replay_pin.store(no_pin, std::memory_order_relaxed);
        s.scan_pin.store(no_pin, std::memory_order_relaxed);
        s.writing.store(no_pin, std::memory_order_relaxed);
    }

    h->size = size;
    h->id = id;
    /* offsets of another zone (or of this one before a restart) are
       not mistaken for ours: they start from this zone's id */
    h->log.next_offset.store((id >> 16) | 1, std::memory_order_relaxed);
    h->version = zone_version;
    std::atomic_thread_fence(std::memory_order_release);
    h->magic = zone_magic;
    return true;
}

}  // namespace socketio::bus
