#!/usr/bin/env node
// The chat of shared/chat-contract.md on the reference Node.js server
// (npm socket.io 4.8, from t/node_modules), one process: what the module's
// `socketio_handler chat` is benchmarked against (tests/bench/run.sh).
//
//   node tests/bench/reference-chat.js --port PORT [--host 127.0.0.1]
//        [--path /socket.io/] [--ping-interval 25000] [--ping-timeout 20000]
//        [--relay EVENT,...]
//        [--redis HOST:PORT [--redis-prefix socket.io]
//         [--redis-password P] [--redis-user U] [--redis-requests-timeout 5000]]
//
// It follows the module's src/core/chat/chat.cpp where the contract leaves a
// choice, so that both servers send the same packets for the same load: a
// post is one broadcast per dialect room, the sender excepted; acks as the
// contract words them. Prints "listening PORT" on stdout once it accepts
// connections.
//
// With --redis it is one member of a chat of several servers (the contract's
// "Several servers" section, issue 10): @socket.io/redis-adapter over that
// Redis, the dialect rooms and `chat:user:KEY`, `socket.data` {key, name},
// keys from `INCR <prefix>-chat#key`, `users` and `numUsers` from
// `io.fetchSockets()` (every member's named sockets). It is what t/cluster.test.js
// runs today and what the module's nodes must agree with. It listens once
// both of its Redis connections are up, or after 3 s without them (it then
// starts as a chat of its own and joins the others when Redis answers).
// Without --redis
// nothing of that is loaded and the chat is exactly the one-process chat the
// benchmark measures.
'use strict';

const http = require('node:http');
const path = require('node:path');
const { createRequire } = require('node:module');

// socket.io as t/ installs it (t/package-lock.json)
const tRequire = createRequire(path.join(__dirname, '..', '..', 't', 'package.json'));
const { Server } = tRequire('socket.io');

function parseArgs(argv) {
  const o = {
    host: '127.0.0.1',
    port: 0,
    path: '/socket.io/',
    pingInterval: 25000,
    pingTimeout: 20000,
    relay: [],
    redis: null, // HOST:PORT
    redisPrefix: 'socket.io', // the adapter's `key` option
    redisPassword: undefined,
    redisUser: undefined,
    redisRequestsTimeout: 5000, // the adapter's default, and the module's requests_timeout
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(v());
    else if (a === '--host') o.host = v();
    else if (a === '--path') o.path = v();
    else if (a === '--ping-interval') o.pingInterval = Number(v());
    else if (a === '--ping-timeout') o.pingTimeout = Number(v());
    else if (a === '--relay') o.relay = v().split(',').filter(Boolean);
    else if (a === '--redis') o.redis = v();
    else if (a === '--redis-prefix') o.redisPrefix = v();
    else if (a === '--redis-password') o.redisPassword = v();
    else if (a === '--redis-user') o.redisUser = v();
    else if (a === '--redis-requests-timeout') o.redisRequestsTimeout = Number(v());
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const opts = parseArgs(process.argv);

const ROOM = { classic: 'chat:classic', events: 'chat:events', demo: 'chat:demo' };

// A name: a string, trimmed as JavaScript trims, 1 to 64 code points, no
// C0/C1 control character.
function validName(v) {
  if (typeof v !== 'string') return null;
  const n = v.trim();
  const len = [...n].length;
  if (len < 1 || len > 64) return null;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(n)) return null;
  return n;
}

// The directory: keys are "u" + a base-36 counter, never reused.
let nextKey = 0;
const users = new Map(); // key -> { key, name, socketId }

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});
// as nginx's keepalive_timeout (75s): polling clients keep their connections
httpServer.keepAliveTimeout = 75000;
httpServer.headersTimeout = 76000;

const io = new Server(httpServer, {
  path: opts.path,
  serveClient: false,
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  maxHttpBufferSize: 1e6,
  transports: ['polling', 'websocket'],
});

const relay = new Set(opts.relay);

function answer(ack, text) {
  if (typeof ack === 'function') ack(text);
}

