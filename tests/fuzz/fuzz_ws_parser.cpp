/* RFC 6455 frames: any bytes, in two reads split where the first byte says. */
#include "core/ws/parser.hpp"

#include <cstdint>
#include <string>

namespace {

struct Sink final : socketio::ws::ParserSink {
    std::size_t bytes = 0;
    void on_message(bool, std::string_view p) override { bytes += p.size(); }
    void on_ping(std::string_view p) override { bytes += p.size(); }
    void on_pong(std::string_view p) override { bytes += p.size(); }
    void on_close(std::uint16_t, std::string_view) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    if (size < 1) {
        return 0;
    }
    std::string buf(reinterpret_cast<const char*>(data + 1), size - 1);
    std::size_t split = buf.empty() ? 0 : data[0] % (buf.size() + 1);

    socketio::ws::Parser parser(4096);
    Sink sink;
    auto err = parser.feed(buf.data(), split, sink);
    if (!err && !parser.closed()) {
        parser.feed(buf.data() + split, buf.size() - split, sink);
    }
    return 0;
}
