/*
 * The records' encodings and decodings, each kind's pair side by side, in
 * the order of `Rec`. A decoder reads the version byte, the fields in the
 * order its encoder writes them, and then asks that nothing be left.
 */
#include "core/cluster/records.hpp"

#include "core/bus/directory.hpp"
#include "core/bus/zone.hpp"

namespace socketio::cluster {

using util::WireReader;

std::string_view describe(DecodeError e) noexcept
{
    switch (e) {
    case DecodeError::truncated: return "truncated";
    case DecodeError::version: return "unknown version";
    case DecodeError::trailing: return "bytes after its end";
    case DecodeError::value: return "a value out of range";
    case DecodeError::unknown_kind: return "unknown kind";
    }
    return "malformed";
}

/* --- Body --- */

void Body::append_own(std::string_view s)
{
    if (!pieces_.empty() && pieces_.back().borrowed == nullptr) {
        pieces_.back().len += s.size();
    } else {
        pieces_.push_back(Piece{nullptr, own_.size(), s.size()});
    }
    own_.append(s);
}

Body& Body::str(std::string_view s)
{
    num(static_cast<std::uint32_t>(s.size()));
    append_own(s);
    return *this;
}

Body& Body::borrow(std::string_view s)
{
    num(static_cast<std::uint32_t>(s.size()));
    if (!s.empty()) {
        pieces_.push_back(Piece{s.data(), 0, s.size()});
    }
    return *this;
}

std::vector<std::string_view> Body::parts() const
{
    std::vector<std::string_view> out;
    out.reserve(pieces_.size());
    for (const Piece& p : pieces_) {
        out.emplace_back(p.borrowed != nullptr ? p.borrowed
                                               : own_.data() + p.off,
                         p.len);
    }
    return out;
}

std::string Body::bytes() const
{
    std::string out;
    out.reserve(size());
    for (std::string_view p : parts()) {
        out.append(p);
    }
    return out;
}

std::size_t Body::size() const noexcept
{
    std::size_t n = 0;
    for (const Piece& p : pieces_) {
        n += p.len;
    }
    return n;
}

/* --- StringList --- */

bool StringList::read(WireReader& in, StringList& out) noexcept
{
    auto n = in.num<std::uint32_t>();
    std::string_view start = in.rest();
    /* each string takes at least its length's 4 bytes: a count larger
       than the input fails within size/4 steps */
    for (std::uint32_t i = 0; i < n && in.ok(); i++) {
        in.str();
    }
    if (!in.ok()) {
        return false;
    }
    out.n_ = n;
    out.bytes_ = start.substr(0, start.size() - in.remaining());
    return true;
}

std::vector<std::string> StringList::to_strings() const
{
    std::vector<std::string> out;
    out.reserve(n_);
    for (std::string_view s : *this) {
        out.emplace_back(s);
    }
    return out;
}

/* --- what every decoder does first and last --- */

namespace {

/* The version byte read: false when absent or not ours. */
std::optional<DecodeError> open(WireReader& in) noexcept
{
    auto v = in.num<std::uint8_t>();
    if (!in.ok()) {
        return DecodeError::truncated;
    }
    if (v != record_version) {
        return DecodeError::version;
    }
    return std::nullopt;
}

std::optional<DecodeError> close(const WireReader& in) noexcept
{
    if (!in.ok()) {
        return DecodeError::truncated;
    }
    if (!in.done()) {
        return DecodeError::trailing;
    }
    return std::nullopt;
}

/* An answer's error on the wire: -1 for none, else eio::Error's number. */
constexpr std::int32_t no_error = -1;

std::int32_t error_code(std::optional<eio::Error> e) noexcept
{
    return e ? static_cast<std::int32_t>(*e) : no_error;
}

bool error_of(std::int32_t code, std::optional<eio::Error>& out) noexcept
{
    if (code == no_error) {
        out.reset();
        return true;
    }
    if (code < static_cast<std::int32_t>(eio::Error::unknown_transport)
        || code > static_cast<std::int32_t>(
               eio::Error::unsupported_protocol_version))
    {
        return false;
    }
    out = static_cast<eio::Error>(code);
    return true;
}

/* A decoder's body: `read(in, value)` reads the fields after the version
   byte, false for a value out of range. */
template <typename T, typename Read>
Decoded<T> decode_with(std::string_view body, Read read) noexcept
{
    WireReader in(body);
    if (auto e = open(in)) {
        return *e;
    }
    T v{};
    bool in_range = read(in, v);
    if (auto e = close(in)) {
        return *e;
    }
    if (!in_range) {
        return DecodeError::value;
    }
    return v;
}

}  // namespace

namespace records {

/* --- broadcast: nsp, rooms, except, frames (its encoder is a template,
   in records.hpp, for the kinds of lists it is given) --- */

Decoded<Broadcast> Broadcast::decode(std::string_view body) noexcept
{
    return decode_with<Broadcast>(body, [](WireReader& in, Broadcast& m) {
        m.offset = in.num<std::uint64_t>();
        m.nsp = in.str();
        /* a list that fails leaves `in` not ok: the rest read as empty */
        StringList::read(in, m.rooms);
        StringList::read(in, m.except);
        StringList::read(in, m.frames);
        return true;
    });
}

std::uint64_t Broadcast::peek_offset(std::string_view body) noexcept
{
    WireReader in(body);
    if (open(in)) {
        return 0;
    }
    return in.num<std::uint64_t>();
}

/* --- post: sid, token, payload --- */

void Post::encode(Body& out) const
{
    out.num(record_version).str(sid).num(token).borrow(payload);
}

Decoded<Post> Post::decode(std::string_view body) noexcept
{
    return decode_with<Post>(body, [](WireReader& in, Post& m) {
        m.sid = in.str();
        m.token = in.num<std::uint64_t>();
        m.payload = in.str();
        return true;
    });
}

/* --- post_done: token, error --- */

void PostDone::encode(Body& out) const
{
    out.num(record_version).num(token).num(error_code(error));
}

Decoded<PostDone> PostDone::decode(std::string_view body) noexcept
{
    return decode_with<PostDone>(body, [](WireReader& in, PostDone& m) {
        m.token = in.num<std::uint64_t>();
        return error_of(in.num<std::int32_t>(), m.error);
    });
}

/* --- poll, poll_gone, ws_attach, ws_gone, poll_released: sid, token --- */

template <Rec K>
void SessionRequest<K>::encode(Body& out) const
{
    out.num(record_version).str(sid).num(token);
}

template <Rec K>
Decoded<SessionRequest<K>> SessionRequest<K>::decode(
    std::string_view body) noexcept
{
    return decode_with<SessionRequest>(body, [](WireReader& in,
                                                SessionRequest& m) {
        m.sid = in.str();
        m.token = in.num<std::uint64_t>();
        return true;
    });
}

template struct SessionRequest<Rec::poll>;
template struct SessionRequest<Rec::poll_gone>;
template struct SessionRequest<Rec::ws_attach>;
template struct SessionRequest<Rec::ws_gone>;
template struct SessionRequest<Rec::poll_released>;

/* --- poll_answer: token, error, payload --- */

void PollAnswer::encode(Body& out) const
{
    out.num(record_version).num(token).num(error_code(error)).borrow(payload);
}

Decoded<PollAnswer> PollAnswer::decode(std::string_view body) noexcept
{
    return decode_with<PollAnswer>(body, [](WireReader& in, PollAnswer& m) {
        m.token = in.num<std::uint64_t>();
        bool known = error_of(in.num<std::int32_t>(), m.error);
        m.payload = in.str();
        return known;
    });
}

/* --- ws_refuse: token --- */

void WsRefuse::encode(Body& out) const
{
    out.num(record_version).num(token);
}

Decoded<WsRefuse> WsRefuse::decode(std::string_view body) noexcept
{
    return decode_with<WsRefuse>(body, [](WireReader& in, WsRefuse& m) {
        m.token = in.num<std::uint64_t>();
        return true;
    });
}

/* --- ws_in: sid, token, binary (0 or 1), data --- */

void WsIn::encode(Body& out) const
{
    out.num(record_version).str(sid).num(token)
        .num(static_cast<std::uint8_t>(binary ? 1 : 0)).borrow(data);
}

Decoded<WsIn> WsIn::decode(std::string_view body) noexcept
{
    return decode_with<WsIn>(body, [](WireReader& in, WsIn& m) {
        m.sid = in.str();
        m.token = in.num<std::uint64_t>();
        auto b = in.num<std::uint8_t>();
        m.binary = b != 0;
        m.data = in.str();
        return b <= 1;
    });
}

/* --- ws_out: token, frames (encoder in records.hpp, as broadcast's) --- */

Decoded<WsOut> WsOut::decode(std::string_view body) noexcept
{
    return decode_with<WsOut>(body, [](WireReader& in, WsOut& m) {
        m.token = in.num<std::uint64_t>();
        StringList::read(in, m.frames);
        return true;
    });
}

/* --- ws_close: token, code, reason --- */

void WsClose::encode(Body& out) const
{
    out.num(record_version).num(token).num(code).str(reason);
}

Decoded<WsClose> WsClose::decode(std::string_view body) noexcept
{
    return decode_with<WsClose>(body, [](WireReader& in, WsClose& m) {
        m.token = in.num<std::uint64_t>();
        m.code = in.num<std::uint16_t>();
        m.reason = in.str();
        return true;
    });
}

/* --- migrate: sid, token, from, state --- */

void Migrate::encode(Body& out) const
{
    out.num(record_version).str(sid).num(token).num(from).borrow(state);
}

Decoded<Migrate> Migrate::decode(std::string_view body) noexcept
{
    return decode_with<Migrate>(body, [](WireReader& in, Migrate& m) {
        m.sid = in.str();
        m.token = in.num<std::uint64_t>();
        m.from = in.num<std::uint64_t>();
        m.state = in.str();
        return true;
    });
}

/* --- slot_gone: slot --- */

void SlotGone::encode(Body& out) const
{
    out.num(record_version).num(slot).num(at);
}

Decoded<SlotGone> SlotGone::decode(std::string_view body) noexcept
{
    return decode_with<SlotGone>(body, [](WireReader& in, SlotGone& m) {
        m.slot = in.num<std::uint16_t>();
        m.at = in.num<std::int64_t>();
        return m.slot < bus::max_slots;
    });
}

/* --- user_put: key, name, socket id, slot, order, away until --- */

void UserPut::encode(Body& out) const
{
    out.num(record_version).str(key).str(name).str(socket_id).num(slot)
        .num(order).num(away_until);
}

Decoded<UserPut> UserPut::decode(std::string_view body) noexcept
{
    return decode_with<UserPut>(body, [](WireReader& in, UserPut& m) {
        m.key = in.str();
        m.name = in.str();
        m.socket_id = in.str();
        m.slot = in.num<std::uint16_t>();
        m.order = in.num<std::uint64_t>();
        m.away_until = in.num<std::uint64_t>();
        return m.slot < bus::max_slots || m.slot == bus::away_slot;
    });
}

/* --- user_removed: key --- */

void UserRemoved::encode(Body& out) const
{
    out.num(record_version).str(key);
}

Decoded<UserRemoved> UserRemoved::decode(std::string_view body) noexcept
{
    return decode_with<UserRemoved>(body, [](WireReader& in,
                                             UserRemoved& m) {
        m.key = in.str();
        return true;
    });
}

/* --- persist: pid, at, floor, nsp, rooms, socket (its encoder is a
   template, in records.hpp) --- */

Decoded<Persist> Persist::decode(std::string_view body) noexcept
{
    return decode_with<Persist>(body, [](WireReader& in, Persist& m) {
        m.pid = in.str();
        m.at = in.num<std::int64_t>();
        m.floor = in.num<std::uint64_t>();
        m.owner = in.num<std::uint16_t>();
        m.generation = in.num<std::uint32_t>();
        m.process = in.num<std::int32_t>();
        m.live = in.num<std::uint8_t>();
        m.nsp = in.str();
        StringList::read(in, m.rooms);
        m.socket = in.str();
        return m.owner < bus::max_slots && m.live <= 1;
    });
}

/* --- forget: pid --- */

void Forget::encode(Body& out) const
{
    out.num(record_version).str(pid);
}

Decoded<Forget> Forget::decode(std::string_view body) noexcept
{
    return decode_with<Forget>(body, [](WireReader& in, Forget& m) {
        m.pid = in.str();
        return true;
    });
}

}  // namespace records
}  // namespace socketio::cluster
