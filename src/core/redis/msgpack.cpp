/*
 * The msgpack reader (a recursive descent over a bounds-checked cursor),
 * the writer (notepack.io's choices of form), and the adapter's broadcast
 * message on top of both.
 */
#include "core/redis/msgpack.hpp"

#include "core/util/utf8.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace socketio::redis::msgpack {

namespace json = boost::json;

std::string_view describe(Error e) noexcept
{
    switch (e) {
    case Error::truncated: return "truncated";
    case Error::trailing: return "bytes after the value";
    case Error::bad_byte: return "the never-used byte 0xc1";
    case Error::too_deep: return "nested too deep";
    case Error::too_long: return "a string or container too long";
    case Error::bad_key: return "a map key that is not a string";
    case Error::duplicate_key: return "a map key twice";
    case Error::too_many_attachments: return "too many binaries";
    case Error::bad_json: return "invalid JSON, or not an array";
    case Error::bad_message: return "not an [uid, packet, opts] array";
    case Error::bad_uid: return "uid not a string";
    case Error::bad_packet: return "packet not a {type, data, nsp} map";
    case Error::bad_data: return "packet data not an array";
    case Error::bad_opts: return "opts not a {rooms, except, flags} map";
    case Error::bad_rooms: return "rooms not strings";
    }
    return "malformed";
}

namespace {

/* 2^53: the integers a JavaScript number holds exactly */
constexpr std::int64_t max_safe = std::int64_t(1) << 53;
constexpr double two_63 = 9223372036854775808.0;
constexpr double two_64 = 18446744073709551616.0;

/* ---------------------------------------------------------------- */
/* reading                                                          */
/* ---------------------------------------------------------------- */

class Cursor {
public:
    explicit Cursor(std::string_view in) noexcept
        : p_(reinterpret_cast<const unsigned char*>(in.data())),
          end_(p_ + in.size()) {}

    std::size_t left() const noexcept
    {
        return static_cast<std::size_t>(end_ - p_);
    }
    bool has(std::uint64_t n) const noexcept { return n <= left(); }

