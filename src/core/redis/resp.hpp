/*
 * RESP2, the Redis serialization protocol:
 * https://redis.io/docs/reference/protocol-spec/ (the RESP2 types: simple
 * string, error, integer, bulk string, array, and their null forms).
 *
 * What a member of the Socket.IO cluster needs to talk to Redis on a
 * connection of its own: commands written as arrays of bulk strings, and
 * an incremental parser of the server's replies. No I/O, no clock: the
 * glue reads bytes into the parser and writes the commands' bytes.
 *
 * The parser is fed any split of the stream and checks every limit on the
 * length a reply declares, before it buffers the bytes that follow: a bad
 * or hostile server costs at most a reply's limit of memory, never more,
 * and a malformed stream is a final error value, never an exception. The
 * replies it yields hold views into its own buffer, so a pub/sub payload
 * is copied once (from the socket into the parser, or not at all through
 * prepare/commit) before the member decodes it.
 *
 * RESP3 types are refused: the member never sends HELLO 3, so a server
 * that sends them is not one we understand.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::redis::resp {

/* --- commands --- */

/* "*<n>\r\n": the head of an array of n elements */
void append_array_header(std::string& out, std::size_t n);

/* "$<len>\r\n<bytes>\r\n" */
void append_bulk(std::string& out, std::string_view bytes);

/*
 * A command as Redis reads it from a client: an array of bulk strings,
 * appended to `out` (several commands may go out in one write).
 *     append_command(out, {"PUBLISH", channel, payload});
 */
void append_command(std::string& out,
                    std::initializer_list<std::string_view> args);
void append_command(std::string& out,
                    const std::vector<std::string_view>& args);

/* --- replies --- */

/*
 * One reply. The strings are views into the Parser's buffer: valid until
 * the next feed() or prepare() on that parser (not next(): several replies
 * taken one after the other all stay valid). Copy what must live longer.
 */
struct Reply {
    enum class Type : std::uint8_t {
        simple,     /* +OK */
        error,      /* -ERR ... : `str` holds the message, "ERR ..." */
        integer,    /* :42 */
        bulk,       /* $3 abc */
        array,      /* *2 ... */
        nil,        /* $-1 or *-1: nobody needs to tell them apart */
    };

    Type type = Type::nil;
    std::string_view str;          /* simple, error, bulk */
    std::int64_t integer = 0;      /* integer */
    std::vector<Reply> elements;   /* array */

    bool is(Type t) const noexcept { return type == t; }
    /* a bulk or simple string equal to `s` */
    bool is_string(std::string_view s) const noexcept
    {
        return (type == Type::bulk || type == Type::simple) && str == s;
    }
};

enum class ParseError : std::uint8_t {
    bad_type,         /* a byte that starts no RESP2 type */
    bad_integer,      /* an integer or a length that is not one, or overflows */
    bad_length,       /* a negative length other than -1 */
    missing_crlf,     /* a line or a bulk string not ended by CRLF */
    line_too_long,    /* a simple string, error or header beyond max_line */
    bulk_too_long,    /* a declared bulk length beyond max_bulk */
    array_too_long,   /* a declared element count beyond max_elements */
    too_deep,         /* arrays nested beyond max_depth */
    reply_too_large,  /* one reply beyond max_reply bytes in all */
};

std::string_view describe(ParseError e) noexcept;

struct Limits {
    /* the longest bulk string; the member passes its largest payload plus
       headroom for the message's other fields */
    std::size_t max_bulk = std::size_t(1) << 20;
    /* elements of one array; pub/sub pushes have 3 or 4 */
    std::size_t max_elements = 4096;
    /* arrays within arrays; pushes are 1 deep, EXEC results 2 */
    std::size_t max_depth = 8;
    /* a +, - or : line, or a $ or * header, CRLF not counted */
    std::size_t max_line = 64 * 1024;
    /* one whole reply, every byte counted; 0: max_bulk + 64 KiB, which
       holds a pub/sub message with the largest payload */
    std::size_t max_reply = 0;
};

class Parser {
public:
    explicit Parser(std::size_t max_bulk);
    explicit Parser(const Limits& limits);

    /*
     * Takes the next bytes of the stream, whatever their split. Then call
     * next() until it returns nothing: what is not taken stays buffered.
     * After an error the bytes are dropped.
     */
    void feed(std::string_view bytes);

    /*
     * The same without a copy: room for at least `n` bytes to read the
     * socket into, then commit() with how many were written (at most n).
     * The pointer is valid until commit().
     */
    char* prepare(std::size_t n);
    void commit(std::size_t written) noexcept;

    /* The next complete reply; nothing when more bytes are needed or
       after an error (see error()). */
    std::optional<Reply> next();

    /* Set once the stream is malformed or over a limit: final. */
    std::optional<ParseError> error() const noexcept { return error_; }

    /* Bytes held: replies not yet taken and the one being received. */
    std::size_t buffered() const noexcept { return buf_.size(); }

    const Limits& limits() const noexcept { return limits_; }

private:
    /* One value of the reply being received, in pre-order; offsets from
       the reply's first byte, so that moving the buffer moves nothing. */
    struct Node {
        Reply::Type type;
        std::size_t off;
        std::size_t len;      /* string bytes, or an array's count */
        std::int64_t integer;
    };

    enum class Step { done, more, fail };

    void compact();
    Step parse_one();
    Step fail(ParseError e);
    Step find_line(std::size_t& end);
    Reply build(std::size_t& i) const;

    Limits limits_;
    std::string buf_;
    std::size_t reply_start_ = 0;   /* first byte of the reply in progress */
    std::size_t pos_ = 0;           /* first byte not parsed */
    std::size_t scanned_ = 0;       /* the line at pos_ has no CR/LF before */
    std::size_t committed_ = 0;     /* buf_'s size outside prepare/commit */
    std::vector<Node> nodes_;       /* the reply in progress */
    std::vector<std::size_t> open_; /* arrays in progress: elements left */
    std::optional<ParseError> error_;
};

/* --- pub/sub pushes (arrays in RESP2) --- */

/* ["message", channel, payload] or ["pmessage", pattern, channel, payload] */
struct Message {
    std::string_view pattern;     /* empty for "message" */
    std::string_view channel;
    std::string_view payload;
    bool from_pattern = false;
};

std::optional<Message> as_message(const Reply& r) noexcept;

/* [kind, channel, count]: the confirmations of (P)(UN)SUBSCRIBE, one per
   channel; an UNSUBSCRIBE of nothing names a nil channel (empty here). */
struct Subscription {
    enum class Kind : std::uint8_t {
        subscribe, unsubscribe, psubscribe, punsubscribe,
    };
    Kind kind = Kind::subscribe;
    std::string_view channel;
    std::int64_t count = 0;       /* subscriptions left on the connection */
};

std::optional<Subscription> as_subscription(const Reply& r) noexcept;

}  // namespace socketio::redis::resp
