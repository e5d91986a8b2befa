/*
 * The nginx headers, for C++: nginx is C and knows nothing of C++ linkage
 * or exceptions. The functions the glue gives nginx to call are C++
 * functions with nginx's signatures (GCC and Clang call them as C ones);
 * each is noexcept and lets no exception out (ngx_http_socketio_seam()).
 */
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}