function localConnection(socket) {
  const m = { named: false, dialect: 'classic', key: null, name: null };
  socket.join(ROOM.classic);

  function name(newName, dialect) {
    const first = !m.named;
    if (first) m.key = `u${(nextKey++).toString(36)}`;
    if (m.dialect !== dialect) {
      socket.leave(ROOM[m.dialect]);
      socket.join(ROOM[dialect]);
      m.dialect = dialect;
    }
    m.named = true;
    m.name = newName;
    users.set(m.key, { key: m.key, name: m.name, socketId: socket.id });
    if (first) {
      socket.to(ROOM.events).emit('user connected', { key: m.key, name: m.name });
      socket.to(ROOM.demo).emit('user joined', { username: m.name, numUsers: users.size });
      return;
    }
    socket.to(ROOM.events).emit('user disconnected', m.key);
    socket.to(ROOM.events).emit('user connected', { key: m.key, name: m.name });
  }

  function post(text) {
    socket.to(ROOM.classic).emit('message', `${m.name}: ${text}`);
    socket.to(ROOM.events).emit('new chat msg', { key: m.key, sender: m.name, message: text });
    socket.to(ROOM.demo).emit('new message', { username: m.name, message: text });
  }

  socket.on('login', (raw, ack) => {
    const n = validName(raw);
    if (n === null) return answer(ack, 'invalid name');
    name(n, 'classic');
    answer(ack, `Welcome ${n}!`);
  });

  socket.on('join', (user, ack) => {
    const n = user && typeof user === 'object' && !Array.isArray(user) ? validName(user.name) : null;
    if (n === null) return answer(ack, 'invalid name');
    name(n, 'events');
    answer(ack, m.key);
  });

  socket.on('add user', (raw) => {
    if (m.named) return;
    const n = validName(raw);
    if (n === null) return;
    name(n, 'demo');
    socket.emit('login', { numUsers: users.size });
  });

  socket.on('message', (text, ack) => {
    if (!m.named) {
      if (typeof ack === 'function') return ack('must login first');
      if (typeof text !== 'string') return;
      // seed 001: the first message of a user is its name
      const n = validName(text);
      if (n === null) return socket.emit('message', 'invalid name');
      name(n, 'classic');
      socket.emit('message', `Welcome ${n}!`);
      return;
    }
    if (typeof text !== 'string') return answer(ack, 'invalid message');
    post(text);
    answer(ack, `received "${text}"`);
  });

  socket.on('new message', (text) => {
    if (m.named && typeof text === 'string') post(text);
  });

  for (const ev of ['typing', 'stop typing']) {
    socket.on(ev, () => {
      if (m.named) socket.to(ROOM.demo).emit(ev, { username: m.name });
    });
  }

  socket.on('users', (ack) => {
    answer(ack, [...users.values()].map((u) => ({ key: u.key, name: u.name })));
  });

  socket.on('private message', (msg, ack) => {
    if (!m.named) return answer(ack, 'must login first');
    const ok = msg && typeof msg === 'object' && typeof msg.to === 'string' && typeof msg.message === 'string';
    const target = ok ? users.get(msg.to) : undefined;
    if (!target) return answer(ack, 'no such user');
    io.to(target.socketId).emit('private message', {
      from: { key: m.key, name: m.name },
      message: msg.message,
    });
    answer(ack, 'sent');
  });

  socket.onAny((event, ...args) => {
    if (!relay.has(event)) return;
    if (typeof args[args.length - 1] === 'function') args.pop(); // the ack is not relayed
    socket.broadcast.emit(event, ...args);
  });

  socket.on('disconnect', () => {
    if (!m.named) return;
    users.delete(m.key);
    socket.to(ROOM.events).emit('user disconnected', m.key);
    socket.to(ROOM.demo).emit('user left', { username: m.name, numUsers: users.size });
  });
}

function listen() {
  httpServer.listen({ host: opts.host, port: opts.port, backlog: 4096 }, () => {
    process.stdout.write(`listening ${httpServer.address().port}\n`);
  });
}

if (opts.redis) {
  startCluster().catch((err) => {
    process.stderr.write(`reference-chat: ${err.stack || err}\n`);
    process.exit(1);
  });
} else {
  io.on('connection', localConnection);
  listen();
}

// --- several servers over Redis ---------------------------------------------

