/*
 * socketio_lws_client: a minimal Socket.IO v5 client over Engine.IO v4
 * WebSocket, written with libwebsockets (4.1), to check the module against
 * a WebSocket implementation that is neither Node's ws nor a browser.
 *
 * Usage:
 *   socketio_lws_client ws://127.0.0.1:PORT/socket.io/
 *                       [--emit EVENT JSON]... [--count N] [--timeout MS]
 *
 * It connects to the URL with ?EIO=4&transport=websocket appended, prints
 * every Engine.IO packet it receives on its own line on stdout (a binary
 * frame as "<binary N bytes HEX>", at most 64 bytes of it in hex, then
 * "..."; a newline inside a text packet as "\n"), answers each ping "2"
 * with a pong "3", sends "40" (connect to "/") after the open packet, and,
 * once the connect answer "40..." has come, one "42[\"EVENT\",JSON]" per
 * --emit, in order. JSON is written as given (it must be valid JSON).
 *
 * It exits 0 once N packets have been received (pings are printed but not
 * counted). It exits 1 on timeout (default 10000 ms), on a connection error,
 * or if the server closes the connection before N packets; without --count
 * it runs until the server closes the connection (exit 0) or the timeout
 * (exit 1). Usage errors exit 2. wss:// is accepted (any certificate).
 */

#include <libwebsockets.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct out_msg {
    struct out_msg  *next;
    size_t           len;
    unsigned char    buf[];  /* LWS_PRE bytes, then the payload */
};


static struct {
    const char              **emits;     /* event, json, event, json, ... */
    int                       nemits;
    long                      count;
    long                      timeout_ms;

    long                      received;
    int                       connected_ns;
    int                       finished;
    int                       exit_code;

    struct out_msg           *out_head;
    struct out_msg           *out_tail;

    unsigned char            *rx;
    size_t                    rx_len;
    size_t                    rx_cap;
    int                       rx_binary;

    struct lws_context       *context;
    struct lws               *wsi;
    lws_sorted_usec_list_t    timeout_sul;
} g;


static void
finish(int code)
{
    if (!g.finished) {
        g.finished = 1;
        g.exit_code = code;
    }
    if (g.context != NULL) {
        lws_cancel_service(g.context);
    }
}


static void
queue_text(const char *s, size_t len)
{
    struct out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

    if (m == NULL) {
        fprintf(stderr, "socketio_lws_client: out of memory\n");
        finish(1);
        return;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, s, len);

    if (g.out_tail != NULL) {
        g.out_tail->next = m;
    } else {
        g.out_head = m;
    }
    g.out_tail = m;

    if (g.wsi != NULL) {
        lws_callback_on_writable(g.wsi);
    }
}


/* a JSON string for an event name */
static char *
json_string(const char *s)
{
    size_t  n = strlen(s);
    char   *out = malloc(n * 6 + 3), *p = out;

    if (out == NULL) {
        return NULL;
    }
    *p++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char) c;
        } else if (c < 0x20) {
            p += sprintf(p, "\\u%04x", c);
        } else {
            *p++ = (char) c;
        }
    }
    *p++ = '"';
    *p = '\0';
    return out;
}


static void
queue_emits(void)
{
    for (int i = 0; i < g.nemits; i++) {
        const char *event = g.emits[2 * i];
        const char *json = g.emits[2 * i + 1];
        char *name = json_string(event);

        if (name == NULL) {
            finish(1);
            return;
        }

        size_t len = 3 + strlen(name) + 1 + strlen(json) + 1;
        char *packet = malloc(len + 1);
        if (packet == NULL) {
            free(name);
            finish(1);
            return;
        }
        snprintf(packet, len + 1, "42[%s,%s]", name, json);
        queue_text(packet, strlen(packet));
        free(packet);
        free(name);
    }
}


