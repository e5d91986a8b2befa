/*
 * RESP2 commands and the incremental reply parser. The parser keeps its
 * place between feeds (the arrays left open, the values read so far) and
 * never reads a byte twice except a header it waits behind: a large reply
 * arriving in small pieces costs linear time.
 */
#include "core/redis/resp.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace socketio::redis::resp {

namespace {

/* what a string of digits of a size_t takes at most, and "\r\n" */
constexpr std::size_t max_header = 1 + 20 + 2;

/* Buffers above this are given back once empty: one large reply must not
   pin its memory for the life of a pub/sub connection. */
constexpr std::size_t keep_capacity = 64 * 1024;

void append_number(std::string& out, char type, std::size_t n)
{
    char tmp[max_header];
    tmp[0] = type;
    auto r = std::to_chars(tmp + 1, tmp + sizeof(tmp) - 2, n);
    *r.ptr++ = '\r';
    *r.ptr++ = '\n';
    out.append(tmp, static_cast<std::size_t>(r.ptr - tmp));
}

template <typename Args>
void append_args(std::string& out, const Args& args)
{
    std::size_t total = max_header;
    for (std::string_view a : args) {
        total += max_header + a.size();
    }
    out.reserve(out.size() + total);
    append_array_header(out, args.size());
    for (std::string_view a : args) {
        append_bulk(out, a);
    }
}

/* RESP's integers: an optional '-' and decimal digits, within int64. */
bool parse_int(std::string_view s, std::int64_t& out) noexcept
{
    bool neg = !s.empty() && s[0] == '-';
    std::string_view digits = neg ? s.substr(1) : s;
    if (digits.empty()) {
        return false;
    }
    /* accumulate negatively: -2^63 has no positive twin */
    std::int64_t v = 0;
    constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
    for (char c : digits) {
        if (c < '0' || c > '9') {
            return false;
        }
        int d = c - '0';
        if (v < (min + d) / 10) {
            return false;
        }
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == min) {
            return false;
        }
        v = -v;
    }
    out = v;
    return true;
}

}  // namespace

/* --- commands --- */

void append_array_header(std::string& out, std::size_t n)
{
    append_number(out, '*', n);
}

void append_bulk(std::string& out, std::string_view bytes)
{
    append_number(out, '$', bytes.size());
    out.append(bytes);
    out.append("\r\n", 2);
}

void append_command(std::string& out,
                    std::initializer_list<std::string_view> args)
{
    append_args(out, args);
}

void append_command(std::string& out,
                    const std::vector<std::string_view>& args)
{
    append_args(out, args);
}

/* --- the parser --- */

std::string_view describe(ParseError e) noexcept
{
    switch (e) {
    case ParseError::bad_type: return "unknown reply type";
    case ParseError::bad_integer: return "malformed integer";
    case ParseError::bad_length: return "negative length";
    case ParseError::missing_crlf: return "missing CRLF";
    case ParseError::line_too_long: return "line too long";
    case ParseError::bulk_too_long: return "bulk string too long";
    case ParseError::array_too_long: return "array too long";
    case ParseError::too_deep: return "arrays nested too deep";
    case ParseError::reply_too_large: return "reply too large";
    }
    return "malformed reply";
}

Parser::Parser(std::size_t max_bulk) : Parser(Limits{max_bulk}) {}

Parser::Parser(const Limits& limits) : limits_(limits)
{
    if (limits_.max_reply == 0) {
        limits_.max_reply = limits_.max_bulk + 64 * 1024;
    }
}

void Parser::compact()
{
    if (reply_start_ > 0) {
        buf_.erase(0, reply_start_);
        pos_ -= reply_start_;
        scanned_ -= reply_start_;
        reply_start_ = 0;
    }
    if (buf_.capacity() > keep_capacity && buf_.size() < keep_capacity / 4) {
        std::string(buf_).swap(buf_);
    }
}

void Parser::feed(std::string_view bytes)
{
    if (error_) {
        return;
    }
    compact();
    buf_.append(bytes);
    committed_ = buf_.size();
}

