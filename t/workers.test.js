// Several workers, one server: the chat on `worker_processes 4`, with
// sessions, users and broadcasts shared through the shared memory zone.
//
// - the seed 000 walk-through over every transport, and the whole chat
//   contract in short form (seeds 000, 001, 003 and the demo at once);
// - proof that a polling session's requests are served by several workers
//   (the `$socketio_worker` access log) and still work, in order;
// - 300 clients, every post delivered exactly once to the 299 others;
// - kill -9 of a worker: its users are announced gone, the others chat on;
// - ten reloads in a row under traffic;
// - a full zone refuses new sessions and keeps serving the old ones;
// - a slow reader on one worker does not slow the others;
// - idle workers use no CPU; the status page (JSON and Prometheus).
//
// nginx gives each TCP connection to whichever worker accepts it, so which
// worker holds a client is not chosen by the test. On an idle machine one
// worker tends to accept nearly everything; the tests that need clients on
// given workers (walk-through over WebSocket, kill, slow reader) listen with
// `reuseport` (the kernel spreads connections by their ports), the others use
// nginx's default. The worker holding a WebSocket session is found with the
// status page: the worker whose `events_in` grows when the client sends one
// event.
//
// `$socketio_worker` is nginx's worker number (ngx_worker); the status page's
// `worker` is the slot the worker holds in the zone. They need not agree.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import nodeHttp from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { io } from 'socket.io-client';
import { startServer, isReference, nginxSignal, children, workerPids, waitGone } from './lib/server.js';
import { http, freshRequest, pollingHandshake, sleep, withTimeout, eioUrl, WsClient } from './lib/helpers.js';
import { Peer, keyOf, show } from './lib/peer.js';

const PATH = '/socket.io/';
const SKIP = isReference ? 'several workers, the zone and the status page are nginx-only' : false;
const WORKERS = 4;
const WAIT_MS = 8000; // for anything that must happen
const QUIET_MS = 400; // after the last expected event, for what must not
const LOG_FORMAT = "log_format sio '$socketio_worker $socketio_transport $socketio_sid $request_method $status';";
const CLEAN_REASONS = ['transport close', 'transport error', 'io server disconnect'];

const TRANSPORTS = [
  ['polling', ['polling']],
  ['websocket', ['websocket']],
  ['default (polling upgraded to websocket)', undefined],
];

/**
 * A chat server on 4 workers, production heartbeats, the `sio` access log
 * (`<prefix>/sio.log`) and the status page at /status.
 */
function startChat({ zone, extraServerConfig = '', ...opts } = {}) {
  return startServer({
    path: PATH,
    handler: 'chat',
    workers: WORKERS,
    pingInterval: 25000,
    pingTimeout: 20000,
    connectTimeout: 45000,
    extraHttpConfig: LOG_FORMAT,
    extraServerConfig: [
      'access_log sio.log sio;',
      `location = /status { socketio_status${zone ? ` ${zone}` : ''}; }`,
      extraServerConfig,
    ].join('\n        '),
    ...opts,
  });
}