static void
print_packet(const unsigned char *p, size_t len, int binary)
{
    if (binary) {
        printf("<binary %zu bytes ", len);
        for (size_t i = 0; i < len && i < 64; i++) {
            printf("%02x", p[i]);
        }
        printf("%s>\n", len > 64 ? "..." : "");

    } else {
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '\n') {
                fputs("\\n", stdout);
            } else {
                putchar(p[i]);
            }
        }
        putchar('\n');
    }
    fflush(stdout);
}


static void
on_packet(const unsigned char *p, size_t len, int binary)
{
    print_packet(p, len, binary);

    if (!binary && len == 1 && p[0] == '2') {
        queue_text("3", 1);                 /* pings are not counted */
        return;
    }

    if (!binary && len >= 1 && p[0] == '0') {
        queue_text("40", 2);                /* the open packet */

    } else if (!binary && !g.connected_ns && len >= 2
               && p[0] == '4' && p[1] == '0'
               && (len == 2 || p[2] == '{'))
    {
        g.connected_ns = 1;                 /* connected to "/" */
        queue_emits();
    }

    g.received++;
    if (g.count > 0 && g.received >= g.count) {
        finish(0);
    }
}


static int
rx_append(const void *in, size_t len)
{
    if (g.rx_len + len > g.rx_cap) {
        size_t cap = g.rx_cap ? g.rx_cap : 4096;
        while (cap < g.rx_len + len) {
            cap *= 2;
        }
        unsigned char *rx = realloc(g.rx, cap);
        if (rx == NULL) {
            return -1;
        }
        g.rx = rx;
        g.rx_cap = cap;
    }
    memcpy(g.rx + g.rx_len, in, len);
    g.rx_len += len;
    return 0;
}


static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
    (void) user;

    switch (reason) {

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "socketio_lws_client: connection error: %s\n",
                in ? (const char *) in : "(none)");
        g.wsi = NULL;
        finish(1);
        break;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        g.wsi = wsi;
        if (g.out_head != NULL) {
            lws_callback_on_writable(wsi);
        }
        break;

    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_is_first_fragment(wsi)) {
            g.rx_len = 0;
            g.rx_binary = lws_frame_is_binary(wsi);
        }
        if (rx_append(in, len) != 0) {
            fprintf(stderr, "socketio_lws_client: out of memory\n");
            finish(1);
            return -1;
        }
        if (lws_is_final_fragment(wsi)
            && lws_remaining_packet_payload(wsi) == 0)
        {
            on_packet(g.rx, g.rx_len, g.rx_binary);
            g.rx_len = 0;
        }
        if (g.finished) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        break;

    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        struct out_msg *m = g.out_head;

        if (m == NULL) {
            break;
        }
        g.out_head = m->next;
        if (g.out_head == NULL) {
            g.out_tail = NULL;
        }

        int n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);

        if (n < 0) {
            fprintf(stderr, "socketio_lws_client: write failed\n");
            finish(1);
            return -1;
        }
        if (g.out_head != NULL) {
            lws_callback_on_writable(wsi);
        }
        break;
    }

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *c = in;
            fprintf(stderr, "socketio_lws_client: close frame from the server, "
                    "code %u\n", (unsigned) ((c[0] << 8) | c[1]));
        } else {
            fprintf(stderr, "socketio_lws_client: close frame from the server, "
                    "no code\n");
        }
        break;

    case LWS_CALLBACK_CLIENT_CLOSED:
        g.wsi = NULL;
        if (!g.finished) {
            if (g.count > 0) {
                fprintf(stderr, "socketio_lws_client: closed after %ld of %ld "
                        "packets\n", g.received, g.count);
                finish(1);
            } else {
                finish(0);
            }
        }
        break;

    default:
        break;
    }

    return 0;
}


static void
on_timeout(lws_sorted_usec_list_t *sul)
{
    (void) sul;
    fprintf(stderr, "socketio_lws_client: timeout after %ld ms (%ld packets "
            "received)\n", g.timeout_ms, g.received);
    finish(1);
}


static const struct lws_protocols protocols[] = {
    { "socketio-lws-client", callback, 0, 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 }
};


