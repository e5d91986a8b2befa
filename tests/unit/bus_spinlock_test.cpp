/*
 * bus::SpinLock across processes (fork() over a MAP_SHARED mapping):
 * mutual exclusion under contention, a holder that died taken over when
 * Liveness says so, and never while it says the holder lives. Every wait
 * that could hang runs in a child that an alarm kills.
 */
#include "bus_support.hpp"

#include "core/bus/spinlock.hpp"

#include <gtest/gtest.h>

#include <sched.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <vector>

using namespace socketio::bus;
using bustest::FakeLiveness;
using bustest::PidLiveness;
using bustest::reap;
using bustest::SharedMap;
using bustest::spawn;

namespace {

struct Shared {
    SpinLock lock;
    std::uint64_t counter;              /* plain: the lock guards it */
    std::atomic<std::uint32_t> inside;  /* holders right now */
    std::atomic<std::uint32_t> overlaps;
    std::atomic<std::uint32_t> holding; /* the holder has the lock */
    std::atomic<std::uint32_t> released;
    std::atomic<std::uint32_t> ready;
    std::atomic<std::uint32_t> asked;   /* Liveness questions */
};

/* Says every holder lives, and counts the questions where all can see. */
class AllAlive final : public Liveness {
public:
    explicit AllAlive(Shared& s) : s_(s) {}
    bool alive(std::uint32_t) const override
    {
        s_.asked.fetch_add(1);
        return true;
    }

private:
    Shared& s_;
};

/* what a critical section does: a read-modify-write torn apart */
void critical(Shared& s)
{
    if (s.inside.fetch_add(1) != 0) {
        s.overlaps.fetch_add(1);
    }
    std::uint64_t v = s.counter;
    asm volatile("" ::: "memory");
    if (v % 64 == 0) {
        sched_yield();                  /* be preempted while holding it */
    }
    s.counter = v + 1;
    s.inside.fetch_sub(1);
}

void pause_ms(long ms)
{
    timespec ts{0, ms * 1000000L};
    nanosleep(&ts, nullptr);
}

}  // namespace

TEST(BusSpinLock, LockAndUnlockInOneProcess)
{
    SpinLock l{};
    lock(l, 3, nullptr);
    EXPECT_EQ(l.word.load(), 3u);
    unlock(l);
    EXPECT_EQ(l.word.load(), 0u);
    {
        Guard g(l, 9, nullptr);
        EXPECT_EQ(l.word.load(), 9u);
    }
    EXPECT_EQ(l.word.load(), 0u);
}

TEST(BusSpinLock, ExcludesOtherProcesses)
{
    SharedMap map(sizeof(Shared));
    auto* s = new (map.data()) Shared{};
    const int procs = 4, rounds = 40000;

    std::vector<pid_t> kids;
    for (int i = 0; i < procs; i++) {
        kids.push_back(spawn([s, i] {
            FakeLiveness all_alive;
            s->ready.fetch_add(1);
            while (s->ready.load() < procs) {
            }
            for (int k = 0; k < rounds; k++) {
                if (k % 2 == 0) {
                    Guard g(s->lock, static_cast<std::uint32_t>(i + 1),
                            &all_alive);
                    critical(*s);
                } else {
                    lock(s->lock, static_cast<std::uint32_t>(i + 1), nullptr);
                    critical(*s);
                    unlock(s->lock);
                }
            }
            return 0;
        }));
    }
    for (pid_t k : kids) {
        EXPECT_EQ(reap(k), 0);
    }
    EXPECT_EQ(s->counter, static_cast<std::uint64_t>(procs) * rounds);
    EXPECT_EQ(s->overlaps.load(), 0u);
    EXPECT_EQ(s->lock.word.load(), 0u);
}

TEST(BusSpinLock, DeadHolderIsTakenOver)
{
    SharedMap map(sizeof(Shared));
    auto* s = new (map.data()) Shared{};

    /* takes the lock and dies with it */
    pid_t holder = spawn([s] {
        lock(s->lock, 77, nullptr);
        return 0;
    });
    ASSERT_EQ(reap(holder), 0);
    ASSERT_EQ(s->lock.word.load(), 77u);

    pid_t taker = spawn(
        [s] {
            FakeLiveness lv({77});
            lock(s->lock, 5, &lv);
            if (s->lock.word.load() != 5) {
                return 2;
            }
            if (lv.calls.load() == 0) {
                return 3;
            }
            critical(*s);
            unlock(s->lock);
            return 0;
        },
        5);
    EXPECT_EQ(reap(taker), 0) << "128 + 14: still waiting for the dead";
    EXPECT_EQ(s->lock.word.load(), 0u);
    EXPECT_EQ(s->counter, 1u);
}

