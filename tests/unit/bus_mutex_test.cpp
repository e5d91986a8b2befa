/*
 * bus::Mutex across processes (fork() over a MAP_SHARED mapping): mutual
 * exclusion under contention, a holder that died (exited, or was killed
 * with -9 while it held the lock) taken over with the news that it died,
 * even when its pid is reused, a live holder waited for, and the slot
 * life locks of LifeLocks. Every wait that could hang runs in a child that
 * an alarm kills.
 */
#include "bus_support.hpp"

#include "core/bus/mutex.hpp"
#include "core/bus/zone.hpp"

#include <gtest/gtest.h>

#include <sched.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <vector>

using namespace socketio::bus;
using bustest::reap;
using bustest::SharedMap;
using bustest::spawn;

namespace {

struct Shared {
    Mutex lock;
    std::uint64_t counter;              /* plain: the lock guards it */
    std::atomic<std::uint32_t> inside;  /* holders right now */
    std::atomic<std::uint32_t> overlaps;
    std::atomic<std::uint32_t> holding; /* the holder has the lock */
    std::atomic<std::uint32_t> released;
    std::atomic<std::uint32_t> ready;
    std::atomic<std::uint32_t> recovered;
};

Shared* make_shared_state(SharedMap& map)
{
    auto* s = new (map.data()) Shared{};
    EXPECT_TRUE(init(s->lock));
    return s;
}

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

TEST(BusMutex, LockAndUnlockInOneProcess)
{
    SharedMap map(sizeof(Shared));
    Shared* s = make_shared_state(map);

    EXPECT_FALSE(lock(s->lock));
    EXPECT_EQ(try_hold(s->lock), Holder::alive);
    unlock(s->lock);
    {
        Guard g(s->lock);
        EXPECT_FALSE(g.recovered());
    }
    EXPECT_EQ(try_hold(s->lock), Holder::none);
    unlock(s->lock);
}

TEST(BusMutex, ExcludesOtherProcesses)
{
    SharedMap map(sizeof(Shared));
    Shared* s = make_shared_state(map);
    const int procs = 4, rounds = 40000;

    std::vector<pid_t> kids;
    for (int i = 0; i < procs; i++) {
        kids.push_back(spawn([s] {
            s->ready.fetch_add(1);
            while (s->ready.load() < procs) {
            }
            for (int k = 0; k < rounds; k++) {
                if (k % 2 == 0) {
                    Guard g(s->lock);
                    critical(*s);
                } else {
                    lock(s->lock);
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
    EXPECT_EQ(try_hold(s->lock), Holder::none);
    unlock(s->lock);
}

TEST(BusMutex, HolderThatExitsIsTakenOverAndSaysSo)
{
    SharedMap map(sizeof(Shared));
    Shared* s = make_shared_state(map);

    /* takes the lock and exits with it */
    pid_t holder = spawn([s] {
        lock(s->lock);
        s->counter = 41;
        return 0;
    });
    ASSERT_EQ(reap(holder), 0);

    pid_t taker = spawn(
        [s] {
            Guard g(s->lock);
            if (!g.recovered()) {
                return 2;                 /* not told that it died */
            }
            critical(*s);
            return 0;
        },
        5);
    EXPECT_EQ(reap(taker), 0) << "128 + 14: still waiting for the dead";
    EXPECT_EQ(s->counter, 42u);

    /* consistent again: the next one takes it as usual */
    Guard g(s->lock);
    EXPECT_FALSE(g.recovered());
}

TEST(BusMutex, HolderKilledWhileOthersWaitWakesOneOfThem)
{
    SharedMap map(sizeof(Shared));
    Shared* s = make_shared_state(map);

    pid_t holder = spawn(
        [s] {
            lock(s->lock);
            s->holding.store(1);
            for (;;) {
                pause_ms(100);            /* until killed */
            }
            return 0;
        },
        10);
    while (s->holding.load() == 0) {
        sched_yield();
    }

    const int procs = 3, rounds = 2000;
    std::vector<pid_t> kids;
    for (int i = 0; i < procs; i++) {
        kids.push_back(spawn(
            [s] {
                s->ready.fetch_add(1);
                for (int k = 0; k < rounds; k++) {
                    Guard g(s->lock);
                    if (g.recovered()) {
                        s->recovered.fetch_add(1);
                    }
                    critical(*s);
                }
                return 0;
            },
            10));
    }
    while (s->ready.load() < procs) {
        sched_yield();
    }
    pause_ms(20);                         /* they wait on it now */
    kill(holder, SIGKILL);
    EXPECT_EQ(reap(holder), 128 + SIGKILL);

    for (pid_t k : kids) {
        EXPECT_EQ(reap(k), 0);
    }
    EXPECT_EQ(s->counter, static_cast<std::uint64_t>(procs) * rounds);
    EXPECT_EQ(s->overlaps.load(), 0u);
    EXPECT_EQ(s->recovered.load(), 1u) << "exactly one waiter is told";
}

TEST(BusMutex, ReusedPidDoesNotFoolIt)
{
    /*
     * The holder dies; a process with its pid may exist by the time a
     * waiter looks (pids are reused). The kernel's "owner died" is about
     * the thread, not the number: reap the holder, fork until a child
     * gets the same pid or give up looking, and take the lock anyway.
     */
    SharedMap map(sizeof(Shared));
    Shared* s = make_shared_state(map);

    pid_t holder = spawn([s] {
        lock(s->lock);
        return 0;
    });
    ASSERT_EQ(reap(holder), 0);

    pid_t same = -1;
    for (int i = 0; i < 200 && same < 0; i++) {
        pid_t p = spawn([] {
            pause_ms(400);
            return 0;
        });
        if (p == holder) {
            same = p;
        } else {
            kill(p, SIGKILL);
            reap(p);
        }
    }

    pid_t taker = spawn(
        [s] {
            Guard g(s->lock);
            return g.recovered() ? 0 : 2;
        },
        5);
    EXPECT_EQ(reap(taker), 0);
    if (same > 0) {
        reap(same);
    }
}

TEST(BusMutex, LiveHolderIsWaitedFor)
{
    SharedMap map(sizeof(Shared));
    Shared* s = make_shared_state(map);

    /* holds the lock for a while, alive, then lets it go */
    pid_t holder = spawn(
        [s] {
            lock(s->lock);
            s->holding.store(1);
            pause_ms(60);
            s->released.store(1);
            unlock(s->lock);
            return 0;
        },
        5);

    pid_t waiter = spawn(
        [s] {
            while (s->holding.load() == 0) {
                sched_yield();
            }
            Guard g(s->lock);
            if (s->released.load() == 0) {
                return 2;                 /* took it from the living */
            }
            return g.recovered() ? 3 : 0;
        },
        5);

    EXPECT_EQ(reap(waiter), 0);
    EXPECT_EQ(reap(holder), 0);
}

TEST(BusMutex, TryHoldTellsNoneAliveAndDead)
{
    SharedMap map(sizeof(Shared));
    Shared* s = make_shared_state(map);

    EXPECT_EQ(try_hold(s->lock), Holder::none);
    unlock(s->lock);

    pid_t holder = spawn(
        [s] {
            lock(s->lock);
            s->holding.store(1);
            while (s->released.load() == 0) {
                pause_ms(1);
            }
            return 0;                     /* exits holding it */
        },
        5);
    while (s->holding.load() == 0) {
        sched_yield();
    }
    EXPECT_EQ(try_hold(s->lock), Holder::alive);
    s->released.store(1);
    EXPECT_EQ(reap(holder), 0);
    EXPECT_EQ(try_hold(s->lock), Holder::dead);
    unlock(s->lock);
    EXPECT_EQ(try_hold(s->lock), Holder::none);
    unlock(s->lock);
}

TEST(BusMutex, LifeLocksTellAWorkerThatDiedFromOneThatLives)
{
    SharedMap map(Zone::min_size);
    Zone z;
    ASSERT_TRUE(z.attach(map.data(), map.size(), true, 1));
    LifeLocks life;

    Slot& a = z.slot(0);
    Slot& b = z.slot(1);
    SharedMap flags(sizeof(std::atomic<std::uint32_t>));
    auto* flag = new (flags.data()) std::atomic<std::uint32_t>{0};

    /* a takes slot 0 and lives; b takes slot 1 and is killed */
    pid_t pa = spawn(
        [&] {
            if (!life.take(a)) {
                return 2;
            }
            flag->fetch_add(1);
            for (;;) {
                pause_ms(50);
            }
            return 0;
        },
        10);
    pid_t pb = spawn(
        [&] {
            if (!life.take(b)) {
                return 2;
            }
            flag->fetch_add(1);
            for (;;) {
                pause_ms(50);
            }
            return 0;
        },
        10);
    while (flag->load() < 2) {
        sched_yield();
    }

    EXPECT_TRUE(life.alive(a));
    EXPECT_TRUE(life.alive(b));
    EXPECT_FALSE(life.take(a)) << "a live worker's slot is not free";

    kill(pb, SIGKILL);
    EXPECT_EQ(reap(pb), 128 + SIGKILL);
    EXPECT_TRUE(life.alive(a));
    EXPECT_FALSE(life.alive(b));
    EXPECT_TRUE(life.take(b)) << "a dead worker's slot can be taken";
    life.give_back(b);

    kill(pa, SIGKILL);
    EXPECT_EQ(reap(pa), 128 + SIGKILL);
    EXPECT_FALSE(life.alive(a));
}
