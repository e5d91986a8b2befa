// Limits a site owner can set (issue 6), nginx's own and the module's:
//
//   limit_req / limit_conn on the location   the excess gets 503; admitted
//                                             clients chat on
//   socketio_worker_sessions N               a worker holding N sessions
//                                             answers new handshakes 503
//                                             {"code":3,"message":"Bad request"}
//                                             and logs a warn line
//   socketio_message_rate N                  a socket sending more than N
//                                             messages a second (beyond a burst
//                                             of N) is closed: WebSocket close
//                                             1008 "message rate exceeded", an
//                                             info line "over socketio_message_rate"
//   socketio_output_limit size                a socket that does not read is
//                                             closed: 1008 "slow reader"
//
// All nginx-only: the reference server has none of these.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, isReference } from './lib/server.js';
import { SEP, WsClient, eioUrl, http, pollingHandshake, readError, sleep, withTimeout, wsHandshake } from './lib/helpers.js';
import { OP, connect as rawConnect, frame } from './lib/rawws.js';

const PATH = '/socket.io/';
const SKIP = isReference ? 'nginx and module limits' : false;
const T = { timeout: 30000, skip: SKIP };

/** A socket.io-client; resolves once connected, rejects with the connect_error. */
function sioClient(url, { transports = ['websocket'], ...extra } = {}) {
  const socket = io(url, { path: PATH, forceNew: true, reconnection: false, transports, timeout: 5000, ...extra });
  const ready = withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => reject(err));
    }),
    8000,
    'connect',
  );
  ready.catch(() => {});
  return { socket, ready };
}

/** The seed 000 chat: each of `sockets` logs in, each posts once, every other one gets it. */
async function chatGoesOn(sockets, tag) {
  const got = sockets.map(() => []);
  sockets.forEach((s, i) => s.on('message', (m) => got[i].push(m)));
  for (const [i, s] of sockets.entries()) {
    assert.equal(await s.timeout(5000).emitWithAck('login', `${tag}${i}`), `Welcome ${tag}${i}!`);
  }
  for (const [i, s] of sockets.entries()) {
    assert.equal(await s.timeout(5000).emitWithAck('message', `hi from ${i}`), `received "hi from ${i}"`);
  }
  const deadline = Date.now() + 5000;
  while (got.some((g) => g.length < sockets.length - 1) && Date.now() < deadline) await sleep(50);
  got.forEach((g, i) => {
    const want = sockets.map((_, j) => j).filter((j) => j !== i).map((j) => `${tag}${j}: hi from ${j}`);
    assert.deepEqual(g.sort(), want.sort(), `socket ${i} got every other post once`);
  });
}

async function expectError(res, status, code, message) {
  const e = await readError(res);
  assert.equal(e.status, status, `status (${e.text})`);
  assert.deepEqual(e.body, { code, message });
}

describe('limit_req on the location', () => {
  it('burst 5 nodelay: the excess handshakes get 503; the admitted WebSocket clients chat on', T, async (t) => {
    const server = await startServer({
      path: PATH,
      handler: 'chat',
      pingInterval: 25000,
      pingTimeout: 20000,
      connectTimeout: 45000,
      extraHttpConfig: 'limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;',
      extraLocationDirectives: 'limit_req zone=one burst=5 nodelay;',
    });
    const clients = [];
    try {
      for (let i = 0; i < 12; i++) clients.push(sioClient(server.url));
      const results = await Promise.allSettled(clients.map((c) => c.ready));
      const admitted = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      const refused = results.filter((r) => r.status === 'rejected');
      t.diagnostic(`${admitted.length} admitted, ${refused.length} refused`);
      // 1 + burst 5: the rate (1 a minute) gives no more within the test
      assert.equal(admitted.length, 6);
      // what the refused ones were answered: 503 from nginx, before the module
      const res = await http(eioUrl(server.url, PATH, { transport: 'polling' }));
      assert.equal(res.status, 503);
      await res.text();
      // WebSocket traffic is not requests: the admitted chat on
      await chatGoesOn(admitted, 'R');
      assert.match(server.errorLog(), /limiting requests, excess/);
    } finally {
      for (const c of clients) c.socket.disconnect();
      await server.stop();
    }
  });
});

