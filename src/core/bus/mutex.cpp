#include "core/bus/mutex.hpp"

#include <cerrno>

namespace socketio::bus {

bool init(Mutex& mx) noexcept
{
    pthread_mutexattr_t attr;

    if (pthread_mutexattr_init(&attr) != 0) {
        return false;
    }

    bool ok = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0
              && pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0
              && pthread_mutex_init(&mx.m, &attr) == 0;

    pthread_mutexattr_destroy(&attr);
    return ok;
}

bool lock(Mutex& mx) noexcept
{
    int rc = pthread_mutex_lock(&mx.m);

    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&mx.m);
        return true;
    }

    return false;
}

void unlock(Mutex& mx) noexcept
{
    pthread_mutex_unlock(&mx.m);
}

Holder try_hold(Mutex& mx) noexcept
{
    switch (pthread_mutex_trylock(&mx.m)) {

    case 0:
        return Holder::none;

    case EOWNERDEAD:
        pthread_mutex_consistent(&mx.m);
        return Holder::dead;

    default:
        /* EBUSY: held (by a live thread: a dead one's would say so) */
        return Holder::alive;
    }
}

}  // namespace socketio::bus