/** The status page: parsed JSON, or {text, type} for ?format=prometheus. */
async function status(server, format) {
  const res = await http(`${server.url}/status${format ? `?format=${format}` : ''}`, { timeout: 5000 });
  const text = await res.text();
  assert.equal(res.status, 200, `status page: ${text}`);
  if (format) return { text, type: res.headers.get('content-type') };
  return JSON.parse(text);
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** Re-reads the status page until pred(status) holds; returns that status. */
async function statusUntil(server, pred, what, timeout = WAIT_MS) {
  const t0 = Date.now();
  let st;
  for (;;) {
    st = await status(server);
    if (pred(st)) return st;
    if (Date.now() - t0 > timeout) {
      assert.fail(`status page: ${what} not reached in ${timeout} ms: ${JSON.stringify(brief(st))}`);
    }
    await sleep(100);
  }
}

/** The status page without its counters, for messages. */
function brief(st) {
  return {
    sessions: st.sessions,
    users: st.users,
    refused: st.refused,
    workers: st.workers.map((w) => ({
      worker: w.worker, state: w.state, pid: w.pid, sessions: w.sessions, polling: w.polling, websocket: w.websocket,
    })),
  };
}

/** The `sio` access log: [{worker, transport, sid, method, status}]. */
function accessLog(server) {
  let text = '';
  try {
    text = fs.readFileSync(path.join(server.prefix, 'sio.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [worker, transport, sid, method, st] = line.split(' ');
      return { worker, transport, sid, method, status: Number(st) };
    });
}

/** Waits until the master has `n` workers not in `old` (and not shutting down); resolves with their pids. */
async function waitNewWorkers(server, old, n, timeout = WAIT_MS) {
  const t0 = Date.now();
  for (;;) {
    const fresh = children(server)
      .filter((c) => !old.includes(c.pid) && /worker process$/.test(c.title))
      .map((c) => c.pid);
    if (fresh.length >= n) return fresh;
    if (Date.now() - t0 > timeout) {
      throw new Error(`no ${n} new workers after ${timeout} ms: ${JSON.stringify(children(server))}`);
    }
    await sleep(50);
  }
}

/** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Which process holds each established connection to the server: "client port -> pid" lines. */
function tcpOwners(server) {
  try {
    const out = execFileSync('ss', ['-tnpH', 'state', 'established', `sport = :${server.port}`], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean).map((l) => {
      const peerPort = /127\.0\.0\.1:(\d+)\s+users/.exec(l)?.[1] ?? l.split(/\s+/)[3];
      return `${peerPort} -> ${(l.match(/pid=(\d+)/g) ?? []).join(',')}`;
    }).join('; ');
  } catch (err) {
    return `ss: ${err.message}`;
  }
}

/**
 * Stops the server (which fails on [alert], [crit] or a crashed worker). When
 * the test failed already, a problem found at stop is printed, not thrown, so
 * that it does not hide the first failure.
 */
async function finish(server, ok) {
  await sleep(250); // the clients' last requests (close packets) land first
  try {
    await server.stop();
  } catch (err) {
    if (ok) throw err;
    console.error(`also, at stop: ${err.message}`);
  }
}

const alertLines = (log) => log.split('\n').filter((l) => /\[alert\]|\[crit\]|\[emerg\]|exited on signal/.test(l));

/** Polls pred() until it holds (bounded). */
async function until(pred, what, timeout = WAIT_MS, every = 20) {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeout) throw new Error(`timeout after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

// --- clients ---------------------------------------------------------------

/** A socket.io-client Peer (not awaited). */
function peer(server, label, transports, extra = {}) {
  const p = Peer.open(server, PATH, label, transports, { waitMs: WAIT_MS, ...extra });
  p.transports = transports;
  return p;
}

/** Resolves once the peer is connected (or rejects on connect_error). */
function connected(p, timeout = WAIT_MS) {
  if (p.socket.connected) return Promise.resolve(p);
  return withTimeout(
    new Promise((resolve, reject) => {
      p.socket.once('connect', () => resolve(p));
      p.socket.once('connect_error', (err) => reject(new Error(`${p.label}: connect_error ${err.message}`)));
    }),
    timeout,
    `${p.label} to connect`,
  );
}

/** Resolves once a default-transport peer runs on WebSocket. */
async function upgraded(p) {
  const engine = p.socket.io.engine;
  if (engine.transport.name === 'websocket') return;
  await withTimeout(new Promise((r) => engine.once('upgrade', r)), WAIT_MS, `${p.label} to upgrade`);
}

async function settleAll(peers) {
  await Promise.all(peers.map((p) => p.settle()));
}

async function quiet(peers) {
  await settleAll(peers);
  await sleep(QUIET_MS);
  for (const p of peers) p.final();
}

/** The users list; asserts its shape and that keys are unique. */
async function usersOf(p) {
  const res = await p.ack('users');
  assert.equal(res.length, 1, `users ack has one argument: ${show(res)}`);
  const [list] = res;
  assert.ok(Array.isArray(list), `users ack is an array: ${show(list)}`);
  for (const u of list) {
    assert.deepEqual(Object.keys(u).sort(), ['key', 'name'], `user entry ${show(u)}`);
    assert.equal(typeof u.key, 'string');
    assert.ok(u.key.length > 0);
  }
  const keys = list.map((u) => u.key);
  assert.equal(new Set(keys).size, keys.length, `keys are unique: ${show(list)}`);
  return list;
}

const sortUsers = (list) => [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/**
 * The worker holding a WebSocket-borne session: the one whose `events_in`
 * grows when the peer sends one event (the server must be otherwise quiet).
 */
async function workerOf(server, p) {
  // Another client's late packet (a disconnect still on its way) can grow a
  // second worker's counter during one reading: read again until one worker
  // alone grew.
  let grew = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await status(server);
    await p.ack('users');
    const after = await status(server);
    grew = after.workers.filter((w) => {
      const b = before.workers.find((x) => x.worker === w.worker && x.pid === w.pid);
      return w.events_in > (b ? b.events_in : 0);
    });
    if (grew.length === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(grew.length, 1, `${p.label}: one worker read its event: ${show(grew.map((w) => w.worker))}`);
  return grew[0];
}

/**
 * k peers held by k different workers (WebSocket or upgraded): peers are
 * connected in bursts of 4 at once until k workers are covered; the others
 * are disconnected. Resolves with [{peer, worker}].
 */
async function onDistinctWorkers(server, k, make) {
  const chosen = new Map(); // worker -> peer
  for (let burst = 0; burst < 8 && chosen.size < k; burst++) {
    const batch = Array.from({ length: 4 }, (_, i) => make(burst * 4 + i));
    await Promise.all(batch.map((p) => connected(p)));
    await Promise.all(batch.map((p) => upgraded(p)));
    const spare = [];
    for (const p of batch) {
      const w = await workerOf(server, p);
      if (!chosen.has(w.worker) && chosen.size < k) {
        chosen.set(w.worker, p);
      } else {
        spare.push(p);
      }
    }
    // disconnected only after the batch was measured, so their goodbyes do
    // not count as a candidate's event
    for (const p of spare) p.disconnect();
  }
  assert.equal(chosen.size, k, `clients on ${k} different workers`);
  return [...chosen].map(([worker, p]) => ({ worker, peer: p }));
}

/** What a recipient of the given dialect gets for a post. */
function delivery(dialect, sender, text) {
  switch (dialect) {
    case 'events':
      return ['new chat msg', { key: sender.key, sender: sender.name, message: text }];
    case 'demo':
      return ['new message', { username: sender.name, message: text }];
    default:
      return ['message', `${sender.name}: ${text}`];
  }
}

// ---------------------------------------------------------------------------

describe('4 workers: the seed 000 walk-through', { skip: SKIP }, () => {
  for (const [label, transports] of TRANSPORTS) {
    it(`Mark and Tami over ${label}`, { timeout: 40000 }, async (t) => {
      const server = await startChat({ reuseport: transports?.[0] !== 'polling' });
      const peers = [];
      let ok = false;
      try {
        let mark;
        let tami;
        if (transports && transports[0] === 'polling') {
          // every request may land on any worker anyway
          mark = peer(server, 'Mark', transports);
          tami = peer(server, 'Tami', transports);
          await Promise.all([connected(mark), connected(tami)]);
        } else {
          // Mark and Tami held by two different workers
          const two = await onDistinctWorkers(server, 2, (i) => peer(server, `candidate ${i}`, transports));
          [mark, tami] = two.map((x) => x.peer);
          mark.label = 'Mark';
          tami.label = 'Tami';
          t.diagnostic(`Mark on worker ${two[0].worker}, Tami on worker ${two[1].worker}`);
          // the probes ("users") gave no events
          mark.got.length = 0;
          tami.got.length = 0;
        }
        peers.push(mark, tami);

        assert.deepEqual(await mark.ack('message', 'Hello'), ['must login first']);
        assert.deepEqual(await mark.ack('login', 'Mark'), ['Welcome Mark!']);
        assert.deepEqual(await mark.ack('message', 'Hello'), ['received "Hello"']);
        tami.expect(['message', 'Mark: Hello']);
        await tami.settle();
        assert.deepEqual(await tami.ack('login', 'Tami'), ['Welcome Tami!']);
        assert.deepEqual(await tami.ack('message', 'Where are you?'), ['received "Where are you?"']);
        mark.expect(['message', 'Tami: Where are you?']);
        await quiet(peers);

        for (const p of peers) {
          assert.equal(p.socket.io.engine.transport.name, transports ? transports[0] : 'websocket');
          assert.deepEqual(p.disconnects, []);
        }
        if (transports && transports[0] === 'polling') {
          const sids = new Set(peers.map((p) => p.socket.io.engine.id));
          const workers = new Set(accessLog(server).filter((l) => sids.has(l.sid)).map((l) => l.worker));
          t.diagnostic(`Mark's and Tami's requests were served by workers ${[...workers].sort().join(', ')}`);
        }
        ok = true;
      } finally {
        for (const p of peers) p.disconnect();
        await finish(server, ok);
      }
    });
  }
});

describe('4 workers: the chat contract in short form', { skip: SKIP }, () => {
  it('seeds 000, 001, 003 and demo clients at once: every post once per other socket, in its dialect; users, numUsers and keys count the whole server', { timeout: 60000 }, async (t) => {
    // reuseport: the kernel spreads the clients over the workers, where
    // without it one idle worker may take them all
    const server = await startChat({ reuseport: true, extraLocationDirectives: 'socketio_chat_relay tweet;' });
    const peers = [];
    let ok = false;
    try {
      const kinds = [['polling'], ['websocket'], undefined];
      const named = [];
      for (const dialect of ['seed000', 'seed001', 'seed003', 'demo']) {
        kinds.forEach((transports, i) => {
          const name = `${dialect === 'demo' ? 'Demo' : dialect.replace('seed', 'S')}-${i} ✓`;
          const p = peer(server, `${dialect} ${name} (${transports ? transports[0] : 'default'})`, transports);
          p.name = name;
          p.door = dialect;
          p.dialect = dialect === 'seed003' ? 'events' : dialect === 'demo' ? 'demo' : 'classic';
          named.push(p);
        });
      }
      const watchers = kinds.map((transports, i) => {
        const p = peer(server, `unnamed watcher ${i}`, transports);
        p.dialect = 'classic';
        return p;
      });
      // interleaved so that a concurrent burst spreads them over the workers
      const all = [];
      for (let i = 0; i < named.length; i++) {
        all.push(named[i]);
        if (i % 4 === 3) all.push(watchers[(i - 3) / 4]);
      }
      peers.push(...all);
      await Promise.all(all.map((p) => connected(p)));
      await Promise.all(all.filter((p) => !p.transports).map((p) => upgraded(p)));
      const st0 = await statusUntil(server, (s) => s.sessions === all.length, `${all.length} sessions`);
      const busy = st0.workers.filter((w) => w.sessions > 0);
      t.diagnostic(`sessions per worker: ${show(st0.workers.map((w) => w.sessions))}`);
      assert.ok(busy.length >= 2, `sessions held by at least 2 workers: ${show(brief(st0))}`);
      const watcher = watchers[1];

      // everyone gets a name, one at a time, through their own door
      const seen = [];
      for (const p of named) {
        switch (p.door) {
          case 'seed000':
            assert.deepEqual(await p.ack('login', p.name), [`Welcome ${p.name}!`]);
            break;
          case 'seed001':
            p.socket.send(p.name);
            p.expect(['message', `Welcome ${p.name}!`]);
            await p.settle();
            break;
          case 'seed003': {
            const [key] = await p.ack('join', { name: p.name });
            assert.equal(typeof key, 'string');
            p.key = key;
            break;
          }
          default:
            p.emit('add user', p.name);
            p.expect(['login', { numUsers: seen.length + 1 }]);
            await p.settle();
        }
        const list = await usersOf(watcher);
        const mine = list.filter((u) => u.name === p.name);
        assert.equal(mine.length, 1, `one user named ${p.name} in ${show(list)}`);
        if (p.key) assert.equal(mine[0].key, p.key, 'the join ack is the key');
        p.key = mine[0].key;
        for (const q of seen) {
          if (q.dialect === 'events') q.expect(['user connected', { key: p.key, name: p.name }]);
          if (q.dialect === 'demo') q.expect(['user joined', { username: p.name, numUsers: seen.length + 1 }]);
        }
        seen.push(p);
        await settleAll(peers);
      }
      const list = await usersOf(named[7]);
      assert.deepEqual(sortUsers(list), sortUsers(named.map((p) => ({ key: p.key, name: p.name }))));
      assert.equal(new Set(named.map((p) => p.key)).size, named.length, 'keys are unique');
      assert.equal((await status(server)).users, named.length);

      // every named socket posts twice, all at once
      const posts = [];
      for (const p of named) {
        for (let k = 1; k <= 2; k++) {
          const text = `post ${k} from ${p.name}: "quoted", é, 😀`;
          posts.push({ sender: p, text });
          if (p.door === 'seed000') {
            posts.at(-1).sent = p.ack('message', text).then((r) => assert.deepEqual(r, [`received "${text}"`]));
          } else if (p.door === 'demo') {
            p.emit('new message', text);
          } else {
            p.socket.send(text);
          }
        }
      }
      await Promise.all(posts.map((x) => x.sent));
      for (const r of peers) {
        r.expectAnyOrder(...posts.filter((x) => x.sender !== r).map((x) => delivery(r.dialect, x.sender, x.text)));
      }
      await settleAll(peers);
      // each sender's two posts keep their order everywhere
      for (const r of peers) {
        for (const s of named) {
          if (r === s) continue;
          const mine = r.got
            .map((e) => (e[0] === 'message' ? e[1] : e[1]?.message))
            .filter((x) => typeof x === 'string' && x.includes(`from ${s.name}:`));
          assert.equal(mine.length, 2, `${r.label} got 2 posts of ${s.name}`);
          assert.ok(mine[0].includes('post 1') && mine[1].includes('post 2'), `${r.label}: order of ${s.name}'s posts ${show(mine)}`);
        }
      }

      // typing: demo sockets other than the sender
      const demos = named.filter((p) => p.dialect === 'demo');
      demos[0].emit('typing');
      for (const d of demos.slice(1)) d.expect(['typing', { username: demos[0].name }]);
      await settleAll(peers);

      // a private message to a user on (most likely) another worker
      const from = named.find((p) => p.door === 'seed003');
      for (const to of [demos[2], named[0]]) {
        assert.deepEqual(await from.ack('private message', { to: to.key, message: `psst ${to.name}` }), ['sent']);
        to.expect(['private message', { from: { key: from.key, name: from.name }, message: `psst ${to.name}` }]);
      }
      await settleAll(peers);

      // a relayed event
      watchers[0].emit('tweet', { text: 'relayed', n: 1 });
      for (const r of peers) if (r !== watchers[0]) r.expect(['tweet', { text: 'relayed', n: 1 }]);
      await settleAll(peers);

      // leaving: one of each door, one at a time
      let count = named.length;
      const leaving = ['seed000', 'seed001', 'seed003', 'demo'].map((d) => named.find((p) => p.door === d && p !== from && p !== demos[0]));
      const gone = new Set();
      for (const p of leaving) {
        p.disconnect();
        gone.add(p);
        count--;
        for (const q of named) {
          if (gone.has(q)) continue;
          if (q.dialect === 'events') q.expect(['user disconnected', p.key]);
          if (q.dialect === 'demo') q.expect(['user left', { username: p.name, numUsers: count }]);
        }
        await settleAll(peers.filter((q) => !gone.has(q)));
      }
      const left = named.filter((p) => !gone.has(p));
      assert.deepEqual(sortUsers(await usersOf(watcher)), sortUsers(left.map((p) => ({ key: p.key, name: p.name }))));
      await statusUntil(server, (s) => s.users === left.length && s.sessions === peers.length - gone.size,
        `${left.length} users and ${peers.length - gone.size} sessions`);

      // a demo client coming now is told the whole server's count
      const late = peer(server, 'late demo', ['websocket']);
      peers.push(late);
      await connected(late);
      late.emit('add user', 'Late');
      late.expect(['login', { numUsers: left.length + 1 }]);
      for (const q of left) {
        if (q.dialect === 'demo') q.expect(['user joined', { username: 'Late', numUsers: left.length + 1 }]);
        if (q.dialect === 'events') q.expect(['user connected', { key: (await keyWhenListed(watcher, 'Late')), name: 'Late' }]);
      }
      await quiet(peers.filter((q) => !gone.has(q)));
      for (const p of peers) if (!gone.has(p)) assert.deepEqual(p.disconnects, [], `${p.label} stayed connected`);
      ok = true;
    } finally {
      for (const p of peers) p.disconnect();
      await finish(server, ok);
    }
  });
});

