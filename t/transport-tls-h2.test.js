// The transports over TLS and HTTP/2: nginx terminates TLS, the module reads
// and writes the socket through c->recv / c->send_chain, so a WebSocket over
// TLS must work as over plain TCP; polling requests may also come as HTTP/2
// streams, several at once on one connection.
//
// The server block is `listen 127.0.0.1:PORT ssl http2;` with a self-signed
// certificate made at test time (openssl req -x509). Clients that speak
// HTTP/1.1 (socket.io-client, node:https) get HTTP/1.1 through ALPN; node:http2
// gets h2.
//
// Not tested, because it cannot happen: a WebSocket upgrade over HTTP/2. The
// upgrade mechanism (Upgrade/Connection headers, 101) does not exist in
// HTTP/2 (RFC 9113 section 8.2.2 forbids connection-specific headers; node:http2
// refuses to send them), and WebSocket over HTTP/2 needs the extended CONNECT
// of RFC 8441, which nginx 1.22 does not implement (it does not announce
// SETTINGS_ENABLE_CONNECT_PROTOCOL). The module refuses an HTTP/2 request that
// carries "Upgrade: websocket" anyway (400 Bad request), since r->stream is set.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import crypto from 'node:crypto';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { io } from 'socket.io-client';
import { startServer, isReference, T_DIR } from './lib/server.js';
import { SEP, SID_RE, sleep, withTimeout } from './lib/helpers.js';

const T = { timeout: 15000 };
const SKIP = isReference ? 'TLS and HTTP/2 are nginx-only in this harness' : false;

let tlsDir;
let cert;

function makeCertificate() {
  fs.mkdirSync(path.join(T_DIR, 'tmp'), { recursive: true });
  tlsDir = fs.mkdtempSync(path.join(T_DIR, 'tmp', `tls-${process.pid}-`));
  fs.chmodSync(tlsDir, 0o755);
  const certPath = path.join(tlsDir, 'cert.pem');
  const keyPath = path.join(tlsDir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', keyPath, '-out', certPath],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  fs.chmodSync(keyPath, 0o644); // workers may run as another user
  return { cert: certPath, key: keyPath };
}

function startTlsServer(opts) {
  return startServer({ ssl: cert, http2: true, pingInterval: 20000, pingTimeout: 20000, ...opts });
}

/** One HTTPS/1.1 request (self-signed certificate accepted). */
function httpsRequest(url, { method = 'GET', body, timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method, rejectUnauthorized: false, agent: false, timeout, headers: body !== undefined ? { 'Content-Type': 'text/plain;charset=UTF-8' } : {} },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (data += d));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: data, alpn: res.socket.alpnProtocol }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeout} ms: ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** One request on an HTTP/2 session; resolves with {status, headers, body}. */
function h2Request(session, reqPath, { method = 'GET', body, headers = {}, timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': reqPath, ...headers });
    let data = '';
    let resHeaders;
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`timeout after ${timeout} ms: ${method} ${reqPath}`));
    }, timeout);
    stream.setEncoding('utf8');
    stream.on('response', (h) => (resHeaders = h));
    stream.on('data', (d) => (data += d));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve({ status: resHeaders?.[':status'], headers: resHeaders, body: data, stream });
    });
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (body !== undefined) stream.end(body);
    else stream.end();
  });
}

/**
 * Closes a polling session (close packet "1"): a session left open would keep
 * a worker that is shutting down until its next heartbeat.
 */
async function h2Close(session, sid) {
  const res = await h2Request(session, `/engine.io/?EIO=4&transport=polling&sid=${sid}`, {
    method: 'POST',
    body: '1',
    headers: { 'content-type': 'text/plain;charset=UTF-8' },
  });
  assert.equal(res.status, 200, `close: ${res.body}`);
}

function h2Connect(url) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { rejectUnauthorized: false });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

function once(emitter, event, timeout = 5000) {
  return withTimeout(
    new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    timeout,
    `event "${event}"`,
  );
}

before(() => {
  if (!isReference) cert = makeCertificate();
});

