/*
 * socketio_loadgen: a Socket.IO load generator on libwebsockets (4.1), one
 * process, one lws context, one event loop. It opens thousands of Socket.IO
 * clients against a server running the chat of shared/chat-contract.md (the
 * module's `socketio_handler chat`, or tests/bench/reference-chat.js), names
 * each through the chat's `login`, drives posts, and prints one JSON line of
 * measurements per run.
 *
 * Transports:
 *   WebSocket  lws WebSocket client connections (?EIO=4&transport=websocket):
 *              answers pings, sends "40", then `421["login","bN"]`.
 *   polling    a minimal HTTP/1.1 client (http1.hpp) over lws *raw* client
 *              sockets (method "RAW") in the same event loop: two keep-alive
 *              connections per client as a browser keeps them, one for the
 *              long-polling GETs, one for the POSTs (packets queued while a
 *              POST is in flight go out together in the next one).
 *
 * Modes:
 *   chat       N clients (--polling of them poll), all logged in; then posts
 *              `42<id>["message","{\"p\":P,\"s\":S,\"q\":Q,\"t\":T}"]` (post P,
 *              sender S, its Q-th post, T the send time in µs) at --rate
 *              posts/s spread round robin over the clients, or, with
 *              --rate 0, as fast as the server takes them: a closed loop that
 *              keeps --window posts in flight (a post is in flight until every
 *              other client got it). The chat hands every other socket
 *              `42["message","bS: TEXT"]`; each receiver parses (P, S, Q, T)
 *              back, and a bit per (post, receiver) counts exactly who got what
 *              (duplicates, deliveries to the sender or of unknown posts are
 *              counted apart).
 *              With --post-url URL (issue 10, a cluster): the --senders
 *              clients (the first ones) connect to that server, the others
 *              to --url; a post made on one server reaches the receivers on
 *              the other through the servers' Redis. The same exactly-once
 *              check covers every client; latency and deliveries are also
 *              reported over the receivers alone (rx_*), and the server's
 *              CPU per delivery counts the deliveries to its own clients.
 *              With --flood EVENT (issue 9): only --senders of the clients
 *              post (the bystanders whose latency is measured), every other
 *              one receives; after --flood-start seconds of posts (the quiet
 *              phase) ONE more client, the flooder, sends EVENT packets as
 *              fast as its socket takes them until the posting ends (the
 *              flood phase): latency is reported for both phases. The
 *              flooder is a plain non-blocking socket in a thread of its own
 *              (see "the flooder" below), not an lws client: it writes many
 *              packets per send() and reads all the server answers, and its
 *              work does not delay the timestamps of the event loop.
 *   idle       N WebSocket clients connected and logged in, nothing more:
 *              the server's resident memory per socket.
 *   handshake  --conns keep-alive connections doing polling handshakes
 *              (GET ?EIO=4&transport=polling) back to back: new sessions/s.
 *
 * Server cost: --server-pid PID (nginx's master, or node) is read from /proc
 * with its children: CPU seconds (utime + stime) over the measured window,
 * and resident memory (VmRSS) before any client and with all connected.
 * --peer-pid (the cluster's other server: the --post-url one, or an idle
 * member) and --redis-pid (the cluster's Redis) are read the same way, so
 * that neither counts as "other processes".
 *
 * Output: one JSON line on stdout. Progress and errors on stderr.
 */

#include "http1.hpp"
#include "procstat.hpp"

#include <libwebsockets.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace http1 = bench::http1;

std::int64_t now_us()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000
           + ts.tv_nsec / 1000;
}

double cpu_self_s()
{
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void note(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "loadgen: ");
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* options */

enum class Mode { chat, idle, handshake };

struct Options {
    std::string url = "http://127.0.0.1:8080/socket.io/";
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string path = "/socket.io/";
    Mode mode = Mode::chat;
    int clients = 100;
    int polling = 0;
    double rate = 100;            /* posts/s; 0: closed loop */
    int window = 16;              /* closed loop: posts in flight */
    double duration = 10;         /* seconds of posts (or handshakes) */
    int size = 0;                 /* padding bytes in each post */
    int server_pid = 0;
    std::string label;
    int connect_concurrency = 200;
    double drain = 10;            /* seconds to wait for the last deliveries */
    double settle = 2;            /* before measuring memory / posting */
    double setup_timeout = 120;
    double stall = 5;             /* closed loop: a post older is given up */
    int conns = 32;               /* handshake mode */
    std::string evlib = "uv";     /* lws event library: uv, ev or poll */
    double hold = 0;              /* idle: stay connected this long after */
    int senders = 0;              /* clients that post; 0: all of them */
    std::string flood;            /* event the flooder floods; empty: none */
    double flood_start = 5;       /* seconds of posts before the flood */
    int flood_batch = 256;        /* packets per send() of the flooder */
    std::string post_url;         /* the senders' server; empty: --url */
    int peer_pid = 0;
    int redis_pid = 0;
};

Options opt;

[[noreturn]] void usage()
{
    std::fprintf(stderr,
        "usage: socketio_loadgen --url http://HOST:PORT/PATH/ [options]\n"
        "  --mode chat|idle|handshake   (chat)\n"
        "  --clients N                  clients (100)\n"
        "  --polling N                  how many of them poll (0)\n"
        "  --rate R                     posts/s over all clients; 0: closed loop (100)\n"
        "  --window W                   closed loop: posts in flight (16)\n"
        "  --duration S                 seconds of posting / handshaking (10)\n"
        "  --size B                     padding bytes per post (0)\n"
        "  --server-pid PID             server process (and children) to measure\n"
        "  --label TEXT                 copied into the JSON line\n"
        "  --connect-concurrency K      connections being set up at once (200)\n"
        "  --drain S  --settle S  --setup-timeout S  --stall S\n"
        "  --conns K                    handshake mode: connections (32)\n"
        "  --hold S                     idle mode: stay connected S seconds after\n"
        "                               the measure (to look at the server)\n"
        "  --evlib uv|ev|poll           lws event library (uv: epoll; poll()\n"
        "                               costs O(connections) per wake-up)\n"
        "  --senders N                  chat: only the first N clients post (0: all)\n"
        "  --flood EVENT                chat: one more client floods EVENT from\n"
        "                               --flood-start s on: users | message (not a\n"
        "                               string) | private (unknown key) | typing |\n"
        "                               unknown; latency before and during it\n"
        "  --flood-start S              seconds of posts before the flood (5)\n"
        "  --flood-batch K              packets per send() of the flooder (256)\n"
        "  --post-url URL               chat: the --senders clients connect to this\n"
        "                               server (another member of a cluster), the\n"
        "                               others to --url\n"
        "  --peer-pid PID               the cluster's other server (the --post-url\n"
        "                               one) and its children: measured too\n"
        "  --redis-pid PID              the cluster's redis-server, measured too\n");
    std::exit(2);
}

/* A server the clients connect to: --url, or --post-url for the senders. */
struct Target {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string path = "/socket.io/";
    std::string host_header;            /* HOST:PORT */
    std::string ws_path;                /* path?EIO=4&transport=websocket */
};

/* [0]: --url; [1]: --post-url (the same as [0] without it) */
Target targets[2];

void parse_url(const std::string& u, Target& t)
{
    auto scheme = u.find("://");
    if (scheme == std::string::npos) {
        usage();
    }
    std::string rest = u.substr(scheme + 3);
    auto slash = rest.find('/');
    std::string hostport = rest.substr(0, slash);
    t.path = slash == std::string::npos ? "/" : rest.substr(slash);
    auto colon = hostport.rfind(':');
    if (colon == std::string::npos) {
        t.host = hostport;
        t.port = 80;
    } else {
        t.host = hostport.substr(0, colon);
        t.port = std::atoi(hostport.c_str() + colon + 1);
    }
    if (t.path.find('?') != std::string::npos) {
        usage();
    }
    t.host_header = t.host + ":" + std::to_string(t.port);
    t.ws_path = t.path + "?EIO=4&transport=websocket";
}

void parse_urls()
{
    parse_url(opt.url, targets[0]);
    opt.host = targets[0].host;
    opt.port = targets[0].port;
    opt.path = targets[0].path;
    if (opt.post_url.empty()) {
        targets[1] = targets[0];
    } else {
        parse_url(opt.post_url, targets[1]);
    }
}

void parse_args(int argc, char** argv)
{
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) {
                usage();
            }
            return argv[++i];
        };
        if (a == "--url") {
            opt.url = val();
        } else if (a == "--mode") {
            std::string m = val();
            if (m == "chat") {
                opt.mode = Mode::chat;
            } else if (m == "idle") {
                opt.mode = Mode::idle;
            } else if (m == "handshake") {
                opt.mode = Mode::handshake;
            } else {
                usage();
            }
        } else if (a == "--clients") {
            opt.clients = std::atoi(val());
        } else if (a == "--polling") {
            opt.polling = std::atoi(val());
        } else if (a == "--rate") {
            opt.rate = std::atof(val());
        } else if (a == "--window") {
            opt.window = std::atoi(val());
        } else if (a == "--duration") {
            opt.duration = std::atof(val());
        } else if (a == "--size") {
            opt.size = std::atoi(val());
        } else if (a == "--server-pid") {
            opt.server_pid = std::atoi(val());
        } else if (a == "--label") {
            opt.label = val();
        } else if (a == "--connect-concurrency") {
            opt.connect_concurrency = std::atoi(val());
        } else if (a == "--drain") {
            opt.drain = std::atof(val());
        } else if (a == "--settle") {
            opt.settle = std::atof(val());
        } else if (a == "--setup-timeout") {
            opt.setup_timeout = std::atof(val());
        } else if (a == "--stall") {
            opt.stall = std::atof(val());
        } else if (a == "--conns") {
            opt.conns = std::atoi(val());
        } else if (a == "--hold") {
            opt.hold = std::atof(val());
        } else if (a == "--senders") {
            opt.senders = std::atoi(val());
        } else if (a == "--flood") {
            opt.flood = val();
            if (opt.flood != "users" && opt.flood != "message"
                && opt.flood != "private" && opt.flood != "typing"
                && opt.flood != "unknown") {
                usage();
            }
        } else if (a == "--flood-start") {
            opt.flood_start = std::atof(val());
        } else if (a == "--flood-batch") {
            opt.flood_batch = std::atoi(val());
        } else if (a == "--post-url") {
            opt.post_url = val();
        } else if (a == "--peer-pid") {
            opt.peer_pid = std::atoi(val());
        } else if (a == "--redis-pid") {
            opt.redis_pid = std::atoi(val());
        } else if (a == "--evlib") {
            opt.evlib = val();
            if (opt.evlib != "uv" && opt.evlib != "ev" && opt.evlib != "poll") {
                usage();
            }
        } else {
            usage();
        }
    }
    parse_urls();
    if (opt.clients < 1 || opt.polling < 0 || opt.polling > opt.clients
        || opt.window < 1 || opt.connect_concurrency < 1 || opt.conns < 1
        || opt.senders < 0 || opt.flood_batch < 1) {
        usage();
    }
    if (!opt.flood.empty()
        && (opt.mode != Mode::chat || opt.rate <= 0
            || opt.flood_start >= opt.duration)) {
        note("--flood needs --mode chat, --rate > 0 and --flood-start < --duration");
        usage();
    }
    if (!opt.post_url.empty()
        && (opt.mode != Mode::chat || opt.senders < 1 || opt.senders >= opt.clients
            || !opt.flood.empty())) {
        note("--post-url needs --mode chat, 0 < --senders < --clients and no --flood");
        usage();
    }
    if (opt.mode == Mode::idle) {
        opt.polling = 0;
    }
}

