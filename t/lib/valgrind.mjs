// Helpers of t/run-valgrind.sh (not a test file):
//
//   node lib/valgrind.mjs scenario URL   drives a small chat scenario with
//                                        socket.io-client against URL
//   node lib/valgrind.mjs check LOG      reads a valgrind memcheck log and
//                                        exits 1 on any error, or on a
//                                        "definitely lost" record with a
//                                        frame of the module
//
// The scenario: clients over polling only, WebSocket only and the default
// (polling, then the upgrade); seed 000 logins with acks, posts, demo and
// events doors, a private message, a relayed binary event, a few bad inputs
// answered by closing their sender, then every client disconnects (some
// with a DISCONNECT, some by dropping the connection). Under valgrind
// everything is slow: the timeouts are generous.

import fs from 'node:fs';
import { io } from 'socket.io-client';
import { WsClient, eioUrl, http, pollingHandshake, sleep, withTimeout } from './helpers.js';

const PATH = '/socket.io/';
const MODULE_FRAME = /ngx_http_socketio|socketio::/;

function client(url, transports) {
  return io(url, {
    path: PATH,
    forceNew: true,
    reconnection: false,
    timeout: 20000,
    ...(transports ? { transports } : {}),
  });
}

function connected(socket) {
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }),
    30000,
    'connect',
  );
}

const ack = (socket, ...args) => withTimeout(socket.timeout(20000).emitWithAck(...args), 25000, `ack of ${args[0]}`);

async function scenario(url) {
  const log = (m) => console.log(`scenario: ${m}`);
  const polling = client(url, ['polling']);
  const websocket = client(url, ['websocket']);
  const upgrade = client(url); // polling, then the upgrade
  const demo = client(url, ['websocket']);
  const all = [polling, websocket, upgrade, demo];
  await Promise.all(all.map(connected));
  log('4 clients connected');
  if (!upgrade.io.engine.transport || upgrade.io.engine.transport.name !== 'websocket') {
    await withTimeout(new Promise((r) => upgrade.io.engine.once('upgrade', r)), 30000, 'upgrade');
  }
  log(`upgraded: ${upgrade.io.engine.transport.name}`);

  const received = new Map(all.map((s) => [s, []]));
  for (const s of all) {
    s.on('message', (m) => received.get(s).push(m));
    s.on('new message', (m) => received.get(s).push(m));
    s.on('new chat msg', (m) => received.get(s).push(m));
  }
  if ((await ack(polling, 'login', 'Polly')) !== 'Welcome Polly!') throw new Error('login Polly');
  if ((await ack(websocket, 'login', 'Webb')) !== 'Welcome Webb!') throw new Error('login Webb');
  const key = await ack(upgrade, 'join', { name: 'Uppy' });
  const login = new Promise((r) => demo.once('login', r));
  demo.emit('add user', 'Demo');
  await withTimeout(login, 20000, 'demo login');
  log('logged in');

  for (let i = 0; i < 5; i++) {
    for (const s of [polling, websocket, upgrade]) await ack(s, 'message', `hello ${i} é 🎉`);
    demo.emit('new message', `demo ${i}`);
    demo.emit('typing');
    demo.emit('stop typing');
  }
  const users = await ack(polling, 'users');
  if (!Array.isArray(users) || users.length < 4) throw new Error(`users: ${JSON.stringify(users)}`);
  if ((await ack(websocket, 'private message', { to: key, message: 'psst' })) !== 'sent') throw new Error('private');
  await ack(websocket, 'private message', { to: 'nobody', message: 'x' });
  await ack(polling, 'message', { not: 'a string' });
  await ack(polling, 'login', '');
  // each of the other three got 15 posts (+5 for the demo's)
  const deadline = Date.now() + 30000;
  while ([...received.values()].some((r) => r.length < 15)) {
    if (Date.now() > deadline) {
      throw new Error(`posts missing: ${[...received.values()].map((r) => r.length).join(',')}`);
    }
    await sleep(100);
  }
  log(`posts received: ${[...received.values()].map((r) => r.length).join(',')}`);

  // bad inputs: each closes only its sender
  const bad = [
    ['4abc'], // unknown Socket.IO packet type
    ['42["message"'], // truncated JSON
    ['451-["message",{"_placeholder":true,"num":0}]', '42["x"]'], // text where an attachment is due
  ];
  for (const packets of bad) {
    const ws = new WsClient(eioUrl(url, PATH, { transport: 'websocket' }, { ws: true }), { autoPong: true });
    await ws.next({ timeout: 20000 }); // open
    ws.send('40');
    await ws.next({ timeout: 20000 }); // CONNECT
    for (const p of packets) ws.send(p);
    await ws.waitClose(20000);
  }
  const p = await pollingHandshake(url, PATH);
  const res = await http(p.url(), { method: 'POST', body: 'not a packet', timeout: 20000 });
  await res.text();
  const res2 = await http(eioUrl(url, PATH, { transport: 'polling', sid: 'AAAAAAAAAAAAAAAAAAAA' }), { timeout: 20000 });
  await res2.text();
  log('bad inputs answered');
  await ack(websocket, 'message', 'still here');

  // a server-side close over polling: the second door of a session that
  // then disconnects, and two clients that just drop their connection
  polling.disconnect();
  websocket.disconnect();
  upgrade.io.engine.close(); // no DISCONNECT packet: the transport closes
  demo.io.engine.transport.ws?.terminate?.();
  await sleep(2000);
  // a last one that stays connected until nginx quits
  const last = client(url);
  await connected(last);
  await ack(last, 'login', 'Last');
  log('done; one client stays connected for the quit');
  // the caller sends SIGQUIT and waits for exit; give it a moment
  return last;
}