/** The key of the user named `name`, once listed. */
async function keyWhenListed(p, name) {
  let key;
  await until(async () => {
    const list = await usersOf(p);
    key = list.find((u) => u.name === name)?.key;
    return key !== undefined;
  }, `${name} in the users list`, p.waitMs);
  return key;
}

describe('4 workers: a polling session crosses workers', { skip: SKIP }, () => {
  it('requests of one sid are served by several workers, nothing lost, duplicated or reordered', { timeout: 60000 }, async (t) => {
    const server = await startChat();
    // a fresh TCP connection for every request
    const agent = new nodeHttp.Agent({ keepAlive: false });
    const peers = [];
    const N = 6;
    const POSTS = 15;
    let ok = false;
    try {
      for (let i = 0; i < N; i++) {
        const p = peer(server, `P${i}`, ['polling'], { agent });
        p.name = `P${i}`;
        peers.push(p);
      }
      await Promise.all(peers.map((p) => connected(p)));
      const sids = new Map(peers.map((p) => [p.socket.io.engine.id, p]));
      await Promise.all(peers.map(async (p) => assert.deepEqual(await p.ack('login', p.name), [`Welcome ${p.name}!`])));

      // everyone numbers its posts and sends them without waiting
      const acks = peers.map((p) =>
        Promise.all(Array.from({ length: POSTS }, (_, k) => p.ack('message', `#${k}`))).then((res) =>
          assert.deepEqual(res, Array.from({ length: POSTS }, (_, k) => [`received "#${k}"`]))),
      );
      await Promise.all(acks);
      const want = (N - 1) * POSTS;
      await Promise.all(peers.map((p) => p.until(() => p.got.length >= want, `${want} posts`, 20000)));
      await sleep(QUIET_MS);
      for (const r of peers) {
        assert.equal(r.got.length, want, `${r.label}: nothing duplicated or unexpected: ${show(r.got)}`);
        for (const s of peers) {
          const nums = r.got
            .filter((e) => e[0] === 'message' && e[1].startsWith(`${s.name}: #`))
            .map((e) => Number(e[1].slice(s.name.length + 3)));
          if (r === s) {
            assert.deepEqual(nums, [], `${r.label} never gets its own posts`);
          } else {
            assert.deepEqual(nums, Array.from({ length: POSTS }, (_, k) => k), `${r.label}: ${s.name}'s posts, once each, in order`);
          }
        }
        assert.deepEqual(r.disconnects, [], `${r.label} stayed connected`);
        assert.equal(r.socket.io.engine.id, [...sids].find(([, p]) => p === r)[0], `${r.label} kept its session`);
      }

      // the access log: which workers served each session
      for (const p of peers) p.disconnect();
      await statusUntil(server, (s) => s.sessions === 0, 'no session left');
      await sleep(200);
      const lines = accessLog(server).filter((l) => sids.has(l.sid));
      const per = new Map();
      for (const l of lines) {
        if (!per.has(l.sid)) per.set(l.sid, { workers: new Set(), requests: 0, bad: [] });
        const e = per.get(l.sid);
        e.workers.add(l.worker);
        e.requests++;
        if (l.status !== 200) e.bad.push(`${l.worker} ${l.method} ${l.status}`);
        assert.equal(l.transport, 'polling');
      }
      for (const [sid, e] of per) {
        t.diagnostic(`${sids.get(sid).label} (${sid}): ${e.requests} requests on workers ${[...e.workers].sort().join(',')}`);
        assert.deepEqual(e.bad, [], `${sids.get(sid).label}: every request answered 200`);
      }
      assert.equal(per.size, N, 'every session is in the access log');
      const crossing = [...per.values()].filter((e) => e.workers.size >= 2).length;
      assert.ok(crossing >= 1, 'at least one session was served by 2 workers or more');
      assert.ok(crossing >= N / 2, `most sessions were served by 2 workers or more (${crossing} of ${N})`);
      const st = await status(server);
      assert.ok(sum(st.workers.map((w) => w.forwarded)) > 0, 'requests were carried to the owning worker');
      ok = true;
    } finally {
      for (const p of peers) p.disconnect();
      agent.destroy();
      await finish(server, ok);
    }
  });
});

