// One chat over Redis (issue 10; shared/chat-contract.md, "Several
// servers"): servers that share a Redis through the protocol of
// @socket.io/redis-adapter 8.3 are one chat, a backend posts into it with
// @socket.io/redis-emitter 5.1, and a Node.js app with the adapter sees and
// moves the chat's sockets.
//
// Each case runs on every cluster that can be built here, on one real
// redis-server (t/lib/redis.js):
//
// - "node×2": two reference chats (tests/bench/reference-chat.js --redis).
//   Always: it is what proves the tests right.
// - "nginx×2+node": two nginx nodes with the module (2 workers each, each
//   worker a member, `reuseport`) and one reference chat. Only when the
//   module under test accepts `socketio_redis` (nginx -t); skipped with the
//   reason otherwise.
//
// The cases are written against a list of members, whatever they are:
// clients are spread over all of them and every expectation counts them all.
// A peer records every event it receives; a case declares what each peer
// must get and, after a quiet moment, compares the whole record, so that a
// post missing, duplicated or in the wrong dialect fails it. Waits are
// bounded and generous (cross-server delivery goes through Redis and, on a
// module node, through the zone to the other worker).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter } from '@socket.io/redis-emitter';
import { nginxSignal, workerPids, waitGone, children } from './lib/server.js';
import { REDIS_BIN, haveRedis, startRedis } from './lib/redis.js';
import {
  REFERENCE_CLIENT_PREFIX, TEST_CLIENT_PREFIX, adapterMembers, moduleRedisSupport, redisClient,
  startNginxChat, startNodeApp, startReferenceChat, waitAdapterMembers,
} from './lib/cluster.js';
import { sleep, withTimeout } from './lib/helpers.js';
import { Peer, show } from './lib/peer.js';

const PATH = '/socket.io/';
const WAIT_MS = 10000; // for anything that must happen (across servers, through Redis)
const QUIET_MS = 600; // after the last expected event, for what must not happen
const KEY_RE = /^u[0-9a-z]+$/; // a key drawn from the shared counter: u + base 36

const NO_REDIS = haveRedis() ? false : `${REDIS_BIN} is not installed (conf/setup.sh installs Debian's redis-server)`;
const NO_MODULE = NO_REDIS || moduleRedisSupport() || false;

/**
 * The clusters a case runs on. `start(redis, {prefix})` starts their
 * members (the labels say A, B, C in that order).
 */
const CLUSTERS = [
  {
    label: 'node×2',
    skip: NO_REDIS,
    start: (redis, o) => [
      startReferenceChat({ redis, label: 'node A', ...o }),
      startReferenceChat({ redis, label: 'node B', ...o }),
    ],
  },
  {
    label: 'nginx×2+node',
    skip: NO_MODULE,
    start: (redis, o) => [
      startNginxChat({ redis, label: 'nginx A', workers: 2, ...o }),
      startNginxChat({ redis, label: 'nginx B', workers: 2, ...o }),
      startReferenceChat({ redis, label: 'node C', ...o }),
    ],
  },
];

/**
 * `it` for each cluster: `fn(c, t)` gets the running cluster. `redis`:
 * startRedis's options (a password, an ACL user); `prefix`: the adapter's
 * key prefix the members are given.
 */
function eachCluster(name, { timeout = 90000, only, redis, prefix } = {}, fn) {
  for (const cluster of CLUSTERS) {
    if (only && !only(cluster)) continue;
    it(`${name} [${cluster.label}]`, { timeout, skip: cluster.skip }, (t) => withCluster(t, cluster, fn, { redis, prefix }));
  }
}

/**
 * Starts redis-server and the cluster's members, waits until every adapter
 * member has subscribed, runs fn(c, t), then closes every client and stops
 * everything it started, in every case: a member's stop fails on what it
 * reported (nginx: [alert], [crit], a crashed worker; the reference chat:
 * errors, a crash), but never hides the test's own failure.
 */