async function startCluster() {
  const { createClient } = tRequire('redis');
  const { createAdapter } = tRequire('@socket.io/redis-adapter');

  const [host, port] = splitAddress(opts.redis);
  const base = {
    socket: {
      host,
      port,
      connectTimeout: 2000,
      // back within half a second of Redis coming back (node-redis's own
      // default): the contract wants posts to cross again soon after
      reconnectStrategy: (retries) => Math.min(50 + retries * 50, 500),
    },
    ...(opts.redisUser ? { username: opts.redisUser } : {}),
    ...(opts.redisPassword !== undefined ? { password: opts.redisPassword } : {}),
  };
  // The publishing client fails fast while Redis is away (no offline queue):
  // what is posted meanwhile is not sent later ("what was posted meanwhile
  // does not cross"), INCR and PUBSUB NUMSUB reject at once, so naming and
  // `users` fall back to this server alone instead of waiting. The
  // subscribing client queues: its subscriptions are made once, and
  // node-redis makes them again on every reconnection.
  // (named, so that CLIENT LIST tells this server's connections from others')
  const pub = createClient({ ...base, name: `reference-chat-${process.pid}-pub`, disableOfflineQueue: true });
  const sub = createClient({ ...base, name: `reference-chat-${process.pid}-sub` });

  // The adapter publishes without catching (broadcasts, answers): while
  // Redis is away every publish rejects, which must not end the process.
  const publish = pub.publish.bind(pub);
  pub.publish = (...args) => publish(...args).catch(() => 0);

  let up = null; // logged once per change
  const report = (isUp, why) => {
    if (up === isUp) return;
    up = isUp;
    process.stderr.write(`reference-chat: redis ${opts.redis} ${isUp ? 'connected' : `lost (${why})`}\n`);
  };
  for (const c of [pub, sub]) {
    c.on('error', (err) => report(false, err.message));
    c.on('end', () => report(false, 'closed'));
  }

  const keyName = `${opts.redisPrefix}-chat#key`;
  let maxKey = 0; // the highest counter value this server drew
  // A Redis that comes back empty (no persistence) would count from 1 again
  // and give out the keys of users still connected: each member raises the
  // counter to the highest value it drew, before its own next INCR (the
  // commands of one connection keep their order).
  const RAISE = "local v = tonumber(redis.call('GET', KEYS[1]) or '0') " +
    "if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 0";
  pub.on('ready', () => {
    report(true);
    if (maxKey > 0) pub.sendCommand(['EVAL', RAISE, '1', keyName, String(maxKey)]).catch(() => {});
  });
  sub.on('ready', () => report(true));

  // Start with Redis if it answers within a few seconds, alone otherwise
  // (the clients keep trying in the background).
  const ready = (c) => c.connect().then(() => true, () => false);
  const connecting = Promise.all([ready(pub), ready(sub)]);
  await Promise.race([connecting, new Promise((resolve) => setTimeout(resolve, 3000))]);

  io.adapter(createAdapter(pub, sub, { key: opts.redisPrefix, requestsTimeout: opts.redisRequestsTimeout }));
  const nsp = io.of('/');
  // Keys made while Redis cannot be reached carry this server's id and a
  // ".", which no base-36 counter value has: they never equal a shared one.
  const serverId = nsp.adapter.uid;
  let localKeys = 0;
  const fetchBound = opts.redisRequestsTimeout + 1000;

  async function newKey() {
    try {
      const n = await withTimeout(pub.incr(keyName), 2000);
      if (n > maxKey) maxKey = n;
      return `u${n.toString(36)}`;
    } catch {
      return `u${serverId}.${(localKeys++).toString(36)}`;
    }
  }

  /** {key, name} of the named sockets of every member; of this one only when the others cannot be asked. */
  async function namedUsers() {
    let sockets;
    try {
      // the adapter bounds the answers by requestsTimeout, but not its
      // PUBSUB NUMSUB before them: a Redis that hangs instead of failing
      sockets = await withTimeout(io.fetchSockets(), fetchBound);
    } catch {
      sockets = await io.local.fetchSockets();
    }
    return sockets
      .filter((s) => s.data && typeof s.data.name === 'string')
      .map((s) => ({ key: s.data.key, name: s.data.name }));
  }

  /** Whether a socket of `room` exists on some member (this one alone when the others cannot be asked). */
  async function roomExists(room) {
    try {
      return (await withTimeout(io.in(room).fetchSockets(), fetchBound)).length > 0;
    } catch {
      return (await io.local.in(room).fetchSockets()).length > 0;
    }
  }

  io.on('connection', (socket) => clusterConnection(socket, { newKey, namedUsers, roomExists }));
  listen();
}

