#include "core/eio/packet.hpp"

#include "core/util/base64.hpp"
#include "core/ws/writer.hpp"

namespace socketio::eio {

bool decode_text(std::string_view in, Packet& out) noexcept
{
    if (in.empty() || in[0] < '0' || in[0] > '6') {
        return false;
    }
    out.type = static_cast<PacketType>(in[0]);
    out.binary = false;
    out.data = in.substr(1);
    return true;
}

bool decode_payload(std::string_view in, DecodedPayload& out)
{
    out.packets.clear();
    out.storage.clear();

    if (in.empty()) {
        return false;
    }

    /* two passes: views into `storage` must not move once taken */
    std::size_t binaries = 0;
    for (std::size_t pos = 0;;) {
        std::size_t end = in.find(record_separator, pos);
        if (pos < in.size() && in[pos] == 'b') {
            binaries++;
        }
        if (end == std::string_view::npos) {
            break;
        }
        pos = end + 1;
    }
    out.storage.reserve(binaries);

    for (std::size_t pos = 0;;) {
        std::size_t end = in.find(record_separator, pos);
        std::string_view seg = in.substr(
            pos, end == std::string_view::npos ? std::string_view::npos
                                                : end - pos);
        Packet p;
        if (!seg.empty() && seg[0] == 'b') {
            auto raw = util::base64_decode(seg.substr(1));
            if (!raw) {
                return false;
            }
            out.storage.push_back(std::move(*raw));
            p.type = PacketType::message;
            p.binary = true;
            p.data = out.storage.back();
        } else if (!decode_text(seg, p)) {
            return false;
        }
        out.packets.push_back(p);

        if (end == std::string_view::npos) {
            break;
        }
        pos = end + 1;
    }

    return true;
}

Encoded::Encoded(std::string buf, bool binary)
    : buf_(std::move(buf)), binary_(binary)
{
    char header[ws::max_server_header];
    std::size_t len = buf_.size() - headroom;
    std::size_t hlen = ws::write_header(
        header, binary ? ws::Opcode::binary : ws::Opcode::text, len);
    frame_start_ = headroom - hlen;
    buf_.replace(frame_start_, hlen, header, hlen);
}

PacketType Encoded::type() const noexcept
{
    return binary_ ? PacketType::message
                   : static_cast<PacketType>(buf_[headroom]);
}

std::string Encoded::start_text(PacketType type, std::size_t reserve)
{
    std::string buf;
    buf.reserve(headroom + 1 + reserve);
    buf.append(headroom, '\0');
    buf.push_back(static_cast<char>(type));
    return buf;
}

std::shared_ptr<const Encoded> Encoded::finish_text(std::string buf)
{
    return std::make_shared<const Encoded>(std::move(buf), false);
}

std::shared_ptr<const Encoded> Encoded::text(PacketType type,
                                             std::string_view data)
{
    std::string buf = start_text(type, data.size());
    buf.append(data);
    return finish_text(std::move(buf));
}

std::shared_ptr<const Encoded> Encoded::binary(std::string_view data)
{
    std::string buf;
    buf.reserve(headroom + data.size());
    buf.append(headroom, '\0');
    buf.append(data);
    return std::make_shared<const Encoded>(std::move(buf), true);
}

std::string encode_payload(const std::vector<EncodedPtr>& packets)
{
    std::size_t size = 0;
    for (const auto& p : packets) {
        size += p->packet().size() * (p->is_binary() ? 2 : 1) + 2;
    }

    std::string out;
    out.reserve(size);

    for (const auto& p : packets) {
        if (!out.empty()) {
            out.push_back(record_separator);
        }
        if (p->is_binary()) {
            out.push_back('b');
            util::base64_encode(p->packet(), out);
        } else {
            out.append(p->packet());
        }
    }

    return out;
}

}  // namespace socketio::eio
