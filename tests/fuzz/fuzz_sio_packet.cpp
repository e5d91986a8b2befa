/* Socket.IO packets, alone and as a session's sequence of messages
   (binary attachments included) through the echo handler. */
#include "core/handlers/echo.hpp"
#include "core/sio/packet.hpp"
#include "core/sio/server.hpp"
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    using namespace socketio;
    std::string_view in(reinterpret_cast<const char*>(data), size);

    sio::Packet p;
    if (sio::decode(in, p) == sio::DecodeError::none && p.has_payload) {
        sio::split_event(p.raw);
    }

    handlers::SocketEcho echo;
    sio::Server server(1000);
    server.add_namespace("/", echo);
    server.add_namespace("/custom", echo);
    fuzz::Random random;
    fuzz::Waker waker;
    eio::Engine engine(eio::Config{}, server, random, waker);
    fuzz::feed_lines(engine, data, size);
    return 0;
}