    /* callers check has() first */
    std::uint8_t u8() noexcept { return *p_++; }
    std::uint16_t u16() noexcept
    {
        std::uint16_t v = static_cast<std::uint16_t>((p_[0] << 8) | p_[1]);
        p_ += 2;
        return v;
    }
    std::uint32_t u32() noexcept
    {
        std::uint32_t v = (std::uint32_t(p_[0]) << 24)
                          | (std::uint32_t(p_[1]) << 16)
                          | (std::uint32_t(p_[2]) << 8) | std::uint32_t(p_[3]);
        p_ += 4;
        return v;
    }
    std::uint64_t u64() noexcept
    {
        std::uint64_t hi = u32();
        return (hi << 32) | u32();
    }
    std::string_view bytes(std::size_t n) noexcept
    {
        std::string_view s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return s;
    }

private:
    const unsigned char* p_;
    const unsigned char* end_;
};

/* The first byte of a value, sorted into what the reader does next. */
enum class Kind : std::uint8_t {
    nil, boolean, uint, sint, f32, f64, str, bin, array, map, ext, never,
};

struct Head {
    Kind kind = Kind::never;
    std::uint64_t n = 0;      /* a uint, a length, a count, a bool */
    std::int64_t i = 0;       /* a sint */
    std::int8_t ext = 0;      /* an ext's type */
    bool fixed = false;       /* a fixext (notepack reads type 0 by it) */
};

/* A payload must be there; every element of a container takes a byte at
   least, every entry of a map two: checked before anything is allocated. */
std::optional<Error> fits(const Cursor& in, const Head& h) noexcept
{
    bool ok = true;
    switch (h.kind) {
    case Kind::str:
    case Kind::bin:
    case Kind::ext:
    case Kind::array:
        ok = in.has(h.n);
        break;
    case Kind::map:
        ok = h.n <= in.left() / 2;
        break;
    default:
        break;
    }
    return ok ? std::nullopt : std::optional(Error::truncated);
}

/* Reads a value's first byte and what follows it up to its payload. */
std::optional<Error> read_head(Cursor& in, Head& h) noexcept
{
    if (!in.has(1)) {
        return Error::truncated;
    }
    std::uint8_t b = in.u8();

    if (b <= 0x7f) {
        h.kind = Kind::uint;
        h.n = b;
        return std::nullopt;
    }
    if (b >= 0xe0) {
        h.kind = Kind::sint;
        h.i = static_cast<std::int8_t>(b);
        return std::nullopt;
    }
    if (b <= 0x8f) {
        h.kind = Kind::map;
        h.n = b & 0x0f;
        return fits(in, h);
    }
    if (b <= 0x9f) {
        h.kind = Kind::array;
        h.n = b & 0x0f;
        return fits(in, h);
    }
    if (b <= 0xbf) {
        h.kind = Kind::str;
        h.n = b & 0x1f;
        return fits(in, h);
    }

    /* what each of 0xc0..0xdf reads next: kind, size of its length or
       value, and for fixext the payload's fixed length */
    struct Form {
        Kind kind;
        std::uint8_t width;     /* bytes of the length, or of the number */
        std::uint8_t fixlen;    /* fixext: payload bytes */
    };
    static constexpr Form forms[32] = {
        {Kind::nil, 0, 0},      /* c0 */
        {Kind::never, 0, 0},    /* c1 */
        {Kind::boolean, 0, 0},  /* c2 */
        {Kind::boolean, 0, 0},  /* c3 */
        {Kind::bin, 1, 0},      /* c4 */
        {Kind::bin, 2, 0},
        {Kind::bin, 4, 0},
        {Kind::ext, 1, 0},      /* c7 */
        {Kind::ext, 2, 0},
        {Kind::ext, 4, 0},
        {Kind::f32, 4, 0},      /* ca */
        {Kind::f64, 8, 0},
        {Kind::uint, 1, 0},     /* cc */
        {Kind::uint, 2, 0},
        {Kind::uint, 4, 0},
        {Kind::uint, 8, 0},
        {Kind::sint, 1, 0},     /* d0 */
        {Kind::sint, 2, 0},
        {Kind::sint, 4, 0},
        {Kind::sint, 8, 0},
        {Kind::ext, 0, 1},      /* d4 */
        {Kind::ext, 0, 2},
        {Kind::ext, 0, 4},
        {Kind::ext, 0, 8},
        {Kind::ext, 0, 16},
        {Kind::str, 1, 0},      /* d9 */
        {Kind::str, 2, 0},
        {Kind::str, 4, 0},
        {Kind::array, 2, 0},    /* dc */
        {Kind::array, 4, 0},
        {Kind::map, 2, 0},      /* de */
        {Kind::map, 4, 0},
    };
    const Form& f = forms[b - 0xc0];
    h.kind = f.kind;

    if (f.kind == Kind::never) {
        return Error::bad_byte;
    }
    if (f.kind == Kind::boolean) {
        h.n = b == 0xc3;
        return std::nullopt;
    }
    if (!in.has(f.width + (f.kind == Kind::ext ? 1u : 0u))) {
        return Error::truncated;
    }
    std::uint64_t n = 0;
    switch (f.width) {
    case 1: n = in.u8(); break;
    case 2: n = in.u16(); break;
    case 4: n = in.u32(); break;
    case 8: n = in.u64(); break;
    default: break;
    }
    if (f.kind == Kind::sint) {
        switch (f.width) {
        case 1: h.i = static_cast<std::int8_t>(n); break;
        case 2: h.i = static_cast<std::int16_t>(n); break;
        case 4: h.i = static_cast<std::int32_t>(n); break;
        default: h.i = static_cast<std::int64_t>(n); break;
        }
        return std::nullopt;
    }
    if (f.kind == Kind::ext) {
        h.ext = static_cast<std::int8_t>(in.u8());
        h.fixed = f.width == 0;
        n = h.fixed ? f.fixlen : n;
    }
    h.n = n;
    return fits(in, h);
}

/* As JavaScript's `new Date(ms)` then `toJSON()`: ISO 8601 in UTC with
   milliseconds, six-digit signed years outside 0..9999; null when out of
   a Date's range (TimeClip). */
void date_json(double ms, json::value& out)
{
    if (!std::isfinite(ms) || std::fabs(ms) > 8.64e15) {
        out.emplace_null();
        return;
    }
    auto t = static_cast<std::int64_t>(std::trunc(ms));
    constexpr std::int64_t day_ms = 86400000;
    std::int64_t days = t / day_ms;
    std::int64_t in_day = t % day_ms;
    if (in_day < 0) {
        in_day += day_ms;
        days -= 1;
    }

    /* civil_from_days, from Howard Hinnant's date algorithms */
    std::int64_t z = days + 719468;
    std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    std::int64_t doe = z - era * 146097;
    std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    std::int64_t y = yoe + era * 400;
    std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    std::int64_t mp = (5 * doy + 2) / 153;
    std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;

    char buf[40];
    char* p = buf;
    auto put = [&p](std::int64_t v, int width) {
        char tmp[24];
        auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
        for (auto k = r.ptr - tmp; k < width; k++) {
            *p++ = '0';
        }
        std::memcpy(p, tmp, static_cast<std::size_t>(r.ptr - tmp));
        p += r.ptr - tmp;
    };
    if (y >= 0 && y <= 9999) {
        put(y, 4);
    } else {
        *p++ = y < 0 ? '-' : '+';
        put(y < 0 ? -y : y, 6);
    }
    *p++ = '-';
    put(m, 2);
    *p++ = '-';
    put(d, 2);
    *p++ = 'T';
    put(in_day / 3600000, 2);
    *p++ = ':';
    put(in_day / 60000 % 60, 2);
    *p++ = ':';
    put(in_day / 1000 % 60, 2);
    *p++ = '.';
    put(in_day % 1000, 3);
    *p++ = 'Z';
    out.emplace_string().assign(buf, static_cast<std::size_t>(p - buf));
}

/* A number as JavaScript holds it, for JSON.stringify. */
void number_json(double d, json::value& out)
{
    if (!std::isfinite(d)) {
        out.emplace_null();
    } else if (d == std::floor(d) && d >= -two_63 && d < two_63) {
        out.emplace_int64() = static_cast<std::int64_t>(d);
    } else if (d == std::floor(d) && d >= 0 && d < two_64) {
        out.emplace_uint64() = static_cast<std::uint64_t>(d);
    } else {
        out.emplace_double() = d;
    }
}

/* A key JavaScript keeps as an array index: "0", or digits without a
   leading zero, below 2^32 - 1. Objects list those first, ascending. */
bool array_index(std::string_view k, std::uint32_t& v) noexcept
{
    if (k.empty() || k.size() > 10 || (k.size() > 1 && k[0] == '0')) {
        return false;
    }
    std::uint64_t n = 0;
    for (char c : k) {
        if (c < '0' || c > '9') {
            return false;
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n >= 0xffffffffULL) {
        return false;
    }
    v = static_cast<std::uint32_t>(n);
    return true;
}

class Decoder {
public:
    Decoder(std::string_view in, const Limits& limits, json::storage_ptr sp)
        : in_(in), limits_(limits), sp_(std::move(sp)) {}

    Cursor& cursor() noexcept { return in_; }
    const json::storage_ptr& storage() const noexcept { return sp_; }

    /* where the binaries of what is read next go */
    void attach_to(std::vector<std::string>* a) noexcept { att_ = a; }

    std::optional<Error> value(json::value& out, std::size_t depth)
    {
        Head h;
        if (auto e = read_head(in_, h)) {
            return e;
        }
        switch (h.kind) {
        case Kind::nil:
            out.emplace_null();
            return std::nullopt;
        case Kind::boolean:
            out.emplace_bool() = h.n != 0;
            return std::nullopt;
        case Kind::uint:
            if (h.n > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
                out.emplace_uint64() = h.n;
            } else {
                out.emplace_int64() = static_cast<std::int64_t>(h.n);
            }
            return std::nullopt;
        case Kind::sint:
            out.emplace_int64() = h.i;
            return std::nullopt;
        case Kind::f32: {
            std::uint32_t bits = static_cast<std::uint32_t>(h.n);
            float f;
            std::memcpy(&f, &bits, sizeof(f));
            number_json(static_cast<double>(f), out);
            return std::nullopt;
        }
        case Kind::f64: {
            double d;
            std::memcpy(&d, &h.n, sizeof(d));
            number_json(d, out);
            return std::nullopt;
        }
        case Kind::str:
            return string(h.n, out);
        case Kind::bin:
            return binary(in_.bytes(static_cast<std::size_t>(h.n)), out);
        case Kind::ext:
            return ext(h, out);
        case Kind::array:
            return array(h.n, out, depth);
        case Kind::map:
            return map(h.n, out, depth);
        case Kind::never:
            break;
        }
        return Error::bad_byte;
    }

    /* A map key as JavaScript's `obj[key] = ...` names it. */
    std::optional<Error> key(std::string& out)
    {
        Head h;
        if (auto e = read_head(in_, h)) {
            return e;
        }
        char tmp[24];
        switch (h.kind) {
        case Kind::str: {
            std::string_view s = in_.bytes(static_cast<std::size_t>(h.n));
            if (s.size() > json::string::max_size()) {
                return Error::too_long;
            }
            if (auto fixed = util::repair_utf8(s)) {
                out = std::move(*fixed);
            } else {
                out.assign(s);
            }
            return std::nullopt;
        }
        case Kind::uint:
            if (h.n > std::uint64_t(max_safe)) {
                return Error::bad_key;
            }
            out.assign(tmp, std::to_chars(tmp, tmp + sizeof(tmp), h.n).ptr);
            return std::nullopt;
        case Kind::sint:
            if (h.i < -max_safe || h.i > max_safe) {
                return Error::bad_key;
            }
            out.assign(tmp, std::to_chars(tmp, tmp + sizeof(tmp), h.i).ptr);
            return std::nullopt;
        case Kind::nil:
            out = "null";
            return std::nullopt;
        case Kind::boolean:
            out = h.n != 0 ? "true" : "false";
            return std::nullopt;
        default:
            return Error::bad_key;
        }
    }

private:
    std::optional<Error> string(std::uint64_t n, json::value& out)
    {
        if (n > json::string::max_size()) {
            return Error::too_long;
        }
        std::string_view s = in_.bytes(static_cast<std::size_t>(n));
        if (auto fixed = util::repair_utf8(s)) {
            if (fixed->size() > json::string::max_size()) {
                return Error::too_long;
            }
            out.emplace_string().assign(*fixed);
        } else {
            out.emplace_string().assign(s);
        }
        return std::nullopt;
    }

    /* a placeholder; the bytes go to att_, or nowhere when it is null */
    std::optional<Error> binary(std::string_view bytes, json::value& out)
    {
        if (++binaries_ > limits_.max_attachments) {
            return Error::too_many_attachments;
        }
        std::int64_t num = 0;
        if (att_ != nullptr) {
            num = static_cast<std::int64_t>(att_->size());
            att_->emplace_back(bytes);
        }
        json::object& o = out.emplace_object();
        o.reserve(2);
        o.emplace("_placeholder", true);
        o.emplace("num", num);
        return std::nullopt;
    }

    /* What notepack.io makes of an ext, as JSON.stringify writes it. */
    std::optional<Error> ext(const Head& h, json::value& out)
    {
        std::string_view data = in_.bytes(static_cast<std::size_t>(h.n));
        Cursor c(data);
        auto u32 = [&c] { return static_cast<double>(c.u32()); };
        auto i32 = [&c] {
            return static_cast<double>(static_cast<std::int32_t>(c.u32()));
        };

        if (h.ext == -1 && data.size() == 4) {            /* timestamp 32 */
            date_json(u32() * 1e3, out);
            return std::nullopt;
        }
        if (h.ext == -1 && data.size() == 8) {            /* timestamp 64 */
            std::uint32_t hi = c.u32();
            double lo = u32();
            double s = (hi & 0x3) * 4294967296.0 + lo;
            date_json(s * 1e3 + (hi >> 2) / 1e6, out);
            return std::nullopt;
        }
        if (h.ext == -1 && data.size() == 12) {           /* timestamp 96 */
            double ns = u32();
            double hi = i32();
            double lo = u32();
            date_json((hi * 4294967296.0 + lo) * 1e3 + ns / 1e6, out);
            return std::nullopt;
        }
        if (h.ext == 0 && h.fixed && data.size() == 8) {  /* old Date */
            double hi = i32() * 4294967296.0;
            double lo = u32();
            date_json(hi + lo, out);
            return std::nullopt;
        }
        if (h.ext == 0 && !h.fixed) {                     /* old ArrayBuffer */
            return binary(data, out);
        }
        out.emplace_null();
        return std::nullopt;
    }

    std::optional<Error> array(std::uint64_t n, json::value& out,
                               std::size_t depth)
    {
        if (depth >= limits_.max_depth) {
            return Error::too_deep;
        }
        if (n > json::array::max_size()) {
            return Error::too_long;
        }
        json::array& a = out.emplace_array();
        a.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t k = 0; k < n; k++) {
            a.emplace_back(nullptr);
            if (auto e = value(a.back(), depth + 1)) {
                return e;
            }
        }
        return std::nullopt;
    }

    std::optional<Error> map(std::uint64_t n, json::value& out,
                             std::size_t depth)
    {
        if (depth >= limits_.max_depth) {
            return Error::too_deep;
        }
        if (n > json::object::max_size()) {
            return Error::too_long;
        }
        json::object& o = out.emplace_object();
        o.reserve(static_cast<std::size_t>(n));
        /* where each entry's binaries start, in case they must move */
        std::size_t base = starts_.size();
        bool js_ordered = true;
        bool plain_seen = false;
        std::int64_t last_index = -1;
        std::string k;
        for (std::uint64_t i = 0; i < n; i++) {
            starts_.push_back(att_ != nullptr ? att_->size() : 0);
            if (auto e = key(k)) {
                return e;
            }
            if (o.contains(k)) {
                return Error::duplicate_key;
            }
            std::uint32_t index = 0;
            if (array_index(k, index)) {
                js_ordered = js_ordered && !plain_seen && index > last_index;
                last_index = index;
            } else {
                plain_seen = true;
            }
            json::value v(o.storage());
            if (auto e = value(v, depth + 1)) {
                return e;
            }
            o.emplace(k, std::move(v));
        }
        starts_.push_back(att_ != nullptr ? att_->size() : 0);
        if (!js_ordered) {
            to_js_order(o, base);
        }
        starts_.resize(base);
        return std::nullopt;
    }

    /*
     * A JavaScript object lists its integer-like keys first, ascending, and
     * socket.io-parser numbers the binaries in that order: so do we, and
     * the JSON is the text a Node.js server would send. The entries'
     * binaries move with them (their ranges are in starts_ from `base`).
     */
    void to_js_order(json::object& o, std::size_t base)
    {
        std::size_t n = o.size();
        std::vector<std::pair<std::int64_t, std::size_t>> order;
        order.reserve(n);
        std::size_t i = 0;
        for (const auto& kv : o) {
            std::uint32_t index = 0;
            bool is_index = array_index(kv.key(), index);
            /* plain keys after every index, in their order */
            order.emplace_back(is_index ? std::int64_t(index)
                                        : std::int64_t(1) << 32,
                               i++);
        }
        std::stable_sort(order.begin(), order.end(),
                         [](const auto& a, const auto& b) {
                             return a.first < b.first;
                         });

        std::size_t first = starts_[base];
        std::size_t last = starts_[base + n];
        std::vector<std::int64_t> renumber(last - first);
        std::vector<std::string> moved;
        moved.reserve(last - first);
        for (const auto& [key, from] : order) {
            (void)key;
            for (std::size_t a = starts_[base + from];
                 a < starts_[base + from + 1]; a++)
            {
                renumber[a - first] =
                    static_cast<std::int64_t>(first + moved.size());
                moved.push_back(std::move((*att_)[a]));
            }
        }

        json::object sorted(o.storage());
        sorted.reserve(n);
        auto entries = o.begin();
        for (const auto& [key, from] : order) {
            (void)key;
            json::key_value_pair& kv = entries[from];
            if (last > first) {
                retarget(kv.value(), first, last, renumber);
            }
            sorted.emplace(kv.key(), std::move(kv.value()));
        }
        o = std::move(sorted);
        if (att_ != nullptr) {
            std::move(moved.begin(), moved.end(), att_->begin() + first);
        }
    }

    /* The placeholders in v naming [first, last) get their new numbers.
       (A map that only looks like one and names that range too cannot be
       told apart: Socket.IO's own ambiguity.) */
    static void retarget(json::value& v, std::size_t first, std::size_t last,
                         const std::vector<std::int64_t>& renumber)
    {
        if (json::array* a = v.if_array()) {
            for (json::value& e : *a) {
                retarget(e, first, last, renumber);
            }
            return;
        }
        json::object* o = v.if_object();
        if (o == nullptr) {
            return;
        }
        json::value* mark = o->if_contains("_placeholder");
        json::value* num = o->if_contains("num");
        if (mark != nullptr && mark->is_bool() && mark->get_bool()
            && num != nullptr && num->is_int64() && num->get_int64() >= 0
            && static_cast<std::size_t>(num->get_int64()) >= first
            && static_cast<std::size_t>(num->get_int64()) < last)
        {
            *num = renumber[static_cast<std::size_t>(num->get_int64()) - first];
            return;
        }
        for (auto& kv : *o) {
            retarget(kv.value(), first, last, renumber);
        }
    }

    Cursor in_;
    Limits limits_;
    json::storage_ptr sp_;
    std::vector<std::string>* att_ = nullptr;
    std::vector<std::size_t> starts_;   /* maps being read, entry by entry */
    std::size_t binaries_ = 0;
};

/* ---------------------------------------------------------------- */
/* writing                                                          */
/* ---------------------------------------------------------------- */

void put_be(std::string& out, std::uint8_t first, std::uint64_t v, int bytes)
{
    char tmp[9];
    tmp[0] = static_cast<char>(first);
    for (int k = 0; k < bytes; k++) {
        tmp[1 + k] = static_cast<char>(v >> (8 * (bytes - 1 - k)));
    }
    out.append(tmp, static_cast<std::size_t>(bytes) + 1);
}

void put_uint(std::string& out, std::uint64_t v)
{
    if (v < 0x80) {
        out.push_back(static_cast<char>(v));
    } else if (v < 0x100) {
        put_be(out, 0xcc, v, 1);
    } else if (v < 0x10000) {
        put_be(out, 0xcd, v, 2);
    } else if (v < 0x100000000) {
        put_be(out, 0xce, v, 4);
    } else {
        put_be(out, 0xcf, v, 8);
    }
}

/* notepack writes every non-negative integer unsigned */
void put_int(std::string& out, std::int64_t v)
{
    if (v >= 0) {
        put_uint(out, static_cast<std::uint64_t>(v));
        return;
    }
    auto bits = static_cast<std::uint64_t>(v);
    if (v >= -0x20) {
        out.push_back(static_cast<char>(bits));
    } else if (v >= -0x80) {
        put_be(out, 0xd0, bits, 1);
    } else if (v >= -0x8000) {
        put_be(out, 0xd1, bits, 2);
    } else if (v >= -0x80000000LL) {
        put_be(out, 0xd2, bits, 4);
    } else {
        put_be(out, 0xd3, bits, 8);
    }
}

/*
 * A JavaScript number with an integer value is an integer to notepack.
 * It computes the 64-bit forms with 32-bit arithmetic that wraps beyond
 * 2^64 and below -2^63; those we write as float 64, the value itself.
 */
void put_double(std::string& out, double d)
{
    if (std::isfinite(d) && d == std::floor(d)) {
        if (d >= 0 && d < two_64) {
            put_uint(out, static_cast<std::uint64_t>(d));
            return;
        }
        if (d < 0 && d >= -two_63) {
            put_int(out, static_cast<std::int64_t>(d));
            return;
        }
    }
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof(bits));
    put_be(out, 0xcb, bits, 8);
}

