// Request smuggling (issue 9): on a keep-alive connection, a request with a
// body that a `socketio` location refuses must not leave that body unread,
// or nginx reads it as the connection's next request (behind a proxy that
// reuses its connections, one client's body becomes a request of its own).
//
// Every refusal the module can give (listed from src/ngx/*.cpp and
// Engine::route, not from memory: see CASES) is sent on a raw keep-alive
// TCP connection with a body that is itself a complete HTTP request,
//
//     GET /smuggled HTTP/1.1  Host: x
//
// and `location = /smuggled` answers `SMUGGLED`, so that the test can tell.
// The body is framed by Content-Length and, separately, by
// Transfer-Encoding: chunked; where the answer comes before the body is
// read, also with the body sent only after the answer. Then: exactly one
// response came back (status line, headers, Content-Length or chunked body
// parsed), with the expected status (and Engine.IO error), never the
// smuggled one; and the connection either closes or serves the next request,
// `GET /health`, as the second response, with nothing after it.
//
// The servers: engine_echo (the Engine.IO refusals, the invalid WebSocket
// handshakes, the status page), chat (the default demo's handler, with
// socketio_allow_origin for the CORS 403 and the preflight 204), polling-only
// and websocket-only (socketio_transports), short heartbeats (expired
// sessions), client_max_body_size below socketio_max_payload (nginx's own
// 413, which closes the connection), a worker left by nginx -s reload,
// socketio_worker_sessions 1, a full 2m socketio_zone, and 2 workers with
// reuseport (a request for a session the other worker owns: /whoami tells
// which worker a connection reached).
//
// Not here: a request for another worker's session reaching a worker that
// has departed the zone (a GET answered "6", a WebSocket 503, keepalive off
// for both: ngx_http_socketio_remote); the `touch` branch of an expired
// session, which cannot be aimed at from outside (the session's timer
// usually closes it first, and the answer is the same 400 code 1); HTTP/2,
// whose frames leave no body to be read as a request.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { children, isReference, nginxSignal, startServer, workerPids } from './lib/server.js';
import { http, pollingHandshake, sleep, wsHandshake } from './lib/helpers.js';

const SKIP = isReference ? 'nginx-only: the locations /smuggled, /health and /whoami are nginx configuration' : false;
const T = { timeout: 20000 };
const ORIGIN = 'http://allowed.example';
const MAX_PAYLOAD = 100;
const QUIET_MS = 50; // after the last response, for one that must not come
const UNKNOWN_SID = 'AAAAAAAAAAAAAAAAAAAA';

/** The request that the refused request's body is; `pad` bytes make it longer (over MAX_PAYLOAD). */
function smuggled(pad = 0) {
  return `GET /smuggled HTTP/1.1\r\nHost: x\r\n${pad ? `X-Pad: ${'p'.repeat(pad)}\r\n` : ''}\r\n`;
}

const LOCATIONS = [
  'location = /smuggled { return 200 "SMUGGLED"; }',
  'location = /health { return 200 "healthy"; }',
  'location = /whoami { return 200 "$pid"; }',
].join('\n        ');

const HEALTH = 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n';

// --- a raw HTTP/1.1 connection -------------------------------------------

/**
 * One response parsed from the front of `buf`: {status, headers, body,
 * length}; undefined while incomplete; {status: 0, garbage} when the bytes
 * cannot be a response, or the connection closed in the middle of one.
 * `head`: the request was HEAD (no body whatever the headers say).
 */
function parseResponse(buf, { head = false, closed = false } = {}) {
  const incomplete = () => (closed && buf.length > 0 ? { status: 0, garbage: buf.toString('latin1'), length: buf.length } : undefined);
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return incomplete();
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!m) return { status: 0, garbage: buf.toString('latin1'), length: buf.length };
  const status = Number(m[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  let at = end + 4;
  let body = Buffer.alloc(0);
  if (head || status < 200 || status === 204 || status === 304) {
    // no body
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return incomplete();
      const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) return { status: 0, garbage: buf.toString('latin1'), length: buf.length };
      at = eol + 2;
      if (size === 0) {
        const tend = buf.indexOf('\r\n\r\n', at - 2);
        if (tend < 0) return incomplete();
        at = tend + 4;
        break;
      }
      if (buf.length < at + size + 2) return incomplete();
      parts.push(buf.subarray(at, at + size));
      at += size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (buf.length < at + n) return incomplete();
    body = buf.subarray(at, at + n);
    at += n;
  } else {
    if (!closed) return undefined; // read until the close
    body = buf.subarray(at);
    at = buf.length;
  }
  return { status, headers, body: body.toString('utf8'), length: at };
}

