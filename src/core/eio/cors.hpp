/*
 * Cross-origin access for polling requests (the Fetch standard's CORS
 * protocol), as the reference server does with its `cors` option: a
 * configured origin list, or "*". With no list, no CORS header at all, as
 * the reference server by default.
 */
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace socketio::eio {

struct CorsPolicy {
    bool enabled = false;
    bool any = false;                    /* "*" */
    std::vector<std::string> origins;
};

struct CorsAnswer {
    bool forbidden = false;              /* answer 403 and stop */
    std::string allow_origin;            /* empty: send no CORS header */
    bool credentials = false;
    bool vary_origin = false;
};

/* `origin` is empty when the request carried none (same-origin). */
CorsAnswer cors_check(const CorsPolicy& policy, std::string_view origin);

/* What an OPTIONS preflight answers: the methods the reference allows. */
inline constexpr std::string_view cors_allow_methods =
    "GET,HEAD,PUT,PATCH,POST,DELETE";

}  // namespace socketio::eio