void put_str(std::string& out, std::string_view s)
{
    std::size_t n = s.size();
    if (n < 0x20) {
        out.push_back(static_cast<char>(0xa0 | n));
    } else if (n < 0x100) {
        put_be(out, 0xd9, n, 1);
    } else if (n < 0x10000) {
        put_be(out, 0xda, n, 2);
    } else {
        put_be(out, 0xdb, n, 4);
    }
    out.append(s);
}

void put_bin(std::string& out, std::string_view b)
{
    std::size_t n = b.size();
    if (n < 0x100) {
        put_be(out, 0xc4, n, 1);
    } else if (n < 0x10000) {
        put_be(out, 0xc5, n, 2);
    } else {
        put_be(out, 0xc6, n, 4);
    }
    out.append(b);
}

void put_array_header(std::string& out, std::size_t n)
{
    if (n < 0x10) {
        out.push_back(static_cast<char>(0x90 | n));
    } else if (n < 0x10000) {
        put_be(out, 0xdc, n, 2);
    } else {
        put_be(out, 0xdd, n, 4);
    }
}

void put_map_header(std::string& out, std::size_t n)
{
    if (n < 0x10) {
        out.push_back(static_cast<char>(0x80 | n));
    } else if (n < 0x10000) {
        put_be(out, 0xde, n, 2);
    } else {
        put_be(out, 0xdf, n, 4);
    }
}

