/*
 * RESP2 replies (core/redis/resp.hpp): the first two bytes pick small
 * limits and how the rest is cut into chunks (fed, or written through
 * prepare/commit). Parsing never crashes nor reads past a chunk; what it
 * holds after each drain stays within the limits (a partial reply of
 * max_reply bytes and an unfinished line); an array of bulk strings,
 * written back as a command, parses to the same strings.
 */
#include "core/redis/resp.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace socketio::redis::resp;

void check_reply(const Reply& r)
{
    (void)as_message(r);
    (void)as_subscription(r);
    if (r.type != Reply::Type::array || r.elements.empty()) {
        return;
    }
    std::vector<std::string_view> args;
    for (const Reply& e : r.elements) {
        if (e.type != Reply::Type::bulk) {
            return;
        }
        args.push_back(e.str);
    }
    std::string out;
    append_command(out, args);
    Parser again(Limits{1 << 20, 1 << 16, 8, 64 * 1024, 0});
    again.feed(out);
    auto back = again.next();
    if (!back || back->elements.size() != args.size() || again.next()
        || again.error())
    {
        std::abort();
    }
    for (std::size_t i = 0; i < args.size(); i++) {
        if (back->elements[i].str != args[i]) {
            std::abort();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size)
{
    if (size < 2) {
        return 0;
    }
    Limits l;
    l.max_bulk = 1 + std::size_t(data[0]) * 4;
    l.max_elements = 1 + (data[1] & 0x3f);
    l.max_depth = 1 + (data[1] >> 6) * 3;
    l.max_line = 64;
    l.max_reply = l.max_bulk + 256;
    Parser p(l);

    std::uint32_t rng = data[0] * 257u + data[1] + 1;
    std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
    while (!in.empty() && !p.error()) {
        rng = rng * 1103515245u + 12345u;
        std::size_t n = std::min<std::size_t>(1 + (rng >> 16) % 97, in.size());
        /* an exact-size copy: ASan sees any read past the chunk */
        std::vector<char> chunk(in.begin(), in.begin() + n);
        in.remove_prefix(n);
        if (rng & 0x80000000u) {
            char* room = p.prepare(n);
            std::copy(chunk.begin(), chunk.end(), room);
            p.commit(n);
        } else {
            p.feed(std::string_view(chunk.data(), chunk.size()));
        }
        while (auto r = p.next()) {
            check_reply(*r);
        }
        if (p.buffered() > l.max_reply + l.max_line + 1) {
            std::abort();
        }
    }
    if (p.error() && (p.buffered() != 0 || describe(*p.error()).empty())) {
        std::abort();
    }
    return 0;
}
