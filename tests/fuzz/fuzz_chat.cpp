/* The chat fed any sequence of Socket.IO packets by two sockets. */
#include "core/chat/chat.hpp"
#include "core/chat/directory.hpp"
#include "core/sio/server.hpp"
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    using namespace socketio;

    chat::LocalDirectory directory;
    chat::Chat chat(directory, {"tweet"});
    sio::Server server(1000);
    server.add_namespace("/", chat);
    fuzz::Random random;
    fuzz::Waker waker;
    eio::Engine engine(eio::Config{}, server, random, waker);

    /* a listener, connected and named, to receive what the other posts */
    fuzz::Link link;
    eio::Session& other = engine.open(eio::TransportKind::websocket, 0, &link);
    other.on_ws_message(link, false, "40", 0);
    other.on_ws_message(link, false, "42[\"join\",{\"name\":\"ana\"}]", 0);
    engine.flush();

    fuzz::feed_lines(engine, data, size);
    return 0;
}
