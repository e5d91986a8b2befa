#!/usr/bin/env node
// The chat of shared/chat-contract.md on the reference Node.js server
// (npm socket.io 4.8, from t/node_modules), one process: what the module's
// `socketio_handler chat` is benchmarked against (tests/bench/run.sh).
//
//   node tests/bench/reference-chat.js --port PORT [--host 127.0.0.1]
//        [--path /socket.io/] [--ping-interval 25000] [--ping-timeout 20000]
//        [--relay EVENT,...]
//
// It follows the module's src/core/chat/chat.cpp where the contract leaves a
// choice, so that both servers send the same packets for the same load: a
// post is one broadcast per dialect room, the sender excepted; acks as the
// contract words them. Prints "listening PORT" on stdout once it accepts
// connections.
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

io.on('connection', (socket) => {
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
});

httpServer.listen({ host: opts.host, port: opts.port, backlog: 4096 }, () => {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
