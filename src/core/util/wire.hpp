/*
 * A little binary format for what crosses between workers (records of the
 * broadcast log, a session's state when it moves): fixed-width integers in
 * the host's order (the same host reads them) and length-prefixed strings.
 * Reading never runs past the input; a short or bad input reads as empty
 * values with ok() false.
 */
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace socketio::util {

class WireWriter {
public:
    template <typename T>
    WireWriter& num(T v)
    {
        out_.append(reinterpret_cast<const char*>(&v), sizeof(v));
        return *this;
    }

    WireWriter& str(std::string_view s)
    {
        num(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
        return *this;
    }

    std::string& bytes() noexcept { return out_; }

private:
    std::string out_;
};

class WireReader {
public:
    explicit WireReader(std::string_view in) noexcept : in_(in) {}

    template <typename T>
    T num() noexcept
    {
        T v{};
        if (in_.size() < sizeof(T)) {
            ok_ = false;
            in_ = {};
            return v;
        }
        std::memcpy(&v, in_.data(), sizeof(T));
        in_.remove_prefix(sizeof(T));
        return v;
    }

    std::string_view str() noexcept
    {
        auto n = num<std::uint32_t>();
        if (n > in_.size()) {
            ok_ = false;
            in_ = {};
            return {};
        }
        std::string_view s = in_.substr(0, n);
        in_.remove_prefix(n);
        return s;
    }

    bool ok() const noexcept { return ok_; }
    std::size_t remaining() const noexcept { return in_.size(); }
    /* what is left to read: where the next field starts */
    std::string_view rest() const noexcept { return in_; }
    bool done() const noexcept { return in_.empty(); }

private:
    std::string_view in_;
    bool ok_ = true;
};

}  // namespace socketio::util
