/*
 * What the files of cluster::Node share and nothing else includes: the
 * node's private types (a request waiting here, a proxy on the owner for a
 * request elsewhere, a log record that sockets view) and the typed send.
 */
#pragma once

#include "core/cluster/node.hpp"
#include "core/cluster/records.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace socketio::cluster {

/* A request here, waiting for the worker that owns its session. */
struct Node::Pending {
    std::uint16_t owner;
    std::string sid;
    RemotePoll* poll = nullptr;
    RemotePost* post = nullptr;
    RemoteWs* ws = nullptr;
};

/* A log record that sockets here still view. */
struct Node::RecordRef {
    std::uint64_t pos;
    std::vector<std::weak_ptr<const eio::Encoded>> views;
};

/* A GET on another worker, waiting for a session here. */
class Node::PollProxy final : public eio::PollWaiter {
public:
    PollProxy(Node& node, std::uint16_t origin, std::uint64_t token,
              std::string sid)
        : node_(node), origin_(origin), token_(token), sid_(std::move(sid)) {}

    void respond(std::string payload) override;

    std::uint16_t origin() const noexcept { return origin_; }
    const std::string& sid() const noexcept { return sid_; }
    bool done = false;

private:
    Node& node_;
    std::uint16_t origin_;
    std::uint64_t token_;
    std::string sid_;
};

/* A POST on another worker, for a session here that handles its packets
   over several turns: answered when the last is handled. */
class Node::PostProxy final : public eio::PostWaiter {
public:
    PostProxy(Node& node, std::uint16_t origin, std::uint64_t token)
        : node_(node), origin_(origin), token_(token) {}

    void posted(std::optional<eio::Error> e) override
    {
        done = true;
        if (token_ != 0) {
            node_.send(origin_, records::PostDone{token_, e});
        }
    }

    bool done = false;

private:
    Node& node_;
    std::uint16_t origin_;
    std::uint64_t token_;
};

/* A WebSocket on another worker, joined to a session here. */
class Node::WsProxy final : public eio::WebSocketLink {
public:
    WsProxy(Node& node, std::uint16_t origin, std::uint64_t token,
            std::string sid)
        : node_(node), origin_(origin), token_(token), sid_(std::move(sid)) {}

    void send(const std::vector<eio::EncodedPtr>& packets) override;
    void close(std::uint16_t code, std::string_view reason) override;
    std::size_t backlog() const noexcept override { return 0; }

    std::uint16_t origin() const noexcept { return origin_; }
    std::uint64_t token() const noexcept { return token_; }
    const std::string& sid() const noexcept { return sid_; }
    bool done = false;

private:
    Node& node_;
    std::uint16_t origin_;
    std::uint64_t token_;
    std::string sid_;
};

template <typename T>
std::uint64_t Node::send(std::uint16_t to, const T& record)
{
    Body body;
    record.encode(body);
    return publish(to, T::kind, body);
}

/* The frames of packets, as the records carry them. */
inline std::vector<std::string_view> ws_frames(
    const std::vector<eio::EncodedPtr>& packets)
{
    std::vector<std::string_view> frames;
    frames.reserve(packets.size());
    for (const auto& p : packets) {
        frames.push_back(p->ws_frame());
    }
    return frames;
}

}  // namespace socketio::cluster
