/*
 * Incremental parser of client-to-server frames: RFC 6455 section 5
 * (framing, masking, fragmentation, control frames) with the failure rules
 * of sections 7.4 and 8.1. It does no I/O and keeps no clock: feed it any
 * split of the byte stream, it reports whole messages and control frames.
 *
 * Limits are checked on the declared length, before anything is buffered:
 * a client cannot make the server allocate what it only announces.
 */
#pragma once

#include "core/ws/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace socketio::ws {

class ParserSink {
public:
    virtual ~ParserSink() = default;

    /* A whole message (fragments joined); text is valid UTF-8. */
    virtual void on_message(bool binary, std::string_view payload) = 0;
    virtual void on_ping(std::string_view payload) = 0;
    virtual void on_pong(std::string_view payload) = 0;
    /* `code` is 1005 when the frame carried none. Parsing stops after it. */
    virtual void on_close(std::uint16_t code, std::string_view reason) = 0;
};

struct ParseError {
    std::uint16_t code;       /* the close code to answer with */
    const char* reason;       /* for the log and the close frame */
};

class Parser {
public:
    explicit Parser(std::size_t max_message) noexcept
        : max_message_(max_message) {}

    /*
     * Consumes all `len` bytes at `data`, unmasking them in place (the
     * caller's read buffer is scratch). An error is final: the caller
     * closes with its code and feeds nothing more.
     */
    std::optional<ParseError> feed(char* data, std::size_t len,
                                   ParserSink& sink);

    /* The peer's close frame was seen: nothing after it is read. */
    bool closed() const noexcept { return closed_; }

    /* Bytes held for an unfinished message (what a slow sender costs). */
    std::size_t buffered() const noexcept { return message_.size(); }

private:
    std::optional<ParseError> parse_header(ParserSink& sink);
    std::optional<ParseError> finish_frame(ParserSink& sink,
                                           std::string_view payload);
    void unmask(char* p, std::size_t n) noexcept;

    std::size_t max_message_;

    /* the frame being read */
    unsigned char header_[max_header_size];
    std::size_t header_len_ = 0;
    bool in_payload_ = false;
    bool fin_ = false;
    Opcode opcode_ = Opcode::continuation;
    unsigned char mask_[4] = {};
    std::size_t mask_pos_ = 0;
    std::uint64_t remaining_ = 0;
    std::uint64_t frame_len_ = 0;

    /* the fragmented message being assembled, and control payloads */
    bool in_message_ = false;
    bool message_binary_ = false;
    std::string message_;
    std::string control_;

    bool closed_ = false;
};

}  // namespace socketio::ws