/* ------------------------------------------------------------------ */
/* state */

struct Client;

struct HttpConn {
    enum class Kind { get, post, handshake };
    enum class State { closed, connecting, open };

    Client* client = nullptr;           /* null for handshake mode */
    Kind kind = Kind::get;
    State state = State::closed;
    lws* wsi = nullptr;
    std::string out;                    /* request bytes not yet written */
    std::string in;                     /* response bytes not yet parsed */
    bool busy = false;                  /* a request awaits its response */
    std::string request;                /* kept for one retry (see on_close) */
    int retries = 0;
};

struct Client {
    enum class State { idle, connecting, open, connected, ready, failed, closed };

    std::uint32_t idx = 0;
    bool polling = false;
    int target = 0;                     /* targets[]: 1 for --post-url's senders */
    bool sender = false;                /* one of the --senders */
    State state = State::idle;
    int attempts = 0;
    bool counted_pending = false;       /* in the connect ramp's count */

    /* WebSocket */
    lws* wsi = nullptr;
    std::deque<std::string> outq;       /* LWS_PRE bytes, then the packet */
    std::string rx;

    /* polling */
    std::string sid;
    HttpConn get;
    HttpConn post;
    std::string post_body;              /* packets waiting for the next POST */

    std::uint32_t seq = 0;
};

struct Post {
    std::uint32_t sender;
    std::uint32_t seq;
    std::int64_t sent_us;
    std::uint32_t got = 0;
    bool closed = false;                /* complete or given up */
};

enum class Phase { setup, settle, posting, drain, done };

struct Stats {
    std::uint64_t connect_errors = 0;
    std::uint64_t retries = 0;
    std::uint64_t http_retries = 0;
    std::uint64_t http_errors = 0;
    std::uint64_t disconnects = 0;
    std::uint64_t close_packets = 0;
    std::uint64_t connect_errors_sio = 0;
    std::uint64_t login_failures = 0;
    std::uint64_t unexpected = 0;
    std::uint64_t pings = 0;
    std::uint64_t acks = 0;
    std::uint64_t delivered = 0;
    std::uint64_t delivered_rx = 0;     /* to clients that do not post */
    std::uint64_t delivered_on[2] = {}; /* to clients of targets[0], [1] */
    std::uint64_t duplicates = 0;
    std::uint64_t bogus = 0;
    std::uint64_t self = 0;
    std::uint64_t given_up = 0;
    std::uint64_t handshakes = 0;
    std::uint64_t handshake_errors = 0;
};

struct Global {
    lws_context* ctx = nullptr;
    std::vector<std::unique_ptr<Client>> clients;
    std::vector<Client*> retry;
    std::size_t next_connect = 0;
    int pending = 0;                    /* clients between connect and "40" */
    int ready = 0;
    int failed = 0;

    Phase phase = Phase::setup;
    std::int64_t t_start = 0;           /* program start */
    std::int64_t t_ready = 0;           /* every client ready */
    std::int64_t t_phase = 0;           /* posting (or handshakes) began */
    std::int64_t t_post_end = 0;
    std::int64_t t_last_delivery = 0;
    std::int64_t t_end = 0;

    /* posts */
    std::vector<Client*> senders;
    std::size_t next_sender = 0;
    std::vector<Post> posts;
    std::vector<std::uint64_t> bits;    /* posts x words */
    std::size_t words = 0;
    std::uint32_t expected_per_post = 0;
    std::size_t completed = 0;
    int inflight = 0;
    std::deque<std::uint32_t> open_posts;
    std::vector<std::uint32_t> lat_us;
    std::vector<std::uint32_t> lat_rx_us;   /* deliveries to non-senders */
    std::uint32_t rx_per_post = 0;          /* non-senders each post expects */
    std::int64_t t_last_rx = 0;
    /* with --flood: the same, by the post's send time */
    std::vector<std::uint32_t> lat_quiet_us, lat_flood_us;
    std::int64_t t_flood_on = 0;        /* the flood began (0: not yet) */
    std::int64_t t_flood_off = 0;
    std::size_t receivers = 0;          /* ready clients (senders or not) */

    /* handshake mode */
    std::vector<std::unique_ptr<HttpConn>> hconns;

    Stats st;
    bench::ProcSample srv_base, srv_ready, srv_start, srv_end;
    bench::ProcSample peer_start, peer_end;         /* --peer-pid */
    bench::ProcSample redis_start, redis_end;       /* --redis-pid */
    double cpu_self_start = 0, cpu_self_end = 0;
    double machine_start = 0, machine_end = 0;
    std::string error;

    lws_sorted_usec_list_t tick_sul;
    std::string host_header;
};

const Target& target_of(const Client* c);

Global g;

const Target& target_of(const Client* c)
{
    return targets[c != nullptr ? c->target : 0];
}

/* ------------------------------------------------------------------ */
/* sending */

void http_send(HttpConn& h, std::string req);
void start_get(Client& c);

void ws_queue(Client& c, std::string_view packet)
{
    std::string m(LWS_PRE, '\0');
    m.append(packet);
    c.outq.push_back(std::move(m));
    if (c.wsi != nullptr) {
        lws_callback_on_writable(c.wsi);
    }
}

std::string polling_target(const Client* c)
{
    std::string t = target_of(c).path + "?EIO=4&transport=polling";
    if (c != nullptr && !c->sid.empty()) {
        t += "&sid=";
        t += c->sid;
    }
    return t;
}

void flush_post(Client& c)
{
    if (c.post.busy || c.post_body.empty()) {
        return;
    }
    std::string req = "POST " + polling_target(&c) + " HTTP/1.1\r\nHost: "
                      + target_of(&c).host_header
                      + "\r\nContent-Type: text/plain;charset=UTF-8"
                        "\r\nContent-Length: "
                      + std::to_string(c.post_body.size()) + "\r\n\r\n";
    req += c.post_body;
    c.post_body.clear();
    http_send(c.post, std::move(req));
}

/* One Engine.IO packet from client `c` (type digit first). */
void send_packet(Client& c, std::string_view packet)
{
    if (!c.polling) {
        ws_queue(c, packet);
        return;
    }
    if (!c.post_body.empty()) {
        c.post_body += '\x1e';
    }
    c.post_body.append(packet);
    flush_post(c);
}

/* ------------------------------------------------------------------ */
/* posts and deliveries */

void close_post(std::uint32_t p)
{
    Post& post = g.posts[p];
    if (post.closed) {
        return;
    }
    post.closed = true;
    if (opt.rate <= 0) {
        g.inflight--;
    }
}

