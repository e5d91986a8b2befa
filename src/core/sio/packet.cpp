#include "core/sio/packet.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>

namespace socketio::sio {
namespace {

/* names an EVENT may not use: they mean something on one side or both */
constexpr std::array<std::string_view, 6> reserved_events = {
    "connect", "connect_error", "disconnect",
    "disconnecting", "newListener", "removeListener",
};

bool is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

bool payload_valid(PacketType type, const Packet& p)
{
    const boost::json::value& v = p.json;

    switch (type) {
    case PacketType::connect:
        return v.is_object();
    case PacketType::disconnect:
        return false;                 /* a DISCONNECT carries nothing */
    case PacketType::connect_error:
        return v.is_string() || v.is_object();
    case PacketType::event:
    case PacketType::binary_event: {
        if (!v.is_array() || v.as_array().empty()) {
            return false;
        }
        const auto& first = v.as_array()[0];
        if (first.is_number()) {
            return true;
        }
        if (!first.is_string()) {
            return false;
        }
        std::string_view name = first.as_string();
        return std::find(reserved_events.begin(), reserved_events.end(),
                         name) == reserved_events.end();
    }
    case PacketType::ack:
    case PacketType::binary_ack:
        return v.is_array();
    }
    return false;
}

int hex_digit(char c) noexcept
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

/* The code unit of the \uXXXX escape at s[i] (s[i] == '\\'), or -1. */
int escaped_unit(std::string_view s, std::size_t i) noexcept
{
    if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') {
        return -1;
    }
    int v = 0;
    for (std::size_t k = 2; k < 6; k++) {
        int d = hex_digit(s[i + k]);
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/*
 * JSON.stringify writes a lone UTF-16 surrogate as an escape ("\ud83d"),
 * which is valid JSON but has no UTF-8 form, and Boost.JSON refuses it.
 * The reference server takes such text; so do we, with U+FFFD in place
 * of the lone half. nullopt: nothing to repair.
 */
std::optional<std::string> repair_lone_surrogates(std::string_view s)
{
    if (s.find("\\u") == std::string_view::npos) {
        return std::nullopt;
    }

    std::string out;
    bool changed = false;
    std::size_t copied = 0;

    for (std::size_t i = 0; i < s.size(); i++) {
        if (s[i] != '\\') {
            continue;
        }
        int unit = escaped_unit(s, i);
        if (unit < 0) {
            i++;                          /* \" \\ \n ...: skip the pair */
            continue;
        }
        bool high = unit >= 0xd800 && unit <= 0xdbff;
        bool low = unit >= 0xdc00 && unit <= 0xdfff;
        if (high) {
            int next = escaped_unit(s, i + 6);
            if (next >= 0xdc00 && next <= 0xdfff) {
                i += 11;                  /* a proper pair */
                continue;
            }
        }
        if (high || low) {
            out.append(s.substr(copied, i - copied));
            out.append("\\ufffd");
            copied = i + 6;
            changed = true;
        }
        i += 5;
    }

    if (!changed) {
        return std::nullopt;
    }
    out.append(s.substr(copied));
    return out;
}

}  // namespace

std::string_view decode_error_message(DecodeError e) noexcept
{
    switch (e) {
    case DecodeError::none:
        return "ok";
    case DecodeError::unknown_type:
        return "unknown packet type";
    case DecodeError::bad_attachments:
        return "illegal attachments";
    case DecodeError::too_many_attachments:
        return "too many attachments";
    case DecodeError::bad_id:
        return "invalid ack id";
    case DecodeError::bad_json:
        return "invalid JSON";
    case DecodeError::invalid_payload:
        return "invalid payload";
    }
    return "invalid packet";
}

DecodeError decode(std::string_view in, Packet& out)
{
    out = Packet{};

    if (in.empty() || in[0] < '0' || in[0] > '6') {
        return DecodeError::unknown_type;
    }
    out.type = static_cast<PacketType>(in[0]);
    std::size_t i = 1;

    if (out.type == PacketType::binary_event
        || out.type == PacketType::binary_ack)
    {
        std::size_t dash = in.find('-', i);
        if (dash == std::string_view::npos || dash == i || dash - i > 6) {
            return DecodeError::bad_attachments;
        }
        std::size_t n = 0;
        for (std::size_t k = i; k < dash; k++) {
            if (!is_digit(in[k])) {
                return DecodeError::bad_attachments;
            }
            n = n * 10 + static_cast<std::size_t>(in[k] - '0');
        }
        if (n < 1) {
            return DecodeError::bad_attachments;
        }
        if (n > max_attachments) {
            return DecodeError::too_many_attachments;
        }
        out.attachments = n;
        i = dash + 1;
    }

    if (i < in.size() && in[i] == '/') {
        std::size_t comma = in.find(',', i);
        if (comma == std::string_view::npos) {
            out.nsp.assign(in.substr(i));
            i = in.size();
        } else {
            out.nsp.assign(in.substr(i, comma - i));
            i = comma + 1;
        }
    }

    if (i < in.size() && is_digit(in[i])) {
        std::uint64_t id = 0;
        std::size_t start = i;
        while (i < in.size() && is_digit(in[i])) {
            id = id * 10 + static_cast<std::uint64_t>(in[i] - '0');
            i++;
            /* beyond 2^53 a JavaScript peer could not answer it exactly */
            if (i - start > 16 || id > (std::uint64_t(1) << 53)) {
                return DecodeError::bad_id;
            }
        }
        out.id = id;
    }

    if (i < in.size()) {
        boost::system::error_code ec;
        std::string_view text = in.substr(i);
        auto repaired = repair_lone_surrogates(text);
        out.json = boost::json::parse(repaired ? *repaired : text, ec);
        if (ec) {
            return DecodeError::bad_json;
        }
        out.raw.assign(text);
        out.has_payload = true;
        if (!payload_valid(out.type, out)) {
            return DecodeError::invalid_payload;
        }
    } else if (out.type == PacketType::event
               || out.type == PacketType::binary_event
               || out.type == PacketType::ack
               || out.type == PacketType::binary_ack
               || out.type == PacketType::connect_error)
    {
        return DecodeError::invalid_payload;
    }

    return DecodeError::none;
}

bool placeholders_valid(const boost::json::value& v, std::size_t attachments)
{
    if (const auto* a = v.if_array()) {
        for (const auto& e : *a) {
            if (!placeholders_valid(e, attachments)) {
                return false;
            }
        }
        return true;
    }

    const auto* o = v.if_object();
    if (o == nullptr) {
        return true;
    }

    const auto* mark = o->if_contains("_placeholder");
    if (mark != nullptr && mark->is_bool() && mark->get_bool()) {
        const auto* num = o->if_contains("num");
        if (num == nullptr) {
            return false;
        }
        if (num->is_int64()) {
            auto n = num->get_int64();
            return n >= 0 && static_cast<std::uint64_t>(n) < attachments;
        }
        if (num->is_uint64()) {
            return num->get_uint64() < attachments;
        }
        return false;
    }

    for (const auto& [key, e] : *o) {
        (void) key;
        if (!placeholders_valid(e, attachments)) {
            return false;
        }
    }
    return true;
}

std::optional<EventText> split_event(std::string_view p) noexcept
{
    auto skip_ws = [&](std::size_t k) {
        while (k < p.size()
               && (p[k] == ' ' || p[k] == '\t' || p[k] == '\n' || p[k] == '\r'))
        {
            k++;
        }
        return k;
    };

    std::size_t i = skip_ws(0);
    if (i >= p.size() || p[i] != '[') {
        return std::nullopt;
    }
    i = skip_ws(i + 1);
    std::size_t start = i;

    if (i < p.size() && p[i] == '"') {
        for (i++; i < p.size() && p[i] != '"'; i++) {
            if (p[i] == '\\') {
                i++;
            }
        }
        if (i >= p.size()) {
            return std::nullopt;
        }
        i++;
    } else {
        /* a number */
        while (i < p.size() && p[i] != ',' && p[i] != ']' && p[i] != ' '
               && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
        {
            i++;
        }
    }

    EventText t;
    t.name_json = p.substr(start, i - start);
    i = skip_ws(i);
    if (i >= p.size() || (p[i] != ',' && p[i] != ']')) {
        return std::nullopt;
    }
    t.rest = p.substr(i);
    return t;
}

std::string event_payload(std::string_view event, std::string_view args_json)
{
    std::string payload = "[";
    append_json_string(payload, event);
    std::size_t open = args_json.find('[');
    std::string_view inner = open == std::string_view::npos
                                 ? std::string_view("]")
                                 : args_json.substr(open + 1);
    std::size_t first = inner.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && inner[first] != ']') {
        payload.push_back(',');
    }
    payload.append(inner);
    return payload;
}

std::string args_array(std::string_view rest)
{
    if (rest.empty() || rest[0] == ']') {
        return "[]";
    }
    std::string out = "[";
    out.append(rest.substr(1));
    return out;
}

std::string start_packet(PacketType type, std::string_view nsp,
                         std::optional<std::uint64_t> id,
                         std::size_t attachments, std::size_t reserve)
{
    std::string buf = eio::Encoded::start_text(eio::PacketType::message,
                                               reserve + nsp.size() + 24);
    buf.push_back(static_cast<char>(type));
    if (type == PacketType::binary_event || type == PacketType::binary_ack) {
        buf += std::to_string(attachments);
        buf.push_back('-');
    }
    if (!nsp.empty() && nsp != "/") {
        buf.append(nsp);
        buf.push_back(',');
    }
    if (id) {
        buf += std::to_string(*id);
    }
    return buf;
}

eio::EncodedPtr encode(PacketType type, std::string_view nsp,
                       std::optional<std::uint64_t> id,
                       std::size_t attachments, std::string_view payload)
{
    std::string buf = start_packet(type, nsp, id, attachments, payload.size());
    buf.append(payload);
    return eio::Encoded::finish_text(std::move(buf));
}

void append_json_string(std::string& out, std::string_view s)
{
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 15]);
            } else {
                out.push_back(ch);
            }
        }
    }
    out.push_back('"');
}

}  // namespace socketio::sio