/** A keep-alive TCP connection to the server, written and read by hand. */
class Conn {
  static open(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port }, () => {
        sock.off('error', reject);
        resolve(new Conn(sock));
      });
      sock.once('error', reject);
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.ended = false; // the server closed (or reset) the connection
    this.waiters = [];
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    const gone = () => {
      this.ended = true;
      this.wake();
    };
    sock.on('end', gone);
    sock.on('close', gone);
    sock.on('error', gone); // EPIPE/ECONNRESET after the server closed
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data) {
    if (!this.ended && !this.sock.destroyed) this.sock.write(data);
  }

  /** The next response; null when the connection closed with no byte more. */
  async response({ head = false, timeout = 5000, what = 'a response' } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const parsed = parseResponse(this.buf, { head, closed: this.ended });
      if (parsed) {
        this.buf = this.buf.subarray(parsed.length);
        return parsed;
      }
      if (this.ended && this.buf.length === 0) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout after ${timeout} ms waiting for ${what} (have ${JSON.stringify(this.buf.toString('latin1'))})`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  destroy() {
    this.sock.destroy();
  }
}

/** "METHOD target HTTP/1.1" with Host and `headers`, and nothing else. */
function head(method, target, headers = {}, version = '1.1') {
  const h = { Host: 'localhost', ...headers };
  return `${method} ${target} HTTP/${version}\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/**
 * The refused request: {head, body} as bytes, the body `body` framed by
 * Content-Length ('length') or Transfer-Encoding: chunked ('chunked').
 */
function build({ method, target, headers = {}, version }, body, framing) {
  const n = Buffer.byteLength(body, 'latin1');
  const framed = framing === 'length' ? body : `${n.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const h = framing === 'length' ? { 'Content-Length': n } : { 'Transfer-Encoding': 'chunked' };
  return {
    head: Buffer.from(head(method, target, { ...headers, ...h }, version), 'latin1'),
    body: Buffer.from(framed, 'latin1'),
  };
}

/** A path and query of the location: target(ctx, {transport: 'polling'}) (EIO=4 unless given). */
function target(ctx, query = {}) {
  const q = Object.entries({ EIO: '4', ...query })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');
  return `${ctx.path}?${q}`;
}

/** The headers of a valid WebSocket opening handshake, with `extra`. */
const wsHeaders = (extra = {}) => ({
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  ...extra,
});

// --- what the cases set up ---------------------------------------------------

/** A polling session: {sid}. */
async function pollingSession(ctx) {
  const s = await pollingHandshake(ctx.server.url, ctx.path);
  return { sid: s.sid, session: s };
}

/** A WebSocket session: {sid, ws} (cleanup closes it). */
async function wsSession(ctx) {
  const { ws, open } = await wsHandshake(ctx.server.url, ctx.path);
  return { sid: open.sid, cleanup: () => ws.close() };
}

/** A polling session whose GET waits (cleanup checks that it got a close packet "1"). */
async function waitingGet(ctx) {
  const { sid } = await pollingSession(ctx);
  const conn = await Conn.open(ctx.server.port);
  conn.write(head('GET', target(ctx, { transport: 'polling', sid })));
  await sleep(100); // the GET is parked
  return {
    sid,
    cleanup: async () => {
      const r = await conn.response({ what: 'the waiting GET' });
      conn.destroy();
      assert.equal(r?.body, '1', 'the waiting GET gets a close packet');
    },
  };
}

/** A polling session with a POST whose body is a tenth there (its session is posting). */
async function pendingPost(ctx) {
  const { sid } = await pollingSession(ctx);
  const conn = await Conn.open(ctx.server.port);
  conn.write(head('POST', target(ctx, { transport: 'polling', sid }), { 'Content-Length': 40, 'Content-Type': 'text/plain' }) + '4hell');
  await sleep(100); // its body is being read
  return { sid, cleanup: () => conn.destroy() };
}

/** The worker (its pid) that answers on `conn`. */
async function whoami(conn) {
  conn.write(head('GET', '/whoami'));
  const r = await conn.response({ what: '/whoami' });
  assert.equal(r?.status, 200, 'GET /whoami');
  return r.body;
}

/** A connection to a worker other than `pid` (reuseport spreads connections by their ports). */
async function connNotOn(ctx, pid) {
  for (let i = 0; i < 64; i++) {
    const conn = await Conn.open(ctx.server.port);
    if ((await whoami(conn)) !== pid) return conn;
    conn.destroy();
  }
  throw new Error(`64 connections in a row reached worker ${pid}`);
}

/**
 * A session that one worker owns and a connection to the other worker:
 * {sid, conn (the other worker's), owner (a connection to the owner, its
 * handshake made there)}. kind: 'polling' | 'polling with a waiting GET' |
 * 'websocket'.
 */
async function remoteSession(ctx, kind = 'polling') {
  const owner = await Conn.open(ctx.server.port);
  const pid = await whoami(owner);
  let sid;
  if (kind === 'websocket') {
    owner.write(head('GET', target(ctx, { transport: 'websocket' }), wsHeaders()));
    const r = await owner.response({ what: 'the 101' });
    assert.equal(r?.status, 101, 'the WebSocket handshake on the owner');
    // the open packet: a text frame, unmasked, length < 126
    const whole = () => owner.buf.length >= 2 && owner.buf.length >= 2 + (owner.buf[1] & 0x7f);
    for (let i = 0; i < 300 && !whole(); i++) await sleep(10);
    assert.ok(whole(), 'the open packet over the WebSocket');
    const open = owner.buf.subarray(2, 2 + (owner.buf[1] & 0x7f)).toString();
    sid = JSON.parse(open.slice(1)).sid;
  } else {
    owner.write(head('GET', target(ctx, { transport: 'polling' })));
    const r = await owner.response({ what: 'the handshake' });
    assert.equal(r?.status, 200, `the handshake on the owner: ${r?.body}`);
    sid = JSON.parse(r.body.slice(1)).sid;
    if (kind === 'polling with a waiting GET') {
      owner.write(head('GET', target(ctx, { transport: 'polling', sid })));
      await sleep(100); // the GET is parked
    }
  }
  const conn = await connNotOn(ctx, pid);
  return {
    sid,
    conn,
    cleanup: async () => {
      if (kind === 'polling with a waiting GET') {
        const r = await owner.response({ what: "the owner's GET" }).catch((e) => ({ status: 0, body: e.message }));
        assert.equal(r?.body, '1', "the owner's waiting GET gets a close packet");
      }
      owner.destroy();
    },
  };
}

/**
 * A connection whose request has begun ("G") on a worker that nginx -s
 * reload then tells to quit, and that has begun to close its sessions (a
 * waiting GET there is let go of): {conn, sent: 1}.
 */
async function leavingWorker(ctx) {
  const [old] = workerPids(ctx.server);
  const conn = await Conn.open(ctx.server.port);
  conn.write('G');
  const { sid } = await pollingSession(ctx);
  const poll = await Conn.open(ctx.server.port);
  poll.write(head('GET', target(ctx, { transport: 'polling', sid })));
  await sleep(100); // the GET is parked
  const logAt = ctx.server.errorLog().length;
  nginxSignal(ctx.server, 'reload');
  const deadline = Date.now() + 10000;
  const leaving = new RegExp(`\\[info\\] ${old}#\\d+: socketio: closing \\d+ sessions, worker is exiting`);
  while (!leaving.test(ctx.server.errorLog().slice(logAt))) {
    assert.ok(Date.now() < deadline, `worker ${old} did not begin to leave: ${JSON.stringify(children(ctx.server))}`);
    await sleep(20);
  }
  return {
    conn,
    sent: 1,
    cleanup: async () => {
      const r = await poll.response({ what: 'the waiting GET' }).catch(() => null);
      poll.destroy();
      assert.ok(r === null || r.status === 200, `the waiting GET on the leaving worker: ${r?.status} ${r?.body}`);
    },
  };
}

// --- the servers ------------------------------------------------------------

const LONG = { pingInterval: 25000, pingTimeout: 20000, connectTimeout: 45000 };

const CONFIGS = {
  engine_echo: {
    about: 'engine_echo, socketio_max_payload 100, the status page at /status',
    options: {
      handler: 'engine_echo', path: '/engine.io/', maxPayload: MAX_PAYLOAD, ...LONG,
      extraServerConfig: `${LOCATIONS}\n        location = /status { socketio_status; }`,
    },
  },
  chat: {
    about: 'chat (the default demo), socketio_allow_origin http://allowed.example',
    options: { handler: 'chat', path: '/socket.io/', maxPayload: MAX_PAYLOAD, allowOrigin: ORIGIN, ...LONG, extraServerConfig: LOCATIONS },
  },
  short: {
    about: 'engine_echo, ping 300/200 ms',
    options: { handler: 'engine_echo', path: '/engine.io/', pingInterval: 300, pingTimeout: 200, extraServerConfig: LOCATIONS },
  },
  polling_only: {
    about: 'engine_echo, socketio_transports polling',
    options: { handler: 'engine_echo', path: '/engine.io/', transports: ['polling'], ...LONG, extraServerConfig: LOCATIONS },
  },
  websocket_only: {
    about: 'engine_echo, socketio_transports websocket',
    options: { handler: 'engine_echo', path: '/engine.io/', transports: ['websocket'], ...LONG, extraServerConfig: LOCATIONS },
  },
  small_body: {
    about: 'engine_echo, client_max_body_size 50 (below socketio_max_payload)',
    options: { handler: 'engine_echo', path: '/engine.io/', ...LONG, extraLocationDirectives: 'client_max_body_size 50;', extraServerConfig: LOCATIONS },
  },
  worker_full: {
    about: 'echo, socketio_worker_sessions 1, one session held',
    options: { handler: 'echo', path: '/socket.io/', ...LONG, extraLocationDirectives: 'socketio_worker_sessions 1;', extraServerConfig: LOCATIONS },
    async prepare(ctx) {
      const { ws } = await wsHandshake(ctx.server.url, ctx.path);
      return () => ws.close();
    },
  },
  leaving: {
    about: 'engine_echo, a worker told to quit by nginx -s reload',
    options: { handler: 'engine_echo', path: '/engine.io/', ...LONG, extraServerConfig: LOCATIONS },
  },
  zone_full: {
    about: 'chat, socketio_zone small 2m, filled with polling sessions',
    options: {
      handler: 'chat', path: '/socket.io/', ...LONG,
      extraLocationDirectives: 'socketio_zone small 2m;',
      extraServerConfig: `${LOCATIONS}\n        location = /status { socketio_status small; }`,
    },
    async prepare(ctx) {
      const st = await (await http(`${ctx.server.url}/status`)).json();
      let open = 0;
      let refused = null;
      while (!refused && open <= st.capacity.sessions) {
        await Promise.all(Array.from({ length: 48 }, async () => {
          const res = await http(`${ctx.server.url}${target(ctx, { transport: 'polling' })}`, { timeout: 10000 });
          const text = await res.text();
          if (res.status === 200) open++;
          else refused ??= `${res.status} ${text}`;
        }));
      }
      assert.equal(refused, '400 {"code":3,"message":"Bad request"}', `the zone is full after ${open} sessions`);
      assert.match(ctx.server.errorLog(), /zone "small" is full/);
      return null;
    },
  },
  two_workers: {
    about: 'chat, 2 workers, reuseport, socketio_max_payload 100',
    options: { handler: 'chat', path: '/socket.io/', workers: 2, reuseport: true, maxPayload: MAX_PAYLOAD, ...LONG, extraServerConfig: LOCATIONS },
  },
};

// --- the refusals ----------------------------------------------------------
//
// name: what is refused, and where the code refuses it;
// config: the server (CONFIGS);
// methods: the methods that reach that refusal;
// request(ctx, method, state): {method, target, headers, version} of the
//   refused request (its body is the smuggled request);
// status, error: the expected answer ([code, message] of the JSON body);
// early: answered before the body is read (then also sent with the body
//   only after the answer);
// framings: default both; setup(ctx): state for request (state.conn: the
//   connection to use; state.cleanup); split: the body's first bytes, a
//   wait of that many ms, then the rest; pad: bytes more in the body.

const HANDSHAKE_ERR = [2, 'Bad handshake method'];
const TRANSPORT_ERR = [0, 'Transport unknown'];
const SID_ERR = [1, 'Session ID unknown'];
const BAD_REQUEST = [3, 'Bad request'];
const VERSION_ERR = [5, 'Unsupported protocol version'];
const FORBIDDEN = [4, 'Forbidden'];

const ALL = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'];
const NOT_GET = ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

const CASES = [
  // handler.cpp, Engine::route: the handshake
  { config: 'engine_echo', name: 'a handshake with a method other than GET (route: 400 code 2)', methods: [...NOT_GET, 'HEAD'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling' }) }), status: 400, error: HANDSHAKE_ERR, early: true },
  { config: 'engine_echo', name: 'an unknown transport, transport=flash (route: 400 code 0)', methods: ALL,
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'flash' }) }), status: 400, error: TRANSPORT_ERR, early: true },
  { config: 'engine_echo', name: 'no transport (route: 400 code 0)', methods: ['GET', 'POST'],
    request: (ctx, method) => ({ method, target: target(ctx) }), status: 400, error: TRANSPORT_ERR, early: true },
  { config: 'engine_echo', name: 'an unsupported EIO version, EIO=3 (route: 400 code 5)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { EIO: '3', transport: 'polling' }) }), status: 400, error: VERSION_ERR, early: true },
  { config: 'engine_echo', name: 'transport=websocket on a plain GET handshake (route: 400 code 3)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'an Origin header with a control character (route: 400 code 3)', methods: ['GET', 'POST', 'PUT'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling' }), headers: { Origin: 'http://a\x01b.example' } }),
    status: 400, error: BAD_REQUEST, early: true },
  // Engine::route and touch: a session's requests
  { config: 'engine_echo', name: 'an unknown sid (route: 400 code 1)', methods: ALL,
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling', sid: UNKNOWN_SID }) }), status: 400, error: SID_ERR, early: true },
  { config: 'engine_echo', name: 'PUT, DELETE, OPTIONS or PATCH on a polling session (route: 400 code 3)', methods: ['PUT', 'DELETE', 'OPTIONS', 'PATCH'], setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a session its client closed with a close packet (route: 400 code 1)', methods: ['GET', 'POST'],
    async setup(ctx) {
      const { sid, session } = await pollingSession(ctx);
      await session.postOk('1');
      return { sid };
    },
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: SID_ERR, early: true },
  { config: 'engine_echo', name: 'polling requests for a WebSocket session (route, transport mismatch: 400 code 3)', methods: ['GET', 'POST', 'PUT'], setup: wsSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'transport=websocket without an upgrade for a polling session (route: 400 code 3)', methods: ['GET', 'POST'], setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'websocket', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'short', name: 'a session whose ping timeout passed (its timer, or touch on arrival: 400 code 1)', methods: ['GET', 'POST'],
    async setup(ctx) {
      const s = await pollingSession(ctx);
      await sleep(800); // ping at 300 ms, no pong by 500 ms
      return s;
    },
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: SID_ERR, early: true },
  // polling.cpp: the session's state
  { config: 'engine_echo', name: 'a second GET while the session\'s GET waits (on_poll: 400 code 3, the session closes)', methods: ['GET'], setup: waitingGet,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a second POST while the session\'s POST is read (begin_post: 400 code 3, the session closes)', methods: ['POST'], setup: pendingPost,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a POST over socketio_max_payload by its Content-Length (413 before the body)', methods: ['POST'], framings: ['length'], pad: 2 * MAX_PAYLOAD, setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 413, early: true },
  { config: 'engine_echo', name: 'a chunked POST over socketio_max_payload (413 once read)', methods: ['POST'], framings: ['chunked'], pad: 2 * MAX_PAYLOAD, setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 413 },
  { config: 'engine_echo', name: 'a POST whose payload is no Engine.IO payload (read, 400 code 3, the session closes)', methods: ['POST'], setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST },
  { config: 'short', name: 'a POST whose session timed out while its body came (read, 400 code 1)', methods: ['POST'], setup: pollingSession, split: 800,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: SID_ERR },
  // nginx's own refusal of a body over client_max_body_size: 413 and the connection closed
  { config: 'small_body', name: 'a POST over client_max_body_size by its Content-Length (nginx: 413 before the module)', methods: ['POST'], framings: ['length'], pad: 100, setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 413, early: true },
  { config: 'small_body', name: 'a chunked POST over client_max_body_size (read_post: nginx\'s 413)', methods: ['POST'], framings: ['chunked'], pad: 100, setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 413 },
  // handler.cpp: invalid WebSocket handshakes, before any routing
  { config: 'engine_echo', name: 'Upgrade: websocket with a method other than GET (400 code 3)', methods: NOT_GET,
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }), headers: wsHeaders() }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a WebSocket handshake with Sec-WebSocket-Version 12 (400 code 3)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }), headers: wsHeaders({ 'Sec-WebSocket-Version': '12' }) }),
    status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a WebSocket handshake without Sec-WebSocket-Key (400 code 3)', methods: ['GET'],
    request: (ctx, method) => {
      const headers = wsHeaders();
      delete headers['Sec-WebSocket-Key'];
      return { method, target: target(ctx, { transport: 'websocket' }), headers };
    },
    status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a WebSocket handshake whose Connection lacks "upgrade" (400 code 3)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }), headers: wsHeaders({ Connection: 'keep-alive' }) }),
    status: 400, error: BAD_REQUEST, early: true },
  // nginx refuses Transfer-Encoding in an HTTP/1.0 request itself
  { config: 'engine_echo', name: 'a WebSocket handshake in HTTP/1.0, Connection: keep-alive, Upgrade (400 code 3)', methods: ['GET'], framings: ['length'],
    request: (ctx, method) => ({ method, version: '1.0', target: target(ctx, { transport: 'websocket' }), headers: wsHeaders({ Connection: 'keep-alive, Upgrade' }) }),
    status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a valid WebSocket handshake carrying a body (400 code 3, not 101)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }), headers: wsHeaders() }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a valid WebSocket upgrade of a polling session carrying a body (400 code 3, not 101)', methods: ['GET'], setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'websocket', sid: s.sid }), headers: wsHeaders() }),
    status: 400, error: BAD_REQUEST, early: true },
  { config: 'engine_echo', name: 'a valid WebSocket handshake carrying a body, with an unknown sid (400 code 3)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket', sid: UNKNOWN_SID }), headers: wsHeaders() }),
    status: 400, error: BAD_REQUEST, early: true },
  // zone.cpp: the status page
  { config: 'engine_echo', name: 'the status page (socketio_status) with a method other than GET or HEAD (405)', methods: NOT_GET,
    request: (ctx, method) => ({ method, target: '/status' }), status: 405, early: true },
  { config: 'engine_echo', name: 'the status page with GET and a body (200, the body discarded)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: '/status' }), status: 200, early: true },
  // socketio_transports
  { config: 'polling_only', name: 'transport=websocket where socketio_transports is polling (route: 400 code 0)', methods: ['GET', 'POST'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }) }), status: 400, error: TRANSPORT_ERR, early: true },
  { config: 'polling_only', name: 'a WebSocket handshake carrying a body where socketio_transports is polling (400)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }), headers: wsHeaders() }), status: 400, early: true },
  { config: 'websocket_only', name: 'transport=polling where socketio_transports is websocket (route: 400 code 0)', methods: ALL,
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling' }) }), status: 400, error: TRANSPORT_ERR, early: true },
  // handler.cpp, admit
  { config: 'worker_full', name: 'a handshake on a worker holding socketio_worker_sessions (admit: 503 code 3)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling' }) }), status: 503, error: BAD_REQUEST, early: true },
  { config: 'leaving', name: 'a handshake on a worker that is leaving (admit: 503 code 3, keepalive off)', methods: ['GET'], setup: leavingWorker,
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling' }) }), status: 503, error: BAD_REQUEST, early: true },
  { config: 'zone_full', name: 'a handshake when the socketio_zone is full (admit: 400 code 3)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling' }) }), status: 400, error: BAD_REQUEST, early: true },
  // handler.cpp, CORS (the chat)
  { config: 'chat', name: 'chat: a handshake from an origin not in socketio_allow_origin (403 code 4)', methods: [...ALL, 'PATCH'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling' }), headers: { Origin: 'http://evil.example' } }),
    status: 403, error: FORBIDDEN, early: true },
  { config: 'chat', name: 'chat: a session\'s request from an origin not allowed (403 code 4)', methods: ['GET', 'POST'], setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }), headers: { Origin: 'http://evil.example' } }),
    status: 403, error: FORBIDDEN, early: true },
  { config: 'chat', name: 'chat: a WebSocket handshake from an origin not allowed (403 code 4)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }), headers: wsHeaders({ Origin: 'http://evil.example' }) }),
    status: 403, error: FORBIDDEN, early: true },
  { config: 'chat', name: 'chat: an OPTIONS preflight from an allowed origin (204)', methods: ['OPTIONS'],
    request: (ctx, method) => ({
      method, target: target(ctx, { transport: 'polling' }),
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    }),
    status: 204, early: true },
  // the chat location: the refusals above, once more where a browser of the demo would meet them
  { config: 'chat', name: 'chat: a handshake with POST or PUT (route: 400 code 2)', methods: ['POST', 'PUT'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling' }) }), status: 400, error: HANDSHAKE_ERR, early: true },
  { config: 'chat', name: 'chat: a POST for an unknown sid (route: 400 code 1)', methods: ['POST'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'polling', sid: UNKNOWN_SID }) }), status: 400, error: SID_ERR, early: true },
  { config: 'chat', name: 'chat: a second POST while the session\'s POST is read (begin_post: 400 code 3)', methods: ['POST'], setup: pendingPost,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'chat', name: 'chat: a POST whose payload is no Engine.IO payload (read, 400 code 3)', methods: ['POST'], setup: pollingSession,
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST },
  { config: 'chat', name: 'chat: a valid WebSocket handshake carrying a body (400 code 3)', methods: ['GET'],
    request: (ctx, method) => ({ method, target: target(ctx, { transport: 'websocket' }), headers: wsHeaders() }), status: 400, error: BAD_REQUEST, early: true },
  // handler.cpp, ngx_http_socketio_remote, and polling.cpp's remote paths: the other worker's sessions
  { config: 'two_workers', name: 'other worker: transport=websocket without an upgrade for its session (as its owner: 400 code 3)', methods: ['GET', 'POST'],
    setup: (ctx) => remoteSession(ctx),
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'websocket', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'two_workers', name: 'other worker: PUT, DELETE or OPTIONS for its session (as its owner: 400 code 3)', methods: ['PUT', 'DELETE', 'OPTIONS'],
    setup: (ctx) => remoteSession(ctx),
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'two_workers', name: 'other worker: a second GET while the owner\'s GET waits (the owner refuses: 400 code 3)', methods: ['GET'],
    setup: (ctx) => remoteSession(ctx, 'polling with a waiting GET'),
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST, early: true },
  { config: 'two_workers', name: 'other worker: a POST over socketio_max_payload by its Content-Length (413 before the body)', methods: ['POST'], framings: ['length'], pad: 2 * MAX_PAYLOAD,
    setup: (ctx) => remoteSession(ctx),
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 413, early: true },
  { config: 'two_workers', name: 'other worker: a POST whose payload is no Engine.IO payload (read, the owner refuses: 400 code 3)', methods: ['POST'],
    setup: (ctx) => remoteSession(ctx),
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST },
  { config: 'two_workers', name: 'other worker: a polling POST for its WebSocket session (read, the owner refuses: 400 code 3)', methods: ['POST'],
    setup: (ctx) => remoteSession(ctx, 'websocket'),
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'polling', sid: s.sid }) }), status: 400, error: BAD_REQUEST },
  { config: 'two_workers', name: 'other worker: a valid WebSocket upgrade of its session carrying a body (400 code 3, not 101)', methods: ['GET'],
    setup: (ctx) => remoteSession(ctx),
    request: (ctx, method, s) => ({ method, target: target(ctx, { transport: 'websocket', sid: s.sid }), headers: wsHeaders() }),
    status: 400, error: BAD_REQUEST, early: true },
];