after(() => {
  if (tlsDir && process.env.SOCKETIO_KEEP_TMP !== '1') fs.rmSync(tlsDir, { recursive: true, force: true });
});

/** A masked client frame (payload < 126 bytes). */
function smallFrame(opcode, text) {
  const data = Buffer.from(text, 'utf8');
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(data.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | data.length]), key, masked]);
}

/** Reads server frames (unmasked, payload < 65536) from the start of buf. */
function parseFrames(buf) {
  const frames = [];
  let pos = 0;
  while (buf.length - pos >= 2) {
    let len = buf[pos + 1] & 0x7f;
    let hl = 2;
    if (len === 126) {
      if (buf.length - pos < 4) break;
      len = buf.readUInt16BE(pos + 2);
      hl = 4;
    }
    if (len === 127 || buf.length - pos < hl + len) break;
    frames.push({ b0: buf[pos], opcode: buf[pos] & 0x0f, payload: buf.subarray(pos + hl, pos + hl + len) });
    pos += hl + len;
  }
  return { frames, rest: buf.subarray(pos) };
}

describe('WebSocket over TLS on a raw socket (engine_echo)', { skip: SKIP }, () => {
  let server;
  const PATH = '/engine.io/';

  before(async () => {
    server = await startTlsServer({ path: PATH, handler: 'engine_echo' });
  });

  after(async () => {
    await server?.stop();
  });

  it('sends the 101 answer once, then the open packet, and echoes a message', T, async () => {
    const sock = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    let buf = Buffer.alloc(0);
    let ended = false;
    const waiters = [];
    const wake = () => waiters.splice(0).forEach((f) => f());
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      wake();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      ended = true;
      wake();
    });
    const until = (pred, what) =>
      withTimeout(
        new Promise((resolve, reject) => {
          const check = () => {
            const v = pred();
            if (v) resolve(v);
            else if (ended) reject(new Error(`connection closed while waiting for ${what}; got ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`));
            else waiters.push(check);
          };
          check();
        }),
        5000,
        what,
      );
    try {
      await withTimeout(new Promise((r) => sock.once('secureConnect', r)), 5000, 'the TLS handshake');
      assert.equal(sock.alpnProtocol, 'http/1.1');
      sock.write(
        `GET ${PATH}?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
          'Sec-WebSocket-Version: 13\r\n\r\n',
      );
      await until(() => buf.indexOf('\r\n\r\n') >= 0, 'the 101 answer');
      const headEnd = buf.indexOf('\r\n\r\n') + 4;
      assert.match(buf.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 101 /);
      // the first frame must follow at once: the open packet, not a second 101
      await until(() => buf.length >= headEnd + 2, 'the first frame');
      const after101 = buf.subarray(headEnd, headEnd + 16).toString('latin1');
      assert.ok(!after101.startsWith('HTTP/1.1'), `the 101 answer was sent again: ${JSON.stringify(after101)}`);
      await until(() => parseFrames(buf.subarray(headEnd)).frames.length >= 1, 'the open packet');
      const open = parseFrames(buf.subarray(headEnd)).frames[0];
      assert.equal(open.b0, 0x81, 'a final text frame');
      assert.match(open.payload.toString(), /^0\{"sid":/);

      sock.write(smallFrame(0x1, '4over TLS'));
      await until(() => parseFrames(buf.subarray(headEnd)).frames.length >= 2, 'the echo');
      const { frames } = parseFrames(buf.subarray(headEnd));
      assert.equal(frames[1].b0, 0x81);
      assert.equal(frames[1].payload.toString(), '4over TLS');
    } finally {
      sock.destroy();
    }
  });
});

describe('Socket.IO over TLS (echo handler, listen ssl http2)', { skip: SKIP }, () => {
  let server;
  const PATH = '/socket.io/';

  before(async () => {
    server = await startTlsServer({ path: PATH, handler: 'echo' });
  });

  after(async () => {
    await server?.stop();
  });

  for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
    it(`socket.io-client over https/wss with transports ${transports.join(',')}: emit and ack`, T, async () => {
      assert.match(server.url, /^https:/);
      const socket = io(server.url, {
        path: PATH,
        transports,
        rejectUnauthorized: false,
        forceNew: true,
        reconnection: false,
        timeout: 5000,
      });
      try {
        const authP = once(socket, 'auth');
        authP.catch(() => {});
        await Promise.race([
          once(socket, 'connect'),
          once(socket, 'connect_error').then(([e]) => {
            throw new Error(`connect_error: ${e?.message} ${e?.description?.message ?? ''}`);
          }),
        ]);
        assert.deepEqual(await authP, [{}]);

        if (transports.length === 2) {
          // wait for the upgrade to the WebSocket
          await withTimeout(
            new Promise((resolve) => {
              if (socket.io.engine.transport.name === 'websocket') resolve();
              else socket.io.engine.once('upgrade', resolve);
            }),
            5000,
            'the upgrade',
          );
        }
        assert.equal(socket.io.engine.transport.name, transports.at(-1));

        const backP = once(socket, 'message-back');
        socket.emit('message', 'über TLS', { n: 1 });
        assert.deepEqual(await backP, ['über TLS', { n: 1 }]);

        const big = 'x'.repeat(200000); // many TLS records
        const bigP = once(socket, 'message-back');
        socket.emit('message', big);
        assert.equal((await bigP)[0], big);

        const buf = Buffer.from([1, 2, 3, 250]);
        const ack = await withTimeout(
          new Promise((resolve) => socket.emit('message-with-ack', 'a', buf, (...res) => resolve(res))),
          5000,
          'the ack',
        );
        assert.equal(ack[0], 'a');
        assert.deepEqual([...new Uint8Array(ack[1])], [1, 2, 3, 250]);
      } finally {
        socket.disconnect();
      }
    });
  }
});

describe('Engine.IO polling over HTTPS and HTTP/2 (engine_echo)', { skip: SKIP }, () => {
  let server;
  const PATH = '/engine.io/';
  const q = (extra = '') => `${PATH}?EIO=4&transport=polling${extra}`;

  before(async () => {
    server = await startTlsServer({ path: PATH, handler: 'engine_echo' });
  });

  after(async () => {
    await server?.stop();
  });

  it('polling over HTTPS (HTTP/1.1): handshake, POST, GET', T, async () => {
    const hs = await httpsRequest(`${server.url}${q()}`);
    assert.equal(hs.status, 200, hs.body);
    assert.notEqual(hs.alpn, 'h2');
    assert.equal(hs.body[0], '0');
    const { sid } = JSON.parse(hs.body.slice(1));
    assert.match(sid, SID_RE);
    const post = await httpsRequest(`${server.url}${q(`&sid=${sid}`)}`, { method: 'POST', body: `4hello${SEP}4wörld` });
    assert.equal(post.status, 200);
    assert.equal(post.body, 'ok');
    const get = await httpsRequest(`${server.url}${q(`&sid=${sid}`)}`);
    assert.equal(get.status, 200);
    assert.equal(get.body, `4hello${SEP}4wörld`);
    const bye = await httpsRequest(`${server.url}${q(`&sid=${sid}`)}`, { method: 'POST', body: '1' });
    assert.equal(bye.status, 200);
  });

  it('polling over HTTP/2: handshake, POST 4hello, GET 4hello', T, async () => {
    const session = await h2Connect(server.url);
    try {
      assert.equal(session.alpnProtocol, 'h2');
      const hs = await h2Request(session, q());
      assert.equal(hs.status, 200, hs.body);
      assert.match(hs.headers['content-type'], /^text\/plain/);
      assert.equal(hs.body[0], '0', hs.body);
      const open = JSON.parse(hs.body.slice(1));
      assert.match(open.sid, SID_RE);
      assert.deepEqual(open.upgrades, ['websocket']);

      const post = await h2Request(session, q(`&sid=${open.sid}`), {
        method: 'POST',
        body: '4hello',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
      });
      assert.equal(post.status, 200);
      assert.equal(post.body, 'ok');

      const get = await h2Request(session, q(`&sid=${open.sid}`));
      assert.equal(get.status, 200);
      assert.equal(get.body, '4hello');
      await h2Close(session, open.sid);
    } finally {
      session.close();
    }
  });

  it('HTTP/2: a long-poll GET waits and is released by a POST on the same connection', T, async () => {
    const session = await h2Connect(server.url);
    try {
      const hs = await h2Request(session, q());
      const { sid } = JSON.parse(hs.body.slice(1));

      let getDone = false;
      const t0 = Date.now();
      const getP = h2Request(session, q(`&sid=${sid}`), { timeout: 8000 }).then((r) => {
        getDone = true;
        return r;
      });
      await sleep(400);
      assert.equal(getDone, false, 'the GET waits for packets');

      // the POST goes on another stream of the same connection while the GET waits
      const post = await h2Request(session, q(`&sid=${sid}`), {
        method: 'POST',
        body: `4released${SEP}bAQID`,
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
      });
      assert.equal(post.status, 200);
      assert.equal(post.body, 'ok');

      const get = await getP;
      assert.equal(get.status, 200);
      assert.equal(get.body, `4released${SEP}bAQID`);
      assert.ok(Date.now() - t0 >= 350, 'the GET was held until the POST');
      assert.equal(get.headers['cache-control'], 'no-store');
      await h2Close(session, sid);
    } finally {
      session.close();
    }
  });

  it('HTTP/2: sessions on many concurrent streams of one connection', T, async () => {
    const session = await h2Connect(server.url);
    try {
      const N = 20;
      const sids = await Promise.all(
        Array.from({ length: N }, async () => JSON.parse((await h2Request(session, q())).body.slice(1)).sid),
      );
      assert.equal(new Set(sids).size, N);
      const gets = sids.map((sid) => h2Request(session, q(`&sid=${sid}`), { timeout: 8000 }));
      await sleep(100);
      await Promise.all(
        sids.map((sid, i) =>
          h2Request(session, q(`&sid=${sid}`), {
            method: 'POST',
            body: `4n${i}`,
            headers: { 'content-type': 'text/plain;charset=UTF-8' },
          }),
        ),
      );
      const bodies = (await Promise.all(gets)).map((r) => r.body);
      assert.deepEqual(bodies, sids.map((_, i) => `4n${i}`));
      await Promise.all(sids.map((sid) => h2Close(session, sid)));
    } finally {
      session.close();
    }
  });

  it('HTTP/2: a waiting GET whose stream is cancelled ends the session, the server goes on', T, async () => {
    const session = await h2Connect(server.url);
    try {
      const hs = await h2Request(session, q());
      const { sid } = JSON.parse(hs.body.slice(1));
      const stream = session.request({ ':method': 'GET', ':path': q(`&sid=${sid}`) });
      stream.on('error', () => {});
      stream.end();
      await sleep(200);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await sleep(200);
      // the client went away in the middle of a poll: the session is gone
      const after = await h2Request(session, q(`&sid=${sid}`));
      assert.equal(after.status, 400);
      assert.deepEqual(JSON.parse(after.body), { code: 1, message: 'Session ID unknown' });
      // and a new one works
      const hs2 = await h2Request(session, q());
      assert.equal(hs2.status, 200);
      await h2Close(session, JSON.parse(hs2.body.slice(1)).sid);
    } finally {
      session.close();
    }
  });

  it('HTTP/2: a POST over maxPayload gets 413', T, async () => {
    const session = await h2Connect(server.url);
    try {
      const hs = await h2Request(session, q());
      const { sid, maxPayload } = JSON.parse(hs.body.slice(1));
      const post = await h2Request(session, q(`&sid=${sid}`), {
        method: 'POST',
        body: `4${'x'.repeat(maxPayload + 10)}`,
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
      });
      assert.equal(post.status, 413);
      await h2Close(session, sid);
    } finally {
      session.close();
    }
  });
});
