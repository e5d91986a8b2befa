#include "core/eio/engine.hpp"

#include <algorithm>

#include "core/eio/query.hpp"
#include "core/util/base64.hpp"

namespace socketio::eio {

Engine::Engine(Config config, Handler& handler, Random& random, Waker& waker)
    : config_(config), handler_(handler), random_(random), waker_(waker)
{
}

Engine::~Engine()
{
    /* sessions reference the engine while they die */
    dirty_.clear();
    timers_.clear();
    sessions_.clear();
}

std::variant<Route, Error> Engine::route(const Request& req) const
{
    Query q = parse_query(req.query);

    TransportKind kind;
    if (q.transport == "polling" && config_.polling) {
        kind = TransportKind::polling;
    } else if (q.transport == "websocket" && config_.websocket) {
        kind = TransportKind::websocket;
    } else {
        return Error::unknown_transport;
    }

    if (req.origin_invalid) {
        return Error::bad_request;
    }

    if (q.sid && !q.sid->empty()) {   /* "sid=" is a handshake, as in Node */
        Session* s = find(*q.sid);
        if (s == nullptr || s->state() == Session::State::closed) {
            return Error::unknown_sid;
        }

        if (req.websocket) {
            if (kind != TransportKind::websocket) {
                return Error::bad_request;
            }
            return Route{Route::Kind::upgrade, s};
        }

        if (kind != s->transport()) {
            /* e.g. a GET after the session moved to WebSocket */
            return Error::bad_request;
        }
        if (kind != TransportKind::polling) {
            return Error::bad_request;
        }
        if (req.method == "GET") {
            return Route{Route::Kind::poll, s};
        }
        if (req.method == "POST") {
            return Route{Route::Kind::post, s};
        }
        return Error::bad_request;
    }

    /* a handshake */
    if (req.method != "GET") {
        return Error::bad_handshake_method;
    }
    if (kind == TransportKind::websocket && !req.websocket) {
        return Error::bad_request;
    }
    if (kind == TransportKind::polling && req.websocket) {
        return Error::bad_request;
    }
    if (q.eio != "4") {
        return Error::unsupported_protocol_version;
    }

    return Route{kind == TransportKind::polling ? Route::Kind::open_polling
                                                : Route::Kind::open_websocket,
                 nullptr};
}

std::string Engine::make_id()
{
    unsigned char raw[15];
    random_.fill(raw, sizeof(raw));
    return util::base64url_encode(
        std::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

Session& Engine::open(TransportKind transport, Millis now,
                      WebSocketLink* ws, std::string sid)
{
    now_ = now;

    while (sid.empty() || sessions_.count(sid) != 0) {
        sid = make_id();
    }

    return keep(std::make_unique<Session>(*this, sid, transport, now, ws));
}

Session& Engine::adopt(std::string sid, WebSocketLink& ws, Millis now)
{
    now_ = now;
    auto session = std::make_unique<Session>(*this, sid, ws, now,
                                             Session::Adopted{});
    sessions_.erase(sid);
    return keep(std::move(session));
}

/* A new session joins the table; should that fail (memory), it is
   destroyed, and its destructor takes it out of the engine's lists. */
Session& Engine::keep(std::unique_ptr<Session> session)
{
    Session& s = *session;
    sessions_.emplace(s.sid(), std::move(session));
    s.mark_dirty();
    if (monitor_ != nullptr) {
        monitor_->on_session_opened(s);
    }
    return s;
}

void Engine::forget(Session& s) noexcept
{
    if (s.timer_key() != never) {
        timers_.erase({s.timer_key(), &s});
        s.set_timer_key(never);
    }
    if (s.flush_due()) {
        dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), &s),
                     dirty_.end());
    }
    if (s.input_due()) {
        input_.erase(std::remove(input_.begin(), input_.end(), &s),
                     input_.end());
    }
}

void Engine::queue_input(Session& s)
{
    input_.push_back(&s);
    if (input_.size() == 1) {
        waker_.more_input();
    }
}

