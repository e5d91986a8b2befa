#include "core/eio/query.hpp"

namespace socketio::eio {
namespace {

int hex(char c) noexcept
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

std::string url_decode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%' && i + 2 < s.size()
                   && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
            i += 2;
        } else {
            out.push_back(c);   /* a lone '%' stays, as URLSearchParams does */
        }
    }
    return out;
}

Query parse_query(std::string_view args)
{
    Query q;
    while (!args.empty()) {
        std::size_t amp = args.find('&');
        std::string_view pair = args.substr(0, amp);
        args = (amp == std::string_view::npos) ? std::string_view{}
                                               : args.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        std::size_t eq = pair.find('=');
        std::string name = url_decode(pair.substr(0, eq));
        std::string value = (eq == std::string_view::npos)
                                ? std::string()
                                : url_decode(pair.substr(eq + 1));
        if (name == "EIO") {
            q.eio = std::move(value);
        } else if (name == "transport") {
            q.transport = std::move(value);
        } else if (name == "sid") {
            q.sid = std::move(value);
        }
    }
    return q;
}

}  // namespace socketio::eio
