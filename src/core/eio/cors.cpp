#include "core/eio/cors.hpp"

#include <algorithm>

namespace socketio::eio {

CorsAnswer cors_check(const CorsPolicy& policy, std::string_view origin)
{
    CorsAnswer a;

    if (!policy.enabled) {
        return a;
    }

    if (policy.any) {
        a.allow_origin = "*";
        return a;
    }

    if (origin.empty()) {
        /* not a cross-origin request: nothing to allow or refuse */
        return a;
    }

    bool listed = std::any_of(policy.origins.begin(), policy.origins.end(),
                              [&](const std::string& o) { return o == origin; });
    if (!listed) {
        a.forbidden = true;
        return a;
    }

    a.allow_origin = origin;
    a.credentials = true;
    a.vary_origin = true;
    return a;
}

}  // namespace socketio::eio
