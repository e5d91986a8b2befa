// A client that is neither Node's ws nor a browser: socketio_lws_client
// (tests/tools/lws_client.c, libwebsockets 4.1) speaks Socket.IO over an
// Engine.IO WebSocket and prints every packet it receives on a line.
// Build it with `cmake --build build` (target socketio_lws_client); the tests
// are skipped when <repo>/build/tests/tools/socketio_lws_client is missing.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { io } from 'socket.io-client';
import { startServer, isReference, REPO_DIR } from './lib/server.js';
import { SID_RE, withTimeout } from './lib/helpers.js';

const LWS = process.env.SOCKETIO_LWS_CLIENT || path.join(REPO_DIR, 'build', 'tests', 'tools', 'socketio_lws_client');
const MISSING = fs.existsSync(LWS)
  ? false
  : `${LWS} is not built (cmake --build build --target socketio_lws_client)`;
const T = { timeout: 15000 };
const NGINX_ONLY = isReference ? 'the chat handler is nginx-only' : false;

/**
 * Runs the client. Resolves `done` with {code, signal, lines, stderr};
 * waitLine(re) resolves with the first stdout line matching re.
 */
function runLws(url, { emits = [], count, timeout = 5000 } = {}) {
  const args = [url];
  for (const [event, json] of emits) args.push('--emit', event, json);
  if (count !== undefined) args.push('--count', String(count));
  args.push('--timeout', String(timeout));
  const proc = spawn(LWS, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let partial = '';
  let stderr = '';
  const waiters = [];
  const wake = () => waiters.splice(0).forEach((f) => f());
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    lines.push(...parts);
    wake();
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      if (partial) lines.push(partial);
      wake();
      resolve({ code, signal, lines, stderr });
    });
  });
  let exited = false;
  done.then(() => (exited = true));
  return {
    proc,
    lines,
    done: withTimeout(done, timeout + 5000, 'socketio_lws_client to exit'),
    waitLine(re, ms = 5000) {
      return withTimeout(
        new Promise((resolve, reject) => {
          const check = () => {
            const hit = lines.find((l) => re.test(l));
            if (hit !== undefined) resolve(hit);
            else if (exited) reject(new Error(`client exited without a line matching ${re}: ${JSON.stringify(lines)} ${stderr}`));
            else waiters.push(check);
          };
          check();
        }),
        ms,
        `a line matching ${re}`,
      );
    },
    kill() {
      if (!exited) proc.kill('SIGTERM');
    },
  };
}

const wsUrl = (server, p) => `${server.url.replace(/^http/, 'ws')}${p}`;