TEST(BusSpinLock, DeadHolderFoundByItsPid)
{
    SharedMap map(sizeof(Shared));
    auto* s = new (map.data()) Shared{};

    pid_t holder = spawn([s] {
        lock(s->lock, static_cast<std::uint32_t>(getpid()), nullptr);
        return 0;
    });
    ASSERT_EQ(reap(holder), 0);       /* reaped: its pid is gone */
    ASSERT_EQ(s->lock.word.load(), static_cast<std::uint32_t>(holder));

    pid_t taker = spawn(
        [s] {
            PidLiveness lv;
            auto me = static_cast<std::uint32_t>(getpid());
            lock(s->lock, me, &lv);
            return s->lock.word.load() == me && lv.calls.load() > 0 ? 0 : 2;
        },
        5);
    EXPECT_EQ(reap(taker), 0);
}

TEST(BusSpinLock, ManyWaitersTakeOverADeadHolderOneAtATime)
{
    SharedMap map(sizeof(Shared));
    auto* s = new (map.data()) Shared{};
    pid_t holder = spawn([s] {
        lock(s->lock, 77, nullptr);
        return 0;
    });
    ASSERT_EQ(reap(holder), 0);

    const int procs = 3, rounds = 2000;
    std::vector<pid_t> kids;
    for (int i = 0; i < procs; i++) {
        kids.push_back(spawn(
            [s, i] {
                FakeLiveness lv({77});
                for (int k = 0; k < rounds; k++) {
                    Guard g(s->lock, static_cast<std::uint32_t>(i + 1), &lv);
                    critical(*s);
                }
                return 0;
            },
            10));
    }
    for (pid_t k : kids) {
        EXPECT_EQ(reap(k), 0);
    }
    EXPECT_EQ(s->counter, static_cast<std::uint64_t>(procs) * rounds);
    EXPECT_EQ(s->overlaps.load(), 0u);
}

TEST(BusSpinLock, LiveHolderIsWaitedFor)
{
    for (int by_pid = 0; by_pid < 2; by_pid++) {
        SCOPED_TRACE(by_pid ? "pid liveness" : "fake liveness");
        SharedMap map(sizeof(Shared));
        auto* s = new (map.data()) Shared{};

        /* holds the lock for a while, alive, then lets it go */
        pid_t holder = spawn(
            [s, by_pid] {
                auto tag = by_pid ? static_cast<std::uint32_t>(getpid()) : 77u;
                lock(s->lock, tag, nullptr);
                s->holding.store(1);
                pause_ms(60);
                s->released.store(1);
                unlock(s->lock);
                return 0;
            },
            5);

        pid_t waiter = spawn(
            [s, by_pid] {
                while (s->holding.load() == 0) {
                    sched_yield();
                }
                FakeLiveness fake({78});      /* someone else is dead */
                PidLiveness pid;
                const Liveness* lv = by_pid ? static_cast<const Liveness*>(&pid)
                                            : &fake;
                auto me = static_cast<std::uint32_t>(getpid());
                lock(s->lock, me, lv);
                int rc = 0;
                if (s->released.load() == 0) {
                    rc = 2;                   /* took it from the living */
                } else if ((by_pid ? pid.calls.load() : fake.calls.load())
                           == 0)
                {
                    rc = 3;                   /* never asked */
                }
                unlock(s->lock);
                return rc;
            },
            5);

        EXPECT_EQ(reap(waiter), 0);
        EXPECT_EQ(reap(holder), 0);
        EXPECT_EQ(s->lock.word.load(), 0u);
    }
}

TEST(BusSpinLock, LiveHolderIsNotTakenOverWithinABoundedWait)
{
    /* the holder never lets go while the waiter tries: the waiter must
       still be waiting when the alarm ends it */
    SharedMap map(sizeof(Shared));
    auto* s = new (map.data()) Shared{};
    pid_t holder = spawn(
        [s] {
            lock(s->lock, 77, nullptr);
            s->holding.store(1);
            while (s->released.load() == 0) {
                pause_ms(1);
            }
            unlock(s->lock);
            return 0;
        },
        5);
    while (s->holding.load() == 0) {
        sched_yield();
    }
    pid_t waiter = spawn(
        [s] {
            bustest::alarm_ms(1000);   /* generous: a loaded machine schedules late */
            AllAlive lv(*s);
            lock(s->lock, 5, &lv);
            return 2;                        /* must not get here */
        },
        5);
    EXPECT_EQ(reap(waiter), 128 + SIGALRM);
    EXPECT_GT(s->asked.load(), 0u) << "waited without asking";
    EXPECT_EQ(s->lock.word.load(), 77u);
    s->released.store(1);
    EXPECT_EQ(reap(holder), 0);
    EXPECT_EQ(s->lock.word.load(), 0u);
}
