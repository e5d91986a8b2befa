// nginx -s reload and nginx -s quit with Socket.IO clients connected.
//
// On reload the master starts new workers and tells the old ones to shut
// down gracefully: the module closes their sessions (the clients see a
// disconnect and reconnect to the new workers) and the old workers must
// exit soon, with no [alert] ("open socket ... left in connection" would be
// one) and no crash. The heartbeat is the production default (25 s / 20 s),
// as is the Socket.IO connect timeout (45 s), so that nothing here is hidden
// by a fast timer that happens to wake a worker that is shutting down.
//
// One worker: sessions live in the worker that made them (README, Status), so
// with 2 workers a polling client whose requests come on fresh connections
// lands on the wrong worker now and then, reload or not.
//
// The disconnect reasons seen by socket.io-client are recorded in the test
// output (t.diagnostic) and must be among "transport close",
// "transport error" and "io server disconnect".

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startServer, isReference, nginxSignal, children, workerPids, waitGone } from './lib/server.js';
import { freshRequest, pollingHandshake, sleep, withTimeout } from './lib/helpers.js';

const PATH = '/socket.io/';
const SKIP = isReference ? 'reload and quit are nginx signals' : false;
const CLEAN_REASONS = ['transport close', 'transport error', 'io server disconnect'];

/** Waits until the master has `n` workers that are not in `old`; resolves with their pids. */
async function waitNewWorkers(server, old, n, timeout = 5000) {
  const t0 = Date.now();
  for (;;) {
    const fresh = children(server)
      .filter((c) => !old.includes(c.pid) && /worker process$/.test(c.title))
      .map((c) => c.pid);
    if (fresh.length >= n) return fresh;
    if (Date.now() - t0 > timeout) throw new Error(`no ${n} new workers after ${timeout} ms: ${JSON.stringify(children(server))}`);
    await sleep(50);
  }
}

function badLines(log) {
  return log.split('\n').filter((l) => /\[alert\]|\[crit\]|\[emerg\]|exited on signal/.test(l));
}

/** A client with reconnection on, recording its connects and disconnect reasons. */
function reconnectingClient(server, transports) {
  const socket = io(server.url, {
    path: PATH,
    transports,
    forceNew: true,
    reconnection: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
    randomizationFactor: 0,
    timeout: 5000,
  });
  const rec = { socket, transports: transports.join(','), connects: 0, reasons: [], errors: [] };
  socket.on('connect', () => rec.connects++);
  socket.on('disconnect', (reason) => rec.reasons.push(reason));
  socket.on('connect_error', (err) => rec.errors.push(err.message));
  return rec;
}

async function waitConnects(rec, n, timeout = 10000) {
  const t0 = Date.now();
  while (rec.connects < n || !rec.socket.connected) {
    if (Date.now() - t0 > timeout) {
      throw new Error(
        `${rec.transports} client: ${rec.connects} connects (wanted ${n}), reasons ${JSON.stringify(rec.reasons)}, errors ${JSON.stringify(rec.errors.slice(-5))}`,
      );
    }
    await sleep(20);
  }
}

function emitAck(socket, ...args) {
  return withTimeout(
    new Promise((resolve) => socket.emit('message-with-ack', ...args, (...res) => resolve(res))),
    3000,
    'an ack',
  );
}

/**
 * A Socket.IO session over polling, connected to "/", with no GET pending:
 * a client between two requests (or one that has gone away).
 */