void make_post(Client& c)
{
    std::uint32_t p = static_cast<std::uint32_t>(g.posts.size());
    std::int64_t t = now_us();
    g.posts.push_back(Post{c.idx, c.seq, t});
    g.bits.resize(g.bits.size() + g.words, 0);
    g.open_posts.push_back(p);

    char text[160];
    int n = std::snprintf(text, sizeof(text),
                          "{\\\"p\\\":%u,\\\"s\\\":%u,\\\"q\\\":%u,\\\"t\\\":%"
                          PRId64,
                          p, c.idx, c.seq, t);
    std::string pkt = "42" + std::to_string(2 + static_cast<std::uint64_t>(c.seq))
                      + "[\"message\",\"";
    pkt.append(text, static_cast<std::size_t>(n));
    if (opt.size > 0) {
        pkt += ",\\\"x\\\":\\\"";
        pkt.append(static_cast<std::size_t>(opt.size), 'x');
        pkt += "\\\"";
    }
    pkt += "}\"]";
    c.seq++;
    send_packet(c, pkt);
    if (opt.rate <= 0) {
        g.inflight++;
    }
}

Client& next_sender()
{
    Client* c = g.senders[g.next_sender];
    g.next_sender = (g.next_sender + 1) % g.senders.size();
    return *c;
}

void pump_closed_loop()
{
    while (g.phase == Phase::posting && g.inflight < opt.window) {
        make_post(next_sender());
    }
}

bool number_after(std::string_view s, std::string_view key, std::uint64_t& v)
{
    auto pos = s.find(key);
    if (pos == std::string_view::npos) {
        return false;
    }
    pos += key.size();
    if (pos >= s.size() || s[pos] < '0' || s[pos] > '9') {
        return false;
    }
    v = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        v = v * 10 + static_cast<std::uint64_t>(s[pos] - '0');
        pos++;
    }
    return true;
}

/* `42["message","bS: {\"p\":P,\"s\":S,\"q\":Q,\"t\":T}"]` (sio part) */
void on_delivery(Client& c, std::string_view s)
{
    static constexpr std::string_view prefix = "2[\"message\",\"b";
    std::int64_t now = now_us();
    s.remove_prefix(prefix.size());
    std::uint64_t name = 0, p = 0, sender = 0, q = 0, t = 0;
    bool ok = number_after(s, "", name) && number_after(s, "\\\"p\\\":", p)
              && number_after(s, "\\\"s\\\":", sender)
              && number_after(s, "\\\"q\\\":", q)
              && number_after(s, "\\\"t\\\":", t);
    if (!ok || p >= g.posts.size() || g.posts[p].sender != sender
        || name != sender || g.posts[p].seq != q
        || static_cast<std::int64_t>(t) != g.posts[p].sent_us) {
        g.st.bogus++;
        return;
    }
    if (sender == c.idx) {
        g.st.self++;
        return;
    }
    std::uint64_t& word = g.bits[p * g.words + c.idx / 64];
    std::uint64_t bit = std::uint64_t{1} << (c.idx % 64);
    if (word & bit) {
        g.st.duplicates++;
        return;
    }
    word |= bit;
    g.st.delivered++;
    g.st.delivered_on[c.target]++;
    g.t_last_delivery = now;
    std::int64_t lat = now - static_cast<std::int64_t>(t);
    auto lat32 = static_cast<std::uint32_t>(
        std::min<std::int64_t>(std::max<std::int64_t>(lat, 0), UINT32_MAX));
    g.lat_us.push_back(lat32);
    if (!c.sender) {
        g.st.delivered_rx++;
        g.t_last_rx = now;
        g.lat_rx_us.push_back(lat32);
    }
    if (!opt.flood.empty()) {
        bool flood_post = g.t_flood_on != 0
                          && static_cast<std::int64_t>(t) >= g.t_flood_on;
        (flood_post ? g.lat_flood_us : g.lat_quiet_us).push_back(lat32);
    }
    Post& post = g.posts[p];
    if (++post.got == g.expected_per_post) {
        g.completed++;
        close_post(static_cast<std::uint32_t>(p));
        if (opt.rate <= 0) {
            pump_closed_loop();
        }
    }
}

/* ------------------------------------------------------------------ */
/* protocol */

void client_failed(Client& c, const char* why)
{
    if (c.state == Client::State::failed) {
        return;
    }
    if (c.counted_pending) {
        c.counted_pending = false;
        g.pending--;
    }
    if (c.state == Client::State::ready) {
        g.ready--;
    }
    c.state = Client::State::failed;
    g.failed++;
    if (g.failed <= 5) {
        note("client %u failed: %s", c.idx, why);
    }
}

void on_sio(Client& c, std::string_view s)
{
    if (s.empty()) {
        g.st.unexpected++;
        return;
    }
    switch (s[0]) {
    case '0':                                   /* CONNECT answered */
        if (c.state != Client::State::open) {
            g.st.unexpected++;
            return;
        }
        c.state = Client::State::connected;
        if (c.counted_pending) {
            c.counted_pending = false;
            g.pending--;
        }
        send_packet(c, "421[\"login\",\"b" + std::to_string(c.idx) + "\"]");
        return;
    case '4':                                   /* CONNECT_ERROR */
        g.st.connect_errors_sio++;
        client_failed(c, "connect_error");
        return;
    case '3': {                                 /* ACK */
        std::uint64_t id = 0;
        if (!number_after(s.substr(1), "", id)) {
            g.st.unexpected++;
            return;
        }
        if (id == 1) {
            if (s.find("Welcome b") != std::string_view::npos
                && c.state == Client::State::connected) {
                c.state = Client::State::ready;
                g.ready++;
            } else {
                g.st.login_failures++;
                client_failed(c, "login refused");
            }
        } else {
            g.st.acks++;
        }
        return;
    }
    case '2':
        if (s.compare(0, 14, "2[\"message\",\"b") == 0) {
            on_delivery(c, s);
            return;
        }
        g.st.unexpected++;
        return;
    default:
        g.st.unexpected++;
        return;
    }
}

void on_eio(Client& c, std::string_view p)
{
    if (p.empty()) {
        g.st.unexpected++;
        return;
    }
    switch (p[0]) {
    case '0':
        if (!c.polling && c.state == Client::State::connecting) {
            c.state = Client::State::open;
            send_packet(c, "40");
        } else {
            g.st.unexpected++;
        }
        return;
    case '1':
        g.st.close_packets++;
        return;
    case '2':
        g.st.pings++;
        send_packet(c, "3");
        return;
    case '4':
        on_sio(c, p.substr(1));
        return;
    case '6':
        return;
    default:
        g.st.unexpected++;
        return;
    }
}

/* ------------------------------------------------------------------ */
/* connections */

void connect_ws(Client& c)
{
    const Target& t = target_of(&c);
    lws_client_connect_info ci;
    std::memset(&ci, 0, sizeof(ci));
    ci.context = g.ctx;
    ci.address = t.host.c_str();
    ci.port = t.port;
    ci.path = t.ws_path.c_str();
    ci.host = t.host.c_str();
    ci.protocol = nullptr;
    ci.local_protocol_name = "sio-ws";
    ci.ietf_version_or_minus_one = -1;
    ci.opaque_user_data = &c;
    c.state = Client::State::connecting;
    c.rx.clear();
    c.wsi = nullptr;
    lws* wsi = lws_client_connect_via_info(&ci);
    if (wsi == nullptr && c.state == Client::State::connecting) {
        /* refused before any callback */
        g.st.connect_errors++;
        client_failed(c, "lws_client_connect_via_info");
    } else if (c.state == Client::State::connecting) {
        c.wsi = wsi;
    }
}

bool connect_raw(HttpConn& h)
{
    const Target& t = target_of(h.client);
    lws_client_connect_info ci;
    std::memset(&ci, 0, sizeof(ci));
    ci.context = g.ctx;
    ci.address = t.host.c_str();
    ci.port = t.port;
    ci.path = "/";
    ci.host = t.host.c_str();
    ci.method = "RAW";
    ci.local_protocol_name = "raw-http";
    ci.opaque_user_data = &h;
    h.state = HttpConn::State::connecting;
    h.in.clear();
    lws* wsi = lws_client_connect_via_info(&ci);
    if (wsi == nullptr) {
        h.state = HttpConn::State::closed;
        return false;
    }
    if (h.state == HttpConn::State::connecting) {
        h.wsi = wsi;
    }
    return true;
}

void http_failed(HttpConn& h, const char* why)
{
    g.st.http_errors++;
    h.busy = false;
    if (h.client != nullptr) {
        client_failed(*h.client, why);
    } else {
        g.st.handshake_errors++;
    }
}

void http_send(HttpConn& h, std::string req)
{
    h.busy = true;
    h.request = req;
    h.out = std::move(req);
    if (h.state == HttpConn::State::closed) {
        if (!connect_raw(h)) {
            http_failed(h, "raw connect");
        }
    } else if (h.state == HttpConn::State::open && h.wsi != nullptr) {
        lws_callback_on_writable(h.wsi);
    }
}

