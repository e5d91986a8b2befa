/* Engine.IO packets and polling payloads, and a session fed them. */
#include "core/eio/packet.hpp"
#include "core/handlers/echo.hpp"
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    using namespace socketio;
    std::string_view in(reinterpret_cast<const char*>(data), size);

    eio::Packet p;
    eio::decode_text(in, p);

    eio::DecodedPayload decoded;
    if (eio::decode_payload(in, decoded)) {
        std::vector<eio::EncodedPtr> out;
        for (const auto& pk : decoded.packets) {
            out.push_back(pk.binary ? eio::Encoded::binary(pk.data)
                                    : eio::Encoded::text(pk.type, pk.data));
        }
        eio::encode_payload(out);
    }

    /* the same bytes as a POST to a polling session of engine_echo */
    handlers::EngineEcho echo;
    fuzz::Random random;
    fuzz::Waker waker;
    eio::Engine engine(eio::Config{}, echo, random, waker);
    eio::Session& s = engine.open(eio::TransportKind::polling, 0);
    if (!s.begin_post()) {
        s.on_post(std::string(in), 1);
        while (engine.continue_input()) {
            engine.flush();
        }
    }
    engine.flush();
    return 0;
}
