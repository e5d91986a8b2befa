#include "core/redis/member.hpp"

#include "core/eio/session.hpp"
#include "core/redis/msgpack.hpp"
#include "core/sio/packet.hpp"
#include "core/sio/server.hpp"
#include "core/sio/socket.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <set>

namespace socketio::redis {

namespace {

namespace json = boost::json;

/* the adapter's request types (RequestType in lib/index.ts) */
enum class Request : int {
    sockets = 0,
    all_rooms = 1,
    remote_join = 2,
    remote_leave = 3,
    remote_disconnect = 4,
    remote_fetch = 5,
    server_side_emit = 6,
    broadcast = 7,
    broadcast_client_count = 8,
    broadcast_ack = 9,
};

constexpr std::uint64_t key_block = 64;

/*
 * After a reconnection, keys are drawn again only once every member had
 * the time to raise the counter (the longest delay between two attempts
 * to reconnect, and some): meanwhile the directory makes its own.
 */
constexpr eio::Millis key_grace = 6000;

/*
 * INCRBY of the keys' counter, raised first to the highest key this
 * worker ever drew: a Redis that comes back without its data (no
 * persistence) would count from 1 again, and hand out keys of users still
 * here. Run at every (re)connection, so that each member raises it as
 * soon as it is back.
 */
constexpr std::string_view draw_keys_script =
    "local c = tonumber(redis.call('GET', KEYS[1]) or '0') "
    "local floor = tonumber(ARGV[2]) "
    "if c < floor then redis.call('SET', KEYS[1], floor) end "
    "return redis.call('INCRBY', KEYS[1], ARGV[1])";

std::string_view str_of(const json::object& o, std::string_view key)
{
    if (const json::value* v = o.if_contains(key)) {
        if (const json::string* s = v->if_string()) {
            return std::string_view(s->data(), s->size());
        }
    }
    return {};
}

std::optional<std::int64_t> int_of(const json::object& o, std::string_view key)
{
    if (const json::value* v = o.if_contains(key)) {
        if (v->is_int64()) {
            return v->get_int64();
        }
        if (v->is_uint64()) {
            return static_cast<std::int64_t>(v->get_uint64());
        }
        if (v->is_double()) {
            return static_cast<std::int64_t>(v->get_double());
        }
    }
    return std::nullopt;
}

/* Room names as the adapter allows them: strings, or numbers. */
void rooms_of(const json::value* v, std::vector<std::string>& out)
{
    const json::array* a = v != nullptr ? v->if_array() : nullptr;
    if (a == nullptr) {
        return;
    }
    for (const json::value& r : *a) {
        if (const json::string* s = r.if_string()) {
            out.emplace_back(s->data(), s->size());
        } else if (r.is_number()) {
            out.push_back(json::serialize(r));
        }
    }
}

sio::BroadcastOptions opts_of(const json::object& o)
{
    sio::BroadcastOptions opts;
    if (const json::value* v = o.if_contains("opts")) {
        if (const json::object* oo = v->if_object()) {
            rooms_of(oo->if_contains("rooms"), opts.rooms);
            rooms_of(oo->if_contains("except"), opts.except);
        }
    }
    return opts;
}

void append_strings(std::string& out, const std::vector<std::string>& xs)
{
    out += "[";
    for (std::size_t i = 0; i < xs.size(); i++) {
        if (i > 0) {
            out += ",";
        }
        sio::append_json_string(out, xs[i]);
    }
    out += "]";
}

bool starts_with(std::string_view s, std::string_view prefix)
{
    return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

}  // namespace

/* A request of this member's, waiting for the others' answers. */
struct Member::Pending {
    std::string nsp;
    long expected = -1;                   /* unknown until NUMSUB says */
    long got = 0;
    std::vector<FetchedSocket> sockets;
    eio::Millis deadline;
    FetchFn done;
};

Member::Member(MemberConfig config, MemberHost& host, sio::Server& server)
    : cfg_(std::move(config)), host_(host), server_(server),
      pub_(cfg_.conn), sub_(cfg_.conn)
{
    pub_.on_ready([this] {
        if (highest_key_ == 0) {
            refill_keys(true);
            return;
        }
        /* back after a loss: the counter raised at once, keys later */
        std::string counter = cfg_.prefix + "-chat#key";
        std::string floor = std::to_string(highest_key_);
        if (pub_.command({"EVAL", draw_keys_script, "1", counter, "0",
                          floor}))
        {
            flush(pub_);
        }
        next_key_ = end_key_ = 0;
        draw_after_ = cfg_.clock() + key_grace;
    });
    sub_.on_ready([this] { subscribe(); });
    sub_.on_push([this](const resp::Reply& r) { on_push(r); });
}

Member::~Member() = default;

void Member::add_namespace(std::string nsp)
{
    Channels ch;
    ch.nsp = std::move(nsp);
    ch.broadcast = cfg_.prefix + "#" + ch.nsp + "#";
    ch.request = cfg_.prefix + "-request#" + ch.nsp + "#";
    ch.response = cfg_.prefix + "-response#" + ch.nsp + "#";
    channels_.push_back(std::move(ch));
}

bool Member::connected() const noexcept
{
    return pub_.ready() && sub_.ready() && subscribed_;
}

void Member::on_closed(Conn& c)
{
    if (&c == &sub_) {
        subscribed_ = false;
        confirmations_ = 0;
    }
    if (&c == &pub_) {
        refilling_ = false;
    }

    /* what waited for other members will not hear from them now */
    while (!pending_.empty()) {
        finish(pending_.begin(), false);
    }
}

/* --- subscribing --- */

void Member::subscribe()
{
    confirmations_ = 0;
    subscribed_ = false;

    for (Channels& ch : channels_) {
        ch.own_response = ch.response + cfg_.uid + "#";
        sub_.subscribe({"SUBSCRIBE", ch.request, ch.response,
                        ch.own_response});
    }
    if (reader_) {
        read_broadcasts(true);
    }
    flush(sub_);
}

void Member::set_reader(bool reader)
{
    if (reader == reader_) {
        return;
    }
    reader_ = reader;
    if (sub_.ready()) {
        read_broadcasts(reader);
        flush(sub_);
    }
}

void Member::read_broadcasts(bool on)
{
    for (const Channels& ch : channels_) {
        sub_.subscribe({on ? "PSUBSCRIBE" : "PUNSUBSCRIBE",
                        ch.broadcast + "*"});
    }
}

void Member::on_push(const resp::Reply& r)
{
    const auto& e = r.elements;

    if (e[0].is_string("psubscribe") || e[0].is_string("punsubscribe")) {
        return;
    }

    if (e[0].is_string("subscribe")) {
        if (++confirmations_ == channels_.size() * 3) {
            subscribed_ = true;
            host_.log(util::LogLevel::notice,
                      "joined the Socket.IO cluster on Redis as " + cfg_.uid);
        }
        return;
    }

    std::string_view channel, payload;

    /* after PUNSUBSCRIBE, until Redis has it: another worker reads now */
    if (e[0].is_string("pmessage") && e.size() == 4 && reader_) {
        channel = e[2].str;
        payload = e[3].str;
        for (const Channels& ch : channels_) {
            if (starts_with(channel, ch.broadcast)) {
                on_broadcast(ch, payload);
                return;
            }
        }
        return;
    }

    if (e[0].is_string("message") && e.size() == 3) {
        channel = e[1].str;
        payload = e[2].str;
        for (const Channels& ch : channels_) {
            if (channel == ch.request) {
                on_request(ch, payload);
                return;
            }
            if (starts_with(channel, ch.response)) {
                on_response(payload);
                return;
            }
        }
    }
}

sio::Namespace* Member::nsp_of(const Channels& ch)
{
    return server_.find(ch.nsp);
}

/* --- broadcasts --- */

void Member::publish(std::string_view nsp,
                     const std::vector<eio::EncodedPtr>& packets,
                     const sio::BroadcastOptions& opts)
{
    if (!connected() || packets.empty()) {
        return;
    }

    const Channels* ch = nullptr;
    for (const Channels& c : channels_) {
        if (c.nsp == nsp) {
            ch = &c;
        }
    }
    if (ch == nullptr) {
        return;
    }

    /* the Socket.IO packet as it was encoded once, read back for its
       parts: its JSON becomes msgpack as the adapter publishes it */
    std::string_view text = packets[0]->packet();
    if (text.empty() || packets[0]->is_binary()) {
        return;
    }
    sio::Packet p;
    if (sio::decode(text.substr(1), p) != sio::DecodeError::none) {
        return;
    }

    msgpack::Broadcast b;
    b.uid = cfg_.uid;
    /* PacketType is the digit on the wire; msgpack has the number */
    b.packet.type = static_cast<int>(p.type) - '0';
    b.packet.nsp = std::string(nsp);
    b.packet.data = p.raw.empty() ? "[]" : p.raw;
    for (std::size_t i = 1; i < packets.size(); i++) {
        std::string_view bin = packets[i]->packet();
        b.packet.attachments.emplace_back(bin);
    }
    b.opts.rooms = opts.rooms;
    b.opts.except = opts.except;

    std::string msg;
    if (msgpack::encode_broadcast(msg, b)) {
        counters_.dropped++;
        return;
    }

    std::string channel = ch->broadcast;
    if (opts.rooms.size() == 1) {
        channel += opts.rooms.front();
        channel += "#";
    }

    if (!pub_.command({"PUBLISH", channel, msg})) {
        /* Redis takes less than is published: this one is dropped */
        if (counters_.dropped++ % 1000 == 0) {
            host_.log(util::LogLevel::warn,
                      "Redis is slower than the broadcasts published: "
                      "broadcasts to other servers dropped");
        }
        return;
    }
    counters_.published++;
    flush(pub_);
}

void Member::on_broadcast(const Channels& ch, std::string_view payload)
{
    sio::Namespace* nsp = nsp_of(ch);
    if (nsp == nullptr) {
        return;
    }

    auto b = msgpack::decode_broadcast(payload);
    if (!b) {
        if (counters_.dropped++ % 100 == 0) {
            host_.log(util::LogLevel::warn,
                      "a broadcast from Redis dropped: "
                      + std::string(msgpack::describe(b.error())));
        }
        return;
    }

    /* this node's own: its workers had it through the zone */
    if (starts_with(b->uid, cfg_.node) || b->packet.nsp != ch.nsp) {
        return;
    }

    auto type = static_cast<sio::PacketType>('0' + b->packet.type);
    if (!b->packet.attachments.empty()) {
        type = type == sio::PacketType::ack ? sio::PacketType::binary_ack
                                            : sio::PacketType::binary_event;
    }

    std::vector<eio::EncodedPtr> packets;
    packets.reserve(1 + b->packet.attachments.size());
    packets.push_back(sio::encode(type, ch.nsp, b->packet.id,
                                  b->packet.attachments.size(),
                                  b->packet.data));
    for (const std::string& a : b->packet.attachments) {
        packets.push_back(eio::Encoded::binary(a));
    }

    sio::BroadcastOptions opts;
    opts.rooms = std::move(b->opts.rooms);
    opts.except = std::move(b->opts.except);

    /* decoded once for the node: its workers read it from the log */
    nsp->adapter().deliver_remote(packets, opts);
    counters_.received++;
}

/* --- requests of other members --- */

std::vector<FetchedSocket> Member::local(sio::Namespace& nsp,
                                         const sio::BroadcastOptions& opts)
{
    std::vector<FetchedSocket> out;
    nsp.adapter().for_each(opts, [&](sio::Socket& s) {
        out.push_back(FetchedSocket{s.id(), nsp.adapter().rooms_of(s),
                                    nsp.handler().data_json(s)});
    });
    return out;
}

void Member::respond(const Channels& ch, const std::string& json)
{
    if (pub_.command({"PUBLISH", ch.response, json})) {
        counters_.requests++;
        flush(pub_);
    }
}

void Member::on_request(const Channels& ch, std::string_view payload)
{
    sio::Namespace* nsp = nsp_of(ch);
    if (nsp == nullptr) {
        return;
    }

    auto doc = msgpack::decode_request(payload);
    const json::object* req = doc ? doc->json.if_object() : nullptr;
    auto type = req != nullptr ? int_of(*req, "type") : std::nullopt;
    if (req == nullptr || !type) {
        if (counters_.dropped++ % 100 == 0) {
            host_.log(util::LogLevel::warn,
                      "a request from Redis dropped: not the adapter's");
        }
        return;
    }

    std::string_view uid = str_of(*req, "uid");
    std::string_view request_id = str_of(*req, "requestId");
    bool self = uid == cfg_.uid;

    std::string answer = "{\"requestId\":";
    sio::append_json_string(answer, request_id);

    switch (static_cast<Request>(*type)) {

    case Request::sockets: {
        if (self) {
            return;
        }
        std::vector<std::string> ids;
        sio::BroadcastOptions opts;
        rooms_of(req->if_contains("rooms"), opts.rooms);
        nsp->adapter().for_each(opts,
                                [&](sio::Socket& s) { ids.push_back(s.id()); });
        answer += ",\"sockets\":";
        append_strings(answer, ids);
        answer += "}";
        respond(ch, answer);
        return;
    }

    case Request::all_rooms: {
        if (self) {
            return;
        }
        std::set<std::string> rooms;
        nsp->adapter().for_each({}, [&](sio::Socket& s) {
            for (auto& r : nsp->adapter().rooms_of(s)) {
                rooms.insert(std::move(r));
            }
        });
        answer += ",\"rooms\":";
        append_strings(answer,
                       std::vector<std::string>(rooms.begin(), rooms.end()));
        answer += "}";
        respond(ch, answer);
        return;
    }

    case Request::remote_join:
    case Request::remote_leave:
    case Request::remote_disconnect: {
        bool join = *type == static_cast<int>(Request::remote_join);
        bool leave = *type == static_cast<int>(Request::remote_leave);
        std::vector<std::string> rooms;
        sio::BroadcastOptions opts;

        if (req->if_contains("opts") != nullptr) {
            opts = opts_of(*req);
            rooms_of(req->if_contains("rooms"), rooms);
        } else {
            /* one socket by id (an older form), answered when it is here */
            std::string_view sid = str_of(*req, "sid");
            if (sid.empty()) {
                return;
            }
            opts.rooms.emplace_back(sid);
            std::string_view room = str_of(*req, "room");
            if (!room.empty()) {
                rooms.emplace_back(room);
            }
        }

        /* picked first: leaving and disconnecting change the rooms */
        std::vector<std::string> ids;
        nsp->adapter().for_each(opts,
                                [&](sio::Socket& s) { ids.push_back(s.id()); });

        bool close = false;
        if (const json::value* v = req->if_contains("close")) {
            close = v->is_bool() && v->get_bool();
        }

        for (const std::string& id : ids) {
            sio::BroadcastOptions one;
            one.rooms.push_back(id);
            nsp->adapter().for_each(one, [&](sio::Socket& s) {
                if (join) {
                    for (const auto& r : rooms) {
                        s.join(r);
                    }
                } else if (leave) {
                    for (const auto& r : rooms) {
                        s.leave(r);
                    }
                } else {
                    s.disconnect(close);
                }
            });
        }

        if (req->if_contains("opts") == nullptr && !ids.empty()) {
            answer += "}";
            respond(ch, answer);
        }
        return;
    }

    case Request::remote_fetch: {
        if (self) {
            return;
        }
        answer += ",\"sockets\":[";
        bool first = true;
        for (const FetchedSocket& s : local(*nsp, opts_of(*req))) {
            if (!first) {
                answer += ",";
            }
            first = false;
            answer += "{\"id\":";
            sio::append_json_string(answer, s.id);
            /* what Node's socket.handshake holds; nginx keeps no more */
            answer += ",\"handshake\":{\"headers\":{},\"time\":\"\","
                      "\"address\":\"\",\"xdomain\":false,\"secure\":false,"
                      "\"issued\":0,\"url\":\"\",\"query\":{},\"auth\":{}}";
            answer += ",\"rooms\":";
            append_strings(answer, s.rooms);
            answer += ",\"data\":";
            answer += s.data_json;
            answer += "}";
        }
        answer += "]}";
        respond(ch, answer);
        return;
    }

    case Request::server_side_emit:
        /* as a Node.js server with no listener for it: nothing */
        return;

    case Request::broadcast: {
        if (self) {
            return;
        }
        const json::object* packet = nullptr;
        if (const json::value* v = req->if_contains("packet")) {
            packet = v->if_object();
        }
        const json::array* data = nullptr;
        if (packet != nullptr) {
            if (const json::value* v = packet->if_contains("data")) {
                data = v->if_array();
            }
        }
        if (data == nullptr) {
            return;
        }

        std::string payload = json::serialize(*data);
        std::string request(request_id);
        std::vector<std::string> attachments = doc->attachments;

        long count = 0;
        nsp->adapter().for_each(opts_of(*req), [&](sio::Socket& s) {
            count++;
            s.emit_payload_with_ack(
                payload, attachments,
                [this, alive = std::weak_ptr<bool>(alive_), ch = ch,
                 request](const sio::Packet& ack) {
                    if (alive.expired()) {
                        return;
                    }
                    /* the first argument, as RedisAdapter's ack takes it */
                    json::value arg;
                    if (const json::array* a = ack.json.if_array()) {
                        if (!a->empty()) {
                            arg = a->front();
                        }
                    }
                    json::object o;
                    o["type"] = static_cast<int>(Request::broadcast_ack);
                    o["requestId"] = request;
                    o["packet"] = std::move(arg);
                    std::string msg;
                    msgpack::encode(msg, o, ack.buffers);
                    if (pub_.command({"PUBLISH", ch.response, msg})) {
                        flush(pub_);
                    }
                });
        });

        std::string counted = "{\"type\":";
        counted += std::to_string(static_cast<int>(
            Request::broadcast_client_count));
        counted += ",\"requestId\":";
        sio::append_json_string(counted, request_id);
        counted += ",\"clientCount\":" + std::to_string(count) + "}";
        respond(ch, counted);
        return;
    }

    default:
        return;
    }
}

/* --- this member's requests --- */

void Member::fetch(std::string_view nsp_name, const sio::BroadcastOptions& opts,
                   eio::Millis now, FetchFn done)
{
    const Channels* ch = nullptr;
    for (const Channels& c : channels_) {
        if (c.nsp == nsp_name) {
            ch = &c;
        }
    }
    sio::Namespace* nsp = server_.find(nsp_name);
    if (ch == nullptr || nsp == nullptr) {
        done({}, false);
        return;
    }

    std::vector<FetchedSocket> mine = local(*nsp, opts);

    if (!connected()) {
        done(std::move(mine), false);
        return;
    }

    std::string id = cfg_.uid + "." + std::to_string(next_request_++);
    auto p = std::make_unique<Pending>();
    p->nsp = std::string(nsp_name);
    p->sockets = std::move(mine);
    p->deadline = now + cfg_.requests_timeout;
    p->done = std::move(done);
    pending_.emplace(id, std::move(p));

    std::string request = "{\"uid\":";
    sio::append_json_string(request, cfg_.uid);
    request += ",\"requestId\":";
    sio::append_json_string(request, id);
    request += ",\"type\":"
               + std::to_string(static_cast<int>(Request::remote_fetch))
               + ",\"opts\":{\"rooms\":";
    append_strings(request, opts.rooms);
    request += ",\"except\":";
    append_strings(request, opts.except);
    request += "}}";

    /* how many members there are, then the question */
    std::string channel = ch->request;
    bool asked = pub_.command(
        {"PUBSUB", "NUMSUB", channel},
        [this, id, channel, request](const resp::Reply* r) {
            auto it = pending_.find(id);
            if (it == pending_.end()) {
                return;
            }
            if (r == nullptr || !r->is(resp::Reply::Type::array)
                || r->elements.size() != 2
                || !r->elements[1].is(resp::Reply::Type::integer))
            {
                finish(it, false);
                return;
            }
            it->second->expected = static_cast<long>(r->elements[1].integer) - 1;
            if (it->second->expected <= 0) {
                finish(it, true);
                return;
            }
            if (!pub_.command({"PUBLISH", channel, request})) {
                finish(it, false);
                return;
            }
            flush(pub_);
        });

    if (!asked) {
        finish(pending_.find(id), false);
        return;
    }
    flush(pub_);
}

void Member::on_response(std::string_view payload)
{
    auto doc = msgpack::decode_request(payload);
    const json::object* res = doc ? doc->json.if_object() : nullptr;
    if (res == nullptr) {
        return;
    }

    auto it = pending_.find(std::string(str_of(*res, "requestId")));
    if (it == pending_.end()) {
        /* another member's, or one that timed out */
        return;
    }

    Pending& p = *it->second;
    p.got++;

    if (const json::value* v = res->if_contains("sockets")) {
        if (const json::array* a = v->if_array()) {
            for (const json::value& s : *a) {
                const json::object* o = s.if_object();
                if (o == nullptr) {
                    continue;
                }
                FetchedSocket f;
                f.id = std::string(str_of(*o, "id"));
                rooms_of(o->if_contains("rooms"), f.rooms);
                const json::value* data = o->if_contains("data");
                f.data_json = data != nullptr ? json::serialize(*data) : "{}";
                p.sockets.push_back(std::move(f));
            }
        }
    }

    if (p.expected >= 0 && p.got >= p.expected) {
        finish(it, true);
    }
}

void Member::finish(std::map<std::string, std::unique_ptr<Pending>>::iterator it,
                    bool complete)
{
    if (it == pending_.end()) {
        return;
    }
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    if (p->done) {
        p->done(std::move(p->sockets), complete);
    }
}

eio::Millis Member::next_deadline() const noexcept
{
    eio::Millis d = eio::never;
    for (const auto& [id, p] : pending_) {
        d = std::min(d, p->deadline);
    }
    return d;
}

void Member::on_timer(eio::Millis now)
{
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second->deadline > now) {
            ++it;
            continue;
        }
        auto expired = it++;
        host_.log(util::LogLevel::info,
                  "of the Socket.IO cluster's members, "
                  + std::to_string(expired->second->got) + " of "
                  + std::to_string(expired->second->expected)
                  + " answered within the requests timeout");
        finish(expired, false);
    }
}

