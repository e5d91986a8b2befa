/*
 * The nginx headers, for C++: nginx is C and knows nothing of C++ linkage.
 * Every function nginx calls back is declared extern "C" in the glue and
 * must not let an exception out (see ngx_http_socketio_guard()).
 */
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
}