async function withCluster(t, cluster, fn, { redis: redisOptions, prefix } = {}) {
  const redis = await startRedis(redisOptions);
  const members = [];
  const closers = []; // other things to stop: redis clients, apps
  const peers = [];
  let ok = false;
  try {
    const started = await Promise.allSettled(cluster.start(redis, prefix ? { prefix } : {}));
    for (const r of started) if (r.status === 'fulfilled') members.push(r.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await waitAdapterMembers(redis, members.reduce((n, m) => n + m.adapters, 0), { prefix });
    t.diagnostic(`members: ${members.map((m) => `${m.label} (${m.kind}${m.kind === 'nginx' ? `, ${m.adapters} workers` : ''}, ${m.url})`).join('; ')}; redis ${redis.address}`);

    const c = {
      redis,
      prefix: prefix ?? 'socket.io',
      members,
      peers,
      /** A client of `member` (not awaited: emits are buffered until it connects). */
      client(member, label, transports, extra = {}) {
        const p = Peer.open(member, PATH, `${label}@${member.label}`, transports, { waitMs: WAIT_MS, ...extra });
        p.member = member;
        p.name = null;
        p.key = null;
        p.dialect = 'classic';
        peers.push(p);
        return p;
      },
      /** A connected client of `member`. */
      async connect(member, label, transports, extra) {
        const p = c.client(member, label, transports, extra);
        await withTimeout(
          new Promise((resolve, reject) => {
            p.socket.once('connect', resolve);
            p.socket.once('connect_error', (err) => reject(new Error(`${p.label}: connect_error ${err.message}`)));
          }),
          WAIT_MS,
          `${p.label} to connect`,
        );
        return p;
      },
      /** Waits for every live peer's expected events (and checks them). */
      async settle(list = peers) {
        await Promise.all(list.map((p) => p.settle()));
      },
      /** Then a quiet moment: nobody got anything unexpected. */
      async quiet(list = peers) {
        await c.settle(list);
        await sleep(QUIET_MS);
        for (const p of list) p.final();
      },
      /** A node-redis client, closed at the end. */
      async redisClient(name) {
        const client = await redisClient(redis, name);
        closers.push(() => client.quit());
        return client;
      },
      /** A Node.js app with the adapter (one more member), stopped at the end. */
      async nodeApp() {
        const app = await startNodeApp({ redis, prefix });
        closers.push(() => app.stop());
        await waitAdapterMembers(redis, members.reduce((n, m) => n + m.adapters, 0) + 1, { prefix });
        return app;
      },
      /** Members still fine (nobody crashed): checked at the end of every case too. */
      checkMembers() {
        for (const m of members) assert.deepEqual(m.problems(), [], `${m.label}: ${m.output().slice(-3000)}`);
      },
    };
    await fn(c, t);
    c.checkMembers();
    ok = true;
  } finally {
    for (const p of peers) p.socket.disconnect();
    await sleep(100); // the clients' close packets land first
    const errors = [];
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        errors.push(err);
      }
    }
    for (const m of members) {
      try {
        await m.stop();
      } catch (err) {
        errors.push(err);
      }
    }
    await redis.close();
    if (errors.length) {
      if (ok) throw errors[0];
      for (const err of errors) console.error(`also, at stop: ${err.message}`);
    }
  }
}

// --- the chat's vocabulary ----------------------------------------------------

/** What `recipient` gets for a post by `sender` of `text`, in the recipient's dialect. */
function delivery(recipient, sender, text) {
  switch (recipient.dialect) {
    case 'events':
      return ['new chat msg', { key: sender.key, sender: sender.name, message: text }];
    case 'demo':
      return ['new message', { username: sender.name, message: text }];
    default:
      return ['message', `${sender.name}: ${text}`];
  }
}

/** A post of `text` by `p` through its own door's event. */
async function post(p, text) {
  if (p.door === 'login') {
    assert.deepEqual(await p.ack('message', text), [`received "${text}"`]);
  } else if (p.door === 'add user') {
    p.emit('new message', text);
  } else {
    p.socket.send(text); // seeds 001 and 003 post with `message` and no ack
  }
}

/** The users list, checked for shape and unique keys. */
async function usersOf(p) {
  const res = await p.ack('users');
  assert.equal(res.length, 1, `users ack has one argument: ${show(res)}`);
  const [list] = res;
  assert.ok(Array.isArray(list), `users ack is an array: ${show(list)}`);
  for (const u of list) {
    assert.deepEqual(Object.keys(u).sort(), ['key', 'name'], `user entry ${show(u)}`);
    assert.equal(typeof u.key, 'string');
    assert.equal(typeof u.name, 'string');
  }
  const keys = list.map((u) => u.key);
  assert.equal(new Set(keys).size, keys.length, `keys are unique: ${show(list)}`);
  return list;
}