void start_handshake_get(HttpConn& h)
{
    http_send(h, "GET " + polling_target(nullptr) + " HTTP/1.1\r\nHost: "
                     + target_of(nullptr).host_header + "\r\n\r\n");
}

void start_get(Client& c)
{
    http_send(c.get, "GET " + polling_target(&c) + " HTTP/1.1\r\nHost: "
                         + target_of(&c).host_header + "\r\n\r\n");
}

void start_client(Client& c)
{
    c.attempts++;
    c.counted_pending = true;
    g.pending++;
    if (!c.polling) {
        connect_ws(c);
        return;
    }
    c.state = Client::State::connecting;
    c.sid.clear();
    c.get.client = &c;
    c.get.kind = HttpConn::Kind::get;
    c.post.client = &c;
    c.post.kind = HttpConn::Kind::post;
    start_get(c);
}

void pump_connects()
{
    while (g.pending < opt.connect_concurrency) {
        Client* c = nullptr;
        if (!g.retry.empty()) {
            c = g.retry.back();
            g.retry.pop_back();
        } else if (g.next_connect < g.clients.size()) {
            c = g.clients[g.next_connect++].get();
        } else {
            return;
        }
        start_client(*c);
    }
}

/* A WebSocket that could not connect: try again, up to three times. */
void ws_connect_error(Client& c, const char* why)
{
    c.wsi = nullptr;
    g.st.connect_errors++;
    if (c.state != Client::State::connecting) {
        return;
    }
    if (c.counted_pending) {
        c.counted_pending = false;
        g.pending--;
    }
    if (c.attempts < 3 && g.phase == Phase::setup) {
        g.st.retries++;
        c.state = Client::State::idle;
        g.retry.push_back(&c);
        return;
    }
    client_failed(c, why);
}

void on_http_response(HttpConn& h, http1::Response& r)
{
    h.busy = false;
    h.retries = 0;

    if (h.kind == HttpConn::Kind::handshake) {
        if (r.status == 200 && r.body.compare(0, 2, "0{") == 0) {
            if (g.phase == Phase::posting) {
                g.st.handshakes++;
            }
        } else {
            g.st.handshake_errors++;
        }
        if (g.phase == Phase::posting) {
            start_handshake_get(h);
        }
        return;
    }

    Client& c = *h.client;
    if (c.state == Client::State::failed) {
        return;
    }
    if (r.status != 200) {
        if (g.st.http_errors < 5) {
            note("client %u: HTTP %d: %s", c.idx, r.status, r.body.c_str());
        }
        http_failed(h, "HTTP status");
        return;
    }

    if (h.kind == HttpConn::Kind::post) {
        flush_post(c);
        return;
    }

    if (c.sid.empty()) {                        /* the handshake */
        auto pos = r.body.find("\"sid\":\"");
        if (r.body.empty() || r.body[0] != '0' || pos == std::string::npos) {
            http_failed(h, "bad handshake");
            return;
        }
        pos += 7;
        c.sid = r.body.substr(pos, r.body.find('"', pos) - pos);
        c.state = Client::State::open;
        send_packet(c, "40");
        start_get(c);
        return;
    }

    std::string_view body = r.body;
    bool closed = false;
    while (!body.empty()) {
        auto end = body.find('\x1e');
        std::string_view pkt = body.substr(0, end);
        if (!pkt.empty() && pkt[0] == '1') {
            closed = true;
        }
        on_eio(c, pkt);
        if (end == std::string_view::npos) {
            break;
        }
        body.remove_prefix(end + 1);
    }
    if (closed) {
        g.st.disconnects++;
        client_failed(c, "closed by the server");
        return;
    }
    if (c.state != Client::State::failed) {
        start_get(c);
    }
}

int raw_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                 size_t len)
{
    (void) user;
    auto* h = static_cast<HttpConn*>(lws_get_opaque_user_data(wsi));
    if (h == nullptr) {
        return 0;
    }

    switch (reason) {
    case LWS_CALLBACK_RAW_CONNECTED:
        h->wsi = wsi;
        h->state = HttpConn::State::open;
        if (!h->out.empty()) {
            lws_callback_on_writable(wsi);
        }
        break;

    case LWS_CALLBACK_RAW_WRITEABLE: {
        if (h->out.empty()) {
            break;
        }
        std::string buf(LWS_PRE, '\0');
        buf += h->out;
        h->out.clear();
        int n = lws_write(wsi, reinterpret_cast<unsigned char*>(&buf[LWS_PRE]),
                          buf.size() - LWS_PRE, LWS_WRITE_RAW);
        if (n < 0) {
            return -1;
        }
        break;
    }

    case LWS_CALLBACK_RAW_RX: {
        h->in.append(static_cast<const char*>(in), len);
        for (;;) {
            if (!h->busy) {
                if (!h->in.empty()) {
                    g.st.unexpected++;
                    h->in.clear();
                }
                break;
            }
            http1::Response r;
            std::size_t used = 0;
            auto res = http1::parse_response(h->in, r, used);
            if (res == http1::Parse::need_more) {
                break;
            }
            if (res == http1::Parse::error) {
                http_failed(*h, "bad HTTP response");
                return -1;
            }
            h->in.erase(0, used);
            on_http_response(*h, r);
        }
        break;
    }

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_RAW_CLOSE: {
        bool was_connecting = h->state == HttpConn::State::connecting;
        h->state = HttpConn::State::closed;
        h->wsi = nullptr;
        if (!h->busy) {
            break;                              /* an idle keep-alive closed */
        }
        /*
         * The request was in flight. A keep-alive connection the server
         * closed as the request went out never saw it: send it once more
         * on a new connection (a browser does the same).
         */
        if (h->in.empty() && h->retries < 2
            && (g.phase != Phase::done)) {
            h->retries++;
            g.st.http_retries++;
            h->out = h->request;
            if (connect_raw(*h)) {
                break;
            }
        }
        if (was_connecting) {
            g.st.connect_errors++;
        }
        http_failed(*h, reason == LWS_CALLBACK_RAW_CLOSE
                            ? "connection closed" : "connection error");
        break;
    }

    default:
        break;
    }
    return 0;
}

int ws_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                size_t len)
{
    (void) user;
    auto* c = static_cast<Client*>(lws_get_opaque_user_data(wsi));
    if (c == nullptr) {
        return 0;
    }

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (g.st.connect_errors < 5) {
            note("client %u: connection error: %s", c->idx,
                 in ? static_cast<const char*>(in) : "(none)");
        }
        ws_connect_error(*c, "connection error");
        break;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->wsi = wsi;
        if (!c->outq.empty()) {
            lws_callback_on_writable(wsi);
        }
        break;

    case LWS_CALLBACK_CLIENT_RECEIVE: {
        bool first = lws_is_first_fragment(wsi);
        bool last = lws_is_final_fragment(wsi)
                    && lws_remaining_packet_payload(wsi) == 0;
        if (first && last) {
            if (lws_frame_is_binary(wsi)) {
                g.st.unexpected++;
            } else {
                on_eio(*c, std::string_view(static_cast<const char*>(in), len));
            }
            break;
        }
        if (first) {
            c->rx.clear();
        }
        c->rx.append(static_cast<const char*>(in), len);
        if (last) {
            on_eio(*c, c->rx);
            c->rx.clear();
        }
        break;
    }

    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (c->outq.empty()) {
            break;
        }
        std::string m = std::move(c->outq.front());
        c->outq.pop_front();
        int n = lws_write(wsi, reinterpret_cast<unsigned char*>(&m[LWS_PRE]),
                          m.size() - LWS_PRE, LWS_WRITE_TEXT);
        if (n < 0) {
            return -1;
        }
        if (!c->outq.empty()) {
            lws_callback_on_writable(wsi);
        }
        break;
    }

    case LWS_CALLBACK_CLIENT_CLOSED:
        c->wsi = nullptr;
        if (c->state == Client::State::connecting) {
            ws_connect_error(*c, "closed while connecting");
        } else if (c->state != Client::State::failed
                   && g.phase != Phase::done) {
            g.st.disconnects++;
            client_failed(*c, "closed by the server");
        }
        break;

    default:
        break;
    }
    return 0;
}