char* Parser::prepare(std::size_t n)
{
    compact();
    committed_ = buf_.size();
    buf_.resize(committed_ + n);
    return &buf_[committed_];
}

void Parser::commit(std::size_t written) noexcept
{
    std::size_t room = buf_.size() - committed_;
    /* shrinking a string never throws */
    buf_.resize(error_ ? committed_ : committed_ + std::min(written, room));
    committed_ = buf_.size();
}

Parser::Step Parser::fail(ParseError e)
{
    error_ = e;
    buf_.clear();
    nodes_.clear();
    open_.clear();
    reply_start_ = pos_ = scanned_ = committed_ = 0;
    return Step::fail;
}

/*
 * Where the line at pos_ ends (the index of its CR): more when the CRLF
 * has not arrived. The limit is on the line's length, so that a line is
 * refused alike whether it came whole or byte by byte.
 */
Parser::Step Parser::find_line(std::size_t& end)
{
    std::size_t size = committed_;
    std::size_t from = std::max(scanned_, pos_);
    std::size_t i = from;
    const char* p = buf_.data();
    while (i < size && p[i] != '\r' && p[i] != '\n') {
        i++;
    }
    if (i - pos_ > limits_.max_line) {
        return fail(ParseError::line_too_long);
    }
    if (i == size) {
        scanned_ = i;
        return Step::more;
    }
    if (p[i] == '\n') {
        return fail(ParseError::missing_crlf);
    }
    if (i + 1 == size) {
        scanned_ = i;
        return Step::more;
    }
    if (p[i + 1] != '\n') {
        return fail(ParseError::missing_crlf);
    }
    if (i + 2 - reply_start_ > limits_.max_reply) {
        return fail(ParseError::reply_too_large);
    }
    end = i;
    return Step::done;
}

/* Reads one value at pos_: a scalar, or an array's header. */
Parser::Step Parser::parse_one()
{
    /* a stream that has lost its way is refused at once, not after a line
       of garbage */
    char type = buf_[pos_];
    if (type != '+' && type != '-' && type != ':' && type != '$'
        && type != '*')
    {
        return fail(ParseError::bad_type);
    }

    std::size_t end = 0;
    Step s = find_line(end);
    if (s != Step::done) {
        return s;
    }

    std::string_view line(buf_.data() + pos_ + 1, end - pos_ - 1);
    std::size_t after = end + 2;
    Node node{Reply::Type::nil, 0, 0, 0};

    switch (type) {
    case '+':
    case '-':
        node.type = type == '+' ? Reply::Type::simple : Reply::Type::error;
        node.off = pos_ + 1 - reply_start_;
        node.len = line.size();
        break;
    case ':':
        node.type = Reply::Type::integer;
        if (!parse_int(line, node.integer)) {
            return fail(ParseError::bad_integer);
        }
        break;
    case '$': {
        std::int64_t len = 0;
        if (!parse_int(line, len)) {
            return fail(ParseError::bad_integer);
        }
        if (len == -1) {
            break;                              /* nil */
        }
        if (len < 0) {
            return fail(ParseError::bad_length);
        }
        auto n = static_cast<std::uint64_t>(len);
        if (n > limits_.max_bulk) {
            return fail(ParseError::bulk_too_long);
        }
        if (after - reply_start_ + n + 2 > limits_.max_reply) {
            return fail(ParseError::reply_too_large);
        }
        if (committed_ - after < n + 2) {
            return Step::more;     /* the header is read again, not kept */
        }
        if (buf_[after + n] != '\r' || buf_[after + n + 1] != '\n') {
            return fail(ParseError::missing_crlf);
        }
        node.type = Reply::Type::bulk;
        node.off = after - reply_start_;
        node.len = static_cast<std::size_t>(n);
        after += static_cast<std::size_t>(n) + 2;
        break;
    }
    case '*': {
        std::int64_t count = 0;
        if (!parse_int(line, count)) {
            return fail(ParseError::bad_integer);
        }
        if (count == -1) {
            break;                              /* nil */
        }
        if (count < 0) {
            return fail(ParseError::bad_length);
        }
        if (static_cast<std::uint64_t>(count) > limits_.max_elements) {
            return fail(ParseError::array_too_long);
        }
        if (open_.size() >= limits_.max_depth) {
            return fail(ParseError::too_deep);
        }
        node.type = Reply::Type::array;
        node.len = static_cast<std::size_t>(count);
        break;
    }
    }

    nodes_.push_back(node);
    pos_ = after;
    scanned_ = after;
    if (node.type == Reply::Type::array && node.len > 0) {
        open_.push_back(node.len);
        return Step::more;                       /* not a whole value yet */
    }
    return Step::done;
}

