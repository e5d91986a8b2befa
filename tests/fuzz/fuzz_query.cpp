/* The handshake's query string and the checks every request goes through. */
#include "core/eio/cors.hpp"
#include "core/eio/query.hpp"
#include "core/handlers/echo.hpp"
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    using namespace socketio;
    if (size < 1) {
        return 0;
    }
    static const char* methods[] = {"GET", "POST", "PUT", "OPTIONS"};
    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

    eio::parse_query(in);

    handlers::EngineEcho echo;
    fuzz::Random random;
    fuzz::Waker waker;
    eio::Engine engine(eio::Config{}, echo, random, waker);
    engine.open(eio::TransportKind::polling, 0);

    eio::Request req;
    req.method = methods[data[0] & 3];
    req.query = in;
    req.websocket = (data[0] & 4) != 0;
    req.origin_invalid = (data[0] & 8) != 0;
    engine.route(req);

    eio::CorsPolicy policy;
    policy.enabled = true;
    policy.origins.push_back("https://good.test");
    eio::cors_check(policy, in);
    return 0;
}
