#include "core/sio/server.hpp"

#include "core/eio/engine.hpp"
#include "core/eio/session.hpp"
#include "core/util/wire.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace socketio::sio {

/* --- Event --- */

std::string_view Event::name() const noexcept
{
    const auto& first = packet_.json.as_array()[0];
    if (first.is_string()) {
        return first.get_string();
    }
    return text_.name_json;
}

std::size_t Event::size() const noexcept
{
    return packet_.json.as_array().size() - 1;
}

const boost::json::value& Event::arg(std::size_t i) const noexcept
{
    static const boost::json::value null_value;
    const auto& a = packet_.json.as_array();
    return i + 1 < a.size() ? a[i + 1] : null_value;
}

/* --- Server --- */

Namespace& Server::add_namespace(std::string name, sio::Handler& handler,
                                 std::unique_ptr<Adapter> adapter)
{
    if (!adapter) {
        adapter = std::make_unique<LocalAdapter>();
    }
    namespaces_.push_back(std::make_unique<Namespace>(
        std::move(name), handler, std::move(adapter)));
    namespaces_.back()->set_recovery(recovery_);
    return *namespaces_.back();
}

void Server::set_recovery(Recovery* r) noexcept
{
    recovery_ = r;
    for (auto& n : namespaces_) {
        n->set_recovery(r);
    }
}

Namespace* Server::find(std::string_view name) noexcept
{
    for (auto& n : namespaces_) {
        if (n->name() == name) {
            return n.get();
        }
    }
    return nullptr;
}

std::unique_ptr<eio::Endpoint> Server::open(eio::Session& session)
{
    return std::make_unique<Client>(*this, session);
}

/* --- Client --- */

Client::Client(Server& server, eio::Session& session)
    : server_(server),
      session_(session),
      connect_deadline_(session.now() + server.connect_timeout())
{
}

Client::~Client()
{
    for (auto& s : sockets_) {
        s->adapter().remove_all(*s);
    }
}

Socket* Client::find(std::string_view nsp) noexcept
{
    for (auto& s : sockets_) {
        if (s->nsp_name() == nsp) {
            return s.get();
        }
    }
    return nullptr;
}

void Client::fail(std::string_view why)
{
    (void) why;
    failed_ = true;
    pending_.reset();
    session_.close(eio::Reason::parse_error);
}

void Client::on_message(bool binary, std::string_view data)
{
    if (failed_) {
        return;
    }

    if (binary) {
        if (!pending_) {
            fail("binary data when not reconstructing a packet");
            return;
        }
        pending_->buffers.emplace_back(data);
        if (pending_->buffers.size() == pending_->attachments) {
            Packet p = std::move(*pending_);
            pending_.reset();
            if (!placeholders_valid(p.json, p.attachments)) {
                fail("illegal attachments");
                return;
            }
            on_packet(p);
        }
        return;
    }

    if (pending_) {
        fail("text data while reconstructing a packet");
        return;
    }

    Packet p;
    DecodeError err = decode(data, p);
    if (err != DecodeError::none) {
        fail(decode_error_message(err));
        return;
    }

    if (p.type == PacketType::binary_event
        || p.type == PacketType::binary_ack)
    {
        pending_ = std::make_unique<Packet>(std::move(p));
        return;
    }

    on_packet(p);
}

void Client::on_packet(Packet& p)
{
    Socket* socket = find(p.nsp);

    if (socket == nullptr && p.type == PacketType::connect) {
        connect(p.nsp, p);
        return;
    }

    if (socket == nullptr || p.type == PacketType::connect
        || p.type == PacketType::connect_error)
    {
        fail("invalid state");
        return;
    }

    switch (p.type) {
    case PacketType::event:
    case PacketType::binary_event: {
        auto text = split_event(p.raw);
        if (!text) {
            fail("invalid event payload");
            return;
        }
        Event ev(p, *text);
        socket->nsp().handler().on_event(*socket, ev);
        if (socket->take_changed()) {
            keep(*socket, true);
        }
        break;
    }

    case PacketType::ack:
    case PacketType::binary_ack:
        socket->on_ack(p);
        break;

    case PacketType::disconnect:
        forget(*socket);
        remove(*socket, "client namespace disconnect");
        break;

    default:
        break;
    }
}