bool Engine::continue_input()
{
    std::vector<Session*> batch;
    batch.swap(input_);

    for (std::size_t i = 0; i < batch.size(); i++) {
        try {
            if (batch[i]->continue_post()) {
                input_.push_back(batch[i]);
            }

        } catch (...) {
            /* the one that failed goes on past the packet that failed,
               and those after it wait as they did */
            input_.insert(input_.end(), batch.begin() + i, batch.end());
            waker_.more_input();
            throw;
        }
    }

    if (!input_.empty()) {
        waker_.more_input();
    }
    return !input_.empty();
}

void Engine::release(Session& s) noexcept
{
    forget(s);
    /* by iterator: no copy of the key (it may not fail), and none of the
       dying one's own */
    auto it = sessions_.find(std::string_view(s.sid()));
    if (it != sessions_.end() && it->second.get() == &s) {
        sessions_.erase(it);
    }
}

Session* Engine::find(std::string_view sid) const
{
    auto it = sessions_.find(sid);
    return it == sessions_.end() ? nullptr : it->second.get();
}

void Engine::queue_flush(Session& s)
{
    dirty_.push_back(&s);
    if (dirty_.size() == 1) {
        waker_.wake();
    }
}

void Engine::reschedule(Session& s)
{
    Millis key = s.deadline();
    if (key == s.timer_key()) {
        return;
    }
    /* the new entry first: should it fail, the old one stands */
    if (key != never) {
        timers_.emplace(key, &s);
    }
    if (s.timer_key() != never) {
        timers_.erase({s.timer_key(), &s});
    }
    s.set_timer_key(key);
}

void Engine::flush()
{
    /* flushing one session may dirty others (a close announced to them) */
    while (!dirty_.empty()) {
        std::vector<Session*> batch;
        batch.swap(dirty_);

        for (std::size_t i = 0; i < batch.size(); i++) {
            try {
                batch[i]->flush();

            } catch (...) {
                /*
                 * out of memory half way: the whole batch is due again
                 * at the next flush (one with nothing to send sends
                 * nothing), so that no session is left due but unlisted
                 */
                for (Session* s : batch) {
                    if (s->flush_due()) {
                        queue_flush(*s);
                    } else {
                        s->mark_dirty();
                    }
                }
                throw;
            }
        }

        for (Session* s : batch) {
            if (s->flush_due()) {
                continue;              /* it will come round again */
            }
            if (s->finished()) {
                if (s->timer_key() != never) {
                    timers_.erase({s->timer_key(), s});
                }
                std::string sid = s->sid();   /* not the dying one's own */
                sessions_.erase(sid);
            } else {
                reschedule(*s);
            }
        }
    }
}

void Engine::on_timer(Millis now)
{
    now_ = now;

    std::vector<Session*> due;
    for (auto it = timers_.begin(); it != timers_.end() && it->first <= now;
         ++it)
    {
        due.push_back(it->second);
    }

    /* each keeps its entry until the flush reschedules it: one whose
       handling fails (memory) is due again at the next tick, rather than
       left with no timer (no more pings, no timeouts) */
    for (Session* s : due) {
        s->on_timer(now);
        s->mark_dirty();
    }

    flush();
}

bool Engine::touch(Session& s, Millis now)
{
    now_ = now;
    if (s.state() == Session::State::open && s.deadline() <= now) {
        s.on_timer(now);
        s.mark_dirty();
    }
    if (s.state() == Session::State::open && s.expiring(now)) {
        s.expire();
        s.mark_dirty();
    }
    return s.state() != Session::State::closed;
}

Millis Engine::next_deadline() const noexcept
{
    return timers_.empty() ? never : timers_.begin()->first;
}

void Engine::close_all(Reason reason)
{
    for (auto& [sid, s] : sessions_) {
        s->shutdown(reason);
    }
    flush();
}

bool Engine::draining() const noexcept
{
    return std::any_of(sessions_.begin(), sessions_.end(),
                       [](const auto& kv) { return kv.second->draining(); });
}

}  // namespace socketio::eio
