/*
 * The handlers the Socket.IO and Engine.IO compliance suites expect
 * (socket.io-protocol and engine.io-protocol, test-suite/): what a site
 * owner uses to check an installation, and what the tests drive.
 */
#pragma once

#include "core/eio/handler.hpp"
#include "core/sio/handler.hpp"

namespace socketio::handlers {

/*
 * Socket.IO echo: on connect emits "auth" with the handshake's auth;
 * "message" comes back as "message-back" with the same arguments;
 * "message-with-ack" is acknowledged with the same arguments.
 */
class SocketEcho final : public sio::Handler {
public:
    void on_connect(sio::Socket& socket,
                    const boost::json::value& auth) override;
    void on_event(sio::Socket& socket, const sio::Event& event) override;
};

/* Engine.IO echo: every message goes back as it came, text or binary. */
class EngineEcho final : public eio::Handler {
public:
    std::unique_ptr<eio::Endpoint> open(eio::Session& session) override;
};

}  // namespace socketio::handlers