void Client::connect(const std::string& nsp_name, const Packet& p)
{
    Namespace* nsp = server_.find(nsp_name);

    if (nsp == nullptr) {
        session_.send(encode(PacketType::connect_error, nsp_name,
                             std::nullopt, 0,
                             "{\"message\":\"Invalid namespace\"}"));
        return;
    }

    Recovery* recovery = nsp->recovery();
    Socket* back = recovery != nullptr ? recover(*nsp, p) : nullptr;

    Socket* fresh = nullptr;
    if (back == nullptr) {
        auto socket = std::make_unique<Socket>(session_.engine().make_id(),
                                               *nsp, session_, this);
        fresh = socket.get();
        sockets_.push_back(std::move(socket));
        if (recovery != nullptr) {
            fresh->set_recovery(recovery->issue(), recovery->floor());
        }
        fresh->join(fresh->id());
    }
    Socket& s = back != nullptr ? *back : *fresh;
    connect_deadline_ = eio::never;

    std::string payload = "{\"sid\":";
    append_json_string(payload, s.id());
    if (!s.pid().empty()) {
        payload += ",\"pid\":";
        append_json_string(payload, s.pid());
    }
    payload += "}";
    session_.send(encode(PacketType::connect, nsp_name, std::nullopt, 0,
                         payload));

    static const boost::json::value empty_auth = boost::json::object();
    if (p.has_payload && p.json.is_object() && !p.json.get_object().empty()) {
        s.set_auth_json(boost::json::serialize(p.json));
    }
    const boost::json::value& auth = p.has_payload ? p.json : empty_auth;
    if (back != nullptr) {
        nsp->handler().on_recovered(s, auth);
    } else {
        nsp->handler().on_connect(s, auth);
    }
    /* kept from its first moment: should this worker die, it is found */
    if (find(nsp_name) == &s) {
        s.take_changed();
        keep(s, true);
    }
}

void Client::keep(Socket& s, bool live)
{
    Recovery* recovery = s.nsp().recovery();
    if (recovery == nullptr || s.pid().empty()) {
        return;
    }
    util::WireWriter w;
    save_socket(w, s);
    recovery->persist(s.pid(), s.floor(), s.nsp_name(),
                      s.adapter().rooms_of(s), w.bytes(), live);
    if (!live) {
        s.set_kept();
    }
}

void Client::forget(Socket& s)
{
    Recovery* recovery = s.nsp().recovery();
    if (recovery != nullptr && !s.pid().empty()) {
        recovery->forget(s.pid());
    }
}

Socket* Client::recover(Namespace& nsp, const Packet& p)
{
    Recovery& recovery = *nsp.recovery();

    /* as the reference: a CONNECT without a string pid asks for nothing */
    if (!p.has_payload || !p.json.is_object()) {
        return nullptr;
    }
    const auto& auth = p.json.get_object();
    const auto* pid = auth.if_contains("pid");
    if (pid == nullptr || !pid->is_string()) {
        return nullptr;
    }

    /* beyond the reference, a client that never received an event (so
       has no offset to send) is recovered too (socket.io#4888, #5538) */
    const auto* offset = auth.if_contains("offset");
    std::optional<std::string_view> after;
    if (offset != nullptr && offset->is_string()) {
        after = std::string_view(offset->get_string());
    }

    std::variant<Kept, Refusal> got = Refusal::malformed;
    if (pid_shaped(pid->get_string())
        && (offset == nullptr || offset->is_string()))
    {
        got = recovery.restore(nsp.name(), pid->get_string(), after);
    }
    if (auto* why = std::get_if<Refusal>(&got)) {
        recovery.count(*why);
        return nullptr;
    }
    Kept& kept = std::get<Kept>(got);

    util::WireReader r(kept.socket);
    Socket* s = restore_socket(r);
    if (s == nullptr || !r.ok() || &s->nsp() != &nsp) {
        /* bytes of ours that do not read back: as if never kept (its
           handler never heard of it here: nothing to tell) */
        if (s != nullptr) {
            s->adapter().remove_all(*s);
            sockets_.pop_back();
        }
        recovery.count(Refusal::unknown_pid);
        return nullptr;
    }

    /* the same pid: its next loss of connection is recoverable too */
    s->set_recovery(std::string(pid->get_string()), recovery.floor(),
                    kept.live_from);
    for (const auto& missed : kept.missed) {
        session_.send(missed);
    }
    recovery.count(std::nullopt);
    return s;
}

void Client::disconnect(Socket& socket, bool close)
{
    session_.send(encode(PacketType::disconnect, socket.nsp_name(),
                         std::nullopt, 0, {}));
    forget(socket);
    remove(socket, "server namespace disconnect");
    if (close) {
        session_.close(eio::Reason::forced_close);
    }
}