function splitAddress(address) {
  const i = address.lastIndexOf(':');
  if (i <= 0) throw new Error(`--redis wants HOST:PORT, not ${address}`);
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// As the module's chat.cpp: a typing notice is told on a change of state
// only, 10 changes at once, then 5 a second.
const TYPING_BURST = 10;
const TYPING_PER_SECOND = 5;

/**
 * One socket of the chat of several servers. Naming, `users` and
 * `numUsers` wait for Redis (INCR, fetchSockets): a socket's events are
 * handled one after the other, in the order they came, so that what it
 * causes keeps that order (its `user joined` before its first post).
 */
function clusterConnection(socket, { newKey, namedUsers, roomExists }) {
  const m = { named: false, dialect: 'classic', key: null, name: null, typing: false, budget: TYPING_BURST, typingAt: 0 };
  socket.join(ROOM.classic);
  const userRoom = () => `chat:user:${m.key}`;

  let chain = Promise.resolve();
  const serial = (fn) => (...args) => {
    chain = chain.then(() => fn(...args)).catch((err) => {
      process.stderr.write(`reference-chat: ${err.stack || err}\n`);
    });
  };
  // after a wait, a socket that left meanwhile must not be put in rooms
  // (socket.io would keep a room entry for a socket it no longer has)
  const gone = () => !socket.connected;

  const numUsers = async () => (await namedUsers()).length;

  async function name(newName, dialect) {
    const first = !m.named;
    if (first) {
      const key = await newKey();
      if (gone()) return false;
      m.key = key;
      socket.join(userRoom());
    }
    if (m.dialect !== dialect) {
      socket.leave(ROOM[m.dialect]);
      socket.join(ROOM[dialect]);
      m.dialect = dialect;
    }
    m.named = true;
    m.name = newName;
    socket.data = { key: m.key, name: m.name };
    if (first) {
      socket.to(ROOM.events).emit('user connected', { key: m.key, name: m.name });
      socket.to(ROOM.demo).emit('user joined', { username: m.name, numUsers: await numUsers() });
      return true;
    }
    socket.to(ROOM.events).emit('user disconnected', m.key);
    socket.to(ROOM.events).emit('user connected', { key: m.key, name: m.name });
    return true;
  }

  function post(text) {
    socket.to(ROOM.classic).emit('message', `${m.name}: ${text}`);
    socket.to(ROOM.events).emit('new chat msg', { key: m.key, sender: m.name, message: text });
    socket.to(ROOM.demo).emit('new message', { username: m.name, message: text });
  }

  socket.on('login', serial(async (raw, ack) => {
    const n = validName(raw);
    if (n === null) return answer(ack, 'invalid name');
    if (await name(n, 'classic')) answer(ack, `Welcome ${n}!`);
  }));

  socket.on('join', serial(async (user, ack) => {
    const n = user && typeof user === 'object' && !Array.isArray(user) ? validName(user.name) : null;
    if (n === null) return answer(ack, 'invalid name');
    if (await name(n, 'events')) answer(ack, m.key);
  }));

  socket.on('add user', serial(async (raw) => {
    if (m.named) return;
    const n = validName(raw);
    if (n === null) return;
    if (!(await name(n, 'demo'))) return;
    socket.emit('login', { numUsers: await numUsers() });
  }));

  socket.on('message', serial(async (text, ack) => {
    if (!m.named) {
      if (typeof ack === 'function') return ack('must login first');
      if (typeof text !== 'string') return;
      // seed 001: the first message of a user is its name
      const n = validName(text);
      if (n === null) return socket.emit('message', 'invalid name');
      if (await name(n, 'classic')) socket.emit('message', `Welcome ${n}!`);
      return;
    }
    if (typeof text !== 'string') return answer(ack, 'invalid message');
    post(text);
    answer(ack, `received "${text}"`);
  }));

  socket.on('new message', serial((text) => {
    if (m.named && typeof text === 'string') post(text);
  }));

  for (const ev of ['typing', 'stop typing']) {
    socket.on(ev, serial(() => {
      if (!m.named) return;
      const typing = ev === 'typing';
      if (typing === m.typing) return;
      const now = Date.now();
      m.budget = Math.min(TYPING_BURST, m.budget + ((now - m.typingAt) / 1000) * TYPING_PER_SECOND);
      m.typingAt = now;
      if (m.budget < 1) return;
      m.budget -= 1;
      m.typing = typing;
      socket.to(ROOM.demo).emit(ev, { username: m.name });
    }));
  }

  socket.on('users', serial(async (ack) => {
    if (typeof ack !== 'function') return;
    ack(await namedUsers());
  }));

  socket.on('private message', serial(async (msg, ack) => {
    if (!m.named) return answer(ack, 'must login first');
    const ok = msg && typeof msg === 'object' && typeof msg.to === 'string' && typeof msg.message === 'string';
    const room = ok ? `chat:user:${msg.to}` : null;
    if (!room || !(await roomExists(room))) return answer(ack, 'no such user');
    io.to(room).emit('private message', { from: { key: m.key, name: m.name }, message: msg.message });
    answer(ack, 'sent');
  }));

  socket.onAny((event, ...args) => {
    if (!relay.has(event)) return;
    if (typeof args[args.length - 1] === 'function') args.pop(); // the ack is not relayed
    socket.broadcast.emit(event, ...args);
  });

  socket.on('disconnect', serial(async () => {
    if (!m.named) return;
    socket.to(ROOM.events).emit('user disconnected', m.key);
    socket.to(ROOM.demo).emit('user left', { username: m.name, numUsers: await numUsers() });
  }));
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
