/*
 * A Socket.IO socket: one client connected to one namespace
 * (socket.io-protocol "Connection to a namespace"), with its own id,
 * distinct from the Engine.IO session id, its rooms, and the acks it is
 * waiting for.
 */
#pragma once

#include "core/eio/packet.hpp"
#include "core/sio/packet.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::eio {
class Session;
}

namespace socketio::sio {

class Adapter;
class Client;
class Handler;
class Namespace;

/* Per-socket state a handler keeps on the socket. */
class SocketData {
public:
    virtual ~SocketData() = default;
};

class Socket {
public:
    using AckCallback = std::function<void(const Packet&)>;

    Socket(std::string id, Namespace& nsp, eio::Session& session,
           Client* client = nullptr);

    const std::string& id() const noexcept { return id_; }
    const std::string& nsp_name() const noexcept;
    Namespace& nsp() noexcept { return nsp_; }
    Adapter& adapter() noexcept;
    eio::Session& session() noexcept { return session_; }

    /* emit(name, "[1,2]"): the arguments as a JSON array text. */
    void emit(std::string_view event, std::string_view args_json = "[]");
    /* The same with binary attachments (placeholders in the arguments). */
    void emit_binary(std::string_view event, std::string_view args_json,
                     const std::vector<std::string>& buffers);
    void emit_with_ack(std::string_view event, std::string_view args_json,
                       AckCallback cb);
    /* An event given whole (its payload ["event", ...args], with the
       placeholders of `buffers`), with an ack id of this socket's. */
    void emit_payload_with_ack(std::string_view payload,
                               const std::vector<std::string>& buffers,
                               AckCallback cb);
    /* Answers the client's ack request `id` with a JSON array text. */
    void ack(std::uint64_t id, std::string_view args_json,
             const std::vector<std::string>& buffers = {});

    /* Runs `fn` after `delay` ms, unless the socket is gone by then. */
    void after(std::int64_t delay, std::function<void(Socket&)> fn);

    void join(std::string_view room);
    void leave(std::string_view room);

    /* The server disconnects it (socket.disconnect(close) of the
       reference): the client is told, the handler hears "server
       namespace disconnect"; `close` closes the whole connection too. */
    void disconnect(bool close);

    /* The CONNECT packet's auth, as JSON text ("{}" when it had none):
       what a cluster's fetchSockets() shows of its handshake. */
    const std::string& auth_json() const noexcept { return auth_; }
    void set_auth_json(std::string auth) { auth_ = std::move(auth); }

    /* An ACK or BINARY_ACK from the client. Unknown ids are ignored. */
    void on_ack(const Packet& p);

    /* Connection state recovery (sio/recovery.hpp): the private id its
       client may come back with (empty: not recoverable), where it
       started in the log, and the log position below which broadcasts are
       not delivered to it (a restored socket has them already). */
    const std::string& pid() const noexcept { return pid_; }
    std::uint64_t floor() const noexcept { return floor_; }
    std::uint64_t live_from() const noexcept { return live_from_; }
    void set_recovery(std::string pid, std::uint64_t floor,
                      std::uint64_t live_from = 0)
    {
        pid_ = std::move(pid);
        floor_ = floor;
        live_from_ = live_from;
    }
    /* Its connection went and it was kept for its client to come back
       to (told before the handler's on_disconnect). */
    bool kept() const noexcept { return kept_; }
    void set_kept() noexcept { kept_ = true; }
    /* A handler changed what save() gives (its rooms change it too): the
       socket is kept again, so that a worker's death loses no change. */
    void state_changed() noexcept { changed_ = true; }
    bool take_changed() noexcept
    {
        bool c = changed_;
        changed_ = false;
        return c;
    }

    std::unique_ptr<SocketData> data;

private:
    void send_packet(PacketType type, std::optional<std::uint64_t> id,
                     std::string_view payload,
                     const std::vector<std::string>& buffers);

    std::string id_;
    Namespace& nsp_;
    eio::Session& session_;
    Client* client_;
    std::uint64_t next_ack_ = 0;
    std::string auth_;
    std::map<std::uint64_t, AckCallback> acks_;
    std::string pid_;
    std::uint64_t floor_ = 0;
    bool kept_ = false;
    std::uint64_t live_from_ = 0;
    bool changed_ = false;
};

}  // namespace socketio::sio
