/*
 * What workers tell each other through the broadcast log. One worker owns
 * a session (the one that made it); a request for it that lands on another
 * worker is carried to the owner and its answer back, and a WebSocket that
 * joins the session on another worker takes the session with it (the
 * session moves to the worker holding its WebSocket, so that a WebSocket
 * session's traffic never crosses workers).
 */
#pragma once

#include <cstdint>

namespace socketio::cluster {

enum class Rec : std::uint16_t {
    broadcast = 1,    /* to all: a packet for the sockets of some rooms */
    post,             /* to owner: a POST's payload */
    post_done,        /* to origin: its answer */
    poll,             /* to owner: a GET waits at the origin */
    poll_gone,        /* to owner: that GET went away */
    poll_answer,      /* to origin: the GET's payload, or an error */
    ws_attach,        /* to owner: a WebSocket at the origin joins */
    ws_refuse,        /* to origin: it may not */
    ws_in,            /* to owner: a message from that WebSocket */
    ws_out,           /* to origin: frames for it */
    ws_close,         /* to origin: close it */
    ws_gone,          /* to owner: it closed */
    migrate,          /* to origin: the session, now yours */
    slot_gone,        /* to all: a worker died, or left */
    poll_released,    /* to owner: that GET was answered "ask again" */
    user_put,         /* to all: a chat user named or renamed */
    user_removed,     /* to all: a chat user gone */
};

}  // namespace socketio::cluster
