// Fault injection (issue 9, "the C/C++ seam, for real"): the module built
// with -DSOCKETIO_FAULTS=ON makes the Nth allocation from now fail (operator
// new throws std::bad_alloc) when a countdown in a file that every worker
// maps reaches zero (src/ngx/ngx_http_socketio_fault.cpp). A victim client
// goes through the chat (handshake over each transport, login, a post, users,
// a private message, leaving) with the countdown armed at many points of its
// way, one at a time; between two steps two bystanders chat.
//
// Every step must end with: no worker crashed (same pids, no "exited on
// signal"), no sanitizer report (t/run-faults.sh runs it under ASan + UBSan),
// the victim either done or told (an error, an ack that never came, a
// disconnect: bounded waits, never a hang of the test), and the bystanders
// still chatting with every post delivered once. The [crit] "out of memory"
// lines the module logs for each fault are expected; any other [alert] or
// [crit] fails the test as in every t/ file.
//
// Runs only with SOCKETIO_FAULTS=1 and a fault build in SOCKETIO_MODULE:
//   t/run-faults.sh

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { sleep, withTimeout } from './lib/helpers.js';
import { startServer, workerPids } from './lib/server.js';

const ENABLED = process.env.SOCKETIO_FAULTS === '1';
const STEPS = Number(process.env.SOCKETIO_FAULT_STEPS || 90);