static void
usage(void)
{
    fprintf(stderr,
            "usage: socketio_lws_client ws://HOST:PORT/PATH/ "
            "[--emit EVENT JSON]... [--count N] [--timeout MS]\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    struct lws_context_creation_info   info;
    struct lws_client_connect_info     ci;
    const char                        *url = NULL;
    const char                        *prot, *address, *p;
    char                               uri[1024], path[1200];
    int                                port;
    char                              *end;

    g.count = 0;
    g.timeout_ms = 10000;
    g.emits = calloc((size_t) argc, sizeof(char *));
    if (g.emits == NULL) {
        return 1;
    }

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--emit") == 0) {
            if (i + 2 >= argc) {
                usage();
            }
            g.emits[2 * g.nemits] = argv[i + 1];
            g.emits[2 * g.nemits + 1] = argv[i + 2];
            g.nemits++;
            i += 2;

        } else if (strcmp(argv[i], "--count") == 0) {
            if (i + 1 >= argc) {
                usage();
            }
            g.count = strtol(argv[++i], &end, 10);
            if (*end != '\0' || g.count < 0) {
                usage();
            }

        } else if (strcmp(argv[i], "--timeout") == 0) {
            if (i + 1 >= argc) {
                usage();
            }
            g.timeout_ms = strtol(argv[++i], &end, 10);
            if (*end != '\0' || g.timeout_ms <= 0) {
                usage();
            }

        } else if (url == NULL && argv[i][0] != '-') {
            url = argv[i];

        } else {
            usage();
        }
    }

    if (url == NULL || strlen(url) >= sizeof(uri)) {
        usage();
    }

    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);

    /* lws_parse_uri() cuts its argument up in place */
    strcpy(uri, url);
    if (lws_parse_uri(uri, &prot, &address, &port, &p)) {
        fprintf(stderr, "socketio_lws_client: bad URL %s\n", url);
        return 2;
    }

    int tls = strcmp(prot, "wss") == 0 || strcmp(prot, "https") == 0;
    if (!tls && strcmp(prot, "ws") != 0 && strcmp(prot, "http") != 0) {
        fprintf(stderr, "socketio_lws_client: ws:// or wss:// only\n");
        return 2;
    }

    /* p is the path without its leading '/' */
    snprintf(path, sizeof(path), "/%s%cEIO=4&transport=websocket", p,
             strchr(p, '?') ? '&' : '?');

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    if (tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    }

    g.context = lws_create_context(&info);
    if (g.context == NULL) {
        fprintf(stderr, "socketio_lws_client: lws_create_context failed\n");
        return 1;
    }

    lws_sul_schedule(g.context, 0, &g.timeout_sul, on_timeout,
                     (lws_usec_t) g.timeout_ms * 1000);

    memset(&ci, 0, sizeof(ci));
    ci.context = g.context;
    ci.address = address;
    ci.port = port;
    ci.path = path;
    ci.host = address;
    ci.origin = address;
    ci.protocol = NULL;              /* no Sec-WebSocket-Protocol */
    ci.local_protocol_name = protocols[0].name;
    ci.ietf_version_or_minus_one = -1;
    ci.pwsi = &g.wsi;
    if (tls) {
        ci.ssl_connection = LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED
                            | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK
                            | LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
        ci.alpn = "http/1.1";
    }

    if (lws_client_connect_via_info(&ci) == NULL) {
        fprintf(stderr, "socketio_lws_client: cannot connect to %s\n", url);
        finish(1);
    }

    while (!g.finished) {
        if (lws_service(g.context, 0) < 0) {
            finish(1);
        }
    }

    lws_sul_schedule(g.context, 0, &g.timeout_sul, NULL,
                     LWS_SET_TIMER_USEC_CANCEL);
    lws_context_destroy(g.context);

    while (g.out_head != NULL) {
        struct out_msg *m = g.out_head;
        g.out_head = m->next;
        free(m);
    }
    free(g.rx);
    free(g.emits);

    return g.exit_code;
}
