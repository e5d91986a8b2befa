/*
 * Socket.IO v5 as one Engine.IO handler (socket.io-protocol "Exchange
 * protocol"): namespaces, the CONNECT handshake with its auth payload,
 * binary attachments gathered before an event is handed on, the connect
 * timeout, and a malformed packet closing the connection, as the reference
 * server's Client class does (socketio/socket.io packages/socket.io
 * lib/client.ts).
 */
#pragma once

#include "core/eio/handler.hpp"
#include "core/sio/adapter.hpp"
#include "core/sio/handler.hpp"
#include "core/sio/packet.hpp"
#include "core/sio/recovery.hpp"
#include "core/sio/socket.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::eio {
class Session;
}

namespace socketio::util {
class WireReader;
class WireWriter;
}

namespace socketio::sio {

class Namespace {
public:
    Namespace(std::string name, Handler& handler,
              std::unique_ptr<Adapter> adapter)
        : name_(std::move(name)), handler_(handler),
          adapter_(std::move(adapter)) {}

    const std::string& name() const noexcept { return name_; }
    Handler& handler() noexcept { return handler_; }
    Adapter& adapter() noexcept { return *adapter_; }
    /* null: connection state recovery is off */
    Recovery* recovery() const noexcept { return recovery_; }
    void set_recovery(Recovery* r) noexcept { recovery_ = r; }

private:
    std::string name_;
    Handler& handler_;
    std::unique_ptr<Adapter> adapter_;
    Recovery* recovery_ = nullptr;
};

class Server final : public eio::Handler {
public:
    explicit Server(eio::Millis connect_timeout)
        : connect_timeout_(connect_timeout) {}

    Namespace& add_namespace(std::string name, sio::Handler& handler,
                             std::unique_ptr<Adapter> adapter = nullptr);
    Namespace* find(std::string_view name) noexcept;
    const std::vector<std::unique_ptr<Namespace>>& namespaces() const noexcept
    {
        return namespaces_;
    }
    eio::Millis connect_timeout() const noexcept { return connect_timeout_; }

    /* Connection state recovery for every namespace (null: off). */
    void set_recovery(Recovery* r) noexcept;

    std::unique_ptr<eio::Endpoint> open(eio::Session& session) override;

private:
    eio::Millis connect_timeout_;
    Recovery* recovery_ = nullptr;
    std::vector<std::unique_ptr<Namespace>> namespaces_;
};

/* The Socket.IO side of one Engine.IO session. */
class Client final : public eio::Endpoint {
public:
    Client(Server& server, eio::Session& session);
    ~Client() override;

    void on_message(bool binary, std::string_view data) override;
    void on_close(eio::Reason reason) override;
    eio::Millis deadline() const override;
    void on_timer(eio::Millis now) override;
    std::string save() const override;
    bool restore(std::string_view state) override;

    /* Its sockets (a moved session's broadcasts are replayed to them). */
    const std::vector<std::unique_ptr<Socket>>& sockets() const noexcept
    {
        return sockets_;
    }

    /* The server disconnects one of its sockets (Socket::disconnect). */
    void disconnect(Socket& socket, bool close);

    /* Work a handler asked to run later (Socket::after). */
    void defer(Socket& socket, eio::Millis at,
               std::function<void(Socket&)> fn);

private:
    struct Deferred {
        eio::Millis at;
        std::string socket_id;
        std::function<void(Socket&)> fn;
        /* the session stays on this worker until it runs: the state a
           migration carries has no closures */
        std::shared_ptr<const void> hold;
    };

    void on_packet(Packet& p);
    void connect(const std::string& nsp, const Packet& p);
    /* A CONNECT with a pid: the socket back (null: a fresh one is due,
       the refusal counted and logged). */
    Socket* recover(Namespace& nsp, const Packet& p);
    /* Connection state recovery: the socket as it is now (live), or as
       its connection went; or never again. */
    void keep(Socket& s, bool live);
    void forget(Socket& s);
    /* One socket's part of save(): what a migration and a recovery carry. */
    void save_socket(util::WireWriter& w, Socket& s) const;
    /* ...and back: the socket, listed in its rooms (null: its namespace
       is not served here; `r` not ok: the bytes were bad). */
    Socket* restore_socket(util::WireReader& r);
    void fail(std::string_view why);
    Socket* find(std::string_view nsp) noexcept;
    void remove(Socket& socket, std::string_view reason);

    Server& server_;
    eio::Session& session_;
    std::vector<std::unique_ptr<Socket>> sockets_;
    /* waiting for its attachments; on the heap: rare, and idle sockets
       should cost little */
    std::unique_ptr<Packet> pending_;
    eio::Millis connect_deadline_;
    std::vector<Deferred> deferred_;
    bool failed_ = false;
};

}  // namespace socketio::sio
