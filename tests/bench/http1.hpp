/*
 * The smallest HTTP/1.1 client side the polling clients need: requests
 * written as text, responses parsed incrementally (Content-Length or
 * chunked bodies, keep-alive unless "Connection: close"). No I/O here: the
 * load generator moves the bytes over libwebsockets raw sockets.
 */
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>

namespace bench::http1 {

struct Response {
    int status = 0;
    bool close = false;
    std::string body;
};

inline bool iequals_prefix(std::string_view line, std::string_view name)
{
    if (line.size() < name.size()) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); i++) {
        if (std::tolower(static_cast<unsigned char>(line[i]))
            != std::tolower(static_cast<unsigned char>(name[i]))) {
            return false;
        }
    }
    return true;
}

inline std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'
                          || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

enum class Parse { need_more, done, error };

/*
 * Parses one response at the front of `in`. done: `out` holds it and
 * `used` the bytes it took (a keep-alive connection may hold the next).
 */
inline Parse parse_response(std::string_view in, Response& out,
                            std::size_t& used)
{
    std::size_t head_end = in.find("\r\n\r\n");
    if (head_end == std::string_view::npos) {
        return in.size() > 65536 ? Parse::error : Parse::need_more;
    }
    std::string_view head = in.substr(0, head_end);
    if (head.substr(0, 5) != "HTTP/" || head.size() < 12) {
        return Parse::error;
    }
    out = Response{};
    out.status = std::atoi(std::string(head.substr(9, 3)).c_str());

    long content_length = -1;
    bool chunked = false;
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
        std::size_t next = head.find("\r\n", pos + 2);
        std::string_view line = head.substr(
            pos + 2, next == std::string_view::npos ? std::string_view::npos
                                                    : next - pos - 2);
        if (iequals_prefix(line, "content-length:")) {
            content_length = std::atol(
                std::string(trim(line.substr(15))).c_str());
        } else if (iequals_prefix(line, "transfer-encoding:")) {
            chunked = iequals_prefix(trim(line.substr(18)), "chunked");
        } else if (iequals_prefix(line, "connection:")) {
            out.close = iequals_prefix(trim(line.substr(11)), "close");
        }
        pos = next;
    }

    std::size_t body = head_end + 4;
    if (chunked) {
        std::size_t p = body;
        for (;;) {
            std::size_t eol = in.find("\r\n", p);
            if (eol == std::string_view::npos) {
                return Parse::need_more;
            }
            unsigned long n = std::strtoul(
                std::string(in.substr(p, eol - p)).c_str(), nullptr, 16);
            p = eol + 2;
            if (n == 0) {
                /* no trailers expected: the empty line ends it */
                if (in.size() < p + 2) {
                    return Parse::need_more;
                }
                used = p + 2;
                return Parse::done;
            }
            if (in.size() < p + n + 2) {
                return Parse::need_more;
            }
            out.body.append(in.substr(p, n));
            p += n + 2;
        }
    }
    if (content_length < 0) {
        /* a body ending at the close: not something these servers send */
        return Parse::error;
    }
    if (in.size() < body + static_cast<std::size_t>(content_length)) {
        return Parse::need_more;
    }
    out.body.assign(in.substr(body, static_cast<std::size_t>(content_length)));
    used = body + static_cast<std::size_t>(content_length);
    return Parse::done;
}

}  // namespace bench::http1
