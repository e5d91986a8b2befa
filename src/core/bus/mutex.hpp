/*
 * Locks that several processes share through memory they all map: POSIX
 * process-shared robust mutexes (POSIX.1-2008 pthread_mutexattr_setrobust).
 *
 * Why robust mutexes: a worker killed with -9 inside a critical section
 * must not stop the others, and telling a dead holder from a slow one by
 * its pid is fooled when the pid is reused. The kernel keeps a list of
 * the robust mutexes each thread holds and, when the thread dies however
 * it dies, marks them "owner died" and wakes one waiter: that rule knows
 * which process died, whatever became of its pid. Waiting is a futex
 * sleep, never a spin that takes the CPU from the holder.
 *
 * The same mechanism tells whether a worker lives at all: each worker
 * holds its slot's `life` mutex for as long as it runs (see Liveness).
 */
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace socketio::bus {

static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "shared memory needs address-free atomics");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "shared memory needs address-free atomics");

struct Mutex {
    pthread_mutex_t m;
};

/* Makes a mutex process-shared and robust (when a zone is laid out). */
bool init(Mutex& mx) noexcept;

/*
 * Takes the lock. true: its last holder died holding it; the data it
 * guards may be half-changed, and the caller owns it now (the lock is
 * made consistent again, so that it stays usable).
 */
bool lock(Mutex& mx) noexcept;
void unlock(Mutex& mx) noexcept;

class Guard {
public:
    explicit Guard(Mutex& mx) noexcept : mx_(mx), recovered_(lock(mx_)) {}
    ~Guard() { unlock(mx_); }

    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

    /* The previous holder died holding it. */
    bool recovered() const noexcept { return recovered_; }

private:
    Mutex& mx_;
    bool recovered_;
};

/* What try_hold() found. */
enum class Holder {
    none,    /* nobody held it: now the caller does */
    alive,   /* someone holds it, and lives */
    dead,    /* its holder died: now the caller holds it */
};

/* Takes the lock if it can at once. */
Holder try_hold(Mutex& mx) noexcept;

}  // namespace socketio::bus