function check(file) {
  const text = fs.readFileSync(file, 'utf8');
  // records are separated by "==PID== " lines with nothing after the prefix
  const records = [];
  let cur = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^==\d+== ?/, '');
    if (line.trim() === '') {
      if (cur.length) records.push(cur);
      cur = [];
    } else {
      cur.push(line);
    }
  }
  if (cur.length) records.push(cur);

  const errors = [];
  const moduleLeaks = [];
  const otherLeaks = [];
  for (const r of records) {
    const head = r[0];
    const stack = r.filter((l) => /^\s+(at|by) 0x/.test(l));
    if (/definitely lost in loss record/.test(head)) {
      (stack.some((l) => MODULE_FRAME.test(l)) ? moduleLeaks : otherLeaks).push(r.join('\n'));
    } else if (/(indirectly|possibly) lost in loss record|still reachable in loss record/.test(head)) {
      /* not counted */
    } else if (stack.length > 0 && !/^(HEAP SUMMARY|LEAK SUMMARY|Memcheck|Copyright|Using Valgrind|Command:)/.test(head)) {
      errors.push(r.join('\n'));
    }
  }
  const summary = text.match(/ERROR SUMMARY: .*/g) || [];
  const leak = (text.match(/(definitely|indirectly|possibly) lost: .*|still reachable: .*/g) || []).slice(-4);
  console.log(`valgrind: ${summary.slice(-1)[0] || 'no ERROR SUMMARY (did nginx exit?)'}`);
  for (const l of leak) console.log(`valgrind: ${l}`);
  console.log(
    `valgrind: ${errors.length} error record(s), ${moduleLeaks.length} definite leak(s) in the module, ` +
      `${otherLeaks.length} definite leak(s) elsewhere (nginx, libraries)`,
  );
  for (const e of errors) console.log(`--- error\n${e}`);
  for (const e of moduleLeaks) console.log(`--- definitely lost (module)\n${e}`);
  for (const e of otherLeaks) console.log(`--- definitely lost (not the module, not counted)\n${e}`);
  if (summary.length === 0) return 1;
  return errors.length > 0 || moduleLeaks.length > 0 ? 1 : 0;
}

const [cmd, arg] = process.argv.slice(2);
if (cmd === 'scenario') {
  const last = await scenario(arg);
  // stay alive with the last client connected until the caller kills us
  // (after nginx has quit), or 60 s
  process.on('SIGTERM', () => {
    last.disconnect();
    process.exit(0);
  });
  console.log('scenario: READY');
  await sleep(60000);
  process.exit(0);
} else if (cmd === 'check') {
  process.exit(check(arg));
} else {
  console.error('usage: node lib/valgrind.mjs scenario URL | check LOG');
  process.exit(2);
}