describe('4 workers: one server for many clients', { skip: SKIP }, () => {
  let server;
  before(async () => {
    server = await startChat();
  });
  after(async () => {
    await server?.stop();
  });

  it('the status page: JSON and Prometheus agree with the clients', { timeout: 30000 }, async () => {
    const peers = [];
    try {
      const kinds = [['polling'], ['websocket'], undefined];
      for (let i = 0; i < 12; i++) peers.push(peer(server, `c${i}`, kinds[i % 3]));
      await Promise.all(peers.map((p) => connected(p)));
      await Promise.all(peers.filter((p, i) => i % 3 === 2).map((p) => upgraded(p)));
      // 8 named through three doors, 4 unnamed
      for (let i = 0; i < 8; i++) {
        const p = peers[i];
        if (i % 3 === 0) assert.deepEqual(await p.ack('login', `n${i}`), [`Welcome n${i}!`]);
        else if (i % 3 === 1) await p.ack('join', { name: `n${i}` });
        else {
          p.emit('add user', `n${i}`);
          await p.until(() => p.got.some((e) => e[0] === 'login'), 'login');
        }
      }
      const st = await statusUntil(server, (s) => s.sessions === 12 && s.users === 8
        && sum(s.workers.map((w) => w.sessions)) === 12, '12 sessions and 8 users');

      // JSON
      assert.equal(st.zone, 'socketio');
      const pids = workerPids(server).sort();
      assert.equal(st.workers.length, WORKERS, show(brief(st)));
      assert.deepEqual(st.workers.map((w) => w.pid).sort(), pids, 'the workers are the master\'s children');
      for (const w of st.workers) {
        assert.equal(w.state, 'alive');
        for (const k of ['worker', 'generation', 'sessions', 'polling', 'websocket', 'handshakes', 'events_in',
          'packets_out', 'bytes_in', 'bytes_out', 'broadcasts', 'forwarded', 'migrated']) {
          assert.ok(Number.isInteger(w[k]) && w[k] >= 0, `worker ${w.worker}: ${k} = ${w[k]}`);
        }
        assert.equal(w.polling + w.websocket, w.sessions, `worker ${w.worker}: polling + websocket = sessions`);
        assert.equal(typeof w.disconnects, 'object');
      }
      assert.equal(new Set(st.workers.map((w) => w.worker)).size, WORKERS, 'worker numbers are unique');
      assert.equal(sum(st.workers.map((w) => w.sessions)), st.sessions);
      assert.equal(sum(st.workers.map((w) => w.polling)), 4, 'the polling clients');
      assert.equal(sum(st.workers.map((w) => w.websocket)), 8, 'the WebSocket and upgraded clients');
      assert.ok(sum(st.workers.map((w) => w.handshakes)) >= 12);
      assert.ok(sum(st.workers.map((w) => w.migrated)) >= 0);
      assert.equal(st.users, 8);
      assert.equal(st.refused, 0);
      assert.equal(st.bytes.total, st.bytes.used + st.bytes.free);
      assert.ok(st.bytes.total > 30 * 1024 * 1024, 'the default zone is 32m');
      assert.ok(st.capacity.sessions > 1000 && st.capacity.users > 1000, show(st.capacity));
      assert.ok(st.log.capacity > 0 && st.log.used >= 0 && st.log.full === 0, show(st.log));
      assert.equal((await usersOf(peers[11])).length, 8);

      // Prometheus
      const prom = await status(server, 'prometheus');
      assert.match(prom.type, /^text\/plain/);
      const samples = new Map();
      const typed = new Set();
      for (const line of prom.text.split('\n')) {
        if (line === '') continue;
        let m = /^# (HELP|TYPE) (socketio_[a-z_]+) (.+)$/.exec(line);
        if (m) {
          if (m[1] === 'TYPE') {
            assert.ok(['gauge', 'counter'].includes(m[3]), line);
            typed.add(m[2]);
          }
          continue;
        }
        m = /^(socketio_[a-z_]+)\{([^}]*)\} (\d+)$/.exec(line);
        assert.ok(m, `a Prometheus sample: ${JSON.stringify(line)}`);
        const labels = Object.fromEntries(m[2].split(',').map((kv) => {
          const lm = /^([a-z_]+)="([^"]*)"$/.exec(kv);
          assert.ok(lm, `a label: ${kv}`);
          return [lm[1], lm[2]];
        }));
        assert.equal(labels.zone, 'socketio');
        assert.ok(typed.has(m[1]), `${m[1]} has a TYPE line before its samples`);
        if (!samples.has(m[1])) samples.set(m[1], []);
        samples.get(m[1]).push({ labels, value: Number(m[3]) });
      }
      assert.equal(sum(samples.get('socketio_sessions').map((s) => s.value)), 12);
      assert.equal(samples.get('socketio_sessions').length, WORKERS);
      assert.equal(samples.get('socketio_users')[0].value, 8);
      assert.equal(samples.get('socketio_zone_sessions')[0].value, 12);
      for (const name of ['socketio_polling', 'socketio_websocket', 'socketio_handshakes_total',
        'socketio_disconnects_total', 'socketio_zone_bytes', 'socketio_refused_total']) {
        assert.ok(samples.has(name), `${name} is exported`);
      }

      // fewer users when named clients leave
      peers[0].disconnect();
      peers[1].disconnect();
      peers[8].disconnect();
      await statusUntil(server, (s) => s.sessions === 9 && s.users === 6
        && sum(s.workers.map((w) => w.sessions)) === 9, '9 sessions and 6 users');
    } finally {
      for (const p of peers) p.disconnect();
    }
  });

  it('300 clients (polling, WebSocket, upgrade), each posts twice: every post reaches each of the 299 others once', { timeout: 150000 }, async (t) => {
    const N = 300;
    const kinds = [['polling'], ['websocket'], undefined];
    const agent = new nodeHttp.Agent({ keepAlive: false });
    const clients = [];
    const t0 = Date.now();
    try {
      await statusUntil(server, (s) => s.sessions === 0, 'no session from the previous test');
      for (let b = 0; b < N; b += 25) {
        const batch = [];
        for (let i = b; i < Math.min(N, b + 25); i++) {
          const transports = kinds[i % 3];
          const socket = io(server.url, {
            path: PATH,
            forceNew: true,
            reconnection: false,
            timeout: 30000,
            agent,
            ...(transports ? { transports } : {}),
          });
          const c = { i, name: `N${i}`, socket, counts: new Map(), other: [], disconnects: [] };
          socket.on('message', (m) => c.counts.set(m, (c.counts.get(m) ?? 0) + 1));
          socket.onAny((event, ...args) => {
            if (event !== 'message') c.other.push([event, ...args]);
          });
          socket.on('disconnect', (r) => c.disconnects.push(r));
          clients.push(c);
          batch.push(withTimeout(new Promise((resolve, reject) => {
            socket.once('connect', resolve);
            socket.once('connect_error', (err) => reject(new Error(`client ${i}: ${err.message}`)));
          }), 30000, `client ${i} to connect`));
        }
        await Promise.all(batch);
      }
      t.diagnostic(`${N} connected in ${Date.now() - t0} ms`);
      const ack = (c, ...args) => withTimeout(
        new Promise((resolve) => c.socket.emit(...args, (...r) => resolve(r))), 30000, `client ${c.i}: ack of ${args[0]}`);
      await Promise.all(clients.map(async (c) => assert.deepEqual(await ack(c, 'login', c.name), [`Welcome ${c.name}!`])));
      const st = await statusUntil(server, (s) => s.users === N && s.sessions === N, `${N} users and sessions`, 15000);
      t.diagnostic(`${N} named in ${Date.now() - t0} ms; sessions per worker ${show(st.workers.map((w) => w.sessions))}`);
      assert.ok(st.workers.filter((w) => w.sessions > 0).length >= 2, 'several workers hold sessions');
      assert.equal((await ack(clients[0], 'users'))[0].length, N);

      const tPost = Date.now();
      await Promise.all(clients.flatMap((c) => [1, 2].map(async (k) => {
        const text = `post ${k}`;
        assert.deepEqual(await ack(c, 'message', text), [`received "${text}"`]);
      })));
      const want = 2 * (N - 1);
      await until(() => clients.every((c) => c.counts.size >= want), 'every post delivered', 90000, 50).catch((err) => {
        const short = clients.filter((c) => c.counts.size < want).map((c) => `${c.name}: ${c.counts.size}`);
        throw new Error(`${err.message}; short: ${short.slice(0, 10).join(', ')} (${short.length} clients)`);
      });
      t.diagnostic(`${N * want} deliveries in ${Date.now() - tPost} ms`);
      await sleep(500);
      for (const c of clients) {
        assert.equal(c.counts.size, want, `${c.name} got ${c.counts.size} distinct posts`);
        for (const [m, n] of c.counts) assert.equal(n, 1, `${c.name} got ${JSON.stringify(m)} ${n} times`);
        assert.ok(!c.counts.has(`${c.name}: post 1`) && !c.counts.has(`${c.name}: post 2`), `${c.name} never gets its own posts`);
        assert.deepEqual(c.other, [], `${c.name}: only posts`);
        assert.deepEqual(c.disconnects, [], `${c.name} stayed connected`);
      }
      // spot check: the exact texts
      for (const c of [clients[0], clients[150], clients[299]]) {
        for (const o of clients) {
          if (o === c) continue;
          assert.ok(c.counts.has(`${o.name}: post 1`) && c.counts.has(`${o.name}: post 2`), `${c.name} got ${o.name}'s posts`);
        }
      }
    } finally {
      for (const c of clients) c.socket.disconnect();
      agent.destroy();
    }
    t.diagnostic(`total ${Date.now() - t0} ms`);
  });

  it('idle: after every client left, the workers use (almost) no CPU', { timeout: 30000 }, async (t) => {
    // a little traffic first, then everybody leaves
    const peers = [['polling'], ['websocket'], undefined].map((tr, i) => peer(server, `idle ${i}`, tr));
    await Promise.all(peers.map((p) => connected(p)));
    await Promise.all(peers.map((p, i) => p.ack('login', `idle${i}`)));
    await peers[0].ack('message', 'bye');
    for (const p of peers) p.disconnect();
    await statusUntil(server, (s) => s.sessions === 0 && s.users === 0, 'no session and no user', 15000);
    await sleep(1000);
    const pids = workerPids(server);
    assert.equal(pids.length, WORKERS);
    const before = pids.map(cpuTicks);
    await sleep(3000);
    const afterTicks = pids.map(cpuTicks);
    const grew = afterTicks.map((x, i) => x - before[i]);
    t.diagnostic(`CPU ticks used by each worker in 3 s: ${grew.join(', ')}`);
    assert.ok(sum(grew) <= 2, `the idle workers used ${sum(grew)} ticks in 3 s (${grew.join(', ')})`);
  });
});