Reply Parser::build(std::size_t& i) const
{
    const Node& n = nodes_[i++];
    Reply r;
    r.type = n.type;
    switch (n.type) {
    case Reply::Type::simple:
    case Reply::Type::error:
    case Reply::Type::bulk:
        r.str = std::string_view(buf_.data() + reply_start_ + n.off, n.len);
        break;
    case Reply::Type::integer:
        r.integer = n.integer;
        break;
    case Reply::Type::array:
        r.elements.reserve(n.len);
        for (std::size_t k = 0; k < n.len; k++) {
            r.elements.push_back(build(i));
        }
        break;
    case Reply::Type::nil:
        break;
    }
    return r;
}

std::optional<Reply> Parser::next()
{
    if (error_ || committed_ != buf_.size()) {
        return std::nullopt;     /* broken, or inside prepare/commit */
    }
    for (;;) {
        if (pos_ >= committed_) {
            return std::nullopt;
        }
        std::size_t opened = open_.size();
        Step s = parse_one();
        if (s == Step::fail) {
            return std::nullopt;
        }
        if (s == Step::more && open_.size() == opened) {
            return std::nullopt;                 /* waiting for bytes */
        }
        if (s == Step::more) {
            continue;                            /* an array opened */
        }
        /* a value done: it may finish the arrays around it */
        while (!open_.empty() && --open_.back() == 0) {
            open_.pop_back();
        }
        if (!open_.empty()) {
            continue;
        }
        std::size_t i = 0;
        Reply r = build(i);
        nodes_.clear();
        reply_start_ = pos_;
        return r;
    }
}

/* --- pub/sub --- */

namespace {

bool is_bulk(const Reply& r) noexcept
{
    return r.type == Reply::Type::bulk;
}

}  // namespace

std::optional<Message> as_message(const Reply& r) noexcept
{
    if (r.type != Reply::Type::array) {
        return std::nullopt;
    }
    const auto& e = r.elements;
    if (e.size() == 3 && e[0].is_string("message") && is_bulk(e[1])
        && is_bulk(e[2]))
    {
        return Message{{}, e[1].str, e[2].str, false};
    }
    if (e.size() == 4 && e[0].is_string("pmessage") && is_bulk(e[1])
        && is_bulk(e[2]) && is_bulk(e[3]))
    {
        return Message{e[1].str, e[2].str, e[3].str, true};
    }
    return std::nullopt;
}

std::optional<Subscription> as_subscription(const Reply& r) noexcept
{
    if (r.type != Reply::Type::array || r.elements.size() != 3) {
        return std::nullopt;
    }
    const auto& e = r.elements;
    using Kind = Subscription::Kind;
    Kind kind;
    if (e[0].is_string("subscribe")) {
        kind = Kind::subscribe;
    } else if (e[0].is_string("unsubscribe")) {
        kind = Kind::unsubscribe;
    } else if (e[0].is_string("psubscribe")) {
        kind = Kind::psubscribe;
    } else if (e[0].is_string("punsubscribe")) {
        kind = Kind::punsubscribe;
    } else {
        return std::nullopt;
    }
    if (!(is_bulk(e[1]) || e[1].type == Reply::Type::nil)
        || e[2].type != Reply::Type::integer)
    {
        return std::nullopt;
    }
    return Subscription{kind, e[1].str, e[2].integer};
}

}  // namespace socketio::redis::resp
