/*
 * cluster::Node, broadcasts: a Socket.IO broadcast is written once into
 * the log, frames and all, and every worker hands its own sockets views of
 * those bytes (no copy per recipient, nor per worker); views that the log
 * needs back become private copies, once per worker.
 */
#include "core/cluster/node.hpp"

#include "core/cluster/node_parts.hpp"
#include "core/sio/server.hpp"
#include "core/sio/socket.hpp"

#include <algorithm>
#include <iterator>

namespace socketio::cluster {

void Node::broadcast(std::string_view nsp, const sio::BroadcastOptions& opts,
                     const std::vector<eio::EncodedPtr>& packets)
{
    if (!joined()) {
        return;
    }

    /* with recovery on, an event that may be replayed carries its id as
       its last argument (what its client sends back when it returns) */
    std::uint64_t offset = 0;
    std::vector<eio::EncodedPtr> with_offset;
    if (recovers() && !packets.empty()) {
        std::uint64_t id = log_.next_offset();
        if (auto p = sio::with_offset(*packets[0], sio::offset_text(id))) {
            with_offset = packets;
            with_offset[0] = std::move(*p);
            offset = id;
        }
    }

    /* the frames go into the log once, from where they are */
    Body body;
    records::Broadcast::encode(body, offset, nsp, opts.rooms, opts.except,
                               ws_frames(offset != 0 ? with_offset
                                                     : packets));
    publish(bus::any_slot, Rec::broadcast, body);
    if (auto* st = stats()) {
        st->broadcasts.fetch_add(1, std::memory_order_relaxed);
    }
}

void Node::on(const records::Broadcast& m, const bus::Record& r)
{
    deliver(m, r, nullptr);
}

void Node::deliver(const records::Broadcast& m, const bus::Record& r,
                   eio::Session* only)
{
    if (sio_ == nullptr) {
        return;
    }
    sio::Namespace* nsp = sio_->find(m.nsp);
    if (nsp == nullptr) {
        return;
    }

    sio::BroadcastOptions opts;
    opts.rooms = m.rooms.to_strings();
    opts.except = m.except.to_strings();

    /* the adapter's for_each selects this worker's sockets only */
    std::vector<sio::Socket*> targets;
    nsp->adapter().for_each(opts, [&](sio::Socket& s) {
        /* a recovered socket was replayed what is below its mark */
        if ((only == nullptr || &s.session() == only)
            && r.pos >= s.live_from())
        {
            targets.push_back(&s);
        }
    });
    if (targets.empty()) {
        return;
    }

    std::vector<eio::EncodedPtr> packets;
    views(r, m.frames, packets);

    for (sio::Socket* s : targets) {
        for (const auto& p : packets) {
            s->session().send(p);
        }
    }
}

void Node::views(const bus::Record& r, const StringList& frames,
                 std::vector<eio::EncodedPtr>& out)
{
    auto ref = std::make_shared<RecordRef>();
    ref->pos = r.pos;
    ref->views.reserve(frames.size());
    for (std::string_view frame : frames) {
        auto v = eio::Encoded::view(frame, ref);
        ref->views.push_back(v);
        out.push_back(std::move(v));
    }
    auto at = refs_.end();
    while (at != refs_.begin() && std::prev(at)->pos > r.pos) {
        --at;
    }
    refs_.insert(at, HeldRecord{r.pos, ref});
}

std::size_t Node::copy_views_before(std::uint64_t keep_from)
{
    std::size_t copied = 0;
    while (!refs_.empty()) {
        if (refs_.front().pos >= keep_from) {
            break;
        }
        auto ref = refs_.front().ref.lock();
        if (ref) {
            for (auto& v : ref->views) {
                if (auto e = v.lock()) {
                    e->materialize();
                    copied++;
                }
            }
        }
        refs_.pop_front();
    }
    return copied;
}

}  // namespace socketio::cluster