const lws_protocols protocols[] = {
    {"sio-ws", ws_callback, 0, 0, 0, nullptr, 0},
    {"raw-http", raw_callback, 0, 0, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

/* ------------------------------------------------------------------ */
/* the flooder (--flood) */

/*
 * ONE Socket.IO client over WebSocket on a plain non-blocking socket, in a
 * thread of its own. Flooding, it writes a batch of --flood-batch masked
 * frames (one Socket.IO packet each) whenever the socket takes more, and
 * reads everything the server sends: a flooder that did not read would be
 * closed as a slow reader at socketio_output_limit, rightly, and the flood
 * would stop. Server frames are parsed as a stream and only the first bytes
 * of each message are looked at (a ping to answer, an ack to count), so a
 * `users` answer of 30 KB costs its recv() and nothing more. Its own thread
 * keeps its work out of the event loop that timestamps the deliveries (the
 * two still share the machine's cores). Should the server close it, it
 * connects, names itself again and goes on (counted).
 */
struct Flooder {
    std::thread* thread = nullptr;      /* never destroyed: joined in finish() */
    std::atomic<int> ready{0};          /* 1: named once; -1: failed */
    std::atomic<bool> on{false};        /* write the flood */
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> batch_bytes_out{0};
    std::atomic<std::uint64_t> messages_in{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> answers{0};     /* acks received */
    std::atomic<std::uint64_t> connects{0};
    std::atomic<std::uint64_t> closes{0};      /* by the server */
    std::string batch;
    std::size_t per_batch = 0;
    /* written by the thread, read after the join */
    std::string error;
    int close_code = 0;
    std::string close_reason;
    double cpu_s = 0;
};

Flooder fl;

/* A masked client text frame (RFC 6455 5.3: a client masks every frame). */
std::string ws_client_frame(std::string_view payload, std::uint32_t key)
{
    std::string f;
    f.push_back('\x81');
    std::size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xffff) {
        f.push_back(static_cast<char>(0x80 | 126));
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xff));
    } else {
        f.push_back(static_cast<char>(0x80 | 127));
        for (int i = 7; i >= 0; i--) {
            f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff));
        }
    }
    const char k[4] = {static_cast<char>(key >> 24), static_cast<char>(key >> 16),
                       static_cast<char>(key >> 8), static_cast<char>(key)};
    f.append(k, 4);
    for (std::size_t i = 0; i < n; i++) {
        f.push_back(static_cast<char>(payload[i] ^ k[i & 3]));
    }
    return f;
}

/* The flood's packets: ack ids of one width so that every frame of a batch
   has the same size (packets written = bytes written / frame size). */
void build_flood_batch()
{
    std::uint32_t key = 0x9e3779b9u;
    for (int i = 0; i < opt.flood_batch; i++) {
        std::string id = std::to_string(100000 + i % 900000);
        std::string pkt;
        if (opt.flood == "users") {
            pkt = "42" + id + "[\"users\"]";
        } else if (opt.flood == "message") {
            pkt = "42" + id + "[\"message\",{\"not\":\"a string\"}]";
        } else if (opt.flood == "private") {
            pkt = "42" + id + "[\"private message\",{\"to\":\"nobody\",\"message\":\"x\"}]";
        } else if (opt.flood == "typing") {
            pkt = i % 2 == 0 ? "42[\"typing\"]" : "42[\"stop typing\"]";
        } else {
            pkt = "42[\"flood\",1]";
        }
        key = key * 1664525u + 1013904223u;
        fl.batch += ws_client_frame(pkt, key);
    }
    fl.per_batch = static_cast<std::size_t>(opt.flood_batch);
}

/* Server frames as a stream: the first bytes of each message, its length. */
struct FrameReader {
    unsigned char hdr[14] = {};
    int hdr_len = 0;
    int hdr_need = 2;
    bool in_payload = false;
    std::uint64_t remaining = 0;
    bool fin = false;
    int msg_opcode = 0;
    char prefix[64] = {};
    std::size_t prefix_len = 0;
    std::uint64_t msg_len = 0;

    template <class F>
    void feed(const char* d, std::size_t n, F&& on_message)
    {
        std::size_t i = 0;
        while (i < n) {
            if (!in_payload) {
                hdr[hdr_len++] = static_cast<unsigned char>(d[i++]);
                if (hdr_len == 2) {
                    int l = hdr[1] & 0x7f;
                    hdr_need = 2 + (l == 126 ? 2 : l == 127 ? 8 : 0)
                               + ((hdr[1] & 0x80) ? 4 : 0);
                }
                if (hdr_len < hdr_need) {
                    continue;
                }
                fin = (hdr[0] & 0x80) != 0;
                int opcode = hdr[0] & 0x0f;
                std::uint64_t len = hdr[1] & 0x7f;
                if (len == 126) {
                    len = (std::uint64_t{hdr[2]} << 8) | hdr[3];
                } else if (len == 127) {
                    len = 0;
                    for (int k = 2; k < 10; k++) {
                        len = (len << 8) | hdr[k];
                    }
                }
                hdr_len = 0;
                hdr_need = 2;
                if (opcode != 0) {
                    msg_opcode = opcode;
                    prefix_len = 0;
                    msg_len = 0;
                }
                remaining = len;
                in_payload = true;
                if (len == 0) {
                    done(on_message);
                }
                continue;
            }
            std::size_t take = static_cast<std::size_t>(
                std::min<std::uint64_t>(remaining, n - i));
            if (prefix_len < sizeof(prefix)) {
                std::size_t k = std::min(take, sizeof(prefix) - prefix_len);
                std::memcpy(prefix + prefix_len, d + i, k);
                prefix_len += k;
            }
            msg_len += take;
            remaining -= take;
            i += take;
            if (remaining == 0) {
                done(on_message);
            }
        }
    }

    template <class F>
    void done(F&& on_message)
    {
        in_payload = false;
        if (fin) {
            on_message(msg_opcode, std::string_view(prefix, prefix_len), msg_len);
        }
    }
};

/* What the flooder's connection has seen. */
struct FloodConn {
    int fd = -1;
    FrameReader reader;
    std::string head;                   /* the HTTP answer, until upgraded */
    bool upgraded = false;
    bool open_seen = false;             /* Engine.IO open packet */
    bool connected = false;             /* Socket.IO CONNECT answered */
    bool named = false;                 /* login acknowledged */
    bool pong_due = false;
    bool closed = false;                /* close frame, or the TCP end */
    std::string why;
};

