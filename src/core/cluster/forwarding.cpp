/*
 * cluster::Node, forwarding: a GET, a POST or a WebSocket that lands on a
 * worker other than its session's owner is carried to the owner through
 * the log, and the owner's answers back. Here (the origin) the request
 * waits in pending_ under a token; on the owner a proxy stands for it as
 * the session's transport (polls_, wss_).
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"

#include <utility>

namespace socketio::cluster {

/* --- the owner's proxies for requests elsewhere --- */

void Node::PollProxy::respond(std::string payload)
{
    node_.send(origin_, records::PollAnswer{token_, std::nullopt, payload});
    done = true;
}

void Node::WsProxy::send(const std::vector<eio::EncodedPtr>& packets)
{
    Body body;
    records::WsOut::encode(body, token_, ws_frames(packets));
    node_.publish(origin_, Rec::ws_out, body);
}

void Node::WsProxy::close(std::uint16_t code, std::string_view reason)
{
    node_.send(origin_, records::WsClose{token_, code, reason});
    done = true;
}

/* --- requests here for sessions elsewhere --- */

template <typename T>
std::uint64_t Node::add_pending(std::string_view sid,
                                std::uint16_t owner, T* Pending::*which,
                                T& request)
{
    std::uint64_t token = next_token_++;
    auto pend = std::make_unique<Pending>();
    pend->owner = owner;
    pend->sid = std::string(sid);
    pend.get()->*which = &request;
    pending_[token] = std::move(pend);
    return token;
}

template <typename T>
T* Node::take_pending(std::uint64_t token, T* Pending::*which)
{
    auto it = pending_.find(token);
    if (it == pending_.end() || it->second.get()->*which == nullptr) {
        return nullptr;
    }
    T* p = it->second.get()->*which;
    pending_.erase(it);
    return p;
}

template <typename T>
void Node::let_go(std::uint64_t token)
{
    auto it = pending_.find(token);
    if (it == pending_.end()) {
        return;
    }
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    send(p->owner, T{p->sid, token});
}

std::uint64_t Node::poll(std::string_view sid, std::uint16_t owner,
                         RemotePoll& p)
{
    std::uint64_t token = add_pending(sid, owner, &Pending::poll, p);
    try {
        send(owner, records::Poll{sid, token});

    } catch (...) {
        /* not sent: nothing may wait for its answer */
        pending_.erase(token);
        throw;
    }
    if (auto* st = stats()) {
        st->forwarded.fetch_add(1, std::memory_order_relaxed);
    }
    return token;
}

void Node::poll_gone(std::uint64_t token)
{
    let_go<records::PollGone>(token);
}

std::uint64_t Node::post(std::string_view sid, std::uint16_t owner,
                         std::string_view payload, RemotePost& p)
{
    std::uint64_t token = add_pending(sid, owner, &Pending::post, p);
    try {
        send(owner, records::Post{sid, token, payload});

    } catch (...) {
        /* not sent: nothing may wait for its answer */
        pending_.erase(token);
        throw;
    }
    if (auto* st = stats()) {
        st->forwarded.fetch_add(1, std::memory_order_relaxed);
    }
    return token;
}

void Node::post_gone(std::uint64_t token)
{
    pending_.erase(token);
}

void Node::post_detached(std::string_view sid, std::uint16_t owner,
                         std::string_view payload)
{
    /* token 0: the owner's answer goes to nobody */
    send(owner, records::Post{sid, 0, payload});
}

std::uint64_t Node::ws_attach(std::string_view sid, std::uint16_t owner,
                              RemoteWs& ws)
{
    std::uint64_t token = add_pending(sid, owner, &Pending::ws, ws);
    try {
        send(owner, records::WsAttach{sid, token});

    } catch (...) {
        pending_.erase(token);
        throw;
    }
    return token;
}