describe('4 workers: kill -9 of a worker', { skip: SKIP }, () => {
  // This test checks what happens, with generous bounds (30 s) and a 5 s
  // heartbeat: a session a client gave up on while reconnecting is gone 10 s
  // later, and whatever waits for a heartbeat waits 5 s, not 25. The next
  // test checks that it happens at once.
  it('its clients come back, the others are told its users left and chat on; a new worker joins', { timeout: 90000 }, async (t) => {
    const server = await startChat({
      reuseport: true, pingInterval: 5000, pingTimeout: 5000, allowLog: [/worker process \d+ exited on signal 9/],
    });
    const peers = [];
    let ok = false;
    try {
      const doors = ['demo', 'seed003', 'seed000'];
      // 15 clients at once (WebSocket and upgraded), reconnecting
      for (let i = 0; i < 15; i++) {
        const p = peer(server, `k${i}`, i % 2 ? ['websocket'] : undefined, {
          reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300, randomizationFactor: 0,
        });
        p.name = `K${i}`;
        p.door = doors[i % 3];
        p.dialect = p.door === 'seed003' ? 'events' : p.door === 'demo' ? 'demo' : 'classic';
        peers.push(p);
      }
      await Promise.all(peers.map((p) => connected(p)));
      await Promise.all(peers.map((p) => upgraded(p)));
      const name = async (p) => {
        if (p.door === 'seed000') assert.deepEqual(await p.ack('login', p.name), [`Welcome ${p.name}!`]);
        else if (p.door === 'seed003') p.key = (await p.ack('join', { name: p.name }))[0];
        else {
          const n = p.got.length;
          p.emit('add user', p.name);
          await p.until(() => p.got.slice(n).some((e) => e[0] === 'login'), 'login');
        }
      };
      for (const p of peers) await name(p);
      const keys = new Map((await usersOf(peers[0])).map((u) => [u.name, u.key]));
      for (const p of peers) p.key = keys.get(p.name);
      for (const p of peers) {
        p.worker = (await workerOf(server, p)).worker;
        p.port = p.socket.io.engine.transport.ws?._socket?.localPort;
      }

      const st = await statusUntil(server, (s) => s.sessions === 15 && s.users === 15, '15 sessions and users');
      const byWorker = new Map();
      for (const p of peers) byWorker.set(p.worker, [...(byWorker.get(p.worker) ?? []), p]);
      t.diagnostic(`clients per worker: ${show([...byWorker].map(([w, ps]) => [w, ps.length]))}`);
      assert.ok(byWorker.size >= 2, 'clients on at least 2 workers');
      for (const w of st.workers) assert.equal(w.sessions, byWorker.get(w.worker)?.length ?? 0, `worker ${w.worker}'s sessions`);
      // the victim: a worker holding clients, not all of them
      const [victimSlot, victims] = [...byWorker].sort((a, b) => b[1].length - a[1].length).find(([, ps]) => ps.length < 15);
      const victimPid = st.workers.find((w) => w.worker === victimSlot).pid;
      const survivors = peers.filter((p) => !victims.includes(p));
      const oldPids = workerPids(server);
      assert.ok(oldPids.includes(victimPid));
      for (const p of peers) p.mark = p.got.length;
      const logBefore = server.errorLog().length;

      const tKill = Date.now();
      process.kill(victimPid, 'SIGKILL');
      for (const p of peers) p.waitMs = 30000;

      // the victims disconnect and come back (unnamed)
      await Promise.all(victims.map((p) => p.until(() => p.connects >= 2 && p.socket.connected, 'to reconnect', 30000)))
        .catch((err) => {
          const state = peers.map((p) => `${p.label}${victims.includes(p) ? ' (victim)' : ''}: worker ${p.worker} port ${p.port} ` +
            `${p.socket.connected ? 'connected' : 'not connected'} on ${p.socket.io.engine?.transport?.name}, ` +
            `${p.connects} connects, disconnects ${show(p.disconnects)}`);
          throw new Error(`${err.message}\n${state.join('\n')}\n${tcpOwners(server)}`);
        });
      t.diagnostic(`the killed worker's clients were back ${Date.now() - tKill} ms after the kill`);
      for (const p of victims) assert.ok(CLEAN_REASONS.includes(p.disconnects[0]), `${p.label}: reason ${p.disconnects[0]}`);
      // a new worker
      const fresh = await waitNewWorkers(server, oldPids, 1);
      assert.equal(workerPids(server).length, WORKERS, 'nginx runs 4 workers again');
      t.diagnostic(`killed worker ${victimSlot} (pid ${victimPid}, ${victims.length} clients); new worker pid ${fresh}`);

      // the others are told, once, in their dialect; numUsers counts the rest
      const final = survivors.length;
      for (const q of survivors) {
        const expected = victims.filter(() => q.dialect !== 'classic').map((v) =>
          q.dialect === 'events' ? ['user disconnected', v.key] : ['user left', v.name]);
        await q.until(() => {
          const got = q.got.slice(q.mark).filter((e) => e[0] === 'user left' || e[0] === 'user disconnected');
          return got.length >= expected.length;
        }, `${expected.length} departures`, 30000);
      }
      t.diagnostic(`the others were told ${Date.now() - tKill} ms after the kill`);
      await sleep(QUIET_MS);
      for (const q of survivors) {
        const got = q.got.slice(q.mark);
        if (q.dialect === 'classic') {
          assert.deepEqual(got, [], `${q.label} (classic) is told nothing`);
        } else if (q.dialect === 'events') {
          assert.deepEqual(got.map((e) => e[1]).sort(), victims.map((v) => v.key).sort(), `${q.label}: user disconnected ${show(got)}`);
          assert.ok(got.every((e) => e[0] === 'user disconnected'));
        } else {
          assert.ok(got.every((e) => e[0] === 'user left'), `${q.label}: ${show(got)}`);
          assert.deepEqual(got.map((e) => e[1].username).sort(), victims.map((v) => v.name).sort(), `${q.label}: user left ${show(got)}`);
          const counts = got.map((e) => e[1].numUsers);
          assert.equal(Math.min(...counts), final, `${q.label}: numUsers ends at ${final} (${show(counts)})`);
          assert.ok(counts.every((n) => n >= final && n < 15), `${q.label}: numUsers ${show(counts)}`);
        }
        assert.deepEqual(q.disconnects, [], `${q.label} stayed connected`);
      }
      const listed = await usersOf(survivors[0]);
      assert.deepEqual(sortUsers(listed), sortUsers(survivors.map((p) => ({ key: p.key, name: p.name }))));
      const st2 = await statusUntil(server, (s) => s.sessions === 15 && s.users === final
        && sum(s.workers.map((w) => w.sessions)) === 15, `15 sessions and ${final} users`, 30000);
      assert.ok(!st2.workers.some((w) => w.pid === victimPid && w.state === 'alive'), `the killed worker is not alive: ${show(brief(st2))}`);
      assert.ok(st2.workers.some((w) => fresh.includes(w.pid) && w.state === 'alive'), `the new worker is on the page: ${show(brief(st2))}`);

      // the log: the master's alert and the replacement's warning, nothing else
      const log = server.errorLog().slice(logBefore);
      assert.deepEqual(alertLines(log).map((l) => l.replace(/^.*\[alert\] \d+#\d+: /, '')), [`worker process ${victimPid} exited on signal 9`]);
      const died = log.split('\n').filter((l) => /died:/.test(l));
      assert.equal(died.length, 1, `one "died" line: ${show(died)}`);
      assert.match(died[0], new RegExp(`\\[warn\\] .*worker slot ${victimSlot} \\(pid ${victimPid}\\) died: ${victims.length} sessions and ${victims.length} users dropped`));

      // the victims take their names again; everybody posts once
      for (const p of victims) {
        p.mark = p.got.length;
        await name(p);
        p.key = await keyWhenListed(survivors[0], p.name);
      }
      await sleep(QUIET_MS);
      for (const p of peers) p.mark = p.got.length;
      await Promise.all(peers.map(async (p) => {
        if (p.door === 'seed000') assert.deepEqual(await p.ack('message', `after from ${p.name}`), [`received "after from ${p.name}"`]);
        else if (p.door === 'demo') p.emit('new message', `after from ${p.name}`);
        else p.socket.send(`after from ${p.name}`);
      }));
      for (const r of peers) {
        const want = peers.filter((s) => s !== r).map((s) => keyOf(delivery(r.dialect, s, `after from ${s.name}`))).sort();
        await r.until(() => r.got.length - r.mark >= want.length, `${want.length} posts`);
      }
      await sleep(QUIET_MS);
      for (const r of peers) {
        const want = peers.filter((s) => s !== r).map((s) => keyOf(delivery(r.dialect, s, `after from ${s.name}`))).sort();
        assert.deepEqual(r.got.slice(r.mark).map(keyOf).sort(), want, `${r.label}: every post once`);
      }
      assert.equal((await status(server)).users, 15);
      ok = true;
    } finally {
      for (const p of peers) p.disconnect();
      await finish(server, ok);
    }
  });

  it('right after the kill, the surviving workers still reach each other at once: posts, departures, forwarded polling requests', { timeout: 90000 }, async (t) => {
    const PROMPT_MS = 3000;
    const server = await startChat({ reuseport: true, allowLog: [/worker process \d+ exited on signal 9/] });
    const peers = [];
    let ok = false;
    try {
      // WebSocket clients on at least 3 workers
      const byWorker = new Map();
      for (let burst = 0; burst < 6 && byWorker.size < WORKERS; burst++) {
        const batch = Array.from({ length: 8 }, (_, i) => peer(server, `w${burst * 8 + i}`, ['websocket']));
        peers.push(...batch);
        await Promise.all(batch.map((p) => connected(p)));
        for (const p of batch) {
          p.worker = (await workerOf(server, p)).worker;
          byWorker.set(p.worker, [...(byWorker.get(p.worker) ?? []), p]);
        }
      }
      assert.ok(byWorker.size >= 3, `clients on 3 workers or more: ${show([...byWorker.keys()])}`);
      const [victimW, senderW, ...observerWs] = [...byWorker.keys()];
      const victim = byWorker.get(victimW)[0];
      const sender = byWorker.get(senderW)[0];
      const observers = observerWs.map((w) => byWorker.get(w)[0]);
      victim.emit('add user', 'Victim');
      await victim.until(() => victim.got.some((e) => e[0] === 'login'), 'login');
      for (const o of observers) {
        o.emit('add user', `Observer ${o.worker}`);
        await o.until(() => o.got.some((e) => e[0] === 'login'), 'login');
      }
      assert.deepEqual(await sender.ack('login', 'Sender'), ['Welcome Sender!']);
      await sleep(QUIET_MS);
      for (const o of observers) o.mark = o.got.length;
      const st = await status(server);
      const victimPid = st.workers.find((w) => w.worker === victimW).pid;
      t.diagnostic(`killing worker ${victimW} (pid ${victimPid}); sender on worker ${senderW}; observers on workers ${show(observerWs)}`);

      const arrivedAt = new Map();
      for (const o of observers) {
        o.socket.on('new message', (m) => m.message === 'after the kill' && !arrivedAt.has(`${o.worker} post`) && arrivedAt.set(`${o.worker} post`, Date.now()));
        o.socket.on('user left', (m) => m.username === 'Victim' && !arrivedAt.has(`${o.worker} left`) && arrivedAt.set(`${o.worker} left`, Date.now()));
      }
      const oldPids = workerPids(server);

      const tKill = Date.now();
      process.kill(victimPid, 'SIGKILL');
      await victim.until(() => victim.disconnects.length > 0, 'to be disconnected', 5000);
      await waitNewWorkers(server, oldPids, 1);
      await sleep(300);
      const tPost = Date.now();
      assert.deepEqual(await sender.ack('message', 'after the kill'), ['received "after the kill"']);

      const problems = [];
      const arrival = (o, pred) => {
        const i = o.got.findIndex((e, k) => k >= o.mark && pred(e));
        return i < 0 ? null : i;
      };
      const isPost = (e) => e[0] === 'new message' && e[1].message === 'after the kill';
      const isLeft = (e) => e[0] === 'user left' && e[1].username === 'Victim';
      for (const o of observers) {
        await o.until(() => arrival(o, isPost) !== null && arrival(o, isLeft) !== null, 'the post and the departure', Math.max(0, tPost + PROMPT_MS - Date.now())).catch(() => {
          if (arrival(o, isPost) === null) problems.push(`worker ${o.worker}: the post sent on worker ${senderW} did not arrive within ${PROMPT_MS} ms`);
          if (arrival(o, isLeft) === null) problems.push(`worker ${o.worker}: "user left" of the killed worker's user did not arrive within ${PROMPT_MS} ms of the kill`);
        });
      }

      // new polling sessions, every request on a fresh connection (so most are carried to another worker)
      const base = eioUrl(server.url, PATH, { transport: 'polling' });
      const slowRequests = [];
      await Promise.all(Array.from({ length: 12 }, async (_, i) => {
        const fresh = (url, opts = {}) => new Promise((resolve) => {
          const t0 = Date.now();
          const req = nodeHttp.request(url, { method: opts.method ?? 'GET', agent: false, headers: { Connection: 'close' } }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode, body, ms: Date.now() - t0 }));
          });
          req.setTimeout(PROMPT_MS, () => req.destroy(new Error('timeout')));
          req.on('error', (err) => resolve({ status: err.message, body: '', ms: Date.now() - t0 }));
          req.end(opts.body);
        });
        const h = await fresh(base);
        if (h.status !== 200) return slowRequests.push(`session ${i}: handshake ${h.status}`);
        const sid = JSON.parse(h.body.slice(1)).sid;
        const post = await fresh(`${base}&sid=${sid}`, { method: 'POST', body: '40' });
        if (post.status !== 200) slowRequests.push(`session ${i}: POST "40" ${post.status} after ${post.ms} ms`);
        const get = await fresh(`${base}&sid=${sid}`);
        if (get.status !== 200 || !get.body.startsWith('40{')) slowRequests.push(`session ${i}: GET ${get.status} after ${get.ms} ms`);
      }));
      if (slowRequests.length) {
        problems.push(`${slowRequests.length} polling requests (each on a fresh connection) not answered within ${PROMPT_MS} ms: ` +
          `${slowRequests.slice(0, 6).join('; ')}${slowRequests.length > 6 ? '; ...' : ''}`);
      }

      if (problems.length) {
        // how long it took after all, for the report
        await until(() => observers.every((o) => arrival(o, isPost) !== null && arrival(o, isLeft) !== null), 'late arrivals', 40000).catch(() => {});
        const late = [...arrivedAt].map(([k, at]) => `${k} +${at - (k.endsWith('left') ? tKill : tPost)} ms`);
        problems.push(`arrivals (after the post, or after the kill for "user left"): ${late.join(', ') || 'none'}`);
      }
      if (problems.length) assert.fail(problems.join('\n'));
      ok = true;
    } finally {
      for (const p of peers) p.disconnect();
      await finish(server, ok);
    }
  });
});

