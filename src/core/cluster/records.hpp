/*
 * The schema of what workers tell each other through the broadcast log:
 * one type per record kind, its encoding and its decoding side by side
 * (records.cpp, in the order of `Rec`).
 *
 * One worker owns a session (the one that made it); a request for it that
 * lands on another worker is carried to the owner and its answer back, and
 * a WebSocket that joins the session on another worker takes the session
 * with it (the session moves to the worker holding its WebSocket, so that a
 * WebSocket session's traffic never crosses workers).
 *
 * Every body starts with a version byte (`record_version`). Old and new
 * workers of a reload share the log, so a body is read only by a decoder
 * of its version: a worker drops (logs and counts) what it cannot read
 * instead of guessing. Decoding never throws and never allocates: the
 * decoded value holds views into the record's bytes (valid while the
 * reader's pin holds the record), so a broadcast's frames go from the log
 * to the sockets without a copy. A body is read whole or refused: a length
 * that runs past the end, bytes left over, or a value out of its range
 * are errors, never a partial value.
 *
 * Encoding writes small fields into a Body and borrows the big byte
 * strings (frames, payloads) where they already are: the log copies each
 * byte once, from its source into the ring.
 */
#pragma once

#include "core/eio/error.hpp"
#include "core/util/wire.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace socketio::cluster {

enum class Rec : std::uint16_t {
    broadcast = 1,    /* to all: a packet for the sockets of some rooms */
    post,             /* to owner: a POST's payload */
    post_done,        /* to origin: its answer */
    poll,             /* to owner: a GET waits at the origin */
    poll_gone,        /* to owner: that GET went away */
    poll_answer,      /* to origin: the GET's payload, or an error */
    ws_attach,        /* to owner: a WebSocket at the origin joins */
    ws_refuse,        /* to origin: it may not */
    ws_in,            /* to owner: a message from that WebSocket */
    ws_out,           /* to origin: frames for it */
    ws_close,         /* to origin: close it */
    ws_gone,          /* to owner: it closed */
    migrate,          /* to origin: the session, now yours */
    slot_gone,        /* to all: a worker died, or left */
    poll_released,    /* to owner: that GET was answered "ask again" */
    user_put,         /* to all: a chat user named or renamed */
    user_removed,     /* to all: a chat user gone */
    persist,          /* to all: a socket kept for recovery */
    forget,           /* to all: that socket came back (or may not) */
};

inline constexpr std::uint16_t rec_first = 1;
inline constexpr std::uint16_t rec_last =
    static_cast<std::uint16_t>(Rec::forget);

/* The first byte of every body. A new layout of any kind takes the next. */
inline constexpr std::uint8_t record_version = 3;

enum class DecodeError : std::uint8_t {
    truncated,     /* a field or a length runs past the end */
    version,       /* a version this worker does not read */
    trailing,      /* bytes after the last field */
    value,         /* a field out of its range */
    unknown_kind,  /* a record type this worker does not know */
};

std::string_view describe(DecodeError e) noexcept;

/* A decoded record, or why there is none. */
template <typename T>
class Decoded {
public:
    Decoded(T value) noexcept : v_(std::move(value)) {}
    Decoded(DecodeError e) noexcept : v_(e) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    const T& operator*() const noexcept { return *std::get_if<0>(&v_); }
    const T* operator->() const noexcept { return std::get_if<0>(&v_); }
    DecodeError error() const noexcept
    {
        const DecodeError* e = std::get_if<1>(&v_);
        return e != nullptr ? *e : DecodeError::value;
    }

private:
    std::variant<T, DecodeError> v_;
};

/*
 * A body being encoded: pieces the log puts end to end. Numbers and short
 * strings are copied here; borrowed strings stay where they are (they must
 * outlive the publish that copies them into the log).
 */
class Body {
public:
    Body() { own_.reserve(64); }