const sortUsers = (list) => [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
const userOf = (p) => ({ key: p.key, name: p.name });

/** Asks `p` for the users until they are `expected` (other members answer through Redis; bounded). */
async function usersUntil(p, expected, what, timeout = WAIT_MS) {
  const t0 = Date.now();
  let list;
  for (;;) {
    list = sortUsers(await usersOf(p));
    if (JSON.stringify(list) === JSON.stringify(sortUsers(expected))) return list;
    if (Date.now() - t0 > timeout) {
      assert.deepEqual(list, sortUsers(expected), `${p.label}: users ${what}`);
    }
    await sleep(200);
  }
}

/**
 * Names `p` by `door` as `name`, and declares what the others must get:
 * events sockets `user connected`, demo sockets `user joined` with the
 * count of named sockets `named` (p included), a demo door its `login`.
 * `p.key` comes from the join ack or from `users` asked of `asker`.
 */
async function nameIt(c, p, door, name, { asker, named }) {
  const others = c.peers.filter((q) => q !== p && !q.disconnected && q.announced !== false);
  const eventsPeers = others.filter((q) => q.dialect === 'events');
  const demoPeers = others.filter((q) => q.dialect === 'demo');
  p.door = door;
  if (door === 'login') {
    assert.deepEqual(await p.ack('login', name), [`Welcome ${name}!`]);
  } else if (door === 'seed001') {
    p.socket.send(name);
    p.expect(['message', `Welcome ${name}!`]);
    await p.settle();
  } else if (door === 'join') {
    const [key] = await p.ack('join', { name });
    assert.match(key, /^u/, `${p.label}: join ack is a key`);
    p.key = key;
  } else if (door === 'add user') {
    // A member announces a naming to each dialect in its own broadcast, so
    // the `user joined` of the naming before this one may still be on its
    // way (the `user connected` that settled it came first): a socket that
    // enters the demo room meanwhile may get it, as with Node.js members.
    const earlier = new Set(c.peers.filter((q) => q !== p && q.name).map((q) => q.name));
    p.ignore = (e) => e[0] === 'user joined' && earlier.has(e[1]?.username) && e[1]?.numUsers < named;
    p.emit('add user', name);
    p.expect(['login', { numUsers: named }]);
    await p.settle();
  } else {
    throw new Error(`door ${door}`);
  }
  p.name = name;
  p.dialect = door === 'join' ? 'events' : door === 'add user' ? 'demo' : 'classic';
  if (!p.key) {
    // the user list of another peer, maybe on another member: wait until it has p
    const t0 = Date.now();
    for (;;) {
      const found = (await usersOf(asker)).filter((u) => u.name === name);
      if (found.length === 1) {
        p.key = found[0].key;
        break;
      }
      if (Date.now() - t0 > WAIT_MS) assert.fail(`${asker.label}: no single user named ${name} in users`);
      await sleep(100);
    }
  }
  for (const q of eventsPeers) q.expect(['user connected', { key: p.key, name }]);
  for (const q of demoPeers) q.expect(['user joined', { username: name, numUsers: named }]);
  await c.settle();
}

/** Disconnects named `p` and declares `user disconnected` / `user left` {numUsers: `remaining`} for the others. */
async function leave(c, p, remaining) {
  p.disconnect();
  p.announced = false;
  const others = c.peers.filter((q) => q !== p && !q.disconnected && q.announced !== false);
  for (const q of others) {
    if (q.dialect === 'events') q.expect(['user disconnected', p.key]);
    if (q.dialect === 'demo') q.expect(['user left', { username: p.name, numUsers: remaining }]);
  }
  await c.settle(others);
}

/** Removes and returns the recorded events named `event` (events a case checks on its own terms). */
function take(p, event) {
  const taken = p.got.filter((e) => e[0] === event);
  p.got = p.got.filter((e) => e[0] !== event);
  return taken;
}

// The doors, one per dialect (and seed 001's first message): every member
// gets each of them, and an unnamed watcher.
const DOORS = ['login', 'seed001', 'join', 'add user'];
const TRANSPORT_CYCLE = [['websocket'], ['polling'], undefined];

/**
 * On every member: a client per door and an unnamed watcher, connected
 * (transports cycling: WebSocket, polling, polling upgraded), named one at
 * a time, each naming announced to all. Returns {named, watchers}.
 */
async function populate(c) {
  const named = [];
  const watchers = [];
  let i = 0;
  for (const m of c.members) {
    for (const door of DOORS) {
      named.push({ p: await c.connect(m, `${door}#${named.length}`, TRANSPORT_CYCLE[i++ % 3]), door });
    }
    watchers.push(await c.connect(m, 'watcher', TRANSPORT_CYCLE[i++ % 3]));
  }
  // named across members in turn, so that each naming is counted and
  // announced across servers: A's login, B's login, ..., A's seed001, ...
  const order = [];
  for (let d = 0; d < DOORS.length; d++) {
    for (let k = 0; k < c.members.length; k++) order.push(named[k * DOORS.length + d]);
  }
  let n = 0;
  for (const { p, door } of order) {
    // the users list asked of a watcher on another member
    const asker = watchers[(c.members.indexOf(p.member) + 1) % watchers.length];
    await nameIt(c, p, door, `U${n}-${door.replace(' ', '')}`, { asker, named: ++n });
  }
  return { named: order.map((x) => x.p), watchers };
}

// --- the cases --------------------------------------------------------------

describe('cluster: the chat contract across servers', () => {
  eachCluster('every post reaches every other socket once in its dialect; users, numUsers, keys, private messages, typing, relay and leaving across members', {}, async (c, t) => {
    const { named, watchers } = await populate(c);
    t.diagnostic(`${named.length} named clients and ${watchers.length} watchers on ${c.members.length} members`);
    await c.quiet();

    // users: every member's named sockets, seen alike from every member
    const all = sortUsers(named.map(userOf));
    for (const w of watchers) assert.deepEqual(sortUsers(await usersOf(w)), all, `${w.label}: users`);
    for (const p of named) assert.deepEqual(sortUsers(await usersOf(p)), all, `${p.label}: users`);
    // keys: unique, drawn from the one shared counter (INCR socket.io-chat#key)
    const counter = Number(await c.redis.cli('GET', 'socket.io-chat#key'));
    for (const p of named) {
      assert.match(p.key, KEY_RE, `${p.label}: key ${p.key} is u + base 36`);
      assert.ok(parseInt(p.key.slice(1), 36) <= counter, `${p.label}: key ${p.key} within the counter (${counter})`);
    }
    assert.equal(new Set(named.map((p) => p.key)).size, named.length, 'keys unique across members');

    // one post from each named client, one at a time
    for (const sender of named) {
      const text = `Hello from ${sender.name} on ${sender.member.label}: "quoted", é, 😀`;
      await post(sender, text);
      for (const q of c.peers) if (q !== sender) q.expect(delivery(q, sender, text));
      await c.settle();
    }

    // then a burst: three from each at once; each sender's order kept
    const sends = [];
    const expected = new Map(c.peers.map((q) => [q, []]));
    for (const sender of named) {
      for (let k = 1; k <= 3; k++) {
        const text = `burst ${k} from ${sender.name}`;
        sends.push(post(sender, text));
        for (const q of c.peers) if (q !== sender) expected.get(q).push(delivery(q, sender, text));
      }
    }
    await Promise.all(sends);
    for (const [q, events] of expected) q.expectAnyOrder(...events);
    await c.settle();
    for (const q of c.peers) {
      for (const sender of named) {
        if (q === sender) continue;
        const seen = q.got
          .map((e) => (e[0] === 'message' ? e[1] : e[1]?.message))
          .map((x) => new RegExp(`^(?:${sender.name}: )?burst (\\d) from ${sender.name}$`).exec(x ?? '')?.[1])
          .filter(Boolean);
        assert.deepEqual(seen, ['1', '2', '3'], `${q.label}: order of ${sender.name}'s burst`);
      }
    }

    // typing: the demo sockets of every member but the sender's own socket
    const demo = named.filter((p) => p.dialect === 'demo');
    demo[0].emit('typing');
    for (const q of demo.slice(1)) q.expect(['typing', { username: demo[0].name }]);
    await c.settle();
    demo[0].emit('stop typing');
    for (const q of demo.slice(1)) q.expect(['stop typing', { username: demo[0].name }]);
    await c.settle();

    // relay (socketio_chat_relay tweet / --relay tweet): JSON and binary, to every other socket
    const tweet = { text: 'tweet', n: 1 };
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    watchers[0].emit('tweet', tweet, bytes);
    for (const q of c.peers) if (q !== watchers[0]) q.expect(['tweet', tweet, bytes]);
    await c.settle();

    // private messages: each named client to a user on the next member
    const perMember = c.members.map((m) => named.filter((p) => p.member === m));
    for (const p of named) {
      const mi = c.members.indexOf(p.member);
      const targets = perMember[(mi + 1) % c.members.length];
      const q = targets[named.indexOf(p) % targets.length];
      const message = `psst from ${p.name} to ${q.name}`;
      assert.deepEqual(await p.ack('private message', { to: q.key, message }), ['sent'], `${p.label} -> ${q.label}`);
      q.expect(['private message', { from: userOf(p), message }]);
      await c.settle();
    }
    // ...to nobody, and from nobody
    assert.deepEqual(await named[0].ack('private message', { to: 'u-nobody', message: 'x' }), ['no such user']);
    assert.deepEqual(await watchers[0].ack('private message', { to: named[1].key, message: 'x' }), ['must login first']);
    assert.deepEqual(await watchers[1].ack('message', 'hi'), ['must login first']);
    await c.quiet();

    // leaving, on every member in turn: announced to the events and demo sockets of all
    let remaining = named.length;
    const leavers = [];
    for (const m of c.members) {
      for (const door of ['join', 'add user', 'login']) leavers.push(named.find((p) => p.member === m && p.door === door));
    }
    for (const p of leavers.slice(0, -1)) await leave(c, p, --remaining);
    const stay = named.filter((p) => !leavers.slice(0, -1).includes(p));
    for (const w of watchers) assert.deepEqual(sortUsers(await usersOf(w)), sortUsers(stay.map(userOf)), `${w.label}: users after leaving`);
    await c.quiet(c.peers.filter((p) => !p.disconnected));
  });

  eachCluster('a rename keeps the key across members; keys stay unique as users come and go', {}, async (c) => {
    const [a, b] = c.members;
    const watcher = await c.connect(b, 'watcher');
    const x = await c.connect(a, 'x', ['websocket']);
    const ev = await c.connect(b, 'events', ['websocket']);
    await nameIt(c, ev, 'join', 'Eve', { asker: watcher, named: 1 });
    await nameIt(c, x, 'login', 'Al', { asker: watcher, named: 2 });
    const key = x.key;
    // the events door: events clients on other members get `user
    // disconnected` then `user connected` with the same key
    const [key2] = await x.ack('join', { name: 'Alan' });
    assert.equal(key2, key, 'a second door keeps the key');
    ev.expect(['user disconnected', key], ['user connected', { key, name: 'Alan' }]);
    await c.settle();
    x.name = 'Alan';
    x.dialect = 'events';
    x.door = 'join';
    await usersUntil(watcher, [userOf(ev), userOf(x)], 'after the rename');
    // a post now reaches x in the events dialect, from the other member
    await post(ev, 'to the renamed');
    x.expect(delivery(x, ev, 'to the renamed'));
    watcher.expect(delivery(watcher, ev, 'to the renamed'));
    await c.quiet();

    // keys of users who left are not given again, whichever member names
    const seen = new Set([ev.key, x.key]);
    for (let i = 0; i < 6; i++) {
      const m = c.members[i % c.members.length];
      const p = await c.connect(m, `late${i}`, ['websocket']);
      const [k] = await p.ack('join', { name: `Late${i}` });
      assert.match(k, KEY_RE);
      assert.ok(!seen.has(k), `key ${k} not used before (${show([...seen])})`);
      seen.add(k);
      for (const q of [ev, x]) q.expect(['user connected', { key: k, name: `Late${i}` }], ['user disconnected', k]);
      p.disconnect();
      p.announced = false;
      await c.settle([ev, x]);
    }
    await c.quiet([ev, x, watcher]);
  });
});

describe('cluster: a backend posts with @socket.io/redis-emitter', () => {
  eachCluster('to a dialect room, except a user, into rooms it joins and leaves, and disconnecting a room', {}, async (c, t) => {
    const app = await c.nodeApp(); // to see when joins and leaves have reached every member
    const client = await c.redisClient('emitter');
    const emitter = new Emitter(client);
    const classic = [];
    const events = [];
    const demo = [];
    const watchers = [];
    let n = 0;
    for (const m of c.members) {
      const w = await c.connect(m, 'watcher', ['websocket']);
      watchers.push(w);
      const l = await c.connect(m, 'login', ['polling']);
      await nameIt(c, l, 'login', `L${m.label}`, { asker: w, named: ++n });
      classic.push(l);
      const e = await c.connect(m, 'join', ['websocket']);
      await nameIt(c, e, 'join', `E${m.label}`, { asker: w, named: ++n });
      events.push(e);
      const d = await c.connect(m, 'demo');
      await nameIt(c, d, 'add user', `D${m.label}`, { asker: w, named: ++n });
      demo.push(d);
    }
    await c.quiet();
    t.diagnostic(`${c.peers.length} clients; the emitter publishes on ${client.options?.name ?? 'its client'}`);

    // every classic socket (named or not) on every member, once
    emitter.to('chat:classic').emit('message', 'system: hi');
    for (const p of [...classic, ...watchers]) p.expect(['message', 'system: hi']);
    await c.quiet();

    // ...but one user
    emitter.to('chat:classic').except(`chat:user:${classic[0].key}`).emit('message', 'system: not you');
    for (const p of [...classic.slice(1), ...watchers]) p.expect(['message', 'system: not you']);
    await c.quiet();

    // each dialect room is its own
    emitter.to('chat:demo').emit('new message', { username: 'system', message: 'demo only' });
    for (const p of demo) p.expect(['new message', { username: 'system', message: 'demo only' }]);
    emitter.to('chat:events').emit('new chat msg', { key: 'system', sender: 'system', message: 'events only' });
    for (const p of events) p.expect(['new chat msg', { key: 'system', sender: 'system', message: 'events only' }]);
    await c.quiet();

    // socketsJoin: the events sockets of every member join `vip`
    const vipIds = async () => (await app.io.in('vip').fetchSockets()).map((s) => s.id).sort();
    emitter.in('chat:events').socketsJoin('vip');
    const want = events.map((p) => p.socket.id).sort();
    await until(async () => JSON.stringify(await vipIds()) === JSON.stringify(want), 'the events sockets in vip');
    emitter.to('vip').emit('message', 'system: vip');
    for (const p of events) p.expect(['message', 'system: vip']);
    await c.quiet();
    // socketsLeave: nobody in vip any more, an emit to it reaches nobody
    emitter.in('vip').socketsLeave('vip');
    await until(async () => (await vipIds()).length === 0, 'vip empty');
    emitter.to('vip').emit('message', 'system: vip again');
    await c.quiet();

    // disconnectSockets of a room: the demo sockets of every member go;
    // the events sockets are told they left
    emitter.in('chat:demo').disconnectSockets();
    await Promise.all(demo.map(async (p) => assert.equal(await p.waitDisconnect(), 'io server disconnect')));
    for (const p of demo) p.announced = false;
    for (const p of events) p.expectAnyOrder(...demo.map((d) => ['user disconnected', d.key]));
    const live = c.peers.filter((p) => !p.disconnected);
    await c.quiet(live);
    const stay = [...classic, ...events].map(userOf);
    await usersUntil(watchers[0], stay, 'after the demo room was disconnected');
    // and the chat goes on across members
    await post(classic[0], 'still here');
    for (const p of live) if (p !== classic[0]) p.expect(delivery(p, classic[0], 'still here'));
    await c.quiet(live);
  });
});

describe('cluster: a Node.js app with the adapter on the same Redis', () => {
  eachCluster('fetchSockets sees every member\'s sockets with rooms and data; socketsJoin/Leave, disconnectSockets, acks, serverSideEmit', {}, async (c, t) => {
    const app = await c.nodeApp();
    const classic = [];
    const events = [];
    const watchers = [];
    let n = 0;
    for (const m of c.members) {
      const w = await c.connect(m, 'watcher', ['websocket']);
      watchers.push(w);
      const l = await c.connect(m, 'login', ['polling']);
      await nameIt(c, l, 'login', `L${m.label}`, { asker: w, named: ++n });
      classic.push(l);
      const e = await c.connect(m, 'join');
      await nameIt(c, e, 'join', `E${m.label}`, { asker: w, named: ++n });
      events.push(e);
    }
    await c.quiet();
    // every client answers the app's acknowledged broadcast
    for (const p of c.peers) p.socket.on('ping-test', (cb) => typeof cb === 'function' && cb(`pong ${p.label}`));

    // fetchSockets: every chat socket of every member, its rooms and its data
    const fetched = await app.io.fetchSockets();
    t.diagnostic(`fetchSockets: ${fetched.length} sockets`);
    const byId = new Map(fetched.map((s) => [s.id, s]));
    assert.equal(byId.size, c.peers.length, `one entry per client: ${show(fetched.map((s) => s.id))}`);
    for (const p of c.peers) {
      const s = byId.get(p.socket.id);
      assert.ok(s, `${p.label} (${p.socket.id}) is fetched`);
      const rooms = [...s.rooms].filter((r) => r !== s.id).sort();
      if (p.name) {
        const room = p.dialect === 'events' ? 'chat:events' : 'chat:classic';
        assert.deepEqual(rooms, [room, `chat:user:${p.key}`].sort(), `${p.label}: rooms`);
        assert.deepEqual(s.data, { key: p.key, name: p.name }, `${p.label}: data`);
      } else {
        assert.deepEqual(rooms, ['chat:classic'], `${p.label}: rooms`);
        assert.ok(s.data === undefined || s.data === null || s.data.name === undefined, `${p.label}: no name in ${show(s.data)}`);
      }
    }
    // in a room: that room's sockets only
    const inUser = await app.io.in(`chat:user:${events[0].key}`).fetchSockets();
    assert.deepEqual(inUser.map((s) => s.id), [events[0].socket.id]);

    // socketsJoin / socketsLeave, then emits to the room
    const teamIds = async () => (await app.io.in('team').fetchSockets()).map((s) => s.id).sort();
    app.io.in('chat:events').socketsJoin('team');
    await until(async () => JSON.stringify(await teamIds()) === JSON.stringify(events.map((p) => p.socket.id).sort()), 'the events sockets in team');
    app.io.to('team').emit('message', 'app: team');
    for (const p of events) p.expect(['message', 'app: team']);
    await c.quiet();
    app.io.in('team').socketsLeave('team');
    await until(async () => (await teamIds()).length === 0, 'team empty');
    app.io.to('team').emit('message', 'app: team again');
    await c.quiet();

    // an acknowledged broadcast: every client answers, on every member
    const t0 = Date.now();
    const [err, answers] = await new Promise((resolve) => app.io.timeout(2000).emit('ping-test', (e, r) => resolve([e, r])));
    t.diagnostic(`acks: ${answers?.length} in ${Date.now() - t0} ms`);
    assert.equal(err, null, `no timeout: ${err?.message} (answers: ${show(answers)})`);
    assert.deepEqual([...answers].sort(), c.peers.map((p) => `pong ${p.label}`).sort());
    for (const p of c.peers) assert.equal(take(p, 'ping-test').length, 1, `${p.label}: one ping-test`);

    // serverSideEmit changes nothing and breaks nothing
    app.io.serverSideEmit('hello', { from: 'app' });
    await sleep(QUIET_MS);
    await c.quiet();
    await usersUntil(watchers[0], [...classic, ...events].map(userOf), 'after serverSideEmit');
    await post(classic[0], 'after hello');
    for (const p of c.peers) if (p !== classic[0]) p.expect(delivery(p, classic[0], 'after hello'));
    await c.quiet();

    // disconnectSockets of one user's room, on another member than the app's... wherever it is
    const gone = events[events.length - 1];
    app.io.in(`chat:user:${gone.key}`).disconnectSockets();
    assert.equal(await gone.waitDisconnect(), 'io server disconnect');
    gone.announced = false;
    for (const p of events.slice(0, -1)) p.expect(['user disconnected', gone.key]);
    const live = c.peers.filter((p) => !p.disconnected);
    await c.quiet(live);
    await usersUntil(watchers[0], [...classic, ...events.slice(0, -1)].map(userOf), 'after disconnectSockets');
    assert.deepEqual(app.errors(), []);
  });
});

describe('cluster: a Redis that wants AUTH, and a key prefix of its own', () => {
  // the members log in with what they are given (`password=`, `user=`; the
  // reference chat's --redis-password / --redis-user) and use the prefix for
  // their channels and the key counter alike; an emitter and a Node.js app
  // with that prefix are members of the same chat
  const variants = [
    ['requirepass', { password: 'chat-s3cret' }, undefined],
    ['an ACL user, prefix "chat2"', { user: { name: 'chatter', password: 's3cret' } }, 'chat2'],
  ];
  for (const [what, redis, prefix] of variants) {
    eachCluster(`${what}: posts, keys, the emitter and fetchSockets across members`, { redis, prefix }, async (c, t) => {
      const ok = await c.redis.cli('ACL', 'WHOAMI');
      t.diagnostic(`redis user ${ok}, prefix ${c.prefix}`);
      const peers = [];
      let n = 0;
      for (const m of c.members) {
        const p = await c.connect(m, 'login', ['websocket']);
        await nameIt(c, p, 'login', `L${m.label}`, { asker: peers[0] ?? p, named: ++n });
        peers.push(p);
      }
      // keys from the counter under this prefix
      const counter = Number(await c.redis.cli('GET', `${c.prefix}-chat#key`));
      assert.ok(counter >= peers.length, `${c.prefix}-chat#key is ${counter}`);
      for (const p of peers) assert.match(p.key, KEY_RE);
      await usersUntil(peers[peers.length - 1], peers.map(userOf), 'of every member');
      for (const p of peers) {
        await post(p, `hi from ${p.name}`);
        for (const q of peers) if (q !== p) q.expect(delivery(q, p, `hi from ${p.name}`));
        await c.settle();
      }
      const client = await c.redisClient('emitter');
      new Emitter(client, c.prefix === 'socket.io' ? undefined : { key: c.prefix }).to('chat:classic').emit('message', 'system: hi');
      for (const q of peers) q.expect(['message', 'system: hi']);
      await c.quiet();
      const app = await c.nodeApp();
      const fetched = await app.io.fetchSockets();
      assert.deepEqual(fetched.map((s) => s.data?.key).sort(), peers.map((p) => p.key).sort());
      // nobody subscribed under the default prefix when another is given
      if (prefix) assert.equal(await adapterMembers(c.redis), 0, 'nothing on the socket.io-request channel');
    });
  }
});

describe('cluster: Redis stopped and restarted', () => {
  eachCluster('each member goes on as a chat of its own; posts cross again within seconds of the restart; keys stay unique', { timeout: 120000 }, async (c, t) => {
    const M = c.members;
    const alice = [];
    const dora = [];
    let n = 0;
    for (const m of M) {
      const a = await c.connect(m, 'alice', ['websocket']);
      const d = await c.connect(m, 'dora', ['polling']);
      alice.push(a);
      dora.push(d);
    }
    for (let i = 0; i < M.length; i++) {
      await nameIt(c, alice[i], 'login', `A${i}`, { asker: dora[(i + 1) % M.length], named: ++n });
      await nameIt(c, dora[i], 'add user', `D${i}`, { asker: alice[(i + 1) % M.length], named: ++n });
    }
    await c.quiet();
    // from here on the records are checked on their own terms: nothing twice
    const before = alice.concat(dora).map(userOf);

    await c.redis.stop();
    const tStop = Date.now();
    t.diagnostic('redis-server stopped');

    // alone: logins, users, numUsers and posts of each member's own
    const newcomers = [];
    for (let i = 0; i < M.length; i++) {
      const p = await c.connect(M[i], 'newcomer', ['websocket']);
      newcomers.push(p);
      const [key] = await p.ack('join', { name: `N${i}` });
      p.name = `N${i}`;
      p.key = key;
      p.dialect = 'events';
      assert.ok(!KEY_RE.test(key), `${p.label}: a key made without Redis (${key}) cannot be one of the counter's`);
      assert.match(key, /\./, `${p.label}: ${key} has a "."`);
      // dora of this member is told, with this member's count
      await dora[i].waitFor('user joined', (u) => u?.username === `N${i}` && u.numUsers === 3);
      await usersUntil(p, [userOf(alice[i]), userOf(dora[i]), userOf(p)], 'while Redis is away (this member only)');
      assert.deepEqual(await alice[i].ack('message', `alone ${i}`), [`received "alone ${i}"`]);
      await p.waitFor('new chat msg', (m) => m?.message === `alone ${i}`);
      await dora[i].waitFor('new message', (m) => m?.message === `alone ${i}`);
    }
    assert.equal(new Set(newcomers.map((p) => p.key)).size, newcomers.length, 'the keys made alone differ across members');
    t.diagnostic(`alone for ${Date.now() - tStop} ms; keys made meanwhile: ${newcomers.map((p) => p.key).join(', ')}`);

    await c.redis.restart();
    const tBack = Date.now();
    t.diagnostic('redis-server restarted (empty)');

    // posts cross again: each member's alice posts until the next member's alice hears it
    for (let i = 0; i < M.length; i++) {
      const to = alice[(i + 1) % M.length];
      for (let k = 0; ; k++) {
        const text = `probe ${i}.${k}`;
        await alice[i].ack('message', text);
        try {
          await to.waitFor('message', (m) => m === `A${i}: ${text}`, 500);
          break;
        } catch (err) {
          if (Date.now() - tBack > 20000) throw new Error(`posts from ${M[i].label} do not reach ${to.member.label} 20 s after the restart: ${err.message}`);
        }
      }
    }
    t.diagnostic(`posts cross every member again ${Date.now() - tBack} ms after the restart`);
    await waitAdapterMembers(c.redis, M.reduce((s, m) => s + m.adapters, 0), { prefix: c.prefix });

    // one chat again: users of all, new keys from the (restarted) counter that
    // no connected user has, posts to everyone
    const everyone = [...before, ...newcomers.map(userOf)];
    await usersUntil(alice[0], everyone, 'after the restart', 20000);
    // A member may wait a few seconds before it draws from the counter again
    // (the module: until every member has had the time to raise it back to
    // what it drew before Redis lost its data); meanwhile its keys carry its
    // tag. Whichever it gives, a key is nobody else's.
    for (let i = 0; i < M.length; i++) {
      for (let attempt = 0; ; attempt++) {
        const p = await c.connect(M[i], 'late', ['websocket']);
        const [key] = await p.ack('join', { name: `Late${i}.${attempt}` });
        assert.ok(!everyone.some((u) => u.key === key), `${p.label}: ${key} is nobody else's (${show(everyone.map((u) => u.key))})`);
        p.name = `Late${i}.${attempt}`;
        p.key = key;
        everyone.push(userOf(p));
        if (KEY_RE.test(key)) break;
        assert.ok(Date.now() - tBack < 15000, `${p.label}: a key from the counter again within 15 s of the restart (${key})`);
        await sleep(500);
      }
    }
    await usersUntil(dora[0], everyone, 'with the late ones');
    assert.deepEqual(await alice[0].ack('message', 'together'), ['received "together"']);
    for (const p of alice.slice(1)) await p.waitFor('message', (m) => m === 'A0: together');
    for (const p of dora) await p.waitFor('new message', (m) => m?.message === 'together');
    await sleep(QUIET_MS);

    // nothing arrived twice, and what was posted alone stayed on its member
    for (const p of c.peers) {
      const texts = p.got.map((e) => (typeof e[1] === 'string' ? e[1] : e[1]?.message ?? null)).filter((x) => x !== null);
      const counts = new Map();
      for (const x of texts) counts.set(x, (counts.get(x) ?? 0) + 1);
      const twice = [...counts].filter(([x, k]) => k > 1 && !/^Welcome/.test(x));
      assert.deepEqual(twice, [], `${p.label}: delivered twice`);
      const mi = M.indexOf(p.member);
      for (let i = 0; i < M.length; i++) {
        if (i === mi) continue;
        assert.ok(!texts.some((x) => x === `alone ${i}` || x === `A${i}: alone ${i}`), `${p.label}: got member ${i}'s post made while Redis was away`);
      }
    }
  });
});

describe('cluster: nginx -s reload under cross-node traffic', () => {
  eachCluster('ten reloads of one node: no post twice, the others get every post, Redis holds a pub and a sub per live worker', {
    timeout: 180000,
    only: (cluster) => cluster.label.startsWith('nginx'), // a reload is nginx's
  }, async (c, t) => {
    const [a, b, node] = c.members;
    // posters on the nodes that are not reloaded, receivers everywhere; the
    // receiver on A reconnects after each reload (its worker goes)
    const sB = await c.connect(b, 'poster', ['websocket']);
    const sC = await c.connect(node, 'poster', ['websocket']);
    await nameIt(c, sB, 'login', 'PB', { asker: sC, named: 1 });
    await nameIt(c, sC, 'login', 'PC', { asker: sB, named: 2 });
    const rA = c.client(a, 'receiver', ['websocket'], { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500 });
    const rB = await c.connect(b, 'receiver', ['polling']);
    const rC = await c.connect(node, 'receiver', ['websocket']);
    await rA.until(() => rA.connects > 0, 'connected');
    // a reload closes A's sessions; should the module say so with a
    // Socket.IO DISCONNECT, the client would not come back by itself
    let stop = false;
    rA.socket.on('disconnect', (reason) => {
      if (reason === 'io server disconnect' && !stop) rA.socket.connect();
    });

    const sent = { PB: [], PC: [] };
    const poster = async (p) => {
      for (let k = 0; !stop; k++) {
        const text = `${p.name}#${k}`;
        await post(p, text);
        sent[p.name].push(text);
        await sleep(50);
      }
    };
    const traffic = Promise.all([poster(sB), poster(sC)]);

    const old = [];
    for (let i = 0; i < 10; i++) {
      const before = workerPids(a.server);
      const connects = rA.connects;
      old.push(...before);
      nginxSignal(a.server, 'reload');
      // the new workers are up and A's receiver is back on one of them
      await until(() => workerPids(a.server).filter((pid) => !old.includes(pid)).length >= a.adapters, `reload ${i + 1}: new workers`);
      await rA.until(() => rA.connects > connects && rA.socket.connected, `reload ${i + 1}: back`, WAIT_MS);
      await sleep(300);
    }
    await sleep(1000);
    stop = true;
    await traffic;
    await waitGone(a.server, old, 20000);
    t.diagnostic(`after 10 reloads: ${sent.PB.length + sent.PC.length} posts; A's receiver connected ${rA.connects} times`);

    const texts = (p) => p.got.filter((e) => e[0] === 'message').map((e) => e[1]);
    await rB.until(() => texts(rB).length >= sent.PB.length + sent.PC.length, 'every post', WAIT_MS);
    await rC.until(() => texts(rC).length >= sent.PB.length + sent.PC.length, 'every post', WAIT_MS);
    await sleep(QUIET_MS);
    const all = [...sent.PB, ...sent.PC].map((x) => `${x.split('#')[0]}: ${x}`);
    for (const p of [rB, rC]) assert.deepEqual([...texts(p)].sort(), [...all].sort(), `${p.label}: every post once`);
    const onA = texts(rA);
    assert.equal(new Set(onA).size, onA.length, `${rA.label}: nothing twice`);
    assert.ok(onA.length > 0, `${rA.label} got posts between the reloads`);

    // posts cross both ways through the new workers
    const rA2 = await c.connect(a, 'after', ['websocket']);
    await nameIt(c, rA2, 'login', 'PA', { asker: rB, named: 3 });
    await post(rA2, 'from the reloaded node');
    for (const p of [rB, rC, sB, sC]) await p.waitFor('message', (m) => m === 'PA: from the reloaded node');
    for (const p of [sB, sC]) {
      await post(p, `to the reloaded node from ${p.name}`);
      for (const q of [rA, rA2]) await q.waitFor('message', (m) => m === `${p.name}: to the reloaded node from ${p.name}`);
    }

    // Redis: the members subscribed, and no more connections than the live workers need
    const expectedMembers = c.members.reduce((s, m) => s + m.adapters, 0);
    await waitAdapterMembers(c.redis, expectedMembers);
    const liveWorkers = [a, b].reduce((s, m) => s + workerPids(m.server).length, 0);
    let list;
    await until(async () => {
      list = (await c.redis.clientList()).filter((x) => !x.name.startsWith(REFERENCE_CLIENT_PREFIX) && !x.name.startsWith(TEST_CLIENT_PREFIX));
      return list.length <= 2 * liveWorkers;
    }, `at most ${2 * liveWorkers} module connections`).catch((err) => {
      throw new Error(`${err.message}: ${list.length} in CLIENT LIST: ${show(list.map((x) => `${x.addr} ${x.name} ${x.cmd} sub=${x.sub} psub=${x.psub}`))}`);
    });
    t.diagnostic(`CLIENT LIST: ${list.length} module connections for ${liveWorkers} live workers; ${await adapterMembers(c.redis)} adapter members`);
    assert.ok(children(a.server).every((x) => /worker process$/.test(x.title)), 'no old worker left');
  });
});

/** Polls pred() until it holds (bounded). */
async function until(pred, what, timeout = WAIT_MS, every = 100) {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeout) throw new Error(`timeout after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}
