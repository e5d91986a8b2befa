#include "core/bus/spinlock.hpp"

#include <thread>

namespace socketio::bus {
namespace {

inline void cpu_relax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace

void lock(SpinLock& l, std::uint32_t tag, const Liveness* liveness) noexcept
{
    for (std::uint32_t spins = 0;; spins++) {
        std::uint32_t holder = l.word.load(std::memory_order_relaxed);

        if (holder == 0) {
            if (l.word.compare_exchange_weak(holder, tag,
                                             std::memory_order_acquire,
                                             std::memory_order_relaxed))
            {
                return;
            }
            continue;
        }

        if (spins < 128) {
            cpu_relax();
            continue;
        }

        /* held for long: let the holder run, and see that it still lives */
        std::this_thread::yield();

        if (liveness != nullptr && spins % 256 == 0
            && !liveness->alive(holder))
        {
            /* its holder died inside a few stores: take it over */
            l.word.compare_exchange_strong(holder, tag,
                                           std::memory_order_acquire,
                                           std::memory_order_relaxed);
            if (l.word.load(std::memory_order_relaxed) == tag) {
                return;
            }
        }
    }
}

void unlock(SpinLock& l) noexcept
{
    l.word.store(0, std::memory_order_release);
}

}  // namespace socketio::bus