    template <typename T>
    Body& num(T v)
    {
        const char* p = reinterpret_cast<const char*>(&v);
        append_own(std::string_view(p, sizeof(v)));
        return *this;
    }
    /* length-prefixed, copied */
    Body& str(std::string_view s);
    /* length-prefixed, the bytes borrowed */
    Body& borrow(std::string_view s);

    /* a count, then each string as str() or borrow() writes it */
    template <typename Strings>
    Body& list(const Strings& strings, bool borrowed)
    {
        std::uint32_t n = 0;
        for (const auto& s : strings) {
            (void)s;
            n++;
        }
        num(n);
        for (const auto& s : strings) {
            borrowed ? borrow(s) : str(s);
        }
        return *this;
    }

    /* for Log::publish: valid while this body and what it borrows live */
    std::vector<std::string_view> parts() const;
    /* the whole body, copied */
    std::string bytes() const;
    std::size_t size() const noexcept;

private:
    struct Piece {
        const char* borrowed;   /* null: `own_` from `off` */
        std::size_t off;
        std::size_t len;
    };
    void append_own(std::string_view s);

    std::string own_;
    std::vector<Piece> pieces_;
};

/*
 * n length-prefixed strings end to end, as Body::list writes them:
 * decoded, a view of their bytes. They were checked whole when decoded, so
 * walking them cannot fail.
 */
class StringList {
public:
    class iterator {
    public:
        iterator() = default;
        iterator(std::string_view rest, std::uint32_t left) noexcept
            : rest_(rest), left_(left) {}
        std::string_view operator*() const noexcept
        {
            std::uint32_t len;
            std::memcpy(&len, rest_.data(), sizeof(len));
            return std::string_view(rest_.data() + sizeof(len), len);
        }
        iterator& operator++() noexcept
        {
            std::uint32_t len;
            std::memcpy(&len, rest_.data(), sizeof(len));
            rest_.remove_prefix(sizeof(len) + len);
            left_--;
            return *this;
        }
        bool operator==(const iterator& o) const noexcept
        {
            return left_ == o.left_;
        }
        bool operator!=(const iterator& o) const noexcept
        {
            return left_ != o.left_;
        }

    private:
        std::string_view rest_;
        std::uint32_t left_ = 0;
    };

    StringList() = default;

    std::uint32_t size() const noexcept { return n_; }
    bool empty() const noexcept { return n_ == 0; }
    iterator begin() const noexcept { return {bytes_, n_}; }
    iterator end() const noexcept { return {{}, 0}; }
    std::vector<std::string> to_strings() const;

    bool operator==(const StringList& o) const noexcept
    {
        return n_ == o.n_ && bytes_ == o.bytes_;
    }

    /* A count and that many strings from `in`; false (and `in` not ok)
       when a length runs past the end. */
    static bool read(util::WireReader& in, StringList& out) noexcept;

private:
    std::uint32_t n_ = 0;
    std::string_view bytes_;
};

namespace records {

/* A request here or there for one session: the session and the token the
   origin gave the request. Five kinds share this shape, each its own type. */
template <Rec K>
struct SessionRequest {
    static constexpr Rec kind = K;
    std::string_view sid;
    std::uint64_t token = 0;

    void encode(Body& out) const;
    static Decoded<SessionRequest> decode(std::string_view body) noexcept;
    bool operator==(const SessionRequest& o) const noexcept
    {
        return sid == o.sid && token == o.token;
    }
};

/* Rec::broadcast: frames for the sockets of some rooms of a namespace. */
struct Broadcast {
    static constexpr Rec kind = Rec::broadcast;
    std::uint64_t offset = 0;  /* its recovery offset; 0: none */
    std::string_view nsp;
    StringList rooms;      /* none: the whole namespace */
    StringList except;
    StringList frames;     /* WebSocket frames, views into the log */

