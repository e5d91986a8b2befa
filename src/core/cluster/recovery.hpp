/*
 * Connection state recovery as a cluster of workers does it: sio asks,
 * the node answers from the zone's log (cluster/recovery.cpp), and this
 * worker's counters say how it went.
 */
#pragma once

#include "core/cluster/node.hpp"
#include "core/sio/recovery.hpp"

namespace socketio::cluster {

class ZoneRecovery final : public sio::Recovery {
public:
    /* `max_missed`: more bytes to replay than this gives a fresh socket
       (socketio_output_limit: the session would close for it anyway). */
    ZoneRecovery(Node& node, Host& host, std::size_t max_missed) noexcept
        : node_(node), host_(host), max_missed_(max_missed) {}

    std::string issue() override { return node_.recovery_pid(); }
    std::uint64_t floor() override { return node_.recovery_floor(); }
    void persist(std::string_view pid, std::uint64_t floor,
                 std::string_view nsp, const std::vector<std::string>& rooms,
                 std::string_view socket, bool live) override
    {
        node_.persist(pid, floor, nsp, rooms, socket, live);
    }
    void forget(std::string_view pid) override { node_.forget_kept(pid); }
    std::variant<sio::Kept, sio::Refusal> restore(
        std::string_view nsp, std::string_view pid,
        std::optional<std::string_view> offset) override
    {
        std::optional<std::uint64_t> at;
        if (offset) {
            at = sio::offset_value(*offset);
            if (!at) {
                return sio::Refusal::malformed;
            }
        }
        return node_.restore(nsp, pid, at, max_missed_);
    }
    void count(std::optional<sio::Refusal> refused) override
    {
        bus::Stats* st = node_.stats();
        if (st == nullptr) {
            return;
        }
        if (!refused) {
            st->recovered.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        auto i = static_cast<std::size_t>(*refused);
        if (i < bus::max_refusals) {
            st->refused[i].fetch_add(1, std::memory_order_relaxed);
        }
        note(*refused);
    }

private:
    /* What a client sent is its business (info); the log or the output
       limit being too small is the site's (notice, once a second). */
    void note(sio::Refusal why)
    {
        bool limit = why == sio::Refusal::offset_gone
                     || why == sio::Refusal::too_much_missed;
        std::string line = "socketio: connection state recovery refused ("
                           + std::string(sio::describe(why))
                           + "): a fresh socket";
        if (!limit) {
            host_.log(util::LogLevel::info, line);
            return;
        }
        eio::Millis now = node_.now();
        if (now - last_notice_ < 1000) {
            host_.log(util::LogLevel::info, line);
            return;
        }
        last_notice_ = now;
        host_.log(util::LogLevel::notice,
                  line + (why == sio::Refusal::offset_gone
                          ? " (the log no longer holds what it missed: a "
                            "larger socketio_zone keeps more)"
                          : " (more missed than socketio_output_limit)"));
    }

    Node& node_;
    Host& host_;
    std::size_t max_missed_;
    eio::Millis last_notice_ = -1000000;
};

}  // namespace socketio::cluster
