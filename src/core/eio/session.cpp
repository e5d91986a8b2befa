#include "core/eio/session.hpp"

#include "core/eio/engine.hpp"
#include "core/util/base64.hpp"
#include "core/util/utf8.hpp"

#include <algorithm>

namespace socketio::eio {

std::string_view transport_name(TransportKind t) noexcept
{
    return t == TransportKind::polling ? "polling" : "websocket";
}

Session::Session(Engine& engine, std::string sid, TransportKind transport,
                 Millis now, WebSocketLink* ws)
    : engine_(engine),
      sid_(std::move(sid)),
      transport_(transport),
      ws_(ws),
      next_ping_(now + engine.config().ping_interval),
      last_packet_(now)
{
    const Config& c = engine_.config();

    /* the open packet: upgrades are offered to polling sessions only */
    std::string open = Encoded::start_text(PacketType::open, 128);
    open += "{\"sid\":\"";
    open += sid_;
    open += "\",\"upgrades\":[";
    if (transport_ == TransportKind::polling && c.websocket) {
        open += "\"websocket\"";
    }
    open += "],\"pingInterval\":";
    open += std::to_string(c.ping_interval);
    open += ",\"pingTimeout\":";
    open += std::to_string(c.ping_timeout);
    open += ",\"maxPayload\":";
    open += std::to_string(c.max_payload);
    open += "}";
    out_.push_back(Encoded::finish_text(std::move(open)));

    endpoint_ = engine_.handler().open(*this);
    mark_dirty();
}

Session::Session(Engine& engine, std::string sid, WebSocketLink& ws,
                 Millis now, Adopted)
    : engine_(engine),
      sid_(std::move(sid)),
      transport_(TransportKind::websocket),
      ws_(&ws),
      upgraded_(true),
      next_ping_(now + engine.config().ping_interval),
      last_packet_(now)
{
    endpoint_ = engine_.handler().open(*this);
    mark_dirty();
}

Session::~Session()
{
    /* however it ends (closed, moved away, or never kept for want of
       memory), the engine lets go of it */
    engine_.forget(*this);
}

Millis Session::now() const noexcept
{
    return engine_.now();
}

void Session::mark_dirty()
{
    if (flush_due_) {
        return;
    }
    /* listed first: a session due but not listed (out of memory in
       between) would never be flushed again */
    engine_.queue_flush(*this);
    flush_due_ = true;
}

/* --- handler side --- */

void Session::send(EncodedPtr packet)
{
    /* after close(), as the reference's sendPacket() once "closing":
       the close packet goes after what was queued when it was asked */
    if (state_ != State::open || overflow_ || close_requested_) {
        return;
    }

    std::size_t size = packet->packet().size();
    std::size_t backlog = ws_ ? ws_->backlog() : 0;

    if (out_bytes_ + size + backlog > engine_.config().max_buffered) {
        /* a slow reader: drop it at the next flush, not in the middle of
           whoever is sending to it */
        overflow_ = true;
        mark_dirty();
        return;
    }

    /* queued first: should that fail (memory), nothing is counted */
    out_.push_back(std::move(packet));
    out_bytes_ += size;
    mark_dirty();
}

void Session::shutdown(Reason reason)
{
    if (drain_ != Drain::none) {
        return;
    }
    if (transport_ == TransportKind::polling && poll_ == nullptr) {
        /* nobody to hand a close packet to, and no time to wait for one */
        abort(reason);
        return;
    }
    if (transport_ == TransportKind::websocket && ws_ != nullptr
        && state_ == State::open && !close_requested_)
    {
        /*
         * A message the client sent while the close frame was on its way
         * (a post at the moment of a reload) is read and handled, not
         * lost: the client's close frame comes after it. The close frame
         * goes out behind what is queued, at the next flush.
         */
        drain_ = Drain::due;
        close_request_ = reason;
        mark_dirty();
        return;
    }
    close(reason);
}

void Session::close(Reason reason)
{
    if (state_ != State::open || close_requested_) {
        return;
    }
    close_requested_ = true;
    close_request_ = reason;
    mark_dirty();
}

/* --- polling --- */

std::optional<Error> Session::on_poll(PollWaiter& waiter, Millis now)
{
    engine_.set_now(now);

    if (state_ == State::closed) {
        return Error::unknown_sid;
    }
    if (transport_ != TransportKind::polling) {
        return Error::bad_request;
    }
    if (poll_ != nullptr) {
        /* two GETs at once: the reference server drops the session */
        abort(Reason::transport_error);
        return Error::bad_request;
    }

    poll_ = &waiter;
    mark_dirty();
    return std::nullopt;
}

void Session::on_poll_gone(PollWaiter& waiter, Millis now)
{
    if (poll_ != &waiter) {
        return;
    }
    engine_.set_now(now);
    poll_ = nullptr;
    /* the client went away in the middle of a poll */
    abort(Reason::transport_error);
}

void Session::on_poll_released(PollWaiter& waiter)
{
    if (poll_ == &waiter) {
        poll_ = nullptr;
    }
}

std::optional<Error> Session::begin_post()
{
    if (state_ == State::closed) {
        return Error::unknown_sid;
    }
    if (posting_) {
        abort(Reason::transport_error);
        return Error::bad_request;
    }
    posting_ = true;
    return std::nullopt;
}

Session::PostResult Session::on_post(std::string payload, Millis now,
                                     PostWaiter* waiter)
{
    engine_.set_now(now);

    if (state_ == State::closed) {
        posting_ = false;
        return {false, Error::unknown_sid};
    }
    if (transport_ != TransportKind::polling) {
        posting_ = false;
        return {false, Error::bad_request};
    }
    if (state_ == State::closing) {
        posting_ = false;
        return {};
    }

    auto in = std::make_unique<PostInput>();

    /* a polling payload is text: read as UTF-8, as the reference does */
    auto repaired = util::repair_utf8(payload);
    in->payload = repaired ? std::move(*repaired) : std::move(payload);

    if (!decode_payload(in->payload, in->decoded)) {
        posting_ = false;
        abort(Reason::parse_error);
        return {false, Error::bad_request};
    }

    post_ = std::move(in);

    if (handle_post_slice()) {
        post_.reset();
        posting_ = false;
        return {};
    }

    /* the rest in the next turns: a second POST meanwhile is refused,
       as two at once are */
    post_->waiter = waiter;
    engine_.queue_input(*this);
    return {true, std::nullopt};
}

void Session::on_post_gone(PostWaiter& waiter) noexcept
{
    if (post_ != nullptr && post_->waiter == &waiter) {
        post_->waiter = nullptr;
    }
}

/* Up to post_slice packets; true when the POST is done with. */
bool Session::handle_post_slice()
{
    PostInput& in = *post_;

    for (std::size_t n = 0; in.next < in.decoded.packets.size(); n++) {
        if (n == post_slice) {
            return false;
        }

        const Packet& p = in.decoded.packets[in.next++];

        if (p.type == PacketType::close) {
            /* the client leaves: a waiting GET ends with a noop */
            abort(Reason::transport_close, "6");
            return true;
        }

        on_packet(p);

        if (state_ != State::open) {
            return true;
        }
    }

    return true;
}

bool Session::continue_post()
{
    if (post_ == nullptr) {
        return false;
    }

    if (state_ == State::open && !handle_post_slice()) {
        return true;
    }

    finish_post();
    return false;
}

void Session::finish_post()
{
    PostWaiter* waiter = post_->waiter;
    post_.reset();
    posting_ = false;

    /* a session that closed meanwhile may be done with now */
    mark_dirty();

    if (waiter != nullptr) {
        waiter->posted(std::nullopt);
    }
}

/* --- WebSocket --- */

bool Session::attach_websocket(WebSocketLink& link, Millis now)
{
    engine_.set_now(now);

    if (state_ != State::open || transport_ != TransportKind::polling
        || probe_ != nullptr || upgraded_ || !engine_.config().websocket)
    {
        return false;
    }

    probe_ = &link;
    probed_ = false;
    cancel_probe_ = false;
    upgrade_deadline_ = now + engine_.config().upgrade_timeout;
    mark_dirty();
    return true;
}

void Session::on_ws_message(WebSocketLink& link, bool binary,
                            std::string_view data, Millis now)
{
    engine_.set_now(now);

    if (state_ != State::open) {
        return;
    }

    Packet p;
    std::optional<std::string> decoded;
    if (binary) {
        p.type = PacketType::message;
        p.binary = true;
        p.data = data;
    } else if (!data.empty() && data[0] == 'b'
               && (decoded = util::base64_decode(data.substr(1)))) {
        /* a base64 binary packet in a text frame, as in a polling payload */
        p.type = PacketType::message;
        p.binary = true;
        p.data = *decoded;
    } else if (!decode_text(data, p)) {
        if (&link == probe_) {
            cancel_probe_ = true;
            mark_dirty();
            return;
        }
        abort(Reason::parse_error);
        return;
    }

    if (&link == probe_) {
        on_probe_packet(p);
    } else if (&link == ws_) {
        if (p.type == PacketType::close) {
            abort(Reason::transport_close);
            return;
        }
        on_packet(p);
    }
}

void Session::on_probe_packet(const Packet& p)
{
    if (p.type == PacketType::ping && p.data == "probe" && !p.binary) {
        probe_out_.push_back(Encoded::text(PacketType::pong, "probe"));
        probed_ = true;
        mark_dirty();
        return;
    }

    if (p.type == PacketType::upgrade && !p.binary) {
        /* the WebSocket becomes the transport; a waiting GET is let go
           with a noop, what was queued goes out on the WebSocket */
        ws_ = probe_;
        probe_ = nullptr;
        probe_out_.clear();
        transport_ = TransportKind::websocket;
        upgraded_ = true;
        upgrade_deadline_ = never;
        last_packet_ = now();
        mark_dirty();
        if (Monitor* m = engine_.monitor()) {
            m->on_session_upgraded(*this);
        }
        return;
    }

    cancel_probe_ = true;
    mark_dirty();
}

void Session::on_ws_gone(WebSocketLink& link, Millis now)
{
    engine_.set_now(now);

    if (&link == probe_) {
        /* the upgrade failed: polling goes on as before it */
        probe_ = nullptr;
        probe_out_.clear();
        probed_ = false;
        upgrade_deadline_ = never;
        mark_dirty();
    } else if (&link == ws_) {
        ws_ = nullptr;
        /* a drain ends here: the client answered the close frame */
        abort(drain_ != Drain::none ? close_request_
                                    : Reason::transport_close);
    }
}

/* --- packets on the current transport --- */

void Session::on_packet(const Packet& p)
{
    last_packet_ = now();

    switch (p.type) {
    case PacketType::pong:
        pong_deadline_ = never;
        next_ping_ = now() + engine_.config().ping_interval;
        mark_dirty();
        break;

    case PacketType::ping:
        /* v4: only the server pings */
        abort(Reason::transport_error);
        break;

    case PacketType::message:
        if (!within_rate()) {
            abort(Reason::rate_limit);
            break;
        }
        endpoint_->on_message(p.binary, p.data);
        break;

    case PacketType::close:
        abort(Reason::transport_close);
        break;

    case PacketType::open:
    case PacketType::upgrade:
    case PacketType::noop:
        break;
    }
}

bool Session::within_rate()
{
    std::int64_t rate = engine_.config().message_rate;
    if (rate == 0) {
        return true;
    }

    /* a bucket of `rate` messages, refilled at `rate` a second */
    std::int64_t full = rate * 1000;
    Millis t = now();
    if (rate_tokens_ < 0) {
        rate_tokens_ = full;
    } else {
        rate_tokens_ = std::min(full, rate_tokens_ + (t - rate_at_) * rate);
    }
    rate_at_ = t;

    if (rate_tokens_ < 1000) {
        return false;
    }
    rate_tokens_ -= 1000;
    return true;
}

/* --- closing --- */

void Session::notify_close(Reason reason)
{
    if (!endpoint_closed_) {
        endpoint_closed_ = true;
        if (Monitor* m = engine_.monitor()) {
            m->on_session_closed(*this, reason);
        }
        endpoint_->on_close(reason);
    }
}

void Session::abort(Reason reason, std::string_view final_poll)
{
    if (state_ == State::closed) {
        return;
    }
    state_ = State::closed;
    out_.clear();
    out_bytes_ = 0;
    final_poll_ = final_poll;
    /* the client is told why in the close frame, where there is a why */
    close_code_ = info(reason).close_code;
    close_reason_ = info(reason).close_reason;
    notify_close(reason);
    mark_dirty();
}

void Session::begin_closing()
{
    state_ = State::closing;
    notify_close(close_request_);
    if (state_ != State::closing) {
        return;
    }
    if (transport_ == TransportKind::websocket) {
        /* the close frame says it all: the reference server sends no
           close packet over WebSocket */
        return;
    }
    out_.push_back(Encoded::text(PacketType::close));
    /*
     * a polling client between two GETs sends the next one at once; one
     * that does not within this time is gone (and a worker shutting down
     * does not wait longer for it)
     */
    closing_deadline_ = now() + std::min<Millis>(engine_.config().ping_timeout,
                                                 2000);
}

/* --- timers --- */

Millis Session::deadline() const noexcept
{
    switch (state_) {
    case State::open: {
        Millis d = std::min(next_ping_, pong_deadline_);
        d = std::min(d, upgrade_deadline_);
        return std::min(d, endpoint_->deadline());
    }
    case State::closing:
        return closing_deadline_;
    case State::closed:
        break;
    }
    return never;
}

bool Session::expiring(Millis now) const noexcept
{
    static constexpr Millis grace = 2;
    return pong_deadline_ != never && now + grace >= pong_deadline_
           && now + grace - last_packet_ >= engine_.config().ping_timeout;
}

void Session::on_timer(Millis now)
{
    engine_.set_now(now);

    if (state_ == State::closing) {
        if (now >= closing_deadline_) {
            state_ = State::closed;
            out_.clear();
            mark_dirty();
        }
        return;
    }

    if (state_ != State::open) {
        return;
    }

    const Config& c = engine_.config();

    if (now >= upgrade_deadline_) {
        upgrade_deadline_ = never;
        cancel_probe_ = true;
        mark_dirty();
    }

    if (now >= next_ping_) {
        /* should the ping not be made or queued (memory), it is still
           due, and the timer comes back for it: a ping lost here would
           have the client give up on a server that looks silent */
        EncodedPtr ping = Encoded::text(PacketType::ping);
        Millis deadline = pong_deadline_;
        next_ping_ = never;
        pong_deadline_ = now + c.ping_timeout;
        try {
            send(std::move(ping));
        } catch (...) {
            next_ping_ = now;
            pong_deadline_ = deadline;
            throw;
        }
    }

    if (now >= pong_deadline_) {
        /* any packet, not only a pong, shows the client is alive */
        if (now - last_packet_ < c.ping_timeout) {
            pong_deadline_ = last_packet_ + c.ping_timeout;
        } else {
            abort(Reason::ping_timeout);
            return;
        }
    }

    if (now >= endpoint_->deadline()) {
        endpoint_->on_timer(now);
    }
}

/* --- output --- */

void Session::flush()
{
    /* what changes from here on needs a flush of its own */
    flush_due_ = false;

    if (state_ == State::open && overflow_) {
        abort(Reason::slow_reader);
    }
    if (state_ == State::open && close_requested_) {
        begin_closing();
    }

    if (state_ != State::closed) {
        push_output();
    }

    if (state_ == State::closed) {
        release_transports();
    }
}

void Session::push_output()
{
    if (probe_ != nullptr && !probe_out_.empty()) {
        probe_->send(probe_out_);
        probe_out_.clear();
    }
    if (probe_ != nullptr && cancel_probe_) {
        WebSocketLink* link = probe_;
        probe_ = nullptr;
        probed_ = false;
        upgrade_deadline_ = never;
        link->close(1000, "upgrade cancelled");
    }
    cancel_probe_ = false;

    if (transport_ == TransportKind::websocket) {
        if (poll_ != nullptr) {
            PollWaiter* w = poll_;
            poll_ = nullptr;
            w->respond("6");
        }
        if (drain_ == Drain::sent) {
            /* nothing goes after the close frame: what has an offset is
               replayed to the client when it recovers */
            out_.clear();
            out_bytes_ = 0;
        }
        if (ws_ != nullptr && !out_.empty()) {
            ws_->send(out_);
            out_.clear();
            out_bytes_ = 0;
        }
        if (ws_ != nullptr && drain_ == Drain::due) {
            drain_ = Drain::sent;
            const ReasonInfo& why = info(close_request_);
            if (!ws_->half_close(why.close_code, why.close_reason)) {
                abort(close_request_);
                return;
            }
        }

    } else if (poll_ != nullptr) {
        if (!out_.empty()) {
            std::string payload = encode_payload(out_);
            out_.clear();
            out_bytes_ = 0;
            PollWaiter* w = poll_;
            poll_ = nullptr;
            w->respond(std::move(payload));

        } else if (probed_) {
            /* the client waits for this GET to end before it upgrades */
            PollWaiter* w = poll_;
            poll_ = nullptr;
            w->respond("6");
        }
    }

    if (state_ == State::closing && out_.empty()) {
        state_ = State::closed;
    }
}

void Session::release_transports()
{
    if (poll_ != nullptr) {
        PollWaiter* w = poll_;
        poll_ = nullptr;
        w->respond(std::string(final_poll_));
    }
    if (probe_ != nullptr) {
        WebSocketLink* link = probe_;
        probe_ = nullptr;
        link->close(1000, "");
    }
    if (ws_ != nullptr) {
        WebSocketLink* link = ws_;
        ws_ = nullptr;
        link->close(close_code_, close_reason_);
    }
}

}  // namespace socketio::eio
