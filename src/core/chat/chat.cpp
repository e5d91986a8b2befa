#include "core/chat/chat.hpp"

#include "core/chat/name.hpp"
#include "core/eio/session.hpp"
#include "core/sio/adapter.hpp"
#include "core/sio/packet.hpp"
#include "core/sio/server.hpp"
#include "core/sio/socket.hpp"
#include "core/util/wire.hpp"

namespace socketio::chat {

struct Chat::Member final : sio::SocketData {
    bool named = false;
    Dialect dialect = Dialect::classic;
    std::string key;
    std::string name;

    /* restored (recovery, or a move between workers): whether it had
       stayed listed meanwhile, so that nobody was told it left */
    bool listed = true;

    /* typing notices: the state the others were told, and what this
       socket may still tell them (see on_typing) */
    bool typing = false;
    std::int64_t typing_budget = typing_burst * 1000;
    eio::Millis typing_at = 0;
};

namespace {

/* ["text"] */
std::string one_string(std::string_view text)
{
    std::string out = "[";
    sio::append_json_string(out, text);
    out += "]";
    return out;
}

/* "key":"value" appended to an object under construction */
void field(std::string& out, std::string_view key, std::string_view value)
{
    if (out.back() != '{') {
        out.push_back(',');
    }
    sio::append_json_string(out, key);
    out.push_back(':');
    sio::append_json_string(out, value);
}

void field(std::string& out, std::string_view key, std::size_t value)
{
    if (out.back() != '{') {
        out.push_back(',');
    }
    sio::append_json_string(out, key);
    out.push_back(':');
    out += std::to_string(value);
}

void answer(sio::Socket& s, const sio::Event& e, std::string_view text)
{
    if (e.ack_id()) {
        s.ack(*e.ack_id(), one_string(text));
    }
}

const boost::json::string* as_string(const boost::json::value& v)
{
    return v.if_string();
}

}  // namespace

Chat::Chat(Directory& directory, std::vector<std::string> relay_events)
    : directory_(directory), relay_(relay_events.begin(), relay_events.end())
{
}

std::string_view Chat::room(Dialect d) noexcept
{
    switch (d) {
    case Dialect::classic:
        return "chat:classic";
    case Dialect::events:
        return "chat:events";
    case Dialect::demo:
        return "chat:demo";
    }
    return "chat:classic";
}

void Chat::on_connect(sio::Socket& socket, const boost::json::value&)
{
    socket.data = std::make_unique<Member>();
    socket.join(room(Dialect::classic));
}

void Chat::on_event(sio::Socket& s, const sio::Event& e)
{
    auto* m = static_cast<Member*>(s.data.get());
    if (m == nullptr) {
        return;
    }

    std::string_view ev = e.name();

    if (ev == "message") {
        on_message(s, *m, e);
    } else if (ev == "new message") {
        if (m->named) {
            if (const auto* text = as_string(e.arg(0))) {
                post(s, *m, *text);
            }
        }
    } else if (ev == "login") {
        on_login(s, *m, e);
    } else if (ev == "join") {
        on_join(s, *m, e);
    } else if (ev == "add user") {
        on_add_user(s, *m, e);
    } else if (ev == "typing" || ev == "stop typing") {
        on_typing(s, *m, ev);
    } else if (ev == "users") {
        on_users(s, e);
    } else if (ev == "private message") {
        on_private(s, *m, e);
    } else if (relay_.count(ev) != 0) {
        relay(s, e);
    }
    /* any other event is not the chat's: ignored */
}

void Chat::on_login(sio::Socket& s, Member& m, const sio::Event& e)
{
    const auto* raw = as_string(e.arg(0));
    auto valid = raw ? valid_name(*raw) : std::nullopt;
    if (!valid) {
        answer(s, e, "invalid name");
        return;
    }
    std::string welcome = "Welcome " + *valid + "!";
    name(s, m, std::move(*valid), Dialect::classic,
         [ack = e.ack_id(), welcome](sio::Socket& s, std::size_t) {
             if (ack) {
                 s.ack(*ack, one_string(welcome));
             }
         });
}

void Chat::on_join(sio::Socket& s, Member& m, const sio::Event& e)
{
    const boost::json::value& user = e.arg(0);
    std::optional<std::string> valid;
    if (const auto* obj = user.if_object()) {
        if (const auto* n = obj->if_contains("name")) {
            if (const auto* str = n->if_string()) {
                valid = valid_name(*str);
            }
        }
    }
    if (!valid) {
        answer(s, e, "invalid name");
        return;
    }
    name(s, m, std::move(*valid), Dialect::events,
         [ack = e.ack_id()](sio::Socket& s, std::size_t) {
             const auto* m = static_cast<const Member*>(s.data.get());
             if (ack && m != nullptr) {
                 s.ack(*ack, one_string(m->key));
             }
         });
}

void Chat::on_add_user(sio::Socket& s, Member& m, const sio::Event& e)
{
    if (m.named) {
        return;
    }
    const auto* raw = as_string(e.arg(0));
    auto valid = raw ? valid_name(*raw) : std::nullopt;
    if (!valid) {
        return;
    }
    name(s, m, std::move(*valid), Dialect::demo,
         [](sio::Socket& s, std::size_t users) {
             std::string args = "[{";
             field(args, "numUsers", users);
             args += "}]";
             s.emit("login", args);
         });
}

void Chat::on_message(sio::Socket& s, Member& m, const sio::Event& e)
{
    const auto* text = as_string(e.arg(0));

    if (!m.named) {
        if (e.ack_id()) {
            answer(s, e, "must login first");
            return;
        }
        if (text == nullptr) {
            return;
        }
        /* seed 001: the first message of a user is its name */
        auto valid = valid_name(*text);
        if (!valid) {
            s.emit("message", one_string("invalid name"));
            return;
        }
        std::string welcome = "Welcome " + *valid + "!";
        name(s, m, std::move(*valid), Dialect::classic,
             [welcome](sio::Socket& s, std::size_t) {
                 s.emit("message", one_string(welcome));
             });
        return;
    }

    if (text == nullptr) {
        answer(s, e, "invalid message");
        return;
    }

    post(s, m, *text);

    std::string received = "received \"";
    received.append(text->data(), text->size());
    received += "\"";
    answer(s, e, received);
}

/*
 * A typing notice goes to every demo socket: a client that sends them as
 * fast as it can would make every other client's traffic. Only a change
 * of state is told (the demo client sends "typing" once, then "stop
 * typing"), and a socket may change it typing_burst times at once, then
 * typing_per_second a second: far more than anyone types, far less than a
 * flood. A change over budget is dropped; the next one tells the state.
 */
void Chat::on_typing(sio::Socket& s, Member& m, std::string_view event)
{
    if (!m.named) {
        return;
    }

    bool typing = event == "typing";
    if (typing == m.typing) {
        return;
    }

    eio::Millis now = s.session().now();
    m.typing_budget = std::min<std::int64_t>(
        typing_burst * 1000,
        m.typing_budget + (now - m.typing_at) * typing_per_second);
    m.typing_at = now;
    if (m.typing_budget < 1000) {
        return;
    }
    m.typing_budget -= 1000;
    m.typing = typing;
    tell_typing(s, m, event);
}

/* "typing" or "stop typing", to the demo sockets */
void Chat::tell_typing(sio::Socket& s, const Member& m, std::string_view event)
{
    std::string args = "[{";
    field(args, "username", m.name);
    args += "}]";
    to_room(s, room(Dialect::demo), event, args);
}

void Chat::on_users(sio::Socket& s, const sio::Event& e)
{
    if (!e.ack_id()) {
        return;
    }

    if (!directory_.cluster_wide()) {
        s.ack(*e.ack_id(), local_users());
        return;
    }

    directory_.all_users(
        [this, &adapter = s.adapter(), id = s.id(), ack = *e.ack_id(),
         hold = s.session().hold()](Directory::Users all) {
            /* this server's list is made once per change of the
               directory, however often asked; a cluster's answer is made
               for the requests that waited for it together */
            std::string made;
            const std::string* json;
            if (all.local) {
                json = &local_users();
            } else {
                made = users_ack(all.users);
                json = &made;
            }
            with_socket(adapter, id,
                        [&](sio::Socket& s) { s.ack(ack, *json); });
        });
}

/* This server's users, made once per change of the directory however
   often asked. */
const std::string& Chat::local_users()
{
    if (users_json_.empty() || users_version_ != directory_.version()) {
        users_version_ = directory_.version();
        users_json_ = users_ack(directory_.list());
    }
    return users_json_;
}

std::string Chat::users_ack(const std::vector<User>& users)
{
    std::string out = "[[";
    bool first = true;
    for (const User& u : users) {
        if (!first) {
            out.push_back(',');
        }
        first = false;
        out += "{";
        field(out, "key", u.key);
        field(out, "name", u.name);
        out += "}";
    }
    out += "]]";
    return out;
}

std::string Chat::user_room(std::string_view key)
{
    std::string room = "chat:user:";
    room.append(key);
    return room;
}

void Chat::with_socket(sio::Adapter& adapter, const std::string& id,
                       const std::function<void(sio::Socket&)>& fn)
{
    sio::BroadcastOptions just;
    just.rooms.push_back(id);
    adapter.for_each(just, fn);
}

std::string Chat::data_json(const sio::Socket& s) const
{
    const auto* m = static_cast<const Member*>(s.data.get());
    if (m == nullptr || !m->named) {
        return "{}";
    }
    std::string out = "{";
    field(out, "key", m->key);
    field(out, "name", m->name);
    out += "}";
    return out;
}

void Chat::on_private(sio::Socket& s, Member& m, const sio::Event& e)
{
    if (!m.named) {
        answer(s, e, "must login first");
        return;
    }

    const boost::json::string* to = nullptr;
    const boost::json::string* text = nullptr;
    if (const auto* obj = e.arg(0).if_object()) {
        if (const auto* v = obj->if_contains("to")) {
            to = v->if_string();
        }
        if (const auto* v = obj->if_contains("message")) {
            text = v->if_string();
        }
    }

    if (to == nullptr || text == nullptr) {
        answer(s, e, "no such user");
        return;
    }

    std::string args = "[{\"from\":{";
    field(args, "key", m.key);
    field(args, "name", m.name);
    args += "}";
    field(args, "message", *text);
    args += "}]";

    auto packet = sio::encode(sio::PacketType::event, s.nsp_name(),
                              std::nullopt, 0,
                              sio::event_payload("private message", args));

    /* the user's own room: on whichever worker or server it is */
    directory_.exists(
        std::string(*to),
        [&adapter = s.adapter(), id = s.id(), ack = e.ack_id(), packet,
         room = user_room(*to), hold = s.session().hold()](bool found) {
            if (found) {
                sio::BroadcastOptions to_one;
                to_one.rooms.push_back(room);
                adapter.broadcast({packet}, to_one);
            }
            if (ack) {
                with_socket(adapter, id, [&](sio::Socket& s) {
                    s.ack(*ack, one_string(found ? "sent" : "no such user"));
                });
            }
        });
}

void Chat::relay(sio::Socket& s, const sio::Event& e)
{
    /* as it came, attachments included, less the ack id */
    std::vector<eio::EncodedPtr> packets;
    packets.reserve(1 + e.buffers().size());

    std::string payload = "[";
    payload.append(e.name_json());
    payload.append(e.rest());

    packets.push_back(sio::encode(
        e.buffers().empty() ? sio::PacketType::event
                            : sio::PacketType::binary_event,
        s.nsp_name(), std::nullopt, e.buffers().size(), payload));
    for (const std::string& b : e.buffers()) {
        packets.push_back(eio::Encoded::binary(b));
    }

    sio::BroadcastOptions others;
    others.except.push_back(s.id());
    s.adapter().broadcast(packets, others);
}

void Chat::name(sio::Socket& s, Member& m, std::string name, Dialect d,
                Then then)
{
    bool first = !m.named;

    if (first) {
        m.key = directory_.new_key();
        s.join(user_room(m.key));
    }

    if (m.dialect != d) {
        s.leave(room(m.dialect));
        s.join(room(d));
        m.dialect = d;
    }

    m.named = true;
    m.name = std::move(name);
    directory_.put(User{m.key, m.name, s.id()});
    s.state_changed();

    if (first) {
        announce_joined(s, m, std::move(then));
        return;
    }

    /*
     * a rename keeps the key: events clients list users by key, so they
     * drop the old entry and add the new one; the count does not change,
     * so demo clients are not told
     */
    to_room(s, room(Dialect::events), "user disconnected", one_string(m.key));
    std::string user = "[{";
    field(user, "key", m.key);
    field(user, "name", m.name);
    user += "}]";
    to_room(s, room(Dialect::events), "user connected", user);
    then(s, directory_.count());
}

/*
 * The door's answer (an ack, the demo's `login`) goes after the
 * announcements: a client that names the next user once it has its
 * answer finds this one announced already, even when counting the users
 * of a cluster took a round trip.
 */
void Chat::announce_joined(sio::Socket& s, const Member& m, Then then)
{
    std::string user = "[{";
    field(user, "key", m.key);
    field(user, "name", m.name);
    user += "}]";
    to_room(s, room(Dialect::events), "user connected", user);

    directory_.count_all([this, &adapter = s.adapter(), nsp = s.nsp_name(),
                          name = m.name, except = s.id(),
                          then = std::move(then),
                          hold = s.session().hold()](std::size_t n) {
        std::string joined = "[{";
        field(joined, "username", name);
        field(joined, "numUsers", n);
        joined += "}]";
        to_room(adapter, nsp, room(Dialect::demo), "user joined", joined,
                except);
        with_socket(adapter, except, [&](sio::Socket& s) { then(s, n); });
    });
}

void Chat::announce_left(sio::Socket& s, const Member& m)
{
    announce_gone(s.adapter(), s.nsp_name(), m.key, m.name, s.id());
}

void Chat::announce_gone(sio::Adapter& adapter, std::string_view nsp,
                         std::string_view key, std::string_view name,
                         std::string_view except)
{
    to_room(adapter, nsp, room(Dialect::events), "user disconnected",
            one_string(key), except);

    directory_.count_all([this, &adapter, nsp = std::string(nsp),
                          name = std::string(name),
                          except = std::string(except)](std::size_t n) {
        std::string left = "[{";
        field(left, "username", name);
        field(left, "numUsers", n);
        left += "}]";
        to_room(adapter, nsp, room(Dialect::demo), "user left", left, except);
    });
}

void Chat::users_gone(sio::Namespace& nsp, const std::vector<User>& users)
{
    /* not to the socket itself: one away that recovers later would have
       its own departure among what it missed */
    for (const User& u : users) {
        announce_gone(nsp.adapter(), nsp.name(), u.key, u.name, u.socket_id);
    }
}

void Chat::post(sio::Socket& s, const Member& m, std::string_view text)
{
    std::string classic = m.name;
    classic += ": ";
    classic.append(text);
    to_room(s, room(Dialect::classic), "message", one_string(classic));

    std::string events = "[{";
    field(events, "key", m.key);
    field(events, "sender", m.name);
    field(events, "message", text);
    events += "}]";
    to_room(s, room(Dialect::events), "new chat msg", events);

    std::string demo = "[{";
    field(demo, "username", m.name);
    field(demo, "message", text);
    demo += "}]";
    to_room(s, room(Dialect::demo), "new message", demo);
}

void Chat::to_room(sio::Socket& from, std::string_view room,
                   std::string_view event, std::string_view args_json)
{
    to_room(from.adapter(), from.nsp_name(), room, event, args_json,
            from.id());
}

void Chat::to_room(sio::Adapter& adapter, std::string_view nsp,
                   std::string_view room, std::string_view event,
                   std::string_view args_json, std::string_view except)
{
    auto packet = sio::encode(sio::PacketType::event, nsp, std::nullopt, 0,
                              sio::event_payload(event, args_json));
    sio::BroadcastOptions opts;
    opts.rooms.emplace_back(room);
    if (!except.empty()) {
        opts.except.emplace_back(except);
    }
    adapter.broadcast({packet}, opts);
}

std::string Chat::save(const sio::Socket& s) const
{
    const auto* m = static_cast<const Member*>(s.data.get());
    util::WireWriter w;
    if (m == nullptr) {
        return {};
    }
    w.num(static_cast<std::uint8_t>(m->named));
    w.num(static_cast<std::uint8_t>(m->dialect));
    w.str(m->key);
    w.str(m->name);
    return std::move(w.bytes());
}

void Chat::restore(sio::Socket& s, std::string_view state)
{
    auto m = std::make_unique<Member>();
    util::WireReader r(state);
    m->named = r.num<std::uint8_t>() != 0;
    m->dialect = static_cast<Dialect>(r.num<std::uint8_t>());
    m->key = std::string(r.str());
    m->name = std::string(r.str());
    if (!r.ok()) {
        m = std::make_unique<Member>();
    }
    if (m->named) {
        /* the user now lives on this worker */
        m->listed = directory_.come_back(User{m->key, m->name, s.id()});
    }
    s.data = std::move(m);
}

/*
 * Back within the grace, it had stayed listed: nobody was told it left,
 * nobody is told it came back. Later, its departure was announced, so its
 * return is announced as a join.
 */
void Chat::on_recovered(sio::Socket& s, const boost::json::value&)
{
    /* restore() gave it its Member */
    const auto* m = static_cast<const Member*>(s.data.get());
    if (m != nullptr && m->named && !m->listed) {
        announce_joined(s, *m, [](sio::Socket&, std::size_t) {});
    }
}

/*
 * A deliberate disconnect is announced at once. A socket kept for its
 * client to come back to (connection state recovery) stays listed for
 * the directory's grace: it was typing, it no longer is; the rest waits
 * (users_gone(), when the grace is over and it has not come back).
 */
void Chat::on_disconnect(sio::Socket& s, std::string_view)
{
    auto* m = static_cast<Member*>(s.data.get());
    if (m == nullptr || !m->named) {
        return;
    }
    if (s.kept() && directory_.set_away(User{m->key, m->name, s.id()})) {
        if (m->typing) {
            tell_typing(s, *m, "stop typing");
        }
        return;
    }
    directory_.remove(m->key);
    announce_left(s, *m);
}

}  // namespace socketio::chat
