/*
 * One worker as a member of a Socket.IO cluster over Redis, speaking the
 * protocol of @socket.io/redis-adapter 8.3 (the classic pub/sub adapter,
 * socketio/socket.io-redis-adapter lib/index.ts) and understood by
 * @socket.io/redis-emitter 5.1 (socketio/socket.io-redis-emitter):
 *
 *   <key>#<nsp>#[<room>#]      broadcasts: msgpack [uid, packet, opts]
 *   <key>-request#<nsp>#       requests: JSON (msgpack for BROADCAST)
 *   <key>-response#<nsp>#      responses: JSON (msgpack for BROADCAST_ACK)
 *
 * Each worker is a member of its own (its own uid, its own two
 * connections): it answers the requests for its own sockets, and PUBSUB
 * NUMSUB counts it. The broadcasts of the other servers one worker of the
 * node reads (the reader: set_reader()), and hands them to the adapter's
 * deliver_remote(), which logs them for every worker. A broadcast made on
 * this node reaches this node's workers through the zone's log; published
 * to Redis too, it comes back to the reader, who drops it: the uids of
 * one node's workers share a prefix (`node`). So every socket gets a
 * message once.
 *
 * What it does not know (a socket that is another member's) it asks the
 * cluster, and waits for the answers for requests_timeout at most.
 * Without Redis (not configured, or lost) it answers with what is here.
 */
#pragma once

#include "core/eio/config.hpp"
#include "core/eio/packet.hpp"
#include "core/redis/conn.hpp"
#include "core/sio/adapter.hpp"
#include "core/util/log_level.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::sio {
class Server;
class Namespace;
class Socket;
}

namespace socketio::redis {

struct MemberConfig {
    std::string prefix = "socket.io";    /* the adapter's `key` */
    eio::Millis requests_timeout = 5000;
    std::string uid;                      /* this worker's, in the cluster */
    std::string node;                     /* what this node's uids begin with,
                                             never empty */
    ConnOptions conn;
    /* the time now (keys wait a grace after a reconnection) */
    std::function<eio::Millis()> clock = [] { return eio::Millis(0); };
};

/* What the web server does for the member. */
class MemberHost {
public:
    virtual ~MemberHost() = default;
    /* `c` has bytes to write. */
    virtual void want_write(Conn& c) = 0;
    virtual void log(util::LogLevel level, std::string_view message) = 0;
};

/* A socket of some member, as fetchSockets() describes it. */
struct FetchedSocket {
    std::string id;
    std::vector<std::string> rooms;
    std::string data_json;                /* its `data`, an object */
};

class Member {
public:
    Member(MemberConfig config, MemberHost& host, sio::Server& server);
    ~Member();

    /* A namespace of the server joins the cluster (its channels). */
    void add_namespace(std::string nsp);
    /* This worker's uid, once it has a slot: before it connects. */
    void set_uid(std::string uid) { cfg_.uid = std::move(uid); }
    /* Whether this worker reads the other servers' broadcasts for the
       node (a member alone on its server is its reader). */
    void set_reader(bool reader);
    bool reader() const noexcept { return reader_; }

    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

    /* Publishing (and asking): PUBLISH, INCRBY, PUBSUB NUMSUB. */
    Conn& pub() noexcept { return pub_; }
    /* Subscribed to the cluster's channels. */
    Conn& sub() noexcept { return sub_; }

    /* The glue says a connection closed: the cluster is out of reach. */
    void on_closed(Conn& c);

    /* Both connections up and subscribed: messages cross servers. */
    bool connected() const noexcept;

    const MemberConfig& config() const noexcept { return cfg_; }

    /* --- what this worker does --- */

    /* A broadcast made here goes to the other servers (and comes back to
       this node's workers, who drop it: the zone brought it). */
    void publish(std::string_view nsp,
                 const std::vector<eio::EncodedPtr>& packets,
                 const sio::BroadcastOptions& opts);

    /*
     * The sockets of every member (this worker's first) that a broadcast
     * with `opts` would reach. `complete`: every member answered (false
     * after requests_timeout, or without Redis: then only this worker's).
     */
    using FetchFn = std::function<void(std::vector<FetchedSocket>,
                                       bool complete)>;
    void fetch(std::string_view nsp, const sio::BroadcastOptions& opts,
               eio::Millis now, FetchFn done);

    /* A chat key from the cluster's counter (INCRBY <key>-chat#key), or
       nothing when none is at hand (Redis out of reach). */
    std::optional<std::uint64_t> take_key();

    /* --- time --- */

    eio::Millis next_deadline() const noexcept;
    void on_timer(eio::Millis now);

    /* Counters, for the status page and the tests. */
    struct Counters {
        std::uint64_t published = 0;     /* broadcasts sent to Redis */
        std::uint64_t received = 0;      /* broadcasts from other servers */
        std::uint64_t dropped = 0;       /* refused: malformed, or a full
                                            output to Redis */
        std::uint64_t requests = 0;      /* requests answered */
    };
    const Counters& counters() const noexcept { return counters_; }

private:
    struct Channels {
        std::string nsp;
        std::string broadcast;           /* <key>#<nsp># */
        std::string request;             /* <key>-request#<nsp># */
        std::string response;            /* <key>-response#<nsp># */
        std::string own_response;        /* ...<uid># */
    };
    struct Pending;

    void subscribe();
    void read_broadcasts(bool on);
    void on_push(const resp::Reply& r);
    void on_broadcast(const Channels& ch, std::string_view payload);
    void on_request(const Channels& ch, std::string_view payload);
    void on_response(std::string_view payload);
    void respond(const Channels& ch, const std::string& json);
    void refill_keys(bool reconnected);
    sio::Namespace* nsp_of(const Channels& ch);
    std::vector<FetchedSocket> local(sio::Namespace& nsp,
                                     const sio::BroadcastOptions& opts);
    void finish(std::map<std::string, std::unique_ptr<Pending>>::iterator it,
                bool complete);
    void flush(Conn& c) { if (!c.output().empty()) host_.want_write(c); }

    MemberConfig cfg_;
    MemberHost& host_;
    sio::Server& server_;
    Conn pub_;
    Conn sub_;
    std::vector<Channels> channels_;
    std::size_t confirmations_ = 0;      /* of the subscriptions made */
    bool subscribed_ = false;
    bool reader_ = true;

    std::map<std::string, std::unique_ptr<Pending>> pending_;
    std::uint64_t next_request_ = 0;

    /* a block of chat keys: [next_key_, end_key_) */
    std::uint64_t next_key_ = 0;
    std::uint64_t end_key_ = 0;
    std::uint64_t highest_key_ = 0;       /* ever drawn: the counter's floor */
    eio::Millis draw_after_ = 0;          /* no key drawn before */
    bool refilling_ = false;

    Counters counters_;
    /* callbacks that may outlive the member (a client's ack) check it */
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace socketio::redis