/* --- chat keys --- */

std::optional<std::uint64_t> Member::take_key()
{
    /* while Redis is out of reach the directory makes keys of its own,
       whatever is left of a block (the contract: keys made then carry
       the server's tag) */
    std::optional<std::uint64_t> key;
    if (connected() && next_key_ < end_key_
        && cfg_.clock() >= draw_after_)
    {
        key = next_key_++;
    }
    refill_keys(false);
    return key;
}

void Member::refill_keys(bool reconnected)
{
    if (refilling_ || !pub_.ready() || cfg_.clock() < draw_after_
        || (!reconnected && end_key_ - next_key_ > key_block / 4))
    {
        return;
    }

    std::string counter = cfg_.prefix + "-chat#key";
    std::string block = std::to_string(key_block);
    std::string floor = std::to_string(highest_key_);
    refilling_ = pub_.command(
        {"EVAL", draw_keys_script, "1", counter, block, floor},
        [this, alive = std::weak_ptr<bool>(alive_)](const resp::Reply* r) {
            if (alive.expired()) {
                return;
            }
            refilling_ = false;
            if (r == nullptr || !r->is(resp::Reply::Type::integer)
                || r->integer < static_cast<std::int64_t>(key_block))
            {
                return;
            }
            /* the counter's last key_block values are this worker's */
            auto last = static_cast<std::uint64_t>(r->integer);
            next_key_ = last - key_block + 1;
            end_key_ = last + 1;
            highest_key_ = std::max(highest_key_, last);
        });
    flush(pub_);
}

}  // namespace socketio::redis
