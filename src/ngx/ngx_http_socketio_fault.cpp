/*
 * Copyright (C) the ngx_http_socketio_module authors
 *
 * Fault injection, for a test build only (cmake -DSOCKETIO_FAULTS=ON; the
 * `config` script never builds it): operator new fails when a countdown
 * in a file that the test and every worker map reaches zero, so that a
 * test can make the Nth allocation from now fail wherever it falls, and
 * check that the module answers the affected client with an error or a
 * close and goes on (t/faults.test.js, t/run-faults.sh).
 *
 * The file is named by $SOCKETIO_FAULT_FILE (nginx.conf: `env
 * SOCKETIO_FAULT_FILE=...;`) and holds three 64-bit counters: the
 * countdown (0: no fault), the faults made, and the allocations seen.
 * The module is linked with -Bsymbolic-functions in that build, so that
 * its own calls reach this operator new even when a sanitizer's runtime
 * is preloaded with its own.
 */

#include "ngx/ngx.hpp"

#if (NGX_HTTP_SOCKETIO_FAULTS)

#include <execinfo.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>


namespace {

struct ngx_http_socketio_fault_state_t {
    std::atomic<std::int64_t>  countdown;
    std::atomic<std::int64_t>  injected;
    std::atomic<std::int64_t>  allocations;
};

ngx_http_socketio_fault_state_t  *ngx_http_socketio_fault_state;
ngx_pid_t                         ngx_http_socketio_fault_pid = -1;


/*
 * The mapping, made once per process that finds the variable (a worker
 * sees nginx's `env` only once it has set its environment up: until then
 * each allocation looks again). No allocation in here.
 */
ngx_http_socketio_fault_state_t *
ngx_http_socketio_fault_map() noexcept
{
    if (ngx_http_socketio_fault_pid == ngx_pid
        && ngx_http_socketio_fault_state != NULL)
    {
        return ngx_http_socketio_fault_state;
    }

    const char *path = getenv("SOCKETIO_FAULT_FILE");
    if (path == NULL) {
        return NULL;
    }

    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        return NULL;
    }

    void *p = mmap(NULL, sizeof(ngx_http_socketio_fault_state_t),
                   PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);

    if (p == MAP_FAILED) {
        return NULL;
    }

    ngx_http_socketio_fault_state =
        static_cast<ngx_http_socketio_fault_state_t *>(p);
    ngx_http_socketio_fault_pid = ngx_pid;

    return ngx_http_socketio_fault_state;
}


/*
 * Where it failed, in the error log (nginx's stderr, not the sanitizer's
 * log, which a test reads as a report): a test that sees a client hurt
 * can name the allocation (addr2line on the module's offsets). Nothing
 * here goes through operator new.
 */
void
ngx_http_socketio_fault_trace() noexcept
{
    static const char   mark[] = "socketio: fault injected at:\n";
    void               *frames[32];

    (void) !write(STDERR_FILENO, mark, sizeof(mark) - 1);
    backtrace_symbols_fd(frames, backtrace(frames, 32), STDERR_FILENO);
}


/* true: this allocation is the one that fails */
bool
ngx_http_socketio_fault_now() noexcept
{
    ngx_http_socketio_fault_state_t *f = ngx_http_socketio_fault_map();

    if (f == NULL) {
        return false;
    }

    f->allocations.fetch_add(1, std::memory_order_relaxed);

    std::int64_t v = f->countdown.load(std::memory_order_relaxed);

    while (v > 0) {
        if (f->countdown.compare_exchange_weak(v, v - 1,
                                               std::memory_order_relaxed))
        {
            if (v == 1) {
                f->injected.fetch_add(1, std::memory_order_relaxed);
                ngx_http_socketio_fault_trace();
                return true;
            }
            break;
        }
    }

    return false;
}


void *
ngx_http_socketio_fault_alloc(std::size_t size, std::size_t align)
{
    void  *p;

    if (ngx_http_socketio_fault_now()) {
        throw std::bad_alloc();
    }

    if (size == 0) {
        size = 1;
    }

    if (align <= alignof(std::max_align_t)) {
        p = std::malloc(size);

    } else {
        p = std::aligned_alloc(align, (size + align - 1) / align * align);
    }

    if (p == NULL) {
        throw std::bad_alloc();
    }

    return p;
}

}  // namespace


void *
operator new(std::size_t size)
{
    return ngx_http_socketio_fault_alloc(size, 0);
}


void *
operator new[](std::size_t size)
{
    return ngx_http_socketio_fault_alloc(size, 0);
}


void *
operator new(std::size_t size, std::align_val_t align)
{
    return ngx_http_socketio_fault_alloc(size,
                                         static_cast<std::size_t>(align));
}


void *
operator new[](std::size_t size, std::align_val_t align)
{
    return ngx_http_socketio_fault_alloc(size,
                                         static_cast<std::size_t>(align));
}


void *
operator new(std::size_t size, const std::nothrow_t &) noexcept
{
    try {
        return ngx_http_socketio_fault_alloc(size, 0);

    } catch (...) {
        return NULL;
    }
}


void *
operator new[](std::size_t size, const std::nothrow_t &) noexcept
{
    try {
        return ngx_http_socketio_fault_alloc(size, 0);

    } catch (...) {
        return NULL;
    }
}


void operator delete(void *p) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::size_t) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, std::size_t, std::align_val_t) noexcept
{
    std::free(p);
}
void operator delete[](void *p, std::size_t, std::align_val_t) noexcept
{
    std::free(p);
}
void operator delete(void *p, const std::nothrow_t &) noexcept
{
    std::free(p);
}
void operator delete[](void *p, const std::nothrow_t &) noexcept
{
    std::free(p);
}

#endif