void Node::ws_in(std::uint64_t token, bool binary, std::string_view data)
{
    auto it = pending_.find(token);
    if (it == pending_.end()) {
        return;
    }
    send(it->second->owner, records::WsIn{it->second->sid, token, binary,
                                          data});
}

void Node::ws_gone(std::uint64_t token)
{
    let_go<records::WsGone>(token);
}

void Node::release_pending()
{
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [token, p] : pending) {
        if (p->poll) {
            send(p->owner, records::PollReleased{p->sid, token});
            /*
             * an owner of this configuration leaves too (a reload or a
             * quit stops them all): the session ends, say so; an owner of
             * a newer one stays: ask again, and reach it
             */
            bool owner_leaves =
                zone_.slot(p->owner).generation.load(std::memory_order_relaxed)
                == generation_;
            p->poll->answer(owner_leaves ? "1" : "6");
        } else if (p->post) {
            p->post->done(std::nullopt);
        } else if (p->ws) {
            send(p->owner, records::WsGone{p->sid, token});
            p->ws->close(1001, "server shutting down");
        }
    }
}

void Node::end_requests_of(std::uint16_t slot)
{
    std::vector<std::pair<std::uint64_t, Pending*>> waiting;
    for (auto& [token, p] : pending_) {
        if (p->owner == slot) {
            waiting.emplace_back(token, p.get());
        }
    }
    for (auto& [token, p] : waiting) {
        auto owned = std::move(pending_[token]);
        pending_.erase(token);
        if (owned->poll) {
            owned->poll->fail(eio::Error::unknown_sid);
        } else if (owned->post) {
            owned->post->done(eio::Error::unknown_sid);
        } else if (owned->ws) {
            owned->ws->close(1011, "worker gone");
        }
    }

    for (auto it = polls_.begin(); it != polls_.end();) {
        if (it->first.first == slot) {
            if (eio::Session* s = engine_.find(it->second->sid())) {
                s->on_poll_gone(*it->second, engine_.now());
            }
            it = polls_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = wss_.begin(); it != wss_.end();) {
        if (it->first.first == slot) {
            if (eio::Session* s = engine_.find(it->second->sid())) {
                s->on_ws_gone(*it->second, engine_.now());
            }
            it = wss_.erase(it);
        } else {
            ++it;
        }
    }
}

void Node::drop_finished_proxies()
{
    for (auto it = polls_.begin(); it != polls_.end();) {
        it = it->second->done ? polls_.erase(it) : std::next(it);
    }
    for (auto it = wss_.begin(); it != wss_.end();) {
        it = it->second->done ? wss_.erase(it) : std::next(it);
    }
    posts_.erase(std::remove_if(posts_.begin(), posts_.end(),
                                [](const auto& p) { return p->done; }),
                 posts_.end());
}

template <typename Proxies, typename Fn>
void Node::end_proxy(Proxies& proxies, std::uint16_t from,
                     std::string_view sid, std::uint64_t token, Fn fn)
{
    auto it = proxies.find({from, token});
    if (it == proxies.end()) {
        return;
    }
    if (eio::Session* s = engine_.find(sid)) {
        fn(*s, *it->second);
    }
    proxies.erase(it);
}

/* --- on the owner: requests from elsewhere --- */

void Node::on(const records::Post& m, const bus::Record& r)
{
    std::optional<eio::Error> error;
    eio::Session* s = engine_.find(m.sid);
    if (s == nullptr || !engine_.touch(*s, engine_.now())) {
        error = eio::Error::unknown_sid;
    } else if (auto err = s->begin_post()) {
        error = err;
    } else {
        /* a payload of many packets is answered when the last is handled */
        auto proxy = std::make_unique<PostProxy>(*this, r.header->from,
                                                 m.token);
        posts_.reserve(posts_.size() + 1);
        auto res = s->on_post(std::string(m.payload), engine_.now(),
                              proxy.get());
        if (res.later) {
            posts_.push_back(std::move(proxy));
            return;
        }
        error = res.error;
    }
    if (m.token != 0) {
        send(r.header->from, records::PostDone{m.token, error});
    }
}

void Node::on(const records::Poll& m, const bus::Record& r)
{
    std::uint16_t from = r.header->from;
    eio::Session* s = engine_.find(m.sid);
    /* owned by polls_ before the session knows it: nothing that can
       throw comes between the session taking it and its owner */
    auto owned = std::make_unique<PollProxy>(*this, from, m.token,
                                             std::string(m.sid));
    PollProxy* proxy = owned.get();
    polls_[{from, m.token}] = std::move(owned);
    std::optional<eio::Error> err;
    if (s == nullptr || !engine_.touch(*s, engine_.now())) {
        err = eio::Error::unknown_sid;
    } else {
        err = s->on_poll(*proxy, engine_.now());
    }
    if (err) {
        polls_.erase({from, m.token});
        send(from, records::PollAnswer{m.token, err, {}});
    }
}

void Node::on(const records::PollGone& m, const bus::Record& r)
{
    end_proxy(polls_, r.header->from, m.sid, m.token,
              [&](eio::Session& s, PollProxy& p) {
                  s.on_poll_gone(p, engine_.now());
              });
}

void Node::on(const records::PollReleased& m, const bus::Record& r)
{
    end_proxy(polls_, r.header->from, m.sid, m.token,
              [](eio::Session& s, PollProxy& p) {
                  s.on_poll_released(p);
              });
}

void Node::on(const records::WsAttach& m, const bus::Record& r)
{
    std::uint16_t from = r.header->from;
    eio::Session* s = engine_.find(m.sid);
    /* owned by wss_ before the session knows it (as a poll's) */
    auto owned = std::make_unique<WsProxy>(*this, from, m.token,
                                           std::string(m.sid));
    WsProxy* proxy = owned.get();
    wss_[{from, m.token}] = std::move(owned);
    if (s == nullptr || !engine_.touch(*s, engine_.now())
        || !s->attach_websocket(*proxy, engine_.now()))
    {
        wss_.erase({from, m.token});
        send(from, records::WsRefuse{m.token});
    }
}

void Node::on(const records::WsIn& m, const bus::Record& r)
{
    auto it = wss_.find({r.header->from, m.token});
    if (it == wss_.end()) {
        return;
    }
    if (eio::Session* s = engine_.find(m.sid)) {
        s->on_ws_message(*it->second, m.binary, m.data, engine_.now());
    }
}

void Node::on(const records::WsGone& m, const bus::Record& r)
{
    end_proxy(wss_, r.header->from, m.sid, m.token,
              [&](eio::Session& s, WsProxy& p) {
                  s.on_ws_gone(p, engine_.now());
              });
}

/* --- at the origin: the owner's answers --- */

void Node::on(const records::PostDone& m, const bus::Record&)
{
    if (RemotePost* p = take_pending(m.token, &Pending::post)) {
        p->done(m.error);
    }
}

void Node::on(const records::PollAnswer& m, const bus::Record&)
{
    RemotePoll* p = take_pending(m.token, &Pending::poll);
    if (p == nullptr) {
        return;
    }
    if (m.error) {
        p->fail(*m.error);
    } else {
        p->answer(m.payload);
    }
}

void Node::on(const records::WsRefuse& m, const bus::Record&)
{
    if (RemoteWs* w = take_pending(m.token, &Pending::ws)) {
        w->close(1005, "");
    }
}

void Node::on(const records::WsOut& m, const bus::Record& r)
{
    auto it = pending_.find(m.token);
    if (it == pending_.end() || it->second->ws == nullptr) {
        return;
    }
    std::vector<eio::EncodedPtr> frames;
    views(r, m.frames, frames);
    it->second->ws->deliver(frames);
}

void Node::on(const records::WsClose& m, const bus::Record&)
{
    if (RemoteWs* w = take_pending(m.token, &Pending::ws)) {
        w->close(m.code, m.reason);
    }
}

}  // namespace socketio::cluster
