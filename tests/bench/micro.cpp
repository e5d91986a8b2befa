/*
 * socketio_micro_bench: Google Benchmark micro-benchmarks of the core's hot
 * path, so that a regression there shows in numbers (tests/bench/README.md).
 * They link the core alone, as the unit tests do: no nginx, no socket; the
 * transports are fakes that take the frames and drop them.
 *
 *   WsParse_*          RFC 6455 frames from a client (masked): a chat post
 *                      sized text frame, 64 KB text and binary frames
 *   EioDecode_*, EioEncode_*   Engine.IO packets and polling payloads
 *   SioDecode_*, SioEncode_*   Socket.IO packets
 *   Broadcast_*        one chat post to 1,000 WebSocket sessions: encoded
 *                      once and shared (an EncodedPtr, or a view of a frame
 *                      kept elsewhere as the shared log keeps them) against
 *                      encoded per recipient; and the whole path, a post
 *                      through the chat handler and the local adapter
 *
 * Run: build/tests/bench/socketio_micro_bench [--benchmark_filter=REGEX]
 */

#include "core/chat/chat.hpp"
#include "core/chat/directory.hpp"
#include "core/eio/engine.hpp"
#include "core/eio/handler.hpp"
#include "core/eio/packet.hpp"
#include "core/eio/session.hpp"
#include "core/eio/transport.hpp"
#include "core/sio/packet.hpp"
#include "core/sio/server.hpp"
#include "core/ws/parser.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace eio = socketio::eio;
namespace sio = socketio::sio;
namespace ws = socketio::ws;

/* ------------------------------------------------------------------ */
/* fakes (after tests/unit/fakes.hpp, minus the recording) */

class BenchRandom final : public eio::Random {
public:
    void fill(unsigned char* out, std::size_t len) override
    {
        for (std::size_t i = 0; i < len; i++) {
            state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
            out[i] = static_cast<unsigned char>(state_ >> 56);
        }
    }

private:
    std::uint64_t state_ = 42;
};

class NullWaker final : public eio::Waker {
public:
    void wake() override {}
};

/* A WebSocket connection that takes every frame and drops it: what a
   write would read is touched, nothing is kept. */
class DropLink final : public eio::WebSocketLink {
public:
    void send(const std::vector<eio::EncodedPtr>& packets) override
    {
        for (const auto& p : packets) {
            std::string_view f = p->ws_frame();
            bytes += f.size();
            benchmark::DoNotOptimize(f.data()[f.size() - 1]);
        }
        frames += packets.size();
    }
    void close(std::uint16_t, std::string_view) override { closed = true; }
    std::size_t backlog() const noexcept override { return 0; }

    std::uint64_t frames = 0;
    std::uint64_t bytes = 0;
    bool closed = false;
};

/* An Engine.IO handler whose endpoints ignore what they get. */
class NullHandler final : public eio::Handler {
    class Endpoint final : public eio::Endpoint {
    public:
        void on_message(bool, std::string_view) override {}
        void on_close(eio::Reason) override {}
    };

public:
    std::unique_ptr<eio::Endpoint> open(eio::Session&) override
    {
        return std::make_unique<Endpoint>();
    }
};

class CountingSink final : public ws::ParserSink {
public:
    void on_message(bool, std::string_view payload) override
    {
        messages++;
        bytes += payload.size();
    }
    void on_ping(std::string_view) override {}
    void on_pong(std::string_view) override {}
    void on_close(std::uint16_t, std::string_view) override {}

    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
};

/* ------------------------------------------------------------------ */
/* WebSocket frames */

/*
 * A masked client frame. The mask and the payload are ASCII, so that the
 * frame unmasked in place (the parser's way) is masked again by the next
 * pass: the same buffer is fed over and over, each pass valid UTF-8.
 */
std::string client_frame(ws::Opcode op, std::string_view payload)
{
    static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    std::string f;
    f.push_back(static_cast<char>(0x80 | static_cast<unsigned>(op)));
    std::size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
        f.push_back(static_cast<char>(0x80 | 126));
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xff));
    } else {
        f.push_back(static_cast<char>(0x80 | 127));
        for (int i = 7; i >= 0; i--) {
            f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
        }
    }
    f.append(reinterpret_cast<const char*>(mask), 4);
    for (std::size_t i = 0; i < n; i++) {
        f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    }
    return f;
}

