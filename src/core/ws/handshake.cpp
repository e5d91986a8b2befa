#include "core/ws/handshake.hpp"

#include "core/util/base64.hpp"

#include <boost/uuid/detail/sha1.hpp>

namespace socketio::ws {

bool valid_client_key(std::string_view key)
{
    auto raw = util::base64_decode(key);
    return raw && raw->size() == 16;
}

std::string accept_key(std::string_view client_key)
{
    static constexpr std::string_view guid =
        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    boost::uuids::detail::sha1 sha;
    sha.process_bytes(client_key.data(), client_key.size());
    sha.process_bytes(guid.data(), guid.size());

    boost::uuids::detail::sha1::digest_type words;
    sha.get_digest(words);

    char digest[20];
    for (int i = 0; i < 5; i++) {
        digest[i * 4] = static_cast<char>((words[i] >> 24) & 0xff);
        digest[i * 4 + 1] = static_cast<char>((words[i] >> 16) & 0xff);
        digest[i * 4 + 2] = static_cast<char>((words[i] >> 8) & 0xff);
        digest[i * 4 + 3] = static_cast<char>(words[i] & 0xff);
    }

    return util::base64_encode(std::string_view(digest, sizeof(digest)));
}

}  // namespace socketio::ws