void flood_on_message(FloodConn& c, int opcode, std::string_view p, std::uint64_t len)
{
    fl.messages_in.fetch_add(1, std::memory_order_relaxed);
    if (opcode == 0x8) {
        c.closed = true;
        fl.close_code = p.size() >= 2 ? (static_cast<unsigned char>(p[0]) << 8)
                                            | static_cast<unsigned char>(p[1])
                                      : 0;
        fl.close_reason = p.size() > 2 ? std::string(p.substr(2)) : "";
        c.why = "closed by the server";
        return;
    }
    if (opcode != 0x1 || p.empty()) {
        return;
    }
    if (p[0] == '2' && len == 1) {
        c.pong_due = true;
    } else if (p[0] == '0') {
        c.open_seen = true;
    } else if (p.compare(0, 2, "40") == 0) {
        c.connected = true;
    } else if (p.compare(0, 2, "43") == 0) {
        if (p.compare(0, 4, "431[") == 0 && !c.named) {
            if (p.find("Welcome flooder!") == std::string_view::npos) {
                c.why = "login refused: " + std::string(p);
                c.closed = true;
            }
            c.named = true;
        } else {
            fl.answers.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

/* Reads what is there (up to 1 MB a call); false once the connection ended. */
bool flood_read(FloodConn& c)
{
    static thread_local char buf[262144];
    for (int k = 0; k < 4; k++) {
        ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
        if (n == 0) {
            if (c.why.empty()) {
                c.why = "the server ended the connection";
            }
            c.closed = true;
            return false;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return true;
            }
            c.why = std::string("recv: ") + std::strerror(errno);
            c.closed = true;
            return false;
        }
        fl.bytes_in.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
        const char* d = buf;
        std::size_t len = static_cast<std::size_t>(n);
        if (!c.upgraded) {
            c.head.append(d, len);
            auto end = c.head.find("\r\n\r\n");
            if (end == std::string::npos) {
                continue;
            }
            if (c.head.compare(0, 13, "HTTP/1.1 101 ") != 0) {
                c.why = "handshake answered " + c.head.substr(0, c.head.find('\r'));
                c.closed = true;
                return false;
            }
            c.upgraded = true;
            std::size_t rest = c.head.size() - end - 4;
            d += len - rest;
            len = rest;
        }
        c.reader.feed(d, len, [&](int op, std::string_view p, std::uint64_t l) {
            flood_on_message(c, op, p, l);
        });
        if (c.closed) {
            return false;
        }
    }
    return true;
}

/* A small write during the setup (the socket's buffer is empty then). */
bool flood_send_small(FloodConn& c, const std::string& bytes)
{
    std::size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = send(c.fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            pollfd p{c.fd, POLLOUT, 0};
            poll(&p, 1, 100);
            continue;
        }
        if (n <= 0) {
            c.why = std::string("send: ") + std::strerror(errno);
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    return true;
}

/* Connects, upgrades, CONNECTs and logs in as "flooder" (5 s at most). */
bool flood_connect(FloodConn& c)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* ai = nullptr;
    std::string port = std::to_string(opt.port);
    if (getaddrinfo(opt.host.c_str(), port.c_str(), &hints, &ai) != 0 || ai == nullptr) {
        c.why = "getaddrinfo " + opt.host;
        return false;
    }
    c.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || connect(c.fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        c.why = std::string("connect: ") + std::strerror(errno);
        freeaddrinfo(ai);
        return false;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    fl.connects.fetch_add(1, std::memory_order_relaxed);

    std::string req = "GET " + opt.path + "?EIO=4&transport=websocket HTTP/1.1\r\n"
                      "Host: " + g.host_header + "\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: Zmxvb2RlcmZsb29kZXIxMg==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
    if (!flood_send_small(c, req)) {
        return false;
    }
    bool sent40 = false, sent_login = false;
    std::int64_t deadline = now_us() + 5000000;
    while (!c.named) {
        if (c.closed || now_us() > deadline || fl.stop.load()) {
            if (c.why.empty()) {
                c.why = "no login answer within 5 s";
            }
            return false;
        }
        pollfd p{c.fd, POLLIN, 0};
        poll(&p, 1, 50);
        if (!flood_read(c)) {
            return false;
        }
        if (c.open_seen && !sent40) {
            sent40 = flood_send_small(c, ws_client_frame("40", 0x01020304u));
        }
        if (c.connected && !sent_login) {
            sent_login = flood_send_small(
                c, ws_client_frame("421[\"login\",\"flooder\"]", 0x05060708u));
        }
        if (c.pong_due) {
            c.pong_due = false;
            flood_send_small(c, ws_client_frame("3", 0x0a0b0c0du));
        }
    }
    return true;
}

/* Floods while `on`, reads all along, until `stop` or the server closes it. */
void flood_loop(FloodConn& c)
{
    const std::string pong = ws_client_frame("3", 0x11223344u);
    std::string_view cur;
    bool cur_is_batch = false;
    while (!fl.stop.load(std::memory_order_relaxed) && !c.closed) {
        if (cur.empty()) {
            if (c.pong_due) {
                cur = pong;
                cur_is_batch = false;
                c.pong_due = false;
            } else if (fl.on.load(std::memory_order_relaxed)) {
                cur = fl.batch;
                cur_is_batch = true;
            }
        }
        pollfd p{c.fd, static_cast<short>(POLLIN | (cur.empty() ? 0 : POLLOUT)), 0};
        int r = poll(&p, 1, 20);
        if (r < 0 && errno != EINTR) {
            c.why = std::string("poll: ") + std::strerror(errno);
            return;
        }
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !flood_read(c)) {
            return;
        }
        if ((p.revents & POLLOUT) != 0 && !cur.empty()) {
            ssize_t n = send(c.fd, cur.data(), cur.size(), MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                c.why = std::string("send: ") + std::strerror(errno);
                c.closed = true;
                return;
            }
            if (n > 0) {
                cur.remove_prefix(static_cast<std::size_t>(n));
                if (cur_is_batch) {
                    fl.batch_bytes_out.fetch_add(static_cast<std::uint64_t>(n),
                                                 std::memory_order_relaxed);
                }
            }
        }
    }
}

void flood_main()
{
    bool first = true;
    while (!fl.stop.load()) {
        FloodConn c;
        bool ok = flood_connect(c);
        if (ok) {
            if (first) {
                fl.ready.store(1);
            }
            first = false;
            flood_loop(c);
            if (c.closed && !fl.stop.load()) {
                fl.closes.fetch_add(1, std::memory_order_relaxed);
                if (fl.error.empty()) {
                    fl.error = c.why;
                }
            }
        } else if (first) {
            fl.error = c.why;
            fl.ready.store(-1);
            if (c.fd >= 0) {
                close(c.fd);
            }
            break;
        } else {
            usleep(50000);              /* closed, and not back yet */
        }
        if (c.fd >= 0) {
            close(c.fd);
        }
    }
    rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    fl.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
               + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void flood_start_thread()
{
    build_flood_batch();
    fl.thread = new std::thread(flood_main);
}

void flood_join()
{
    if (fl.thread != nullptr && fl.thread->joinable()) {
        fl.on.store(false);
        fl.stop.store(true);
        fl.thread->join();
    }
}

/* ------------------------------------------------------------------ */
/* the run */

double percentile(std::vector<std::uint32_t>& v, double q)
{
    if (v.empty()) {
        return 0;
    }
    std::size_t k = static_cast<std::size_t>(
        std::min<double>(static_cast<double>(v.size() - 1),
                         std::floor(q * static_cast<double>(v.size()))));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k),
                     v.end());
    return v[k] / 1000.0;
}

std::string json_escape(const std::string& s)
{
    std::string o;
    for (char ch : s) {
        if (ch == '"' || ch == '\\') {
            o += '\\';
            o += ch;
        } else if (static_cast<unsigned char>(ch) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof(b), "\\u%04x", ch);
            o += b;
        } else {
            o += ch;
        }
    }
    return o;
}