async function idlePollingSession(server) {
  const s = await pollingHandshake(server.url, PATH);
  await s.postOk('40');
  const got = await s.collect(2);
  assert.match(got[0], /^40\{"sid":/);
  assert.equal(got[1], '42["auth",{}]');
  return s;
}

describe('nginx -s reload with connected clients', { skip: SKIP }, () => {
  let server;

  before(async () => {
    server = await startServer({ path: PATH, handler: 'echo', pingInterval: 25000, pingTimeout: 20000, connectTimeout: 45000, workers: 1 });
  });

  after(async () => {
    await server?.stop();
  });

  it('disconnects websocket and polling clients cleanly; they reconnect to the new workers', { timeout: 30000 }, async (t) => {
    const clients = [
      reconnectingClient(server, ['websocket']),
      reconnectingClient(server, ['websocket']),
      reconnectingClient(server, ['polling']),
      reconnectingClient(server, ['polling']),
      reconnectingClient(server, ['polling', 'websocket']),
    ];
    try {
      for (const c of clients) await waitConnects(c, 1);
      for (const c of clients) assert.deepEqual(await emitAck(c.socket, 'before', 1), ['before', 1]);

      const old = workerPids(server);
      assert.equal(old.length, 1);
      const logBefore = server.errorLog().length;
      nginxSignal(server, 'reload');
      const fresh = await waitNewWorkers(server, old, 1);

      for (const c of clients) await waitConnects(c, 2);
      for (const c of clients) {
        t.diagnostic(`${c.transports}: disconnect reasons ${JSON.stringify(c.reasons)}`);
        assert.equal(c.reasons.length, 1, `${c.transports}: one disconnect (${JSON.stringify(c.reasons)})`);
        assert.ok(CLEAN_REASONS.includes(c.reasons[0]), `${c.transports}: reason "${c.reasons[0]}"`);
      }
      for (const c of clients) assert.deepEqual(await emitAck(c.socket, 'after', { reload: 1 }), ['after', { reload: 1 }]);

      const took = await waitGone(server, old, 5000);
      t.diagnostic(`old workers exited ${took} ms after the new ones were up`);
      assert.deepEqual(workerPids(server).sort(), fresh.sort());

      const log = server.errorLog().slice(logBefore);
      assert.deepEqual(badLines(log), []);
      for (const pid of old) {
        assert.match(log, new RegExp(`\\b${pid}#\\d+: exit\\b`), `worker ${pid} logged its exit`);
      }
    } finally {
      for (const c of clients) c.socket.disconnect();
    }
  });

  it('10 reloads in a row under traffic: no crash, no alert, old workers exit, clients recover', { timeout: 120000 }, async (t) => {
    const clients = [
      ...Array.from({ length: 4 }, () => reconnectingClient(server, ['websocket'])),
      ...Array.from({ length: 4 }, () => reconnectingClient(server, ['polling'])),
    ];
    const logBefore = server.errorLog().length;
    let stop = false;
    let acks = 0;
    let sent = 0;
    // every client emits all the time (acks may be lost while it reconnects)
    const pumps = clients.map(async (c, i) => {
      let n = 0;
      while (!stop) {
        if (c.socket.connected) {
          sent++;
          c.socket.timeout(2000).emit('message-with-ack', `c${i}`, n++, (err, ...res) => {
            if (!err && res[0] === `c${i}`) acks++;
          });
          c.socket.emit('message', 'x'.repeat(1000));
        }
        await sleep(10);
      }
    });
    try {
      for (const c of clients) await waitConnects(c, 1);
      const allOld = [];
      for (let i = 0; i < 10; i++) {
        const old = workerPids(server);
        allOld.push(...old);
        const acksBefore = acks;
        nginxSignal(server, 'reload');
        await waitNewWorkers(server, old, 1);
        // some traffic on the new workers before the next reload
        const t0 = Date.now();
        while (acks < acksBefore + 20 && Date.now() - t0 < 5000) await sleep(20);
        assert.ok(acks >= acksBefore + 20, `acks go on after reload ${i + 1} (${acks - acksBefore} new)`);
        const bad = badLines(server.errorLog().slice(logBefore));
        assert.deepEqual(bad, [], `after reload ${i + 1}`);
      }
      // checked at the end, so that a slow exit does not hide the rest
      let exitProblem = null;
      const tGone = Date.now();
      try {
        await waitGone(server, allOld, 5000);
      } catch (err) {
        exitProblem = err;
      }
      t.diagnostic(`all old workers gone ${Date.now() - tGone} ms after the last reload's new worker was up`);
      assert.equal(workerPids(server).filter((p) => !allOld.includes(p)).length, 1, 'one current worker');

      for (const c of clients) await waitConnects(c, 1);
      stop = true;
      await Promise.all(pumps);
      const finals = await Promise.all(
        clients.map((c) =>
          emitAck(c.socket, 'final').then(
            (r) => ({ ok: JSON.stringify(r) === '["final"]' }),
            (e) => ({ ok: false, error: e.message }),
          ),
        ),
      );
      const failed = clients
        .map((c, i) => ({ i, ...finals[i], transports: c.transports, connected: c.socket.connected, transport: c.socket.io.engine?.transport?.name, eioState: c.socket.io.engine?.readyState, sid: c.socket.io.engine?.id, connects: c.connects, reasons: c.reasons, errors: c.errors.slice(-3) }))
        .filter((f) => !f.ok);
      assert.deepEqual(failed, [], 'every client gets its final ack');

      const reasons = {};
      for (const c of clients) for (const r of c.reasons) reasons[r] = (reasons[r] ?? 0) + 1;
      t.diagnostic(`${sent} emits with ack, ${acks} acks; disconnect reasons ${JSON.stringify(reasons)}`);
      for (const r of Object.keys(reasons)) assert.ok(CLEAN_REASONS.includes(r), `reason "${r}"`);

      const log = server.errorLog().slice(logBefore);
      assert.deepEqual(badLines(log), []);
      assert.doesNotMatch(log, /open socket/);

      if (exitProblem) {
        const t1 = Date.now();
        await waitGone(server, allOld, 60000).catch(() => {});
        t.diagnostic(`the last old worker exited ${Date.now() - tGone} ms after the last reload (waited ${Date.now() - t1} ms more)`);
        assert.deepEqual(badLines(server.errorLog().slice(logBefore)), []);
        throw exitProblem;
      }
    } finally {
      stop = true;
      await Promise.all(pumps);
      for (const c of clients) c.socket.disconnect();
    }
  });

  it('a reload with a polling session between two requests: the old worker exits within 5 s', { timeout: 45000 }, async (t) => {
    // its own server: nothing else may wake the old worker up
    const srv = await startServer({ path: PATH, handler: 'echo', pingInterval: 25000, pingTimeout: 20000, connectTimeout: 45000 });
    try {
      // a polling client that has its answer and has not sent the next GET
      // yet (or has gone away): the session has no connection in the worker
      const s = await idlePollingSession(srv);
      assert.equal(s.open.pingInterval, 25000);
      const old = workerPids(srv);
      nginxSignal(srv, 'reload');
      await waitNewWorkers(srv, old, 1);
      const t0 = Date.now();
      let problem = null;
      try {
        await waitGone(srv, old, 5000);
      } catch (err) {
        problem = err;
        await waitGone(srv, old, 30000).catch(() => {});
      }
      t.diagnostic(`old worker gone after ${Date.now() - t0} ms`);
      if (problem) throw problem;
      // on a fresh connection: fetch would reuse its keep-alive connection
      // to the old worker, which that worker may be closing right now
      const res = await freshRequest(s.url());
      assert.equal(res.status, 400, 'the session died with its worker');
    } finally {
      await srv.stop();
    }
  });
});

describe('nginx -s quit with connected clients', { skip: SKIP }, () => {
  it('exits within 5 s without alerts', { timeout: 30000 }, async (t) => {
    const server = await startServer({ path: PATH, handler: 'echo', pingInterval: 25000, pingTimeout: 20000, connectTimeout: 45000, workers: 1 });
    const clients = [
      reconnectingClient(server, ['websocket']),
      reconnectingClient(server, ['websocket']),
      reconnectingClient(server, ['polling']),
      reconnectingClient(server, ['polling']),
    ];
    try {
      for (const c of clients) await waitConnects(c, 1);
      for (const c of clients) assert.deepEqual(await emitAck(c.socket, 'q'), ['q']);
      // reconnection off now: nobody may come back while nginx quits
      for (const c of clients) c.socket.io.reconnection(false);
      const t0 = Date.now();
      nginxSignal(server, 'quit');
      while (!server.exited() && Date.now() - t0 < 5000) await sleep(20);
      const took = Date.now() - t0;
      t.diagnostic(`nginx exited ${took} ms after nginx -s quit`);
      assert.ok(server.exited(), `nginx still running ${took} ms after nginx -s quit`);
      await withTimeout(
        (async () => {
          while (clients.some((c) => c.socket.connected)) await sleep(20);
        })(),
        3000,
        'the clients to see the disconnect',
      );
      for (const c of clients) {
        t.diagnostic(`${c.transports}: disconnect reasons ${JSON.stringify(c.reasons)}`);
        assert.ok(CLEAN_REASONS.includes(c.reasons[0]), `${c.transports}: reason "${c.reasons[0]}"`);
      }
      assert.deepEqual(badLines(server.errorLog()), []);
    } finally {
      for (const c of clients) c.socket.disconnect();
      await server.stop(); // fails on [alert]/[crit] or a crash
    }
  });

  it('exits within 5 s with a polling session between two requests', { timeout: 45000 }, async (t) => {
    const server = await startServer({ path: PATH, handler: 'echo', pingInterval: 25000, pingTimeout: 20000, connectTimeout: 45000 });
    try {
      const s = await idlePollingSession(server);
      assert.ok(s.open.sid);
      const t0 = Date.now();
      nginxSignal(server, 'quit');
      while (!server.exited() && Date.now() - t0 < 5000) await sleep(20);
      const took = Date.now() - t0;
      if (!server.exited()) {
        // see how long it takes, rather than have stop() kill it
        while (!server.exited() && Date.now() - t0 < 30000) await sleep(50);
        t.diagnostic(`nginx exited ${Date.now() - t0} ms after nginx -s quit`);
      }
      assert.ok(took < 5000 && server.exited(), `nginx still running ${took} ms after nginx -s quit`);
    } finally {
      await server.stop();
    }
  });
});