describe('4 workers: nginx -s reload', { skip: SKIP }, () => {
  it('10 reloads in a row under traffic: no crash, no alert, old workers exit, clients come back and chat', { timeout: 120000 }, async (t) => {
    const server = await startChat();
    const kinds = [['websocket'], ['polling'], undefined];
    const clients = [];
    let stop = false;
    let acks = 0;
    let ok = false;
    try {
      for (let i = 0; i < 12; i++) {
        const p = peer(server, `r${i}`, kinds[i % 3], {
          reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0, timeout: 5000,
        });
        p.name = `R${i}`;
        p.named = false;
        p.errors = [];
        p.logins = [];
        p.socket.on('connect_error', (err) => p.errors.push(err.message));
        p.socket.on('disconnect', () => (p.named = false));
        // (re)named on every connection
        p.socket.on('connect', () => {
          p.socket.timeout(5000).emit('login', p.name, (err, res) => {
            p.logins.push(err ? err.message : res);
            if (!err && res === `Welcome ${p.name}!` && p.socket.connected) p.named = true;
          });
        });
        clients.push(p);
      }
      const allNamed = () => clients.every((p) => p.named && p.socket.connected);
      await until(allNamed, 'every client named');
      const logBefore = server.errorLog().length;
      const pumps = clients.map(async (p, i) => {
        let n = 0;
        while (!stop) {
          if (p.named && p.socket.connected) {
            p.socket.timeout(2000).emit('message', `tick ${i} ${n++}`, (err) => {
              if (!err) acks++;
            });
          }
          await sleep(50);
        }
      });

      const allOld = [];
      for (let r = 0; r < 10; r++) {
        const old = workerPids(server);
        allOld.push(...old);
        const acksBefore = acks;
        nginxSignal(server, 'reload');
        await waitNewWorkers(server, old, WORKERS);
        const t0 = Date.now();
        while (acks < acksBefore + 20 && Date.now() - t0 < 8000) await sleep(20);
        assert.ok(acks >= acksBefore + 20, `posts go on after reload ${r + 1} (${acks - acksBefore} acks)`);
        assert.deepEqual(alertLines(server.errorLog().slice(logBefore)), [], `after reload ${r + 1}`);
      }
      const tGone = Date.now();
      await waitGone(server, allOld, 8000);
      t.diagnostic(`old workers gone ${Date.now() - tGone} ms after the last reload's workers were up`);
      assert.equal(workerPids(server).length, WORKERS);

      stop = true;
      await Promise.all(pumps);
      await until(allNamed, 'every client connected and named again', 15000).catch((err) => {
        const stuck = clients.filter((p) => !(p.named && p.socket.connected)).map((p) => `${p.name}`
          + ` (${p.transports ?? 'upgrade'}: connected ${p.socket.connected}, named ${p.named},`
          + ` disconnects ${show(p.disconnects)}, connect errors ${show(p.errors)}, login answers ${show(p.logins)})`);
        throw new Error(`${err.message}; not there: ${stuck.join('; ')}`);
      });
      const reasons = {};
      for (const p of clients) for (const x of p.disconnects) reasons[x] = (reasons[x] ?? 0) + 1;
      t.diagnostic(`${acks} posts acknowledged; disconnect reasons ${show(reasons)}`);
      for (const x of Object.keys(reasons)) assert.ok(CLEAN_REASONS.includes(x), `disconnect reason "${x}"`);

      // the zone counts exactly the connected, named clients
      const st = await statusUntil(server, (s) => s.users === 12 && s.sessions === 12
        && sum(s.workers.map((w) => w.sessions)) === 12, '12 users and 12 sessions', 15000).catch(async (err) => {
        const list = await usersOf(clients[0]).catch(() => []);
        throw new Error(`${err.message}; users: ${show(list.map((u) => u.name).sort())}`);
      });
      assert.equal(st.workers.filter((w) => w.state === 'alive').length, WORKERS, show(brief(st)));
      assert.deepEqual(sortUsers(await usersOf(clients[0])).map((u) => u.name), clients.map((p) => p.name).sort());

      // and they chat: one post each, every other client gets it once
      await sleep(QUIET_MS);
      for (const p of clients) p.mark = p.got.length;
      await Promise.all(clients.map(async (p) =>
        assert.deepEqual(await p.ack('message', `final from ${p.name}`), [`received "final from ${p.name}"`])));
      for (const r of clients) {
        const want = clients.filter((s) => s !== r).map((s) => `${s.name}: final from ${s.name}`).sort();
        const finals = () => r.got.slice(r.mark).filter((e) => e[0] === 'message' && e[1].includes(': final from ')).map((e) => e[1]);
        await r.until(() => finals().length >= want.length, `${want.length} final posts`);
        await sleep(50);
        assert.deepEqual(finals().sort(), want, `${r.label}: every final post once`);
      }
      const log = server.errorLog().slice(logBefore);
      assert.deepEqual(alertLines(log), []);
      assert.doesNotMatch(log, /open socket/);
      ok = true;
    } finally {
      stop = true;
      for (const p of clients) p.disconnect();
      await finish(server, ok);
    }
  });

  it('a request an old worker was still reading when the reload came is answered, for a session on a new worker', { timeout: 30000 }, async () => {
    const server = await startChat();
    const conns = [];
    let ok = false;
    try {
      // connections the first workers accepted, a request begun ("G")
      for (let i = 0; i < 12; i++) {
        conns.push(await new Promise((resolve, reject) => {
          const c = net.connect(server.port, '127.0.0.1', () => {
            c.write('G');
            resolve(c);
          });
          c.data = '';
          c.on('data', (d) => (c.data += d));
          c.on('error', reject);
          c.on('close', () => (c.gone = true));
        }));
      }
      const old = workerPids(server);
      nginxSignal(server, 'reload');
      await waitNewWorkers(server, old, WORKERS);
      await sleep(500); // the old workers have closed their listening sockets
      // sessions on the new workers (the old ones no longer accept)
      const sessions = [];
      for (let i = 0; i < conns.length; i++) {
        const h = await freshRequest(eioUrl(server.url, PATH, { transport: 'polling' }));
        assert.equal(h.status, 200, h.body);
        const sid = JSON.parse(h.body.slice(1)).sid;
        // connected to "/": the next GET has the CONNECT answer to return at once
        const post = await freshRequest(eioUrl(server.url, PATH, { transport: 'polling', sid }), { method: 'POST', body: '40' });
        assert.equal(post.status, 200, post.body);
        sessions.push(sid);
      }
      // the rest of each request: a GET of a session on a new worker, on an old worker
      conns.forEach((c, i) => c.write(`ET ${PATH}?EIO=4&transport=polling&sid=${sessions[i]} HTTP/1.1\r\n` +
        'Host: 127.0.0.1\r\nConnection: close\r\n\r\n'));
      await until(() => conns.every((c) => c.gone || /\r\n\r\n/.test(c.data)), 'an answer on every connection', 5000)
        .catch(() => {});
      const unanswered = conns.filter((c) => !/^HTTP\/1\.1 \d{3} /.test(c.data));
      assert.equal(unanswered.length, 0,
        `${unanswered.length} of ${conns.length} requests got no HTTP answer (${unanswered.filter((c) => c.gone).length} closed without one)`);
      await waitGone(server, old, 5000);
      assert.deepEqual(alertLines(server.errorLog()), []);
      ok = true;
    } finally {
      for (const c of conns) c.destroy();
      await finish(server, ok);
    }
  });
});

