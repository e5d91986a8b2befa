/*
 * What comes from Redis, end to end: any bytes on a member's subscribed
 * and publishing connections (RESP, then the adapter's messages and
 * requests in msgpack and JSON) with the chat and two connected sockets
 * behind it. The first byte of the input picks how the rest is split
 * between the two connections; nothing may crash, leak or loop.
 */
#include "core/chat/chat.hpp"
#include "core/chat/directory.hpp"
#include "core/redis/adapter.hpp"
#include "core/redis/member.hpp"
#include "core/sio/server.hpp"
#include "harness.hpp"

namespace {

struct Host final : socketio::redis::MemberHost {
    void want_write(socketio::redis::Conn& c) override
    {
        c.written(c.output().size());
    }
    void log(socketio::util::LogLevel, std::string_view) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    using namespace socketio;

    if (size == 0) {
        return 0;
    }

    chat::LocalDirectory directory;
    chat::Chat chat(directory, {"tweet"});
    sio::Server server(1000);
    Host host;
    redis::MemberConfig cfg;
    cfg.node = "ngx-fuzz-";
    cfg.conn.limits.max_bulk = 64 * 1024;
    redis::Member member(cfg, host, server);
    member.add_namespace("/");
    server.add_namespace("/", chat,
                         std::make_unique<redis::Adapter>(
                             std::make_unique<sio::LocalAdapter>(), member,
                             "/"));
    member.set_uid("ngx-fuzz-0-1");

    fuzz::Random random;
    fuzz::Waker waker;
    eio::Engine engine(eio::Config{}, server, random, waker);

    fuzz::Link a, b;
    eio::Session& sa = engine.open(eio::TransportKind::websocket, 0, &a);
    sa.on_ws_message(a, false, "40", 0);
    sa.on_ws_message(a, false, "42[\"join\",{\"name\":\"ana\"}]", 0);
    eio::Session& sb = engine.open(eio::TransportKind::websocket, 0, &b);
    sb.on_ws_message(b, false, "40", 0);
    sb.on_ws_message(b, false, "42[\"add user\",\"bo\"]", 0);
    engine.flush();

    member.pub().on_connected();
    member.sub().on_connected();
    member.sub().written(member.sub().output().size());
    member.sub().on_bytes("*3\r\n$10\r\npsubscribe\r\n$1\r\nx\r\n:1\r\n"
                          "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n"
                          "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:2\r\n"
                          "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:3\r\n");

    std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    std::size_t cut = in.empty() ? 0 : data[0] % (in.size() + 1);

    /* most to the subscribed connection, the rest as replies */
    if (member.sub().on_bytes(in.substr(0, cut))) {
        engine.flush();
    }
    if (member.pub().on_bytes(in.substr(cut))) {
        engine.flush();
    }
    member.on_timer(1000000);
    engine.close_all(eio::Reason::server_shutdown);
    engine.flush();
    return 0;
}