/* The attachment a placeholder names, if it is one (socket.io-parser's
   reconstructPacket test: _placeholder true, num a valid index). */
const std::string* placeholder(const json::object& o,
                               const std::vector<std::string>& att) noexcept
{
    const json::value* mark = o.if_contains("_placeholder");
    if (mark == nullptr || !mark->is_bool() || !mark->get_bool()) {
        return nullptr;
    }
    const json::value* num = o.if_contains("num");
    if (num == nullptr) {
        return nullptr;
    }
    if (num->is_int64() && num->get_int64() >= 0
        && static_cast<std::uint64_t>(num->get_int64()) < att.size())
    {
        return &att[static_cast<std::size_t>(num->get_int64())];
    }
    if (num->is_uint64() && num->get_uint64() < att.size()) {
        return &att[static_cast<std::size_t>(num->get_uint64())];
    }
    return nullptr;
}

void put_value(std::string& out, const json::value& v,
               const std::vector<std::string>& att);

void put_object(std::string& out, const json::object& o,
                const std::vector<std::string>& att)
{
    if (const std::string* bin = placeholder(o, att)) {
        put_bin(out, *bin);
        return;
    }
    put_map_header(out, o.size());

    std::uint32_t index = 0;
    bool any_index = false;
    for (const auto& kv : o) {
        if (array_index(kv.key(), index)) {
            any_index = true;
            break;
        }
    }
    if (!any_index) {
        for (const auto& kv : o) {
            put_str(out, kv.key());
            put_value(out, kv.value(), att);
        }
        return;
    }

    std::vector<std::pair<std::uint32_t, const json::key_value_pair*>> first;
    std::vector<const json::key_value_pair*> rest;
    for (const auto& kv : o) {
        if (array_index(kv.key(), index)) {
            first.emplace_back(index, &kv);
        } else {
            rest.push_back(&kv);
        }
    }
    std::sort(first.begin(), first.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [n, kv] : first) {
        (void)n;
        put_str(out, kv->key());
        put_value(out, kv->value(), att);
    }
    for (const auto* kv : rest) {
        put_str(out, kv->key());
        put_value(out, kv->value(), att);
    }
}