void Client::remove(Socket& socket, std::string_view reason)
{
    auto it = std::find_if(sockets_.begin(), sockets_.end(),
                           [&](const auto& s) { return s.get() == &socket; });
    if (it == sockets_.end()) {
        return;
    }
    std::unique_ptr<Socket> owned = std::move(*it);
    sockets_.erase(it);

    /* as the reference server: the rooms are left before "disconnect" */
    owned->adapter().remove_all(*owned);
    owned->nsp().handler().on_disconnect(*owned, reason);
}

void Client::save_socket(util::WireWriter& w, Socket& s) const
{
    w.str(s.nsp_name());
    w.str(s.id());
    w.str(s.pid());
    w.num(s.floor());
    w.num(s.live_from());
    auto rooms = s.adapter().rooms_of(s);
    w.num(static_cast<std::uint32_t>(rooms.size()));
    for (const auto& r : rooms) {
        w.str(r);
    }
    w.str(s.nsp().handler().save(s));
}

Socket* Client::restore_socket(util::WireReader& r)
{
    std::string_view nsp_name = r.str();
    std::string_view id = r.str();
    std::string_view pid = r.str();
    auto floor = r.num<std::uint64_t>();
    auto live_from = r.num<std::uint64_t>();
    Namespace* nsp = server_.find(nsp_name);

    /* the client owns it before the adapter lists it: should a room or
       the handler's state fail to come back, ~Client unlists it */
    Socket* socket = nullptr;
    if (nsp != nullptr && r.ok()) {
        sockets_.reserve(sockets_.size() + 1);
        sockets_.push_back(std::make_unique<Socket>(std::string(id), *nsp,
                                                    session_, this));
        socket = sockets_.back().get();
        if (nsp->recovery() != nullptr && !pid.empty()) {
            socket->set_recovery(std::string(pid), floor, live_from);
        }
    }

    auto rooms = r.num<std::uint32_t>();
    for (std::uint32_t k = 0; k < rooms && r.ok(); k++) {
        std::string_view room = r.str();
        if (socket != nullptr) {
            socket->join(room);
        }
    }

    std::string_view data = r.str();
    if (socket != nullptr && r.ok()) {
        nsp->handler().restore(*socket, data);
    }
    return socket;
}

std::string Client::save() const
{
    /* a session moves only between whole packets, never mid-attachments */
    util::WireWriter w;
    w.num(static_cast<std::uint32_t>(sockets_.size()));
    for (const auto& s : sockets_) {
        save_socket(w, *s);
    }
    return std::move(w.bytes());
}

bool Client::restore(std::string_view state)
{
    util::WireReader r(state);
    auto n = r.num<std::uint32_t>();

    for (std::uint32_t i = 0; i < n && r.ok(); i++) {
        restore_socket(r);
    }

    /* its sockets live on this worker now */
    if (r.ok()) {
        for (auto& s : sockets_) {
            keep(*s, true);
        }
    }

    connect_deadline_ = eio::never;
    return r.ok();
}

void Client::on_close(eio::Reason why)
{
    pending_.reset();
    connect_deadline_ = eio::never;
    deferred_.clear();

    /* the connection went, not the client: its sockets are kept for it
       to come back to (connection state recovery); else they may not */
    for (const auto& s : sockets_) {
        if (eio::recoverable(why)) {
            keep(*s, false);
        } else {
            forget(*s);
        }
    }

    /* the handlers hear it as Socket.IO says it ("ping timeout", ...) */
    std::string_view reason = eio::text(why);
    while (!sockets_.empty()) {
        remove(*sockets_.back(), reason);
    }
}

eio::Millis Client::deadline() const
{
    eio::Millis d = connect_deadline_;
    for (const Deferred& w : deferred_) {
        d = std::min(d, w.at);
    }
    return d;
}

void Client::defer(Socket& socket, eio::Millis at,
                   std::function<void(Socket&)> fn)
{
    deferred_.push_back(
        Deferred{at, socket.id(), std::move(fn), session_.hold()});
}

void Client::on_timer(eio::Millis now)
{
    if (now >= connect_deadline_) {
        connect_deadline_ = eio::never;
        if (sockets_.empty()) {
            session_.close(eio::Reason::connect_timeout);
        }
    }

    /* what is due runs now; what it defers in turn waits for later */
    std::vector<Deferred> due;
    for (auto it = deferred_.begin(); it != deferred_.end();) {
        if (it->at <= now) {
            due.push_back(std::move(*it));
            it = deferred_.erase(it);
        } else {
            ++it;
        }
    }

    for (Deferred& w : due) {
        for (auto& s : sockets_) {
            if (s->id() == w.socket_id) {
                w.fn(*s);
                break;
            }
        }
    }
}

}  // namespace socketio::sio
