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
    header_len_ = ws::write_header(
        header, binary ? ws::Opcode::binary : ws::Opcode::text, len);
    std::size_t start = headroom - header_len_;
    buf_.replace(start, header_len_, header, header_len_);
    frame_ = std::string_view(buf_).substr(start);
}

Encoded::Encoded(std::string_view ws_frame, std::shared_ptr<const void> keep)
    : frame_(ws_frame),
      keep_(std::move(keep)),
      header_len_(ws_header_length(ws_frame)),
      binary_(!ws_frame.empty()
              && (static_cast<unsigned char>(ws_frame[0]) & 0x0f)
                     == static_cast<unsigned char>(ws::Opcode::binary))
{
}

std::size_t ws_header_length(std::string_view frame) noexcept
{
    if (frame.size() < 2) {
        return frame.size();
    }
    unsigned char l = static_cast<unsigned char>(frame[1]) & 0x7f;
    return l < 126 ? 2 : l == 126 ? 4 : 10;
}

std::shared_ptr<const Encoded> Encoded::view(std::string_view ws_frame,
                                             std::shared_ptr<const void> keep)
{
    return std::make_shared<const Encoded>(ws_frame, std::move(keep));
}

void Encoded::materialize() const
{
    if (!keep_) {
        return;
    }
    buf_.assign(frame_.data(), frame_.size());
    frame_ = buf_;
    keep_.reset();
}

PacketType Encoded::type() const noexcept
{
    return binary_ ? PacketType::message
                   : static_cast<PacketType>(frame_[header_len_]);
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
