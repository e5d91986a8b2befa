/*
 * What the tests of the shared-memory bus share: zone-sized buffers (a
 * plain aligned heap block for one process, a MAP_SHARED anonymous mapping
 * for several), child processes that report through their exit status,
 * and session ids.
 */
#pragma once

#include "core/bus/mutex.hpp"
#include "core/bus/table.hpp"
#include "core/bus/zone.hpp"

#include <sys/mman.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

namespace bustest {

using socketio::bus::Zone;

/* A page-aligned, zeroed heap block: a zone for one process. */
class Buffer {
public:
    explicit Buffer(std::size_t size) : size_(size)
    {
        std::size_t rounded = (size + 4095) / 4096 * 4096;
        p_ = static_cast<char*>(std::aligned_alloc(4096, rounded));
        if (p_ == nullptr) {
            throw std::bad_alloc();
        }
        std::memset(p_, 0, rounded);
    }
    ~Buffer() { std::free(p_); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    char* data() const { return p_; }
    std::size_t size() const { return size_; }

private:
    char* p_;
    std::size_t size_;
};

/* Memory that children made by fork() share with their parent. */
class SharedMap {
public:
    explicit SharedMap(std::size_t size) : size_(size)
    {
        void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            throw std::runtime_error("mmap failed");
        }
        p_ = static_cast<char*>(p);
    }
    ~SharedMap() { munmap(p_, size_); }
    SharedMap(const SharedMap&) = delete;
    SharedMap& operator=(const SharedMap&) = delete;

    char* data() const { return p_; }
    std::size_t size() const { return size_; }

private:
    char* p_;
    std::size_t size_;
};

/*
 * Runs `body` in a child process, which exits with what it returns (0:
 * all went well; anything else names what failed). A child stuck for more
 * than `limit` seconds dies of SIGALRM, so that a deadlock fails the test
 * instead of hanging it. Children never return into GoogleTest.
 */
template <typename F>
pid_t spawn(F&& body, unsigned limit = 20)
{
    pid_t pid = fork();
    if (pid == 0) {
        alarm(limit);
        int status = 100;
        try {
            status = body();
        } catch (...) {
            status = 101;
        }
        _exit(status);
    }
    return pid;
}

/* SIGALRM in `ms` milliseconds (replaces the alarm spawn() set). */
inline void alarm_ms(long ms)
{
    itimerval t{};
    t.it_value.tv_sec = ms / 1000;
    t.it_value.tv_usec = (ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &t, nullptr);
}

/* The child's exit status; 128 + the signal that killed it; -1 on error. */
inline int reap(pid_t pid)
{
    if (pid <= 0) {
        return -1;
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    if (WIFSIGNALED(st)) {
        return 128 + WTERMSIG(st);
    }
    return -1;
}

/* A random Engine.IO-like session id: 20 characters of base64url. */
inline std::string random_sid(std::mt19937_64& rng)
{
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string s(socketio::bus::sid_len, 'A');
    for (char& c : s) {
        c = alphabet[rng() % 64];
    }
    return s;
}

/* A fresh sid whose home bucket in a table of `cap` entries is `home`. */
inline std::string sid_with_home(std::mt19937_64& rng, std::size_t cap,
                                 std::size_t home)
{
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string s = random_sid(rng);
    for (;;) {
        std::uint64_t v = rng();          /* new last five characters */
        for (std::size_t i = s.size() - 5; i < s.size(); i++, v >>= 6) {
            s[i] = alphabet[v % 64];
        }
        if (socketio::bus::hash_id(s) % cap == home) {
            return s;
        }
    }
}

/* 64-bit FNV-1a, folded over the values a process saw, in order. */
class Fold {
public:
    void add(std::uint64_t v)
    {
        for (int i = 0; i < 8; i++) {
            h_ ^= (v >> (8 * i)) & 0xff;
            h_ *= 1099511628211ULL;
        }
    }
    std::uint64_t value() const { return h_; }

private:
    std::uint64_t h_ = 1469598103934665603ULL;
};

}  // namespace bustest