    /* the frames borrowed: written once, into the log */
    template <typename Rooms, typename Frames>
    static void encode(Body& out, std::uint64_t offset, std::string_view nsp,
                       const Rooms& rooms, const Rooms& except,
                       const Frames& frames)
    {
        out.num(record_version).num(offset).str(nsp).list(rooms, false)
            .list(except, false).list(frames, true);
    }
    void encode(Body& out) const
    {
        encode(out, offset, nsp, rooms, except, frames);
    }
    static Decoded<Broadcast> decode(std::string_view body) noexcept;
    /* The offset alone, without decoding the rest (0: none, or not a
       body of this version): a recovery looks for one among many. */
    static std::uint64_t peek_offset(std::string_view body) noexcept;
    bool operator==(const Broadcast& o) const noexcept
    {
        return offset == o.offset && nsp == o.nsp && rooms == o.rooms
               && except == o.except && frames == o.frames;
    }
};

/* Rec::post: a POST's payload for the owner; token 0 wants no answer. */
struct Post {
    static constexpr Rec kind = Rec::post;
    std::string_view sid;
    std::uint64_t token = 0;
    std::string_view payload;

    void encode(Body& out) const;
    static Decoded<Post> decode(std::string_view body) noexcept;
    bool operator==(const Post& o) const noexcept
    {
        return sid == o.sid && token == o.token && payload == o.payload;
    }
};

/* Rec::post_done: the owner's answer to a POST. */
struct PostDone {
    static constexpr Rec kind = Rec::post_done;
    std::uint64_t token = 0;
    std::optional<eio::Error> error;

    void encode(Body& out) const;
    static Decoded<PostDone> decode(std::string_view body) noexcept;
    bool operator==(const PostDone& o) const noexcept
    {
        return token == o.token && error == o.error;
    }
};

using Poll = SessionRequest<Rec::poll>;
using PollGone = SessionRequest<Rec::poll_gone>;

/* Rec::poll_answer: what the owner answers a GET with. */
struct PollAnswer {
    static constexpr Rec kind = Rec::poll_answer;
    std::uint64_t token = 0;
    std::optional<eio::Error> error;   /* set: `payload` is empty */
    std::string_view payload;

    void encode(Body& out) const;
    static Decoded<PollAnswer> decode(std::string_view body) noexcept;
    bool operator==(const PollAnswer& o) const noexcept
    {
        return token == o.token && error == o.error && payload == o.payload;
    }
};

using WsAttach = SessionRequest<Rec::ws_attach>;

/* Rec::ws_refuse: the owner will not take that WebSocket. */
struct WsRefuse {
    static constexpr Rec kind = Rec::ws_refuse;
    std::uint64_t token = 0;

    void encode(Body& out) const;
    static Decoded<WsRefuse> decode(std::string_view body) noexcept;
    bool operator==(const WsRefuse& o) const noexcept
    {
        return token == o.token;
    }
};

/* Rec::ws_in: a message from a WebSocket at the origin. */
struct WsIn {
    static constexpr Rec kind = Rec::ws_in;
    std::string_view sid;
    std::uint64_t token = 0;
    bool binary = false;
    std::string_view data;

    void encode(Body& out) const;
    static Decoded<WsIn> decode(std::string_view body) noexcept;
    bool operator==(const WsIn& o) const noexcept
    {
        return sid == o.sid && token == o.token && binary == o.binary
               && data == o.data;
    }
};

/* Rec::ws_out: frames the owner sends through a WebSocket at the origin. */
struct WsOut {
    static constexpr Rec kind = Rec::ws_out;
    std::uint64_t token = 0;
    StringList frames;     /* views into the log */