std::string ascii(std::size_t n)
{
    std::string s;
    s.reserve(n);
    for (std::size_t i = 0; i < n; i++) {
        s.push_back(static_cast<char>('a' + i % 26));
    }
    return s;
}

/* A chat post as a client sends it, 64 frames back to back in one read. */
void WsParse_SmallText(benchmark::State& state)
{
    std::string post = "42[\"message\",\"{\\\"p\\\":123,\\\"s\\\":17,\\\"q\\\":4,"
                       "\\\"t\\\":1234567890123}\"]";
    std::string one = client_frame(ws::Opcode::text, post);
    std::string buf;
    const int frames = 64;
    for (int i = 0; i < frames; i++) {
        buf += one;
    }
    ws::Parser parser(1000000);
    CountingSink sink;
    for (auto _ : state) {
        auto err = parser.feed(buf.data(), buf.size(), sink);
        if (err) {
            state.SkipWithError(err->reason);
            break;
        }
    }
    state.SetItemsProcessed(state.iterations() * frames);
    state.SetBytesProcessed(state.iterations()
                            * static_cast<std::int64_t>(buf.size()));
}
BENCHMARK(WsParse_SmallText);

void ws_parse_big(benchmark::State& state, ws::Opcode op)
{
    std::string buf = client_frame(op, ascii(64 * 1024));
    ws::Parser parser(1000000);
    CountingSink sink;
    for (auto _ : state) {
        auto err = parser.feed(buf.data(), buf.size(), sink);
        if (err) {
            state.SkipWithError(err->reason);
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations()
                            * static_cast<std::int64_t>(buf.size()));
}

void WsParse_64KText(benchmark::State& state)
{
    ws_parse_big(state, ws::Opcode::text);
}
BENCHMARK(WsParse_64KText);

void WsParse_64KBinary(benchmark::State& state)
{
    ws_parse_big(state, ws::Opcode::binary);
}
BENCHMARK(WsParse_64KBinary);

/* The same 64 KB frame arriving in 4 KB reads, as a socket hands it over. */
void WsParse_64KText_4KReads(benchmark::State& state)
{
    std::string buf = client_frame(ws::Opcode::text, ascii(64 * 1024));
    ws::Parser parser(1000000);
    CountingSink sink;
    for (auto _ : state) {
        for (std::size_t off = 0; off < buf.size(); off += 4096) {
            std::size_t n = std::min<std::size_t>(4096, buf.size() - off);
            auto err = parser.feed(buf.data() + off, n, sink);
            if (err) {
                state.SkipWithError(err->reason);
                return;
            }
        }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations()
                            * static_cast<std::int64_t>(buf.size()));
}
BENCHMARK(WsParse_64KText_4KReads);

/* ------------------------------------------------------------------ */
/* Engine.IO */

const std::string kPostSio =
    "2[\"message\",\"{\\\"p\\\":123,\\\"s\\\":17,\\\"q\\\":4,"
    "\\\"t\\\":1234567890123}\"]";

void EioDecode_Text(benchmark::State& state)
{
    std::string in = "4" + kPostSio;
    for (auto _ : state) {
        eio::Packet p;
        bool ok = eio::decode_text(in, p);
        benchmark::DoNotOptimize(ok);
        benchmark::DoNotOptimize(p.data.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(EioDecode_Text);

/* A polling POST of N packets (a pong, posts, a base64 binary). */
std::string polling_payload(int n, bool with_binary)
{
    std::string out;
    for (int i = 0; i < n; i++) {
        if (!out.empty()) {
            out += eio::record_separator;
        }
        out += i == 0 ? std::string("3") : "4" + kPostSio;
    }
    if (with_binary) {
        out += eio::record_separator;
        out += "bAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    }
    return out;
}

void EioDecode_Payload(benchmark::State& state)
{
    std::string in = polling_payload(static_cast<int>(state.range(0)),
                                     state.range(1) != 0);
    for (auto _ : state) {
        eio::DecodedPayload out;
        bool ok = eio::decode_payload(in, out);
        if (!ok) {
            state.SkipWithError("decode_payload failed");
            break;
        }
        benchmark::DoNotOptimize(out.packets.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
    state.SetBytesProcessed(state.iterations()
                            * static_cast<std::int64_t>(in.size()));
}
BENCHMARK(EioDecode_Payload)->Args({1, 0})->Args({10, 0})->Args({10, 1});

void EioEncode_Text(benchmark::State& state)
{
    for (auto _ : state) {
        auto p = eio::Encoded::text(eio::PacketType::message, kPostSio);
        benchmark::DoNotOptimize(p->ws_frame().data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(EioEncode_Text);

/* A polling GET's answer: N queued packets joined into one payload. */
void EioEncode_Payload(benchmark::State& state)
{
    std::vector<eio::EncodedPtr> packets;
    for (int i = 0; i < state.range(0); i++) {
        packets.push_back(eio::Encoded::text(eio::PacketType::message,
                                             kPostSio));
    }
    if (state.range(1) != 0) {
        packets.push_back(eio::Encoded::binary(std::string(32, '\x07')));
    }
    for (auto _ : state) {
        std::string payload = eio::encode_payload(packets);
        benchmark::DoNotOptimize(payload.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(EioEncode_Payload)->Args({1, 0})->Args({10, 0})->Args({10, 1});

/* ------------------------------------------------------------------ */
/* Socket.IO */

void SioDecode_Event(benchmark::State& state)
{
    for (auto _ : state) {
        sio::Packet p;
        auto err = sio::decode(kPostSio, p);
        if (err != sio::DecodeError::none) {
            state.SkipWithError("decode failed");
            break;
        }
        benchmark::DoNotOptimize(p.json);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(SioDecode_Event);

void SioDecode_EventWithAck(benchmark::State& state)
{
    std::string in = "212" + kPostSio.substr(1);
    for (auto _ : state) {
        sio::Packet p;
        auto err = sio::decode(in, p);
        if (err != sio::DecodeError::none || !p.id) {
            state.SkipWithError("decode failed");
            break;
        }
        benchmark::DoNotOptimize(p.json);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(SioDecode_EventWithAck);

/* A 4 KB event: the JSON parse grows with the payload. */
void SioDecode_Event4K(benchmark::State& state)
{
    std::string in = "2[\"message\",\"" + ascii(4096) + "\"]";
    for (auto _ : state) {
        sio::Packet p;
        auto err = sio::decode(in, p);
        if (err != sio::DecodeError::none) {
            state.SkipWithError("decode failed");
            break;
        }
        benchmark::DoNotOptimize(p.json);
    }
    state.SetBytesProcessed(state.iterations()
                            * static_cast<std::int64_t>(in.size()));
}
BENCHMARK(SioDecode_Event4K);

/* What the chat does per post and dialect: the event payload, then the
   packet, with the classic text escaped as a JSON string. */
void SioEncode_ChatPost(benchmark::State& state)
{
    std::string text = "{\"p\":123,\"s\":17,\"q\":4,\"t\":1234567890123}";
    for (auto _ : state) {
        std::string args = "[";
        sio::append_json_string(args, "b17: " + text);
        args += "]";
        auto p = sio::encode(sio::PacketType::event, "/", std::nullopt, 0,
                             sio::event_payload("message", args));
        benchmark::DoNotOptimize(p->ws_frame().data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(SioEncode_ChatPost);

void SioEncode_Ack(benchmark::State& state)
{
    for (auto _ : state) {
        auto p = sio::encode(sio::PacketType::ack, "/", 12, 0,
                             "[\"received \\\"hello\\\"\"]");
        benchmark::DoNotOptimize(p->ws_frame().data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(SioEncode_Ack);

/* ------------------------------------------------------------------ */
/* Broadcast: one post to 1,000 WebSocket sessions */

/* N WebSocket sessions on an Engine with a handler that does nothing. */
struct Fanout {
    explicit Fanout(int n) : engine(eio::Config{}, handler, random, waker)
    {
        links.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; i++) {
            links.push_back(std::make_unique<DropLink>());
            sessions.push_back(&engine.open(eio::TransportKind::websocket, 0,
                                            links.back().get()));
        }
        engine.flush();                         /* the open packets */
    }

    std::uint64_t frames() const
    {
        std::uint64_t n = 0;
        for (const auto& l : links) {
            n += l->frames;
        }
        return n;
    }

    NullHandler handler;
    BenchRandom random;
    NullWaker waker;
    eio::Engine engine;
    std::vector<std::unique_ptr<DropLink>> links;
    std::vector<eio::Session*> sessions;
};

const std::string kClassicArgs =
    "[\"b17: {\\\"p\\\":123,\\\"s\\\":17,\\\"q\\\":4,\\\"t\\\":1234567890123}\"]";

eio::EncodedPtr encode_post()
{
    return sio::encode(sio::PacketType::event, "/", std::nullopt, 0,
                       sio::event_payload("message", kClassicArgs));
}

/* Encoded once: every session queues the same shared packet. */
void Broadcast_EncodeOnce(benchmark::State& state)
{
    Fanout f(static_cast<int>(state.range(0)));
    for (auto _ : state) {
        eio::EncodedPtr p = encode_post();
        for (eio::Session* s : f.sessions) {
            s->send(p);
        }
        f.engine.flush();
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
    state.counters["frames"] = static_cast<double>(f.frames());
}
BENCHMARK(Broadcast_EncodeOnce)->Arg(1000);

/*
 * Encoded once into a log, as the shared zone keeps a broadcast: each
 * worker makes one view of the frame and queues it to its sessions.
 */
void Broadcast_EncodeOnceView(benchmark::State& state)
{
    Fanout f(static_cast<int>(state.range(0)));
    auto log = std::make_shared<std::string>();
    for (auto _ : state) {
        eio::EncodedPtr p = encode_post();
        log->assign(p->ws_frame());             /* written once to the log */
        eio::EncodedPtr v = eio::Encoded::view(*log, log);
        for (eio::Session* s : f.sessions) {
            s->send(v);
        }
        f.engine.flush();
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(Broadcast_EncodeOnceView)->Arg(1000);

/* The cost the encode-once design removes: a packet per recipient. */
void Broadcast_EncodePerRecipient(benchmark::State& state)
{
    Fanout f(static_cast<int>(state.range(0)));
    for (auto _ : state) {
        for (eio::Session* s : f.sessions) {
            s->send(encode_post());
        }
        f.engine.flush();
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(Broadcast_EncodePerRecipient)->Arg(1000);

/*
 * The whole path of a post in one worker: the sender's WebSocket message
 * decoded (Engine.IO, Socket.IO, JSON), the chat's three dialect
 * broadcasts through the local adapter (the classic one reaching the
 * other 999), the ack, and the flush to the links.
 */
void Broadcast_ChatPost(benchmark::State& state)
{
    const int n = static_cast<int>(state.range(0));
    BenchRandom random;
    NullWaker waker;
    socketio::chat::LocalDirectory directory;
    socketio::chat::Chat chat(directory, {});
    sio::Server server(45000);
    server.add_namespace("/", chat);
    eio::Engine engine(eio::Config{}, server, random, waker);

    std::vector<std::unique_ptr<DropLink>> links;
    std::vector<eio::Session*> sessions;
    for (int i = 0; i < n; i++) {
        links.push_back(std::make_unique<DropLink>());
        eio::Session& s = engine.open(eio::TransportKind::websocket, 0,
                                      links.back().get());
        sessions.push_back(&s);
        s.on_ws_message(*links.back(), false, "40", 0);
        engine.flush();
        s.on_ws_message(*links.back(), false,
                        "421[\"login\",\"b" + std::to_string(i) + "\"]", 0);
        engine.flush();
    }
    std::uint64_t before = 0;
    for (const auto& l : links) {
        before += l->frames;
    }

    std::string post = "42" "2[\"message\",\"{\\\"p\\\":123,\\\"s\\\":0,"
                       "\\\"q\\\":4,\\\"t\\\":1234567890123}\"]";
    for (auto _ : state) {
        sessions[0]->on_ws_message(*links[0], false, post, 1);
        engine.flush();
    }
    std::uint64_t after = 0;
    for (const auto& l : links) {
        after += l->frames;
    }
    state.SetItemsProcessed(state.iterations() * (n - 1));
    state.counters["frames_per_post"] = benchmark::Counter(
        static_cast<double>(after - before)
        / static_cast<double>(state.iterations()));
}
BENCHMARK(Broadcast_ChatPost)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
