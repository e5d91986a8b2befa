#include "core/bus/log.hpp"

#include <algorithm>
#include <cstring>

namespace socketio::bus {

Log::Log(const Zone& z) noexcept
    : h_(z.header()),
      l_(z.header().log),
      ring_(z.at(z.header().log_off)),
      cap_(z.header().log_cap)
{
}

std::uint64_t Log::head() const noexcept
{
    return l_.head.load(std::memory_order_acquire);
}

std::uint64_t Log::tail() const noexcept
{
    return l_.tail.load(std::memory_order_acquire);
}

std::uint64_t Log::pressure() const noexcept
{
    return l_.full.load(std::memory_order_acquire);
}

std::size_t Log::max_body() const noexcept
{
    return cap_ / 4 - sizeof(RecordHeader);
}

std::uint64_t Log::lowest_pin() const noexcept
{
    std::uint64_t low = head();
    for (const Slot& s : h_.slots) {
        if (s.state.load(std::memory_order_acquire)
            != static_cast<std::uint32_t>(SlotState::alive))
        {
            continue;
        }
        low = std::min(low, s.pin.load(std::memory_order_acquire));
        low = std::min(low, s.replay_pin.load(std::memory_order_acquire));
    }
    return low;
}

void Log::reclaim(std::uint16_t slot, const Liveness* liveness) noexcept
{
    Guard g(l_.lock, static_cast<std::uint32_t>(slot) + 1, liveness);
    std::uint64_t low = lowest_pin();
    if (low > l_.tail.load(std::memory_order_relaxed)) {
        l_.tail.store(low, std::memory_order_release);
    }
}

/* The bytes to skip at `pos` for a record of `size` to fit before the end. */
std::uint64_t Log::skip_to_fit(std::uint64_t pos, std::uint64_t size)
    const noexcept
{
    std::uint64_t off = pos % cap_;
    std::uint64_t room = cap_ - off;
    return room >= size ? 0 : room;
}

std::optional<std::uint64_t> Log::publish(std::uint16_t from, std::uint16_t to,
                                          std::uint16_t type,
                                          const std::vector<std::string_view>& parts,
                                          const Liveness* liveness,
                                          std::uint16_t flags) noexcept
{
    std::uint64_t body = 0;
    for (auto p : parts) {
        body += p.size();
    }
    if (body > max_body()) {
        return std::nullopt;
    }
    std::uint64_t size = (sizeof(RecordHeader) + body + 7) / 8 * 8;

    Guard g(l_.lock, static_cast<std::uint32_t>(from) + 1, liveness);

    std::uint64_t head = l_.head.load(std::memory_order_relaxed);
    std::uint64_t skip = skip_to_fit(head, size);

    if (head + skip + size - l_.tail.load(std::memory_order_relaxed) > cap_) {
        std::uint64_t low = lowest_pin();
        if (low > l_.tail.load(std::memory_order_relaxed)) {
            l_.tail.store(low, std::memory_order_release);
        }
        if (head + skip + size - low > cap_) {
            l_.full.fetch_add(1, std::memory_order_release);
            return std::nullopt;
        }
    }

    if (skip >= sizeof(RecordHeader)) {
        /* a padding record fills the end of the ring */
        RecordHeader pad{};
        pad.size = static_cast<std::uint32_t>(skip);
        pad.type = record_padding;
        std::memcpy(ring_ + head % cap_, &pad, sizeof(pad));
    }
    head += skip;

    char* p = ring_ + head % cap_;
    RecordHeader rh{};
    rh.size = static_cast<std::uint32_t>(size);
    rh.type = type;
    rh.from = from;
    rh.to = to;
    rh.flags = flags;
    rh.body_len = static_cast<std::uint32_t>(body);
    rh.seq = l_.seq.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(p, &rh, sizeof(rh));

    char* b = p + sizeof(RecordHeader);
    for (auto part : parts) {
        std::memcpy(b, part.data(), part.size());
        b += part.size();
    }

    std::uint64_t at = head;
    l_.head.store(head + size, std::memory_order_release);
    return at;
}

Record Log::read(std::uint64_t pos) const noexcept
{
    for (;;) {
        std::uint64_t off = pos % cap_;
        if (cap_ - off < sizeof(RecordHeader)) {
            pos += cap_ - off;        /* too little room left for a header */
            continue;
        }
        const auto* rh = reinterpret_cast<const RecordHeader*>(ring_ + off);
        if (rh->type == record_padding) {
            pos += rh->size;
            continue;
        }
        Record r;
        r.header = rh;
        r.body = std::string_view(ring_ + off + sizeof(RecordHeader),
                                  rh->body_len);
        r.pos = pos;
        r.next = pos + rh->size;
        return r;
    }
}

}  // namespace socketio::bus