describe('limit_conn on the location', () => {
  it('3 per address: a 4th WebSocket gets 503, the 3 chat on, and a place freed is taken again', T, async () => {
    const server = await startServer({
      path: PATH,
      handler: 'chat',
      pingInterval: 25000,
      pingTimeout: 20000,
      connectTimeout: 45000,
      extraHttpConfig: 'limit_conn_zone $binary_remote_addr zone=addr:1m;',
      extraLocationDirectives: 'limit_conn addr 3;',
    });
    const sockets = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = sioClient(server.url);
        sockets.push(c.socket);
        await c.ready;
      }
      const fourth = new WsClient(eioUrl(server.url, PATH, { transport: 'websocket' }, { ws: true }));
      const refusal = await fourth.waitRefused(5000);
      assert.equal(refusal?.status, 503, `the 4th WebSocket: ${JSON.stringify(refusal)}`);
      await chatGoesOn(sockets, 'C');
      sockets[0].disconnect();
      await sleep(300);
      const again = sioClient(server.url);
      sockets.push(again.socket);
      await again.ready;
      assert.match(server.errorLog(), /limiting connections by zone "addr"/);
    } finally {
      for (const s of sockets) s.disconnect();
      await server.stop();
    }
  });
});

describe('limit_conn on the location, polling', () => {
  it('3 per address: with 3 long-polls waiting a 4th request gets 503; a place freed is taken again', T, async () => {
    const server = await startServer({
      path: PATH,
      handler: 'echo',
      pingInterval: 25000,
      pingTimeout: 20000,
      connectTimeout: 45000,
      extraHttpConfig: 'limit_conn_zone $binary_remote_addr zone=addr:1m;',
      extraLocationDirectives: 'limit_conn addr 3;',
    });
    const aborts = [];
    try {
      const sessions = [];
      for (let i = 0; i < 3; i++) {
        const p = await pollingHandshake(server.url, PATH);
        await p.postOk('40');
        await p.collect(2);
        sessions.push(p);
      }
      // three GETs wait: three requests in progress
      const waiting = sessions.map((p) => {
        const ac = new AbortController();
        aborts.push(ac);
        return p.get({ signal: ac.signal, timeout: 20000 }).catch(() => null);
      });
      await sleep(300);
      const res = await http(eioUrl(server.url, PATH, { transport: 'polling' }));
      assert.equal(res.status, 503);
      await res.text();
      assert.match(server.errorLog(), /limiting connections by zone "addr"/);
      // one client goes away: its place is free
      aborts[0].abort();
      await waiting[0];
      await sleep(300);
      const again = await pollingHandshake(server.url, PATH);
      assert.ok(again.sid);
    } finally {
      for (const ac of aborts) ac.abort();
      await server.stop();
    }
  });
});

