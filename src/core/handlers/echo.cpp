#include "core/handlers/echo.hpp"

#include "core/eio/session.hpp"
#include "core/sio/socket.hpp"

#include <boost/json/serialize.hpp>

namespace socketio::handlers {

void SocketEcho::on_connect(sio::Socket& socket,
                            const boost::json::value& auth)
{
    std::string args = "[";
    args += boost::json::serialize(auth);
    args += "]";

    /*
     * A few milliseconds after the CONNECT answer, not in the same write:
     * a client that starts listening for "auth" only once it has read the
     * CONNECT answer (the socket.io-protocol test suite does) must not
     * find both in one read.
     */
    socket.after(5, [args = std::move(args)](sio::Socket& s) {
        s.emit("auth", args);
    });
}

void SocketEcho::on_event(sio::Socket& socket, const sio::Event& event)
{
    std::string args = sio::args_array(event.rest());

    if (event.name() == "message") {
        socket.emit_binary("message-back", args, event.buffers());

    } else if (event.name() == "message-with-ack" && event.ack_id()) {
        socket.ack(*event.ack_id(), args, event.buffers());
    }
}

namespace {

class EngineEchoEndpoint final : public eio::Endpoint {
public:
    explicit EngineEchoEndpoint(eio::Session& session) : session_(session) {}

    void on_message(bool binary, std::string_view data) override
    {
        session_.send(binary ? eio::Encoded::binary(data)
                             : eio::Encoded::text(eio::PacketType::message,
                                                  data));
    }

    void on_close(eio::Reason) override {}

private:
    eio::Session& session_;
};

}  // namespace

std::unique_ptr<eio::Endpoint> EngineEcho::open(eio::Session& session)
{
    return std::make_unique<EngineEchoEndpoint>(session);
}

}  // namespace socketio::handlers