    template <typename Frames>
    static void encode(Body& out, std::uint64_t token, const Frames& frames)
    {
        out.num(record_version).num(token).list(frames, true);
    }
    void encode(Body& out) const { encode(out, token, frames); }
    static Decoded<WsOut> decode(std::string_view body) noexcept;
    bool operator==(const WsOut& o) const noexcept
    {
        return token == o.token && frames == o.frames;
    }
};

/* Rec::ws_close: the owner closes a WebSocket at the origin. */
struct WsClose {
    static constexpr Rec kind = Rec::ws_close;
    std::uint64_t token = 0;
    std::uint16_t code = 0;
    std::string_view reason;

    void encode(Body& out) const;
    static Decoded<WsClose> decode(std::string_view body) noexcept;
    bool operator==(const WsClose& o) const noexcept
    {
        return token == o.token && code == o.code && reason == o.reason;
    }
};

using WsGone = SessionRequest<Rec::ws_gone>;

/* Rec::migrate: a session handed to the worker holding its WebSocket. */
struct Migrate {
    static constexpr Rec kind = Rec::migrate;
    std::string_view sid;
    std::uint64_t token = 0;       /* the WebSocket's, at the new owner */
    std::uint64_t from = 0;        /* the log position to replay from */
    std::string_view state;        /* the endpoint's saved state */

    void encode(Body& out) const;
    static Decoded<Migrate> decode(std::string_view body) noexcept;
    bool operator==(const Migrate& o) const noexcept
    {
        return sid == o.sid && token == o.token && from == o.from
               && state == o.state;
    }
};

/* Rec::slot_gone: a worker died or left. */
struct SlotGone {
    static constexpr Rec kind = Rec::slot_gone;
    std::uint16_t slot = 0;        /* below bus::max_slots */
    std::int64_t at = 0;           /* when it was found gone (monotonic ms):
                                      its sockets' recovery window starts */

    void encode(Body& out) const;
    static Decoded<SlotGone> decode(std::string_view body) noexcept;
    bool operator==(const SlotGone& o) const noexcept
    {
        return slot == o.slot && at == o.at;
    }
};

using PollReleased = SessionRequest<Rec::poll_released>;

/* Rec::user_put: a chat user named, renamed, away or back, as the
   directory has it. */
struct UserPut {
    static constexpr Rec kind = Rec::user_put;
    std::string_view key;
    std::string_view name;
    std::string_view socket_id;
    std::uint16_t slot = 0;        /* below bus::max_slots, or away_slot */
    std::uint64_t order = 0;
    std::uint64_t away_until = 0;  /* slot away_slot: listed until then */

    void encode(Body& out) const;
    static Decoded<UserPut> decode(std::string_view body) noexcept;
    bool operator==(const UserPut& o) const noexcept
    {
        return key == o.key && name == o.name && socket_id == o.socket_id
               && slot == o.slot && order == o.order
               && away_until == o.away_until;
    }
};

/* Rec::user_removed: a chat user gone. */
struct UserRemoved {
    static constexpr Rec kind = Rec::user_removed;
    std::string_view key;

    void encode(Body& out) const;
    static Decoded<UserRemoved> decode(std::string_view body) noexcept;
    bool operator==(const UserRemoved& o) const noexcept
    {
        return key == o.key;
    }
};

/*
 * Rec::persist: a recoverable socket as it is now (Socket.IO's connection
 * state recovery): `live` when it connects or changes, so that the
 * sockets of a worker that dies are found too; not live when its
 * connection closed for a reason the client may come back from. Any
 * worker that the client reaches finds the latest in the log's history.
 */
struct Persist {
    static constexpr Rec kind = Rec::persist;
    std::string_view pid;          /* the private id the client holds */
    std::int64_t at = 0;           /* when (monotonic ms) */
    std::uint64_t floor = 0;       /* the log position it connected at */
    std::uint16_t owner = 0;       /* the worker's slot, below max_slots */
    std::uint32_t generation = 0;  /* ...the worker's configuration */
    std::int32_t process = 0;      /* ...and its process (a slot taken
                                      again is another worker's) */
    std::uint8_t live = 0;         /* 1: connected; 0: its connection went */
    std::string_view nsp;
    StringList rooms;              /* its rooms, its own id's included */
    std::string_view socket;       /* what sio saved of it (opaque here) */

