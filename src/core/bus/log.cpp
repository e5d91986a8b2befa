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
        low = std::min(low, s.scan_pin.load(std::memory_order_acquire));
    }
    return low;
}

std::uint64_t Log::walk(std::uint64_t pos, std::uint64_t need,
                        std::uint64_t limit) const noexcept
{
    /* record by record, so that the tail stays where a record starts:
       a reader of the history starts there */
    while (pos < need && pos < limit) {
        std::uint64_t off = pos % cap_;
        if (cap_ - off < sizeof(RecordHeader)) {
            pos += cap_ - off;
            continue;
        }
        const auto* rh = reinterpret_cast<const RecordHeader*>(ring_ + off);
        if (rh->size == 0) {
            break;
        }
        pos += rh->size;
    }
    return std::min(pos, limit);
}

void Log::retain(bool on) noexcept
{
    l_.retain.store(on ? 1 : 0, std::memory_order_relaxed);
}

std::uint64_t Log::next_offset() noexcept
{
    return l_.next_offset.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t Log::hold_history(Slot& s) noexcept
{
    Guard g(l_.lock);
    std::uint64_t t = l_.tail.load(std::memory_order_relaxed);
    s.scan_pin.store(t, std::memory_order_release);
    return t;
}

void Log::release_history(Slot& s) noexcept
{
    s.scan_pin.store(no_pin, std::memory_order_release);
}

void Log::reclaim() noexcept
{
    Guard g(l_.lock);
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
    Slot* writer = from < max_slots ? &h_.slots[from] : nullptr;
    RecordHeader* rh;
    std::uint64_t at;

    {
        Guard g(l_.lock);

        std::uint64_t head = l_.head.load(std::memory_order_relaxed);
        std::uint64_t skip = skip_to_fit(head, size);

        if (head + skip + size - l_.tail.load(std::memory_order_relaxed)
            > cap_)
        {
            std::uint64_t tail = l_.tail.load(std::memory_order_relaxed);
            std::uint64_t low = lowest_pin();
            if (l_.retain.load(std::memory_order_relaxed) != 0) {
                low = walk(tail, head + skip + size - cap_, low);
            }
            if (low > tail) {
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

        rh = reinterpret_cast<RecordHeader*>(ring_ + head % cap_);
        RecordHeader h{};
        h.size = static_cast<std::uint32_t>(size);
        h.type = record_writing;
        h.from = from;
        h.to = to;
        h.flags = flags;
        h.body_len = static_cast<std::uint32_t>(body);
        h.seq = l_.seq.fetch_add(1, std::memory_order_relaxed);
        std::memcpy(rh, &h, sizeof(h));

        at = head;
        if (writer != nullptr) {
            writer->writing.store(at, std::memory_order_relaxed);
        }
        l_.head.store(head + size, std::memory_order_release);
    }

    /* the body, with nobody waiting on the lock for it */
    char* b = reinterpret_cast<char*>(rh) + sizeof(RecordHeader);
    for (auto part : parts) {
        std::memcpy(b, part.data(), part.size());
        b += part.size();
    }

    /* seq_cst, as wait_for(): a reader that stops here is seen */
    __atomic_store_n(&rh->type, type, __ATOMIC_SEQ_CST);
    if (writer != nullptr) {
        writer->writing.store(no_pin, std::memory_order_relaxed);
    }
    return at;
}

bool Log::wait_for(std::uint64_t pos) noexcept
{
    l_.waiters.store(1, std::memory_order_seq_cst);
    const Record r = read(pos);
    return r.writing;
}

bool Log::readers_waiting() noexcept
{
    return l_.waiters.load(std::memory_order_seq_cst) != 0
           && l_.waiters.exchange(0, std::memory_order_seq_cst) != 0;
}

void Log::abandon(std::uint16_t slot) noexcept
{
    if (slot >= max_slots) {
        return;
    }

    Guard g(l_.lock);

    std::uint64_t at = h_.slots[slot].writing.exchange(
                           no_pin, std::memory_order_relaxed);
    if (at == no_pin || at < l_.tail.load(std::memory_order_relaxed)) {
        return;
    }

    auto* rh = reinterpret_cast<RecordHeader*>(ring_ + at % cap_);
    if (rh->from == slot
        && __atomic_load_n(&rh->type, __ATOMIC_ACQUIRE) == record_writing)
    {
        __atomic_store_n(&rh->type, record_padding, __ATOMIC_SEQ_CST);
    }
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
        std::uint16_t type = __atomic_load_n(&rh->type, __ATOMIC_SEQ_CST);
        if (type == record_padding) {
            pos += rh->size;
            continue;
        }
        Record r;
        r.header = rh;
        if (type == record_writing) {
            r.pos = pos;
            r.next = pos;
            r.writing = true;
            return r;
        }
        r.body = std::string_view(ring_ + off + sizeof(RecordHeader),
                                  rh->body_len);
        r.pos = pos;
        r.next = pos + rh->size;
        return r;
    }
}

}  // namespace socketio::bus