void put_value(std::string& out, const json::value& v,
               const std::vector<std::string>& att)
{
    switch (v.kind()) {
    case json::kind::null:
        out.push_back(static_cast<char>(0xc0));
        return;
    case json::kind::bool_:
        out.push_back(static_cast<char>(v.get_bool() ? 0xc3 : 0xc2));
        return;
    case json::kind::int64:
        put_int(out, v.get_int64());
        return;
    case json::kind::uint64:
        put_uint(out, v.get_uint64());
        return;
    case json::kind::double_:
        put_double(out, v.get_double());
        return;
    case json::kind::string:
        put_str(out, v.get_string());
        return;
    case json::kind::array:
        put_array_header(out, v.get_array().size());
        for (const auto& e : v.get_array()) {
            put_value(out, e, att);
        }
        return;
    case json::kind::object:
        put_object(out, v.get_object(), att);
        return;
    }
}

/* ---------------------------------------------------------------- */
/* JSON text in                                                     */
/* ---------------------------------------------------------------- */

/*
 * Boost.JSON's parser as json::parse builds it, but with every double read
 * again from its text by std::from_chars: Boost 1.81 rounds about one
 * double in four to a neighbour, and a number a client sent must reach the
 * other servers' clients as it was.
 */
struct ExactHandler {
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    json::value_stack st;
    std::string number;       /* the text of a number split across parts */