describe('socketio_worker_sessions', () => {
  it('a worker holding 3 sessions answers a 4th handshake 503 "Bad request" (polling and WebSocket), logs a warn line, and takes one again when a place is free', T, async () => {
    const server = await startServer({
      path: PATH,
      handler: 'echo',
      pingInterval: 25000,
      pingTimeout: 20000,
      connectTimeout: 45000,
      extraLocationDirectives: 'socketio_worker_sessions 3;',
    });
    const held = [];
    try {
      held.push(await wsHandshake(server.url, PATH));
      held.push(await wsHandshake(server.url, PATH));
      const p = await pollingHandshake(server.url, PATH);
      await expectError(await http(eioUrl(server.url, PATH, { transport: 'polling' })), 503, 3, 'Bad request');
      const ws = new WsClient(eioUrl(server.url, PATH, { transport: 'websocket' }, { ws: true }));
      const refusal = await ws.waitRefused(5000);
      assert.equal(refusal?.status, 503);
      assert.deepEqual(JSON.parse(refusal.body), { code: 3, message: 'Bad request' });
      assert.match(server.errorLog(), /\[warn\].*worker holds 3 sessions \(socketio_worker_sessions\): new session refused/);
      // the sessions it holds go on
      const [{ ws: a }] = held;
      a.send('40');
      assert.match(await a.next(), /^40\{"sid"/);
      assert.equal(await a.next(), '42["auth",{}]'); // the echo handler sends it 5 ms after CONNECT
      a.send('42["message","held"]');
      assert.equal(await a.next(), '42["message-back","held"]');
      await p.postOk('40');
      assert.match((await p.collect(2))[0], /^40\{"sid"/);
      // one leaves: a new one gets its place
      held[1].ws.close();
      await held[1].ws.waitClose();
      await sleep(200);
      held.push(await wsHandshake(server.url, PATH));
    } finally {
      for (const h of held) h.ws.close();
      await server.stop();
    }
  });
});

describe('socketio_message_rate', () => {
  it('5 a second: a flood is closed with 1008 "message rate exceeded" and an info line; a socket at the rate and the others go on', { ...T, timeout: 40000 }, async () => {
    const server = await startServer({
      path: PATH,
      handler: 'echo',
      pingInterval: 25000,
      pingTimeout: 20000,
      connectTimeout: 45000,
      extraLocationDirectives: 'socketio_message_rate 5;',
    });
    const other = sioClient(server.url, { transports: ['polling'] });
    try {
      await other.ready;
      // a flood over WebSocket: CONNECT, then 20 events at once
      const { ws: flood } = await rawConnect(server, PATH);
      flood.write(frame(OP.text, '40'));
      for (let i = 0; i < 20; i++) flood.write(frame(OP.text, `42["message",${i}]`));
      const c = await flood.expectClose(5000);
      flood.destroy();
      assert.equal(c.code, 1008);
      assert.equal(c.reason, 'message rate exceeded');
      // the burst of 5 (CONNECT included) was served before the close
      const texts = c.skipped.filter((f) => f.opcode === OP.text).map((f) => f.payload.toString());
      assert.ok(texts.length <= 6, `served before the close: ${JSON.stringify(texts)}`);
      assert.match(server.errorLog(), /\[info\].*over socketio_message_rate/);

      // a flood over polling: the session closes, the next GET gets the close packet
      const p = await pollingHandshake(server.url, PATH);
      const res = await p.post(['40', ...Array.from({ length: 20 }, (_, i) => `42["message",${i}]`)]);
      await res.text();
      let closed = false;
      for (let i = 0; i < 5 && !closed; i++) {
        const r = await p.get();
        const text = await r.text();
        if (r.status === 400 || text.split(SEP).includes('1')) closed = true;
      }
      assert.ok(closed, 'the polling flood was closed');

      // 4 messages a second for 3 seconds is within the rate
      const steady = sioClient(server.url);
      await steady.ready;
      for (let i = 0; i < 12; i++) {
        assert.equal(await steady.socket.timeout(3000).emitWithAck('message-with-ack', i), i);
        await sleep(250);
      }
      steady.socket.disconnect();
      // the other client never noticed
      assert.equal(await other.socket.timeout(3000).emitWithAck('message-with-ack', 'other'), 'other');
      assert.ok(other.socket.connected);
    } finally {
      other.socket.disconnect();
      await server.stop();
    }
  });
});

describe('socketio_output_limit', () => {
  // The slow reader is sent what others post (the chat): a socket that does
  // not read is closed once socketio_output_limit of it is unsent. (A socket
  // that does not read the answers to its own messages is read no further
  // instead: websocket.test.js, "a client that does not read its answers".)
  it('a WebSocket that does not read what others send it is closed with 1008 "slow reader" and an info line; another client goes on', { ...T, timeout: 60000 }, async () => {
    const server = await startServer({
      path: PATH,
      handler: 'chat',
      pingInterval: 30000,
      pingTimeout: 30000,
      maxPayload: 100000,
      extraLocationDirectives: 'socketio_output_limit 1m;',
    });
    const good = sioClient(server.url);
    const { ws: slow } = await rawConnect(server, PATH);
    try {
      await good.ready;
      slow.write(frame(OP.text, '40'));
      assert.match(await slow.nextMessage(), /^40\{"sid"/);
      slow.write(frame(OP.text, '420["login","slow"]'));
      assert.equal(await slow.nextMessage(), '430["Welcome slow!"]');
      slow.sock.pause();
      assert.equal(await good.socket.timeout(3000).emitWithAck('login', 'good'), 'Welcome good!');
      // the other client posts all along: every post goes to the slow one
      const msg = 'z'.repeat(90000);
      let stop = false;
      const chat = (async () => {
        for (let i = 0; !stop; i++) {
          const text = `${i} ${msg}`;
          assert.equal(await good.socket.timeout(3000).emitWithAck('message', text), `received "${text}"`);
          await sleep(20);
        }
      })();
      try {
        // the slow reader reads again as soon as the server gave up on it: the
        // module waits 1 s for its close frame to go out
        const deadline = Date.now() + 20000;
        while (!/over socketio_output_limit/.test(server.errorLog()) && Date.now() < deadline) await sleep(10);
        slow.sock.resume();
        assert.match(server.errorLog(), /\[info\].*slow reader, over socketio_output_limit/);
        const c = await slow.expectClose(20000);
        assert.equal(c.code, 1008);
        assert.equal(c.reason, 'slow reader');
      } finally {
        stop = true;
        await chat;
      }
      // the other client goes on, and the slow one is gone from the chat
      assert.equal(await good.socket.timeout(3000).emitWithAck('message', 'after'), 'received "after"');
      const users = await good.socket.timeout(3000).emitWithAck('users');
      assert.deepEqual(users.map((u) => u.name), ['good']);
    } finally {
      slow.destroy();
      good.socket.disconnect();
      await server.stop();
    }
  });
});
