#include "core/sio/recovery.hpp"

#include <cctype>

namespace socketio::sio {

std::string_view describe(Refusal r) noexcept
{
    switch (r) {
    case Refusal::malformed: return "malformed";
    case Refusal::unknown_pid: return "unknown pid";
    case Refusal::expired: return "expired";
    case Refusal::other_namespace: return "other namespace";
    case Refusal::in_use: return "still connected";
    case Refusal::offset_gone: return "offset not in the log";
    case Refusal::too_much_missed: return "too much missed";
    case Refusal::count: break;
    }
    return "unknown";
}

std::string_view counter(Refusal r) noexcept
{
    switch (r) {
    case Refusal::malformed: return "malformed";
    case Refusal::unknown_pid: return "unknown_pid";
    case Refusal::expired: return "expired";
    case Refusal::other_namespace: return "other_namespace";
    case Refusal::in_use: return "in_use";
    case Refusal::offset_gone: return "offset_gone";
    case Refusal::too_much_missed: return "too_much_missed";
    case Refusal::count: break;
    }
    return "unknown";
}

bool pid_shaped(std::string_view pid) noexcept
{
    if (pid.size() != pid_length) {
        return false;
    }
    for (char c : pid) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-'
            && c != '_')
        {
            return false;
        }
    }
    return true;
}

/* 16 lowercase hex digits: one width, so that a decoder has one shape to
   accept and nothing to normalize */
std::string offset_text(std::uint64_t offset)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 15; i >= 0; i--) {
        out[static_cast<std::size_t>(i)] = digits[offset & 15];
        offset >>= 4;
    }
    return out;
}

std::optional<std::uint64_t> offset_value(std::string_view text) noexcept
{
    if (text.size() != 16) {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    for (char c : text) {
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else {
            return std::nullopt;
        }
        v = v << 4 | static_cast<std::uint64_t>(d);
    }
    if (v == 0) {
        return std::nullopt;
    }
    return v;
}

std::optional<eio::EncodedPtr> with_offset(const eio::Encoded& packet,
                                           std::string_view offset)
{
    if (packet.is_binary()) {
        return std::nullopt;
    }
    std::string_view p = packet.packet();
    if (p.size() < 4 || p[0] != '4') {
        return std::nullopt;
    }

    /* "4" then the Socket.IO type: 2 EVENT, 5 BINARY_EVENT ("5<n>-") */
    std::size_t i = 2;
    if (p[1] == '5') {
        while (i < p.size() && std::isdigit(static_cast<unsigned char>(p[i]))) {
            i++;
        }
        if (i == 2 || i >= p.size() || p[i] != '-') {
            return std::nullopt;
        }
        i++;
    } else if (p[1] != '2') {
        return std::nullopt;
    }

    /* a namespace other than "/" ends at its comma */
    if (i < p.size() && p[i] == '/') {
        std::size_t comma = p.find(',', i);
        if (comma == std::string_view::npos) {
            return std::nullopt;
        }
        i = comma + 1;
    }

    /* an ack id: the reference gives such events no offset (the ack
       cannot be replayed) */
    if (i >= p.size() || p[i] != '[' || p.back() != ']') {
        return std::nullopt;
    }

    std::string buf = eio::Encoded::start_text(eio::PacketType::message,
                                               p.size() + offset.size() + 3);
    buf.append(p.substr(1, p.size() - 2));
    if (p.size() - i > 2) {
        buf.push_back(',');          /* not an empty array */
    }
    buf.push_back('"');
    buf.append(offset);
    buf.append("\"]");
    return eio::Encoded::finish_text(std::move(buf));
}

}  // namespace socketio::sio