    using ec_t = boost::system::error_code;
    bool on_document_begin(ec_t&) { return true; }
    bool on_document_end(ec_t&) { return true; }
    bool on_object_begin(ec_t&) { return true; }
    bool on_object_end(std::size_t n, ec_t&)
    {
        st.push_object(n);
        return true;
    }
    bool on_array_begin(ec_t&) { return true; }
    bool on_array_end(std::size_t n, ec_t&)
    {
        st.push_array(n);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, ec_t&)
    {
        st.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t, ec_t&)
    {
        st.push_key(s);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, ec_t&)
    {
        st.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, ec_t&)
    {
        st.push_string(s);
        return true;
    }
    bool on_number_part(json::string_view s, ec_t&)
    {
        number.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view, ec_t&)
    {
        number.clear();
        st.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, ec_t&)
    {
        number.clear();
        st.push_uint64(u);
        return true;
    }
    bool on_double(double d, json::string_view s, ec_t&)
    {
        number.append(s.data(), s.size());
        double exact = 0;
        const char* end = number.data() + number.size();
        auto r = std::from_chars(number.data(), end, exact);
        /* out of range: Boost's answer (an infinity, or zero) stands */
        if (r.ec == std::errc() && r.ptr == end) {
            d = exact;
        }
        number.clear();
        st.push_double(d);
        return true;
    }
    bool on_bool(bool b, ec_t&)
    {
        st.push_bool(b);
        return true;
    }
    bool on_null(ec_t&)
    {
        st.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, ec_t&) { return true; }
    bool on_comment(json::string_view, ec_t&) { return true; }
};