void finish()
{
    flood_join();
    g.t_end = now_us();
    g.phase = Phase::done;
    if (!g.srv_end.ok) {
        g.cpu_self_end = cpu_self_s();
        g.machine_end = bench::machine_busy_s();
        g.srv_end = bench::sample_server(opt.server_pid);
        g.peer_end = bench::sample_server(opt.peer_pid);
        g.redis_end = bench::sample_server(opt.redis_pid);
    }

    const char* mode = opt.mode == Mode::chat
                           ? "chat"
                           : opt.mode == Mode::idle ? "idle" : "handshake";
    std::string out = "{";
    auto kv = [&](const char* k, const std::string& v, bool quote = false) {
        if (out.size() > 1) {
            out += ',';
        }
        out += '"';
        out += k;
        out += "\":";
        if (quote) {
            out += '"' + json_escape(v) + '"';
        } else {
            out += v;
        }
    };
    auto num = [](double v, int prec = 3) {
        if (!std::isfinite(v)) {
            return std::string("null");
        }
        char b[64];
        std::snprintf(b, sizeof(b), "%.*f", prec, v);
        return std::string(b);
    };
    auto u64 = [](std::uint64_t v) { return std::to_string(v); };

    kv("label", opt.label, true);
    kv("mode", mode, true);
    kv("ok", g.error.empty() ? "true" : "false");
    if (!g.error.empty()) {
        kv("error", g.error, true);
    }

    bool srv = g.srv_base.ok && g.srv_end.ok;
    bool pids_changed = srv && g.srv_base.pids.size() != g.srv_end.pids.size();
    if (srv) {
        std::vector<int> a = g.srv_base.pids, b = g.srv_end.pids;
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        pids_changed = a != b;
    }

    if (opt.mode == Mode::handshake) {
        double secs = (g.t_post_end - g.t_phase) / 1e6;
        double cpu = srv ? g.srv_end.cpu_s - g.srv_start.cpu_s : NAN;
        kv("conns", u64(static_cast<std::uint64_t>(opt.conns)));
        kv("duration_s", num(secs));
        kv("handshakes", u64(g.st.handshakes));
        kv("handshake_errors", u64(g.st.handshake_errors));
        kv("handshakes_per_s", num(g.st.handshakes / secs, 1));
        kv("server_cpu_s", num(cpu, 2));
        kv("server_cpu_us_per_handshake",
           num(cpu * 1e6 / static_cast<double>(g.st.handshakes), 2));
        kv("client_cpu_s", num(g.cpu_self_end - g.cpu_self_start, 2));
        kv("others_cpu_util",
           num((g.machine_end - g.machine_start - cpu
                - (g.cpu_self_end - g.cpu_self_start)) / secs, 2));
        kv("http_retries", u64(g.st.http_retries));
        kv("server_pids_changed", pids_changed ? "true" : "false");
        out += "}";
        std::printf("%s\n", out.c_str());
        std::fflush(stdout);
        return;
    }

    kv("clients", u64(static_cast<std::uint64_t>(opt.clients)));
    kv("polling", u64(static_cast<std::uint64_t>(opt.polling)));
    kv("ready", u64(static_cast<std::uint64_t>(g.ready)));
    kv("failed", u64(static_cast<std::uint64_t>(g.failed)));
    kv("connect_errors", u64(g.st.connect_errors));
    kv("setup_s", num(g.t_ready > 0 ? (g.t_ready - g.t_start) / 1e6 : NAN, 2));
    long rss_delta = g.srv_ready.rss_kb - g.srv_base.rss_kb;
    kv("rss_base_kb", u64(static_cast<std::uint64_t>(g.srv_base.rss_kb)));
    kv("rss_ready_kb", u64(static_cast<std::uint64_t>(g.srv_ready.rss_kb)));
    kv("rss_per_socket_b",
       num(g.srv_ready.ok && g.ready > 0
               ? rss_delta * 1024.0 / g.ready : NAN, 0));
    long pss_delta = g.srv_ready.pss_kb - g.srv_base.pss_kb;
    kv("pss_base_kb", u64(static_cast<std::uint64_t>(g.srv_base.pss_kb)));
    kv("pss_ready_kb", u64(static_cast<std::uint64_t>(g.srv_ready.pss_kb)));
    kv("pss_per_socket_b",
       num(g.srv_ready.ok && g.ready > 0
               ? pss_delta * 1024.0 / g.ready : NAN, 0));

    if (opt.mode == Mode::chat) {
        std::uint64_t expected = g.posts.size()
                                 * static_cast<std::uint64_t>(g.expected_per_post);
        double secs = (std::max(g.t_last_delivery, g.t_post_end) - g.t_phase) / 1e6;
        double cpu = srv ? g.srv_end.cpu_s - g.srv_start.cpu_s : NAN;
        kv("rate", num(opt.rate, 1));
        kv("window", u64(static_cast<std::uint64_t>(opt.rate > 0 ? 0 : opt.window)));
        kv("duration_s", num((g.t_post_end - g.t_phase) / 1e6, 2));
        kv("posts", u64(g.posts.size()));
        kv("posts_per_s", num(g.posts.size() / ((g.t_post_end - g.t_phase) / 1e6), 1));
        kv("expected", u64(expected));
        kv("delivered", u64(g.st.delivered));
        kv("ratio", num(expected ? static_cast<double>(g.st.delivered) / expected
                                 : NAN, 6));
        kv("lost", u64(expected - std::min(expected, g.st.delivered)));
        kv("duplicates", u64(g.st.duplicates));
        kv("bogus", u64(g.st.bogus));
        kv("to_sender", u64(g.st.self));
        kv("acks", u64(g.st.acks));
        kv("given_up", u64(g.st.given_up));
        kv("deliveries_per_s", num(g.st.delivered / secs, 0));
        kv("lat_p50_ms", num(percentile(g.lat_us, 0.50)));
        kv("lat_p99_ms", num(percentile(g.lat_us, 0.99)));
        kv("lat_max_ms", num(percentile(g.lat_us, 1.0)));
        kv("senders", u64(g.senders.size()));
        {
            /* the clients that do not post (with --post-url: those on the
               other server, every delivery of theirs a cross-node one) */
            std::uint64_t rx_expected = g.posts.size()
                                        * static_cast<std::uint64_t>(g.rx_per_post);
            double rx_secs = (std::max(g.t_last_rx, g.t_post_end) - g.t_phase) / 1e6;
            kv("rx_clients", u64(g.rx_per_post + (opt.senders > 0 ? 0u : 1u)));
            kv("rx_expected", u64(rx_expected));
            kv("rx_delivered", u64(g.st.delivered_rx));
            kv("rx_ratio", num(rx_expected ? static_cast<double>(g.st.delivered_rx) / rx_expected
                                           : NAN, 6));
            kv("rx_deliveries_per_s", num(g.st.delivered_rx / rx_secs, 0));
            kv("rx_lat_p50_ms", num(percentile(g.lat_rx_us, 0.50)));
            kv("rx_lat_p99_ms", num(percentile(g.lat_rx_us, 0.99)));
            kv("rx_lat_max_ms", num(percentile(g.lat_rx_us, 1.0)));
        }
        if (!opt.post_url.empty()) {
            kv("post_url", opt.post_url, true);
        }
        if (!opt.flood.empty()) {
            /* the posts sent before the flood, and those sent during it */
            double quiet_s = ((g.t_flood_on ? g.t_flood_on : g.t_post_end) - g.t_phase) / 1e6;
            double flood_s = g.t_flood_on ? (g.t_flood_off - g.t_flood_on) / 1e6 : 0;
            /*
             * A delivery that never came counts as slower than any that
             * did: each percentile is over the deliveries expected, not only
             * those received, and is null (JSON) when it falls among the
             * missing ones. A server that drops what it cannot deliver in
             * time must not look fast for it.
             */
            std::uint64_t quiet_posts = 0, flood_posts = 0;
            for (const Post& p : g.posts) {
                (g.t_flood_on != 0 && p.sent_us >= g.t_flood_on ? flood_posts : quiet_posts)++;
            }
            auto expected_of = [](std::uint64_t posts) {
                return posts * static_cast<std::uint64_t>(g.expected_per_post);
            };
            auto pct = [](std::vector<std::uint32_t>& v, std::uint64_t expected, double q) {
                if (expected == 0 || v.empty()) {
                    return static_cast<double>(NAN);
                }
                auto k = static_cast<std::uint64_t>(
                    std::min<double>(static_cast<double>(expected - 1),
                                     std::floor(q * static_cast<double>(expected))));
                if (k >= v.size()) {
                    return static_cast<double>(NAN);       /* among the missing */
                }
                std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
                return v[k] / 1000.0;
            };
            std::uint64_t qe = expected_of(quiet_posts), fe = expected_of(flood_posts);
            double q99 = pct(g.lat_quiet_us, qe, 0.99);
            double f99 = pct(g.lat_flood_us, fe, 0.99);
            kv("flood_event", opt.flood, true);
            kv("quiet_s", num(quiet_s, 2));
            kv("flood_s", num(flood_s, 2));
            kv("quiet_expected", u64(qe));
            kv("quiet_deliveries", u64(g.lat_quiet_us.size()));
            kv("lat_quiet_p50_ms", num(pct(g.lat_quiet_us, qe, 0.50)));
            kv("lat_quiet_p99_ms", num(q99));
            kv("lat_quiet_max_ms", num(g.lat_quiet_us.size() == qe ? percentile(g.lat_quiet_us, 1.0) : NAN));
            kv("flood_expected", u64(fe));
            kv("flood_deliveries", u64(g.lat_flood_us.size()));
            kv("flood_ratio", num(fe ? static_cast<double>(g.lat_flood_us.size()) / fe : NAN, 6));
            kv("lat_flood_p50_ms", num(pct(g.lat_flood_us, fe, 0.50)));
            kv("lat_flood_p99_ms", num(f99));
            kv("lat_flood_max_ms", num(g.lat_flood_us.size() == fe ? percentile(g.lat_flood_us, 1.0) : NAN));
            kv("flood_p99_ratio", num(q99 > 0 ? f99 / q99 : NAN, 2));
            double frame = fl.per_batch ? static_cast<double>(fl.batch.size()) / fl.per_batch : NAN;
            double packets = fl.batch_bytes_out.load() / frame;
            kv("flood_packets", num(packets, 0));
            kv("flood_packets_per_s", num(flood_s > 0 ? packets / flood_s : NAN, 0));
            kv("flood_mb_out", num(fl.batch_bytes_out.load() / 1048576.0, 1));
            kv("flood_answers", u64(fl.answers.load()));
            kv("flood_answers_per_s", num(flood_s > 0 ? fl.answers.load() / flood_s : NAN, 0));
            kv("flood_mb_in", num(fl.bytes_in.load() / 1048576.0, 1));
            kv("flood_connects", u64(fl.connects.load()));
            kv("flood_closes", u64(fl.closes.load()));
            kv("flood_close_code", u64(static_cast<std::uint64_t>(fl.close_code)));
            kv("flood_close_reason", fl.close_reason, true);
            kv("flood_error", fl.error, true);
            kv("flood_client_cpu_s", num(fl.cpu_s, 2));
        }
        /* the deliveries the measured server made: to its own clients
           (every one, without --post-url) */
        std::uint64_t own = g.st.delivered_on[0];
        kv("server_deliveries", u64(own));
        kv("server_cpu_s", num(cpu, 2));
        kv("server_cpu_us_per_delivery",
           num(cpu * 1e6 / static_cast<double>(own), 3));
        kv("server_cpu_util", num(cpu / secs, 2));
        double peer_cpu = 0, redis_cpu = 0;
        if (g.peer_start.ok && g.peer_end.ok) {
            peer_cpu = g.peer_end.cpu_s - g.peer_start.cpu_s;
            kv("peer_cpu_s", num(peer_cpu, 2));
            kv("peer_cpu_util", num(peer_cpu / secs, 2));
            kv("peer_deliveries", u64(g.st.delivered_on[1]));
            kv("peer_cpu_us_per_post",
               num(g.posts.empty() ? NAN : peer_cpu * 1e6 / static_cast<double>(g.posts.size()), 1));
        }
        if (g.redis_start.ok && g.redis_end.ok) {
            redis_cpu = g.redis_end.cpu_s - g.redis_start.cpu_s;
            kv("redis_cpu_s", num(redis_cpu, 2));
            kv("redis_cpu_util", num(redis_cpu / secs, 2));
            kv("redis_cpu_us_per_post",
               num(g.posts.empty() ? NAN : redis_cpu * 1e6 / static_cast<double>(g.posts.size()), 1));
        }
        /* the kernel's share of it (loopback TCP: the receiver's side of
           each send runs in the sender's time) */
        kv("server_sys_share",
           num(srv && cpu > 0 ? (g.srv_end.sys_s - g.srv_start.sys_s) / cpu : NAN, 2));
        kv("client_cpu_s", num(g.cpu_self_end - g.cpu_self_start, 2));
        kv("client_cpu_util", num((g.cpu_self_end - g.cpu_self_start) / secs, 2));
        /* busy CPU of everything else: a busy machine shows here */
        kv("others_cpu_util",
           num((g.machine_end - g.machine_start - cpu - peer_cpu - redis_cpu
                - (g.cpu_self_end - g.cpu_self_start)) / secs, 2));
    }
    kv("disconnects", u64(g.st.disconnects));
    kv("close_packets", u64(g.st.close_packets));
    kv("login_failures", u64(g.st.login_failures));
    kv("unexpected", u64(g.st.unexpected));
    kv("http_retries", u64(g.st.http_retries));
    kv("http_errors", u64(g.st.http_errors));
    kv("pings", u64(g.st.pings));
    kv("server_pids", u64(g.srv_end.pids.size()));
    {
        /* descriptors per server process with every client connected:
           how the workers shared the connections */
        std::string fds = "[";
        for (std::size_t i = 0; i < g.srv_ready.fds.size(); i++) {
            fds += (i ? "," : "") + std::to_string(g.srv_ready.fds[i]);
        }
        kv("server_fds_ready", fds + "]");
    }
    kv("server_pids_changed", pids_changed ? "true" : "false");
    out += "}";
    std::printf("%s\n", out.c_str());
    std::fflush(stdout);
}