    template <typename Rooms>
    static void encode(Body& out, std::string_view pid, std::int64_t at,
                       std::uint64_t floor, std::uint16_t owner,
                       std::uint32_t generation, std::int32_t process,
                       bool live, std::string_view nsp, const Rooms& rooms,
                       std::string_view socket)
    {
        out.num(record_version).str(pid).num(at).num(floor).num(owner)
            .num(generation).num(process)
            .num(static_cast<std::uint8_t>(live ? 1 : 0))
            .str(nsp).list(rooms, false).borrow(socket);
    }
    void encode(Body& out) const
    {
        encode(out, pid, at, floor, owner, generation, process, live != 0,
               nsp, rooms, socket);
    }
    static Decoded<Persist> decode(std::string_view body) noexcept;
    bool operator==(const Persist& o) const noexcept
    {
        return pid == o.pid && at == o.at && floor == o.floor
               && owner == o.owner && generation == o.generation
               && process == o.process && live == o.live && nsp == o.nsp
               && rooms == o.rooms && socket == o.socket;
    }
};

/* Rec::forget: a kept socket was recovered: its pid restores nothing more. */
struct Forget {
    static constexpr Rec kind = Rec::forget;
    std::string_view pid;

    void encode(Body& out) const;
    static Decoded<Forget> decode(std::string_view body) noexcept;
    bool operator==(const Forget& o) const noexcept { return pid == o.pid; }
};

/*
 * Calls `fn(decoded)` with the record of kind `type` decoded from `body`,
 * as its own type; the error when it does not decode (unknown_kind for a
 * type not in `Rec`). For a reader that handles every kind alike (tests,
 * the fuzz target); the node dispatches kind by kind.
 */
template <typename Fn>
std::optional<DecodeError> visit(std::uint16_t type, std::string_view body,
                                 Fn&& fn);

}  // namespace records

/* --- visit, spelled out once for every kind --- */

namespace records::detail {

template <typename T, typename Fn>
std::optional<DecodeError> call(std::string_view body, Fn& fn)
{
    auto d = T::decode(body);
    if (!d) {
        return d.error();
    }
    fn(*d);
    return std::nullopt;
}

}  // namespace records::detail

template <typename Fn>
std::optional<DecodeError> records::visit(std::uint16_t type,
                                          std::string_view body, Fn&& fn)
{
    using namespace detail;
    switch (static_cast<Rec>(type)) {
    case Rec::broadcast: return call<Broadcast>(body, fn);
    case Rec::post: return call<Post>(body, fn);
    case Rec::post_done: return call<PostDone>(body, fn);
    case Rec::poll: return call<Poll>(body, fn);
    case Rec::poll_gone: return call<PollGone>(body, fn);
    case Rec::poll_answer: return call<PollAnswer>(body, fn);
    case Rec::ws_attach: return call<WsAttach>(body, fn);
    case Rec::ws_refuse: return call<WsRefuse>(body, fn);
    case Rec::ws_in: return call<WsIn>(body, fn);
    case Rec::ws_out: return call<WsOut>(body, fn);
    case Rec::ws_close: return call<WsClose>(body, fn);
    case Rec::ws_gone: return call<WsGone>(body, fn);
    case Rec::migrate: return call<Migrate>(body, fn);
    case Rec::slot_gone: return call<SlotGone>(body, fn);
    case Rec::poll_released: return call<PollReleased>(body, fn);
    case Rec::user_put: return call<UserPut>(body, fn);
    case Rec::user_removed: return call<UserRemoved>(body, fn);
    case Rec::persist: return call<Persist>(body, fn);
    case Rec::forget: return call<Forget>(body, fn);
    }
    return DecodeError::unknown_kind;
}

}  // namespace socketio::cluster