/* The JSON text, whole; false when it is not JSON. */
bool parse_exact(std::string_view text, std::size_t max_depth,
                 json::storage_ptr sp, json::value& out)
{
    json::parse_options opt;
    opt.max_depth = max_depth;
    json::basic_parser<ExactHandler> p(opt);
    p.handler().st.reset(std::move(sp));
    boost::system::error_code ec;
    std::size_t n = p.write_some(false, text.data(), text.size(), ec);
    if (ec || n != text.size()) {
        return false;
    }
    out = p.handler().st.release();
    return true;
}

/* ---------------------------------------------------------------- */
/* the broadcast message                                            */
/* ---------------------------------------------------------------- */

/* rooms and except: strings, or integers as their decimal text */
std::optional<Error> read_rooms(Decoder& dec, std::vector<std::string>& out)
{
    json::value v(dec.storage());
    if (auto e = dec.value(v, 2)) {
        return e;
    }
    if (v.is_null()) {
        return std::nullopt;
    }
    if (!v.is_array()) {
        return Error::bad_rooms;
    }
    out.reserve(v.get_array().size());
    char tmp[24];
    for (const json::value& r : v.get_array()) {
        if (r.is_string()) {
            out.emplace_back(r.get_string());
        } else if (r.is_int64()) {
            out.emplace_back(tmp,
                             std::to_chars(tmp, tmp + sizeof(tmp),
                                           r.get_int64()).ptr);
        } else if (r.is_uint64()) {
            out.emplace_back(tmp,
                             std::to_chars(tmp, tmp + sizeof(tmp),
                                           r.get_uint64()).ptr);
        } else {
            return Error::bad_rooms;
        }
    }
    return std::nullopt;
}

/* A map's head, or `wrong` when the value is something else. */
std::optional<Error> map_head(Cursor& in, std::uint64_t& n, Error wrong)
{
    Head h;
    if (auto e = read_head(in, h)) {
        return e;
    }
    if (h.kind != Kind::map) {
        return wrong;
    }
    n = h.n;
    return std::nullopt;
}

std::optional<Error> read_packet(Decoder& dec, BroadcastPacket& p)
{
    std::uint64_t n = 0;
    if (auto e = map_head(dec.cursor(), n, Error::bad_packet)) {
        return e;
    }
    bool seen_type = false, seen_nsp = false, seen_data = false,
         seen_id = false;
    std::string k;
    for (std::uint64_t i = 0; i < n; i++) {
        if (auto e = dec.key(k)) {
            return e;
        }
        bool* seen = k == "type"   ? &seen_type
                     : k == "nsp"  ? &seen_nsp
                     : k == "data" ? &seen_data
                     : k == "id"   ? &seen_id
                                   : nullptr;
        if (seen != nullptr && *seen) {
            return Error::duplicate_key;
        }
        if (seen != nullptr) {
            *seen = true;
        }
        dec.attach_to(k == "data" ? &p.attachments : nullptr);
        json::value v(dec.storage());
        if (auto e = dec.value(v, 2)) {
            return e;
        }
        if (k == "type") {
            if (!v.is_int64() || v.get_int64() < 0 || v.get_int64() > 6) {
                return Error::bad_packet;
            }
            p.type = static_cast<int>(v.get_int64());
        } else if (k == "nsp") {
            if (!v.is_string()) {
                return Error::bad_packet;
            }
            p.nsp.assign(v.get_string());
        } else if (k == "data") {
            if (!v.is_array()) {
                return Error::bad_data;
            }
            p.data = json::serialize(v);
        } else if (k == "id") {
            if (v.is_int64() && v.get_int64() >= 0) {
                p.id = static_cast<std::uint64_t>(v.get_int64());
            } else if (v.is_uint64()) {
                p.id = v.get_uint64();
            } else if (!v.is_null()) {
                return Error::bad_packet;
            }
        }
    }
    dec.attach_to(nullptr);
    if (!seen_type) {
        return Error::bad_packet;
    }
    if (!seen_data) {
        return Error::bad_data;
    }
    return std::nullopt;
}

