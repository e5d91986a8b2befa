/*
 * What runs on top of an Engine.IO session: the messages of
 * engine.io-protocol packet type 4. Socket.IO is one handler, engine_echo
 * another; the engine knows nothing of either.
 */
#pragma once

#include "core/eio/config.hpp"
#include "core/eio/reason.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace socketio::eio {

class Session;

/* One per session, owned by it. */
class Endpoint {
public:
    virtual ~Endpoint() = default;

    virtual void on_message(bool binary, std::string_view data) = 0;
    /* Called once, when the session stops taking input. */
    virtual void on_close(Reason reason) = 0;

    /* Its state, to carry the session to another worker, and back. */
    virtual std::string save() const { return {}; }
    virtual bool restore(std::string_view /* state */) { return true; }

    /* Its own timer, merged into the session's deadline. */
    virtual Millis deadline() const { return never; }
    virtual void on_timer(Millis /* now */) {}
};

class Handler {
public:
    virtual ~Handler() = default;
    virtual std::unique_ptr<Endpoint> open(Session& session) = 0;
};

}  // namespace socketio::eio