const FRAMING = { length: 'body by Content-Length', chunked: 'body chunked' };

/** The subtests of a case: [{label, framing, delivery}]. */
function variants(c) {
  const out = [];
  for (const method of c.methods) {
    for (const framing of c.framings ?? ['length', 'chunked']) {
      out.push({ method, framing, delivery: c.split ? 'split' : 'whole', label: `${method}, ${FRAMING[framing]}${c.split ? `, its end ${c.split} ms later` : ''}` });
      if (c.early) out.push({ method, framing, delivery: 'late', label: `${method}, ${FRAMING[framing]}, sent after the answer` });
    }
  }
  return out;
}

/**
 * Sends the case's request with the smuggled request as its body, then
 * checks the answer, and that the connection closes or answers /health next.
 */
async function run(t, ctx, c, v) {
  const state = c.setup ? await c.setup(ctx) : {};
  const conn = state.conn ?? (await Conn.open(ctx.server.port));
  try {
    const req = c.request(ctx, v.method, state);
    const { head: h, body } = build(req, smuggled(c.pad), v.framing);
    const isHead = v.method === 'HEAD';
    let first;
    if (v.delivery === 'late') {
      conn.write(h.subarray(state.sent ?? 0));
      first = await conn.response({ head: isHead, what: 'the answer to the request head' });
      conn.write(body);
    } else if (v.delivery === 'split') {
      conn.write(Buffer.concat([h.subarray(state.sent ?? 0), body.subarray(0, 5)]));
      await sleep(c.split);
      conn.write(body.subarray(5));
      first = await conn.response({ head: isHead });
    } else {
      conn.write(Buffer.concat([h.subarray(state.sent ?? 0), body]));
      first = await conn.response({ head: isHead });
    }

    assert.ok(first, 'the connection closed without an answer');
    assert.notEqual(first.body, 'SMUGGLED', 'the smuggled request was answered instead of the request');
    assert.equal(first.status, c.status, `the answer: ${first.status} ${first.garbage ?? first.body}`);
    if (c.error && !isHead) {
      assert.deepEqual(JSON.parse(first.body), { code: c.error[0], message: c.error[1] }, 'the Engine.IO error');
    }

    conn.write(HEALTH);
    const second = await conn.response({ what: 'the answer to GET /health' });
    if (second === null) {
      t.diagnostic(`${first.status}, then the connection closed`);
    } else {
      assert.ok(
        second.status === 200 && second.body === 'healthy',
        `the next response must be GET /health's, got ${second.status} ${JSON.stringify(second.garbage ?? second.body)}` +
          (second.body === 'SMUGGLED' ? ': the body was read as a request' : ': the body (or its chunked framing) was read as a request'),
      );
      t.diagnostic(`${first.status}, then /health on the same connection`);
    }
    await sleep(QUIET_MS);
    assert.equal(conn.buf.toString('latin1'), '', 'nothing more came back');
  } finally {
    conn.destroy();
    await state.cleanup?.();
  }
}

describe('request smuggling: a refused request\'s body is never read as a request', { skip: SKIP }, () => {
  for (const [config, { about, options, prepare }] of Object.entries(CONFIGS)) {
    describe(`${config} (${about})`, () => {
      const ctx = { path: options.path };
      let release = null;

      before(async () => {
        ctx.server = await startServer(options);
        release = prepare ? await prepare(ctx) : null;
      });

      after(async () => {
        await release?.();
        await ctx.server?.stop();
      });

      for (const c of CASES.filter((x) => x.config === config)) {
        describe(c.name, () => {
          for (const v of variants(c)) {
            it(v.label, T, (t) => run(t, ctx, c, v));
          }
        });
      }
    });
  }
});
