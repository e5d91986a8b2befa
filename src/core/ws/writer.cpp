#include "core/ws/writer.hpp"

namespace socketio::ws {

std::size_t write_header(char* out, Opcode op, std::uint64_t len) noexcept
{
    out[0] = static_cast<char>(0x80 | static_cast<std::uint8_t>(op));

    if (len < 126) {
        out[1] = static_cast<char>(len);
        return 2;
    }

    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = static_cast<char>((len >> 8) & 0xff);
        out[3] = static_cast<char>(len & 0xff);
        return 4;
    }

    out[1] = 127;
    for (int i = 0; i < 8; i++) {
        out[2 + i] = static_cast<char>((len >> (56 - 8 * i)) & 0xff);
    }
    return 10;
}

std::string close_frame(std::uint16_t code, std::string_view reason)
{
    std::string payload;
    if (code != close_code::no_status) {
        /* the reason shares the 125 control bytes with the 2 code bytes;
           a cut must not split a UTF-8 character (section 5.5.1), or the
           peer fails the connection with 1007 */
        if (reason.size() > max_control_payload - 2) {
            std::size_t n = max_control_payload - 2;
            while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xc0)
                                == 0x80) {
                n--;
            }
            reason = reason.substr(0, n);
        }
        payload.push_back(static_cast<char>(code >> 8));
        payload.push_back(static_cast<char>(code & 0xff));
        payload.append(reason);
    }
    return control_frame(Opcode::close, payload);
}

std::string control_frame(Opcode op, std::string_view payload)
{
    payload = payload.substr(0, max_control_payload);
    std::string frame(max_server_header, '\0');
    frame.resize(write_header(frame.data(), op, payload.size()));
    frame.append(payload);
    return frame;
}

}  // namespace socketio::ws
