/*
 * A lock that several processes share through memory they all map: one
 * 32-bit atomic word (address-free, as the standard guarantees for
 * lock-free atomics), holding the tag of its holder so that a holder that
 * died (a worker killed with -9) can be told from a slow one and its lock
 * taken back. Critical sections under it are a few loads and stores.
 */
#pragma once

#include <atomic>
#include <cstdint>

namespace socketio::bus {

static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "shared memory needs address-free atomics");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "shared memory needs address-free atomics");

/* Tells whether the process holding a lock still exists. */
class Liveness {
public:
    virtual ~Liveness() = default;
    virtual bool alive(std::uint32_t tag) const = 0;
};

struct SpinLock {
    std::atomic<std::uint32_t> word;    /* 0: free; else the holder's tag */
};

/* Takes the lock as `tag` (never 0). */
void lock(SpinLock& l, std::uint32_t tag, const Liveness* liveness) noexcept;
void unlock(SpinLock& l) noexcept;

class Guard {
public:
    Guard(SpinLock& l, std::uint32_t tag, const Liveness* liveness) noexcept
        : l_(l)
    {
        lock(l_, tag, liveness);
    }
    ~Guard() { unlock(l_); }

    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

private:
    SpinLock& l_;
};

}  // namespace socketio::bus
