/*
 * The two transports of engine.io-protocol "Transports", as the session
 * sees them: narrow interfaces that the web server implements. A session
 * calls them only from Engine::flush(), never from inside the input it is
 * processing, so an implementation may finish a request or close a
 * connection right there.
 */
#pragma once

#include "core/eio/error.hpp"
#include "core/eio/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socketio::eio {

/* A polling GET waiting for packets. */
class PollWaiter {
public:
    /* Answers the GET with this payload; the session forgets the waiter. */
    virtual void respond(std::string payload) = 0;

protected:
    ~PollWaiter() = default;
};

/*
 * A polling POST whose packets the session handles over several turns of
 * the event loop (so that one client's payload cannot hold the worker):
 * answered once the last is handled.
 */
class PostWaiter {
public:
    virtual void posted(std::optional<Error> e) = 0;

protected:
    ~PostWaiter() = default;
};

/* A WebSocket connection, before (probe) or after the upgrade. */
class WebSocketLink {
public:
    /* Writes these packets, one frame each, in order. */
    virtual void send(const std::vector<EncodedPtr>& packets) = 0;
    /* Closes with this code once what was sent is written; the session
       forgets the link. */
    virtual void close(std::uint16_t code, std::string_view reason) = 0;
    /* Bytes handed over by send() and not yet written to the socket. */
    virtual std::size_t backlog() const noexcept = 0;
    /*
     * The server goes away (RFC 6455 section 7.1.2): its close frame goes
     * out after what was sent, and what the peer sent before it saw that
     * frame still reaches the session, until the peer's own close frame
     * (or a time limit): then on_ws_gone(). false: this link cannot, and
     * the session closes it.
     */
    virtual bool half_close(std::uint16_t /* code */,
                            std::string_view /* reason */)
    {
        return false;
    }

protected:
    ~WebSocketLink() = default;
};

}  // namespace socketio::eio