/** The countdown file: [countdown, injected, allocations] as int64. */
class Faults {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'socketio-faults-'));
    this.file = path.join(this.dir, 'faults');
    fs.writeFileSync(this.file, Buffer.alloc(24));
    this.fd = fs.openSync(this.file, 'r+');
  }
  read(i) {
    const b = Buffer.alloc(8);
    fs.readSync(this.fd, b, 0, 8, i * 8);
    return b.readBigInt64LE(0);
  }
  arm(n) {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    fs.writeSync(this.fd, b, 0, 8, 0);
  }
  get injected() { return Number(this.read(1)); }
  get allocations() { return Number(this.read(2)); }
  close() {
    fs.closeSync(this.fd);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const once = (socket, event, ms) =>
  withTimeout(new Promise((resolve) => socket.once(event, (...a) => resolve(a))), ms, event);

/** An emit with an ack, or null when none came in `ms`. */
const ask = (socket, ms, ...args) =>
  new Promise((resolve) => {
    socket.timeout(ms).emit(...args, (err, ...reply) => resolve(err ? null : reply));
  });

function client(server, transports) {
  return io(server.url, {
    path: '/socket.io/',
    transports,
    reconnection: false,
    forceNew: true,
    timeout: 1500,
  });
}

/** The stack of the last fault made, as the fault build wrote it in the error log. */
function lastFaultTrace(server) {
  const log = fs.readFileSync(path.join(server.prefix, 'error.log'), 'utf8');
  const at = log.lastIndexOf('socketio: fault injected at:');
  return at < 0 ? '(no fault trace in the error log)' : log.slice(at, at + 6000);
}

/**
 * The victim's way through the chat. Each wait is bounded: a fault may
 * make any step fail, and then the victim is done (closed or refused).
 * Returns how far it got.
 */
async function victim(server, transports, bystanderKey, tag) {
  const socket = client(server, transports);
  let reached = 'start';
  try {
    await once(socket, 'connect', 2000);
    reached = 'connected';
    const welcome = await ask(socket, 1500, 'login', `victim${tag}`);
    if (!welcome) return reached;
    reached = 'named';
    if (!(await ask(socket, 1500, 'message', `hello ${tag}`))) return reached;
    reached = 'posted';
    if (!(await ask(socket, 1500, 'users'))) return reached;
    reached = 'listed';
    if (!(await ask(socket, 1500, 'private message', { to: bystanderKey, message: `pm ${tag}` }))) return reached;
    reached = 'done';
    return reached;
  } catch {
    return reached;
  } finally {
    socket.disconnect();
  }
}

describe('allocation failures at every point of a client\'s way through the chat', { skip: !ENABLED && 'needs a fault build: t/run-faults.sh' }, () => {
  it('no crash, no sanitizer report; the victim is answered or closed; the bystanders go on', { timeout: 600000 }, async (t) => {
    const faults = new Faults();
    const server = await startServer({
      handler: 'chat',
      workers: 2,
      reuseport: true,
      extraMainConfig: `env SOCKETIO_FAULT_FILE=${faults.file};`,
      allowLog: [/\[crit\].*socketio: [a-z ]+: out of memory/],
    });
    const alice = client(server, ['websocket']);
    const bob = client(server, ['websocket']);
    try {
      await Promise.all([once(alice, 'connect', 5000), once(bob, 'connect', 5000)]);
      await ask(alice, 2000, 'join', { name: 'alice' });
      const bobKey = (await ask(bob, 2000, 'join', { name: 'bob' }))[0];
      const pids = workerPids(server).sort();
      assert.equal(pids.length, 2);

      let bobGot = [];
      bob.on('new chat msg', (m) => { if (m.sender === 'alice') bobGot.push(m.message); });
      let sent = 0;
      const bystanders = async (label) => {
        const text = `post ${++sent}`;
        const ack = await ask(alice, 3000, 'message', text);
        assert.deepEqual(ack, [`received "${text}"`], `alice's post acknowledged (${label})`);
        for (let i = 0; i < 100 && !bobGot.includes(text); i++) await sleep(20);
        assert.deepEqual(bobGot, [text], `bob got alice's post once, and nothing else of hers (${label})`);
        bobGot = [];
        assert.ok(alice.connected && bob.connected, `the bystanders are connected (${label})`);
      };

      // how many allocations the victim's way makes, fault-free
      const before = faults.allocations;
      for (const tr of [['polling'], ['websocket'], ['polling', 'websocket']]) {
        assert.equal(await victim(server, tr, bobKey, 'dry'), 'done', `a fault-free victim over ${tr} gets through`);
      }
      await sleep(100);
      const span = Math.max(STEPS, Math.ceil((faults.allocations - before) / 3));
      t.diagnostic(`a victim's way makes about ${span} allocations; ${STEPS} steps across it`);
      await bystanders('before any fault');

      const outcomes = {};
      let injected = faults.injected;
      const kinds = [['polling'], ['websocket'], ['polling', 'websocket']];
      for (let step = 0; step < STEPS; step++) {
        const n = 1 + Math.floor((step * span) / STEPS);
        const tr = kinds[step % kinds.length];
        faults.arm(n);
        const reached = await victim(server, tr, bobKey, step);
        faults.arm(0);
        await sleep(30);
        const hit = faults.injected > injected;
        injected = faults.injected;
        const key = `${hit ? 'fault' : 'no fault'}: ${reached}`;
        outcomes[key] = (outcomes[key] || 0) + 1;

        try {
          assert.deepEqual(workerPids(server).sort(), pids, `no worker died (step ${step}, allocation ${n}, ${tr})`);
          await bystanders(`after step ${step}, allocation ${n} over ${tr}, victim reached "${reached}"`);
        } catch (e) {
          // the fault build writes where each fault was made: say the last
          const state = (s) => `connected ${s.connected}, id ${s.id}, transport ${s.io.engine?.transport?.name} ${s.io.engine?.readyState}`;
          e.message += `\nalice: ${state(alice)}; bob: ${state(bob)}; at ${new Date().toISOString()}\n${lastFaultTrace(server)}`;
          throw e;
        }
      }
      t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
      assert.ok(faults.injected >= STEPS / 2, `most steps made a fault (${faults.injected} of ${STEPS})`);
    } finally {
      alice.disconnect();
      bob.disconnect();
      faults.arm(0);
      await server.stop();
      faults.close();
    }
  });
});
