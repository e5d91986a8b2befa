#include "core/ws/parser.hpp"

#include "core/util/utf8.hpp"

#include <algorithm>
#include <cstring>

namespace socketio::ws {
namespace {

bool is_control(Opcode op) noexcept
{
    return (static_cast<std::uint8_t>(op) & 0x8) != 0;
}

/* Above this, a finished message's buffer is given back (idle = no memory). */
constexpr std::size_t keep_capacity = 4096;

}  // namespace

void Parser::unmask(char* p, std::size_t n) noexcept
{
    std::size_t i = 0;

    if (n >= 16) {
        unsigned char rot[8];
        for (std::size_t k = 0; k < 8; k++) {
            rot[k] = mask_[(mask_pos_ + k) & 3];
        }
        std::uint64_t m;
        std::memcpy(&m, rot, 8);
        for (; i + 8 <= n; i += 8) {
            std::uint64_t w;
            std::memcpy(&w, p + i, 8);
            w ^= m;
            std::memcpy(p + i, &w, 8);
        }
    }

    for (; i < n; i++) {
        p[i] = static_cast<char>(p[i] ^ mask_[(mask_pos_ + i) & 3]);
    }

    mask_pos_ = (mask_pos_ + n) & 3;
}

std::optional<ParseError> Parser::feed(char* data, std::size_t len,
                                       ParserSink& sink)
{
    while (len > 0 && !closed_) {

        if (!in_payload_) {
            std::size_t need = 2;
            if (header_len_ >= 2 && (header_[1] & 0x80)) {
                /* the first 2 bytes tell how long the whole header is */
                unsigned char l = header_[1] & 0x7f;
                need += ((l == 126) ? 2 : (l == 127) ? 8 : 0) + 4;
            }

            std::size_t take = std::min(need - header_len_, len);
            std::memcpy(header_ + header_len_, data, take);
            header_len_ += take;
            data += take;
            len -= take;

            if (header_len_ < need) {
                continue;
            }
            if (need == 2 && (header_[1] & 0x80)) {
                continue;                     /* now read the rest of it */
            }

            if (auto err = parse_header(sink)) {
                return err;
            }
            continue;
        }

        /* payload bytes */
        std::size_t take = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, len));

        unmask(data, take);

        /* the common case: one unfragmented frame, all in this read */
        bool whole = (take == frame_len_);

        if (!is_control(opcode_) && whole && !in_message_ && fin_) {
            remaining_ = 0;
            in_payload_ = false;
            if (auto err = finish_frame(sink, std::string_view(data, take))) {
                return err;
            }
        } else {
            (is_control(opcode_) ? control_ : message_).append(data, take);
            remaining_ -= take;
            if (remaining_ == 0) {
                in_payload_ = false;
                if (auto err = finish_frame(sink, {})) {
                    return err;
                }
            }
        }

        data += take;
        len -= take;
    }

    return std::nullopt;
}

std::optional<ParseError> Parser::parse_header(ParserSink& sink)
{
    unsigned char b0 = header_[0];
    unsigned char b1 = header_[1];

    fin_ = (b0 & 0x80) != 0;
    opcode_ = static_cast<Opcode>(b0 & 0x0f);

    if (b0 & 0x70) {
        return ParseError{close_code::protocol_error, "reserved bits set"};
    }

    switch (opcode_) {
    case Opcode::continuation:
    case Opcode::text:
    case Opcode::binary:
    case Opcode::close:
    case Opcode::ping:
    case Opcode::pong:
        break;
    default:
        return ParseError{close_code::protocol_error, "unknown opcode"};
    }

    if (!(b1 & 0x80)) {
        return ParseError{close_code::protocol_error, "unmasked client frame"};
    }

    std::uint64_t plen = b1 & 0x7f;
    std::size_t pos = 2;
    if (plen == 126) {
        plen = (std::uint64_t(header_[2]) << 8) | header_[3];
        pos = 4;
    } else if (plen == 127) {
        plen = 0;
        for (int i = 0; i < 8; i++) {
            plen = (plen << 8) | header_[2 + i];
        }
        pos = 10;
        if (plen >> 63) {
            return ParseError{close_code::protocol_error, "bad frame length"};
        }
    }
    std::memcpy(mask_, header_ + pos, 4);
    mask_pos_ = 0;
    header_len_ = 0;

    if (is_control(opcode_)) {
        if (!fin_) {
            return ParseError{close_code::protocol_error,
                              "fragmented control frame"};
        }
        if (plen > max_control_payload) {
            return ParseError{close_code::protocol_error,
                              "control frame too long"};
        }
        control_.clear();

    } else if (opcode_ == Opcode::continuation) {
        if (!in_message_) {
            return ParseError{close_code::protocol_error,
                              "continuation without a message"};
        }

    } else {
        if (in_message_) {
            return ParseError{close_code::protocol_error,
                              "new message inside a fragmented one"};
        }
        message_binary_ = (opcode_ == Opcode::binary);
        if (!fin_) {
            in_message_ = true;
        }
    }

    if (!is_control(opcode_) && plen > max_message_ - message_.size()) {
        return ParseError{close_code::too_big, "message too big"};
    }

    remaining_ = plen;
    frame_len_ = plen;
    in_payload_ = true;

    if (plen == 0) {
        in_payload_ = false;
        return finish_frame(sink, {});
    }

    return std::nullopt;
}

std::optional<ParseError> Parser::finish_frame(ParserSink& sink,
                                               std::string_view payload)
{
    switch (opcode_) {
    case Opcode::ping:
        sink.on_ping(control_);
        return std::nullopt;

    case Opcode::pong:
        sink.on_pong(control_);
        return std::nullopt;

    case Opcode::close: {
        std::uint16_t code = close_code::no_status;
        std::string_view reason;
        if (control_.size() == 1) {
            return ParseError{close_code::protocol_error, "bad close payload"};
        }
        if (control_.size() >= 2) {
            code = static_cast<std::uint16_t>(
                (static_cast<unsigned char>(control_[0]) << 8)
                | static_cast<unsigned char>(control_[1]));
            if (!valid_close_code(code)) {
                return ParseError{close_code::protocol_error,
                                  "invalid close code"};
            }
            reason = std::string_view(control_).substr(2);
            if (!util::valid_utf8(reason)) {
                return ParseError{close_code::invalid_payload,
                                  "close reason is not UTF-8"};
            }
        }
        closed_ = true;
        sink.on_close(code, reason);
        return std::nullopt;
    }

    default:
        break;
    }

    if (!fin_) {
        return std::nullopt;          /* more fragments to come */
    }

    std::string_view msg = in_message_ || payload.data() == nullptr
                               ? std::string_view(message_)
                               : payload;

    if (!message_binary_ && !util::valid_utf8(msg)) {
        return ParseError{close_code::invalid_payload, "text is not UTF-8"};
    }

    in_message_ = false;
    sink.on_message(message_binary_, msg);

    message_.clear();
    if (message_.capacity() > keep_capacity) {
        std::string().swap(message_);
    }

    return std::nullopt;
}

}  // namespace socketio::ws