std::optional<Error> read_opts(Decoder& dec, BroadcastOptions& o)
{
    std::uint64_t n = 0;
    if (auto e = map_head(dec.cursor(), n, Error::bad_opts)) {
        return e;
    }
    dec.attach_to(nullptr);
    bool seen_rooms = false, seen_except = false, seen_flags = false;
    std::string k;
    for (std::uint64_t i = 0; i < n; i++) {
        if (auto e = dec.key(k)) {
            return e;
        }
        bool* seen = k == "rooms"    ? &seen_rooms
                     : k == "except" ? &seen_except
                     : k == "flags"  ? &seen_flags
                                     : nullptr;
        if (seen != nullptr && *seen) {
            return Error::duplicate_key;
        }
        if (seen != nullptr) {
            *seen = true;
        }
        if (k == "rooms" || k == "except") {
            if (auto e = read_rooms(dec, k == "rooms" ? o.rooms : o.except)) {
                return e;
            }
            continue;
        }
        json::value v;
        if (auto e = dec.value(v, 2)) {
            return e;
        }
        if (k == "flags") {
            if (v.is_object()) {
                o.flags = std::move(v.get_object());
            } else if (!v.is_null()) {
                return Error::bad_opts;
            }
        }
    }
    dec.attach_to(nullptr);
    return std::nullopt;
}

}  // namespace

/* ---------------------------------------------------------------- */
/* the API                                                          */
/* ---------------------------------------------------------------- */

Decoded<Document> decode(std::string_view bytes, const Limits& limits,
                         json::storage_ptr sp)
{
    Document doc{json::value(sp), {}};
    Decoder dec(bytes, limits, std::move(sp));
    dec.attach_to(&doc.attachments);
    if (auto e = dec.value(doc.json, 0)) {
        return *e;
    }
    if (dec.cursor().left() != 0) {
        return Error::trailing;
    }
    return doc;
}

void encode(std::string& out, const json::value& v,
            const std::vector<std::string>& attachments)
{
    put_value(out, v, attachments);
}

Decoded<Document> decode_request(std::string_view bytes,
                                 const Limits& limits)
{
    if (!bytes.empty() && bytes[0] == '{') {
        Document doc;
        if (!parse_exact(bytes, limits.max_depth, {}, doc.json)) {
            return Error::bad_json;
        }
        return doc;
    }
    return decode(bytes, limits);
}

std::optional<Error> encode_broadcast(std::string& out, const Broadcast& b)
{
    const BroadcastPacket& p = b.packet;
    json::monotonic_resource mr;
    json::value data;
    /* the message's array and the packet's map hold the data */
    std::size_t depth = Limits{}.max_depth - 2;
    if (!parse_exact(p.data, depth, &mr, data) || !data.is_array()) {
        return Error::bad_json;
    }

    out.push_back(static_cast<char>(0x93));
    put_str(out, b.uid);

    /* the keys in the order the adapter's packet object has them */
    put_map_header(out, p.id ? 4 : 3);
    put_str(out, "type");
    int type = p.type == 5 ? 2 : p.type == 6 ? 3 : p.type;
    put_int(out, type);
    put_str(out, "data");
    put_value(out, data, p.attachments);
    put_str(out, "nsp");
    put_str(out, p.nsp);
    if (p.id) {
        put_str(out, "id");
        put_uint(out, *p.id);
    }

    put_map_header(out, 3);
    put_str(out, "rooms");
    put_array_header(out, b.opts.rooms.size());
    for (const std::string& r : b.opts.rooms) {
        put_str(out, r);
    }
    put_str(out, "except");
    put_array_header(out, b.opts.except.size());
    for (const std::string& r : b.opts.except) {
        put_str(out, r);
    }
    put_str(out, "flags");
    put_object(out, b.opts.flags, {});
    return std::nullopt;
}

Decoded<Broadcast> decode_broadcast(std::string_view bytes,
                                    const Limits& limits)
{
    json::monotonic_resource mr;
    Decoder dec(bytes, limits, &mr);
    Broadcast b;

    Head h;
    if (auto e = read_head(dec.cursor(), h)) {
        return *e;
    }
    if (h.kind != Kind::array || h.n != 3) {
        return Error::bad_message;
    }

    dec.attach_to(nullptr);
    json::value uid(&mr);
    if (auto e = dec.value(uid, 1)) {
        return *e;
    }
    if (!uid.is_string()) {
        return Error::bad_uid;
    }
    b.uid.assign(uid.get_string());

    if (auto e = read_packet(dec, b.packet)) {
        return *e;
    }
    if (auto e = read_opts(dec, b.opts)) {
        return *e;
    }
    if (dec.cursor().left() != 0) {
        return Error::trailing;
    }
    return b;
}

}  // namespace socketio::redis::msgpack