void start_posting()
{
    for (auto& c : g.clients) {
        if (c->state == Client::State::ready) {
            g.receivers++;
            /* --senders: the first ones post (with --post-url, those that
               connected there), every client receives */
            if (opt.senders == 0
                || (opt.post_url.empty()
                        ? g.senders.size() < static_cast<std::size_t>(opt.senders)
                        : c->target == 1)) {
                g.senders.push_back(c.get());
                c->sender = opt.senders > 0;
            }
        }
    }
    if (g.senders.empty()) {
        g.error = "no sender ready";
        g.t_phase = g.t_post_end = now_us();
        finish();
        std::exit(1);
    }
    g.expected_per_post = static_cast<std::uint32_t>(g.receivers - 1);
    g.rx_per_post = opt.senders > 0
                        ? static_cast<std::uint32_t>(g.receivers - g.senders.size())
                        : g.expected_per_post;
    g.words = (g.clients.size() + 63) / 64;
    g.lat_us.reserve(1 << 20);
    g.lat_rx_us.reserve(1 << 20);
    g.peer_start = bench::sample_server(opt.peer_pid);
    g.redis_start = bench::sample_server(opt.redis_pid);
    g.srv_start = bench::sample_server(opt.server_pid);
    g.cpu_self_start = cpu_self_s();
    g.machine_start = bench::machine_busy_s();
    g.phase = Phase::posting;
    g.t_phase = now_us();
    if (opt.rate <= 0) {
        pump_closed_loop();
    }
}

void tick(lws_sorted_usec_list_t* sul)
{
    std::int64_t now = now_us();
    std::int64_t next = 1000;

    switch (g.phase) {
    case Phase::setup:
        pump_connects();
        if (g.ready + g.failed == opt.clients && g.next_connect == g.clients.size()
            && g.retry.empty() && g.pending == 0) {
            g.t_ready = now;
            note("%d clients ready (%d failed) in %.2f s", g.ready, g.failed,
                 (now - g.t_start) / 1e6);
            if (g.ready < 2 && opt.mode == Mode::chat) {
                g.error = "fewer than two clients ready";
                finish();
                std::exit(1);
            }
            g.phase = Phase::settle;
            g.t_phase = now;
            if (!opt.flood.empty()) {
                flood_start_thread();   /* named during the settle time */
            }
        } else if (now - g.t_start > opt.setup_timeout * 1e6) {
            g.error = "setup timeout: " + std::to_string(g.ready) + " of "
                      + std::to_string(opt.clients) + " ready";
            finish();
            std::exit(1);
        }
        next = 10000;
        break;

    case Phase::settle:
        if (!opt.flood.empty() && fl.ready.load() <= 0) {
            if (fl.ready.load() < 0 || now - g.t_phase > (opt.settle + 10) * 1e6) {
                g.error = "the flooder could not connect: " + fl.error;
                finish();
                std::exit(1);
            }
            next = 10000;
            break;
        }
        if (now - g.t_phase >= opt.settle * 1e6) {
            g.srv_ready = bench::sample_server(opt.server_pid);
            if (opt.mode == Mode::idle) {
                finish();
                if (opt.hold > 0) {
                    g.phase = Phase::drain;     /* answer pings meanwhile */
                    g.t_post_end = now;
                    break;
                }
                std::exit(0);
            }
            start_posting();
        } else {
            next = 10000;
        }
        break;

    case Phase::posting: {
        double elapsed = (now - g.t_phase) / 1e6;
        if (opt.mode == Mode::handshake) {
            if (elapsed >= opt.duration) {
                g.t_post_end = now;
                g.cpu_self_end = cpu_self_s();
                g.machine_end = bench::machine_busy_s();
                g.srv_end = bench::sample_server(opt.server_pid);
                g.phase = Phase::drain;
            }
            next = 10000;
            break;
        }
        if (elapsed >= opt.duration) {
            g.t_post_end = now;
            g.phase = Phase::drain;
            if (g.t_flood_on != 0) {
                /* the deliveries still due are measured without it */
                g.t_flood_off = now;
                flood_join();
            }
            break;
        }
        if (!opt.flood.empty() && g.t_flood_on == 0 && elapsed >= opt.flood_start) {
            g.t_flood_on = now;
            fl.on.store(true);
            note("flood of %s begins", opt.flood.c_str());
        }
        if (opt.rate > 0) {
            auto due = static_cast<std::size_t>(opt.rate * elapsed) + 1;
            while (g.posts.size() < due) {
                make_post(next_sender());
            }
        }
        [[fallthrough]];
    }
    case Phase::drain: {
        if (opt.mode == Mode::idle) {
            if (now - g.t_post_end > opt.hold * 1e6) {
                std::exit(0);
            }
            next = 100000;
            break;
        }
        if (opt.mode == Mode::handshake) {
            /* the last answers are not counted; wait for them a moment */
            if (now - g.t_post_end > 500000) {
                finish();
                std::exit(0);
            }
            break;
        }
        /* closed posts leave the window; stalled ones are given up */
        while (!g.open_posts.empty()) {
            Post& p = g.posts[g.open_posts.front()];
            if (p.closed) {
                g.open_posts.pop_front();
            } else if (now - p.sent_us > opt.stall * 1e6
                       && (opt.rate <= 0 || g.phase == Phase::drain)) {
                if (opt.rate <= 0) {
                    g.st.given_up++;
                    close_post(g.open_posts.front());
                    g.open_posts.pop_front();
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        if (opt.rate <= 0) {
            pump_closed_loop();
        }
        if (g.phase == Phase::drain
            && (g.completed == g.posts.size()
                || now - g.t_post_end > opt.drain * 1e6)) {
            finish();
            std::exit(0);
        }
        break;
    }
    case Phase::done:
        return;
    }
    lws_sul_schedule(g.ctx, 0, sul, tick, next);
}

}  // namespace

int main(int argc, char** argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    /* as many descriptors as we may have */
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int needed = opt.mode == Mode::handshake
                     ? opt.conns
                     : opt.clients + opt.polling;   /* two per polling client */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0
        && rl.rlim_cur < static_cast<rlim_t>(needed + 64)) {
        note("RLIMIT_NOFILE is %lu, %d connections need more (ulimit -n)",
             static_cast<unsigned long>(rl.rlim_cur), needed);
        return 1;
    }

    lws_set_log_level(LLL_ERR, nullptr);
    g.host_header = opt.host + ":" + std::to_string(opt.port);

    lws_context_creation_info info;
    std::memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    info.max_http_header_pool = static_cast<unsigned short>(
        std::min(1024, opt.connect_concurrency + 16));
    info.timeout_secs = 60;
    /* what one read takes from a socket: a 4 KB post and its frame in one */
    info.pt_serv_buf_size = 32768;
    if (opt.evlib == "uv") {
        info.options |= LWS_SERVER_OPTION_LIBUV;
    } else if (opt.evlib == "ev") {
        info.options |= LWS_SERVER_OPTION_LIBEV;
    }
    g.ctx = lws_create_context(&info);
    if (g.ctx == nullptr) {
        note("lws_create_context failed");
        return 1;
    }

    g.t_start = now_us();
    g.srv_base = bench::sample_server(opt.server_pid);
    if (opt.server_pid > 0 && !g.srv_base.ok) {
        note("cannot read /proc/%d", opt.server_pid);
    }

    if (opt.mode == Mode::handshake) {
        for (int i = 0; i < opt.conns; i++) {
            auto h = std::make_unique<HttpConn>();
            h->kind = HttpConn::Kind::handshake;
            g.hconns.push_back(std::move(h));
        }
        g.srv_ready = g.srv_base;
        g.srv_start = bench::sample_server(opt.server_pid);
        g.cpu_self_start = cpu_self_s();
        g.machine_start = bench::machine_busy_s();
        g.phase = Phase::posting;
        g.t_phase = now_us();
        for (auto& h : g.hconns) {
            start_handshake_get(*h);
        }
    } else {
        /* polling clients spread among the WebSocket ones */
        for (int i = 0; i < opt.clients; i++) {
            auto c = std::make_unique<Client>();
            c->idx = static_cast<std::uint32_t>(i);
            c->polling = opt.polling > 0
                         && (static_cast<long>(i) * opt.polling / opt.clients
                             != static_cast<long>(i + 1) * opt.polling / opt.clients);
            /* --post-url: the first --senders clients are the posting ones */
            c->target = !opt.post_url.empty() && i < opt.senders ? 1 : 0;
            g.clients.push_back(std::move(c));
        }
    }

    std::memset(&g.tick_sul, 0, sizeof(g.tick_sul));
    lws_sul_schedule(g.ctx, 0, &g.tick_sul, tick, 1000);

    while (lws_service(g.ctx, 0) >= 0) {
    }
    note("lws_service failed");
    return 1;
}