describe('socketio_lws_client against the echo handler', { skip: MISSING }, () => {
  let server;
  const PATH = '/socket.io/';

  before(async () => {
    server = await startServer({ path: PATH, handler: 'echo', pingInterval: 300, pingTimeout: 200 });
  });

  after(async () => {
    await server?.stop();
  });

  it('gets the open packet, the connect answer, auth and message-back', T, async () => {
    const c = runLws(wsUrl(server, PATH), {
      emits: [
        ['message', '"hello"'],
        ['message', '{"a":[1,2,{"b":null}],"é":"ü"}'],
        ['message', '[1,"two",true]'],
      ],
      count: 6,
    });
    const { code, lines, stderr } = await c.done;
    assert.equal(code, 0, `exit code (stderr: ${stderr}, lines ${JSON.stringify(lines)})`);
    const packets = lines.filter((l) => l !== '2');
    assert.equal(packets.length, 6, JSON.stringify(lines));

    assert.match(packets[0], /^0\{/);
    const open = JSON.parse(packets[0].slice(1));
    assert.match(open.sid, SID_RE);
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 200);
    assert.equal(open.maxPayload, 1000000);

    assert.match(packets[1], /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
    assert.notEqual(JSON.parse(packets[1].slice(2)).sid, open.sid, 'the Socket.IO id is not the Engine.IO sid');

    // auth may come before or after the echoes; the echoes keep their order
    const rest = packets.slice(2);
    assert.ok(rest.includes('42["auth",{}]'), JSON.stringify(rest));
    assert.deepEqual(
      rest.filter((l) => l !== '42["auth",{}]').map((l) => JSON.parse(l.slice(2))),
      [
        ['message-back', 'hello'],
        ['message-back', { a: [1, 2, { b: null }], é: 'ü' }],
        ['message-back', [1, 'two', true]],
      ],
    );
  });

  it('answers pings: the session outlives several ping intervals', T, async () => {
    // no --count: runs until its timeout (exit 1) unless the server closes
    const c = runLws(wsUrl(server, PATH), { timeout: 2000 });
    const { code, lines, stderr } = await c.done;
    assert.equal(code, 1, 'stopped by its own timeout');
    assert.match(stderr, /timeout after 2000 ms/);
    assert.doesNotMatch(stderr, /close frame from the server|closed after/);
    const pings = lines.filter((l) => l === '2').length;
    assert.ok(pings >= 4, `${pings} pings in 2 s with pingInterval 300 (${JSON.stringify(lines)})`);
  });

  it('exits 1 when the server is not there', T, async () => {
    const c = runLws('ws://127.0.0.1:1/socket.io/', { count: 1, timeout: 3000 });
    const { code, stderr } = await c.done;
    assert.equal(code, 1, stderr);
  });
});

describe('socketio_lws_client against the chat handler', { skip: MISSING || NGINX_ONLY }, () => {
  let server;
  const PATH = '/socket.io/';

  before(async () => {
    server = await startServer({
      path: PATH,
      handler: 'chat',
      pingInterval: 25000,
      pingTimeout: 20000,
      extraLocationDirectives: 'socketio_chat_relay tweet;',
    });
  });

  after(async () => {
    await server?.stop();
  });

  it('one client logs in and posts, the other receives "NAME: TEXT"', T, async () => {
    const reader = runLws(wsUrl(server, PATH), { count: 3, timeout: 8000 });
    let writer;
    try {
      await reader.waitLine(/^40\{"sid":/);
      writer = runLws(wsUrl(server, PATH), {
        emits: [
          ['login', '"alice"'],
          ['message', '"hello from lws"'],
        ],
        timeout: 8000,
      });
      await writer.waitLine(/^40\{"sid":/);
      const { code, lines, stderr } = await reader.done;
      assert.equal(code, 0, `reader exit code (stderr: ${stderr}, lines ${JSON.stringify(lines)})`);
      const packets = lines.filter((l) => l !== '2');
      assert.match(packets[0], /^0\{"sid":/);
      assert.match(packets[1], /^40\{"sid":/);
      assert.equal(packets[2], '42["message","alice: hello from lws"]');
    } finally {
      reader.kill();
      writer?.kill();
    }
    // the writer got nothing but its open packet and its connect answer
    const w = await writer.done;
    const wPackets = w.lines.filter((l) => l !== '2');
    assert.equal(wPackets.length, 2, JSON.stringify(w.lines));
  });

  it('prints a binary attachment relayed from a socket.io-client as <binary N bytes HEX>', T, async () => {
    const reader = runLws(wsUrl(server, PATH), { count: 4, timeout: 8000 });
    const sender = io(server.url, { path: PATH, transports: ['websocket'], forceNew: true, reconnection: false });
    // listened for at once: the sender may connect before the reader has
    // printed its connect answer
    const senderConnected = new Promise((resolve, reject) => {
      sender.once('connect', resolve);
      sender.once('connect_error', (err) => reject(new Error(`the sender: connect_error ${err.message}`)));
    });
    senderConnected.catch(() => {}); // awaited below
    try {
      await reader.waitLine(/^40\{"sid":/);
      await withTimeout(senderConnected, 5000, 'the sender to connect').catch((err) => {
        const log = fs.existsSync(path.join(server.prefix, 'error.log'))
          ? fs.readFileSync(path.join(server.prefix, 'error.log'), 'utf8').split('\n').slice(-40).join('\n')
          : '(no error.log)';
        throw new Error(`${err.message}; connected: ${sender.connected}; error.log:\n${log}`);
      });
      sender.emit('tweet', { text: 'bin' }, Buffer.from([0x00, 0x01, 0xfe, 0xff]));
      const { code, lines, stderr } = await reader.done;
      assert.equal(code, 0, `reader exit code (stderr: ${stderr}, lines ${JSON.stringify(lines)})`);
      const packets = lines.filter((l) => l !== '2');
      assert.equal(packets[2], '451-["tweet",{"text":"bin"},{"_placeholder":true,"num":0}]');
      assert.equal(packets[3], '<binary 4 bytes 0001feff>');
    } finally {
      reader.kill();
      sender.disconnect();
    }
  });
});
