/*
 * What the fuzz targets share: an Engine.IO engine with transports that
 * only record, so that a handler's whole path from bytes to output runs.
 */
#pragma once

#include "core/eio/engine.hpp"
#include "core/eio/session.hpp"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace fuzz {

using namespace socketio;

struct Random final : eio::Random {
    std::uint64_t n = 0x9e3779b97f4a7c15ULL;
    void fill(unsigned char* out, std::size_t len) override
    {
        for (std::size_t i = 0; i < len; i++) {
            n = n * 6364136223846793005ULL + 1442695040888963407ULL;
            out[i] = static_cast<unsigned char>(n >> 56);
        }
    }
};

struct Waker final : eio::Waker {
    void wake() override {}
};

struct Link final : eio::WebSocketLink {
    std::size_t frames = 0;
    bool closed = false;
    void send(const std::vector<eio::EncodedPtr>& p) override
    {
        frames += p.size();
    }
    void close(std::uint16_t, std::string_view) override { closed = true; }
    std::size_t backlog() const noexcept override { return 0; }
};

/* Feeds lines of `data` as WebSocket messages to one session: a first byte
   of 'B' makes a line binary. The clock moves a little every line. */
inline void feed_lines(eio::Engine& engine, const std::uint8_t* data,
                       std::size_t size)
{
    Link link;
    eio::Millis now = 0;
    eio::Session& s = engine.open(eio::TransportKind::websocket, now, &link);
    std::string sid = s.sid();
    engine.flush();

    std::string_view in(reinterpret_cast<const char*>(data), size);
    while (!in.empty()) {
        std::size_t nl = in.find('\n');
        std::string_view line = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view{}
                                          : in.substr(nl + 1);
        eio::Session* live = engine.find(sid);
        if (live == nullptr) {
            break;
        }
        now += 7;
        bool binary = !line.empty() && line[0] == 'B';
        live->on_ws_message(link, binary, binary ? line.substr(1) : line,
                            now);
        engine.flush();
        engine.on_timer(now);
    }
    engine.close_all(socketio::eio::Reason::server_shutdown);
}

}  // namespace fuzz