describe('4 workers: a full zone', { skip: SKIP }, () => {
  it('refuses new sessions with 400 and an [error] line, keeps the old ones, and accepts again once sessions close', { timeout: 90000 }, async (t) => {
    const server = await startChat({ zone: 'small', extraLocationDirectives: 'socketio_zone small 2m;' });
    let ok = false;
    try {
      const st0 = await status(server);
      assert.equal(st0.zone, 'small');
      const cap = st0.capacity.sessions;
      t.diagnostic(`zone "small": ${st0.bytes.total} bytes, room for ${cap} sessions`);
      assert.ok(cap > 100 && cap < 50000, `capacity ${cap}`);

      // an old session, connected to "/"
      const old = await pollingHandshake(server.url, PATH);
      await old.postOk('40');
      assert.match((await old.collect(1))[0], /^40\{"sid":"/);

      // handshakes until one is refused
      const sids = [];
      let refused = null;
      const handshake = async () => {
        const res = await http(eioUrl(server.url, PATH, { transport: 'polling' }), { timeout: 10000 });
        const text = await res.text();
        if (res.status === 200 && text[0] === '0') sids.push(JSON.parse(text.slice(1)).sid);
        else refused ??= { status: res.status, text, type: res.headers.get('content-type') };
      };
      const t0 = Date.now();
      while (!refused && sids.length < cap + 1000) await Promise.all(Array.from({ length: 48 }, handshake));
      t.diagnostic(`${sids.length + 1} sessions open when the zone said no, after ${Date.now() - t0} ms`);
      assert.ok(refused, `a handshake was refused (${sids.length} sessions opened)`);
      assert.equal(refused.status, 400);
      assert.deepEqual(JSON.parse(refused.text), { code: 3, message: 'Bad request' });
      assert.match(refused.type, /application\/json/);
      assert.ok(sids.length + 1 >= cap * 0.9, `about capacity.sessions (${cap}) fit: ${sids.length + 1}`);
      const line = server.errorLog().split('\n').find((l) => /is full/.test(l));
      assert.match(line ?? '', /\[error\] .*socketio: zone "small" is full: new session refused/);
      const st1 = await status(server);
      assert.ok(st1.refused >= 1, `refused counted: ${st1.refused}`);
      assert.equal(st1.sessions, sids.length + 1);

      // a WebSocket handshake is refused too
      const ws = new WsClient(eioUrl(server.url, PATH, { transport: 'websocket' }, { ws: true }));
      const refusal = await ws.waitRefused(5000);
      ws.terminate();
      assert.equal(refusal?.status, 400, `WebSocket handshake refused with 400: ${show(refusal)}`);

      // the old session still works: an event with an ack, answered on the next poll
      await old.postOk('421["users"]');
      assert.deepEqual(await old.collect(1), ['431[[]]']);

      // close 1000 sessions (close packet), then handshakes succeed again
      const closing = sids.splice(0, 1000);
      for (let i = 0; i < closing.length; i += 50) {
        await Promise.all(closing.slice(i, i + 50).map(async (sid) => {
          const res = await http(eioUrl(server.url, PATH, { transport: 'polling', sid }), { method: 'POST', body: '1' });
          assert.equal(res.status, 200, `close of ${sid}: ${await res.text()}`);
        }));
      }
      await statusUntil(server, (s) => s.sessions <= sids.length + 1, `${sids.length + 1} sessions`);
      for (let i = 0; i < 50; i++) {
        const s = await pollingHandshake(server.url, PATH);
        assert.ok(s.sid);
      }
      const s = await pollingHandshake(server.url, PATH);
      await s.postOk('40');
      assert.match((await s.collect(1))[0], /^40\{"sid":"/);
      await s.postOk('421["login","Newcomer"]');
      assert.deepEqual(await s.collect(1), ['431["Welcome Newcomer!"]']);
      await old.postOk('422["users"]');
      const [users] = await old.collect(1);
      assert.match(users, /^432\[\[\{"key":"[^"]+","name":"Newcomer"\}\]\]$/);
      ok = true;
    } finally {
      await finish(server, ok);
    }
  });
});

describe('4 workers: a slow reader', { skip: SKIP }, () => {
  it('is dropped at socketio_output_limit with an [info] line; clients on the other workers keep receiving', { timeout: 90000 }, async (t) => {
    const server = await startChat({ reuseport: true, maxPayload: 100000, extraLocationDirectives: 'socketio_output_limit 1m;' });
    const peers = [];
    let slow;
    let ok = false;
    try {
      // the slow reader: a raw WebSocket connected to "/"
      slow = new WsClient(eioUrl(server.url, PATH, { transport: 'websocket' }, { ws: true }));
      const open = JSON.parse((await slow.next({ pings: true })).slice(1));
      slow.send('40');
      assert.match(await slow.next(), /^40\{"sid":"/);
      let before = await status(server);
      slow.send('421["users"]');
      assert.equal(await slow.next(), '431[[]]');
      let afterSt = await status(server);
      const slowWorker = afterSt.workers.find((w) => w.events_in > (before.workers.find((b) => b.worker === w.worker)?.events_in ?? 0)).worker;

      // fast clients, spread by connecting them at once; those on other workers count
      for (let burst = 0; burst < 5 && peers.filter((p) => p.worker !== slowWorker).length < 6; burst++) {
        const batch = Array.from({ length: 8 }, (_, i) => peer(server, `fast ${burst * 8 + i}`, ['websocket']));
        await Promise.all(batch.map((p) => connected(p)));
        for (const p of batch) {
          p.worker = (await workerOf(server, p)).worker;
          if (p.worker === slowWorker && peers.length >= 8) p.disconnect();
          else peers.push(p);
        }
      }
      const others = peers.filter((p) => p.worker !== slowWorker);
      t.diagnostic(`slow reader on worker ${slowWorker}; fast clients on workers ${show(peers.map((p) => p.worker))}`);
      assert.ok(others.length >= 2, 'at least 2 fast clients on other workers');
      const senders = others.slice(0, 2);
      for (const [i, p] of senders.entries()) {
        p.name = `S${i}`;
        assert.deepEqual(await p.ack('login', p.name), [`Welcome ${p.name}!`]);
      }

      // the slow reader stops reading
      slow.ws.pause();
      before = await status(server);

      const big = 'x'.repeat(60000);
      const sentAt = new Map();
      const receivedAt = new Map(others.map((p) => [p, new Map()]));
      for (const p of others) {
        p.socket.on('message', (m) => {
          const key = m.slice(0, m.indexOf(' x'));
          if (!receivedAt.get(p).has(key)) receivedAt.get(p).set(key, Date.now());
        });
      }
      const infoLine = () => server.errorLog().split('\n').find((l) => l.includes(open.sid) && /slow reader/.test(l));
      const t0 = Date.now();
      let n = 0;
      while (!infoLine() && Date.now() - t0 < 40000) {
        await Promise.all(senders.map(async (s) => {
          const k = n;
          sentAt.set(`${s.name}: #${k}`, Date.now());
          const res = await s.ack('message', `#${k} ${big}`);
          assert.equal(res.length, 1);
        }));
        n++;
      }
      const line = infoLine();
      t.diagnostic(`${n} rounds of 2 posts of 60 kB in ${Date.now() - t0} ms until the slow reader was dropped`);
      assert.ok(line, `the slow reader was dropped within 40 s (${n} rounds)`);
      assert.match(line, /\[info\] .*a slow reader, over socketio_output_limit/);

      // a last round after the drop
      for (const s of senders) {
        sentAt.set(`${s.name}: #${n}`, Date.now());
        await s.ack('message', `#${n} ${big}`);
      }
      n++;
      // every fast client elsewhere got every post, quickly
      let worst = 0;
      const expectedOf = (p) => n * senders.length - (senders.includes(p) ? n : 0);
      const lastOf = (p) => senders.map((s) => {
        const nums = [...receivedAt.get(p).keys()].filter((k) => k.startsWith(`${s.name}: #`)).map((k) => Number(k.slice(s.name.length + 3)));
        return `${s.name} ${nums.length} posts, last #${Math.max(-1, ...nums)}`;
      }).join(', ');
      await until(() => others.every((p) => receivedAt.get(p).size >= expectedOf(p)), 'every post', 15000).catch((err) => {
        throw new Error(`${err.message}: ${n} rounds sent; ${others.map((p) => `${p.label} (worker ${p.worker}): ${lastOf(p)}`).join('; ')}`);
      });
      for (const p of others) {
        for (const [key, at] of receivedAt.get(p)) worst = Math.max(worst, at - sentAt.get(key));
      }
      t.diagnostic(`slowest delivery to a fast client on another worker: ${worst} ms`);
      assert.ok(worst < 5000, `fast clients were not held up (slowest delivery ${worst} ms)`);
      for (const p of others) {
        const posts = p.got.filter((e) => e[0] === 'message').map((e) => e[1].slice(0, e[1].indexOf(' x')));
        for (const s of senders) {
          if (s === p) continue;
          const nums = posts.filter((x) => x.startsWith(`${s.name}: #`)).map((x) => Number(x.slice(s.name.length + 3)));
          assert.deepEqual(nums, Array.from({ length: n }, (_, k) => k), `${p.label}: ${s.name}'s posts once each, in order`);
        }
      }
      for (const p of peers) assert.deepEqual(p.disconnects, [], `${p.label} stayed connected`);
      const st = await status(server);
      const w = st.workers.find((x) => x.worker === slowWorker);
      const w0 = before.workers.find((x) => x.worker === slowWorker);
      assert.equal(w.disconnects.slow_reader, w0.disconnects.slow_reader + 1, 'counted as slow_reader on its worker');
      assert.equal(st.sessions, peers.length, 'the slow reader\'s session is gone');
      ok = true;
    } finally {
      slow?.terminate();
      for (const p of peers) p.disconnect();
      await finish(server, ok);
    }
  });
});
