// The raw clients of t/flood.test.js (issue 9): Socket.IO clients over
// WebSocket on bare TCP sockets, run in a worker thread of their own so that
// the test's main thread, where the bystanders measure their latency, does
// not share an event loop with a client writing as fast as its socket takes.
//
// The thread holds
//   - idle users: connected, named through the classic door (`login`),
//     reading and discarding what they get (answering pings), so that
//     `users` has a directory to list and posts have receivers;
//   - candidates: connected (`40`), not yet named; the test keeps the one on
//     the worker it wants as the thread's own client and closes the others;
//   - the flooder (an own client): it writes one batch of masked frames,
//     many Socket.IO packets back to back, whenever its socket drains, for
//     a set time, and reads everything the server sends back (or the server
//     would rightly close it as a slow reader at socketio_output_limit).
//
// Server frames are parsed as a stream: only the first CAP bytes of each
// message are kept (enough to tell a ping, an ack and its id, a close code),
// so a flood of large answers (`users` lists) costs no copying.
//
// The receiver of t/flood.test.js is such a client too, in a thread of its
// own: it times the poster's posts as they arrive, however many typing
// notices come with them, without sharing an event loop with the poster.
//
// Main thread: `RawThread.start({port, path})`, then the methods below
// (each one message to the thread and its answer).

import crypto from 'node:crypto';
import net from 'node:net';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const CAP = 256;
const POST_RE = /^42\["message","poster: p(\d+)"\]$|^42\["new message",\{"username":"poster","message":"p(\d+)"\}\]$/;

/** Now, in ms since the epoch with µs precision: comparable between threads. */
export const epochNow = () => performance.timeOrigin + performance.now();

/** One masked client text frame. The key is random: the server unmasks every byte anyway. */
export function maskedFrame(text) {
  const data = Buffer.from(text, 'utf8');
  const len = data.length;
  let head;
  if (len < 126) {
    head = Buffer.from([0x81, 0x80 | len]);
  } else if (len <= 0xffff) {
    head = Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x81;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const key = crypto.randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

/**
 * A raw Socket.IO client over WebSocket: the handshake, `40`, pongs, acks by
 * id; every server message counted, only its first CAP bytes looked at.
 */
class RawSio {
  constructor(port, path, label) {
    this.port = port;
    this.path = path;
    this.label = label;
    this.head = '';
    this.upgraded = false;
    // frame parser state
    this.hdr = Buffer.alloc(14);
    this.hdrLen = 0;
    this.hdrNeed = 2;
    this.remaining = -1; // payload bytes still to come; -1: reading a header
    this.fin = false;
    this.opcode = 0;
    this.msgOpcode = 0;
    this.prefix = Buffer.alloc(CAP);
    this.prefixLen = 0;
    this.msgLen = 0;
    // what came in
    this.messagesIn = 0;
    this.bytesIn = 0;
    this.acksIn = 0;
    this.pings = 0;
    this.closeFrame = null; // {code, reason}
    this.ended = null; // why the TCP connection ended
    this.pending = new Map(); // ack id -> resolve
    this.events = []; // first CAP bytes of the events (42...) received, up to 50
    this.posts = new Map(); // post number -> time received (ms since the epoch, µs precision)
    this.postDuplicates = 0;
    this.typing = 0; // typing / stop typing notices received
    this.connected = null; // the `40` answer
  }

  /** Connects, upgrades, sends `40`; resolves once the namespace is connected. */
  open(timeout = 8000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: not connected after ${timeout} ms`)), timeout);
      this.onConnected = () => {
        clearTimeout(timer);
        resolve();
      };
      this.onFail = (why) => {
        clearTimeout(timer);
        reject(new Error(`${this.label}: ${why}`));
      };
      const sock = net.connect({ host: '127.0.0.1', port: this.port });
      this.sock = sock;
      sock.setNoDelay(true);
      sock.on('connect', () => {
        const key = crypto.randomBytes(16).toString('base64');
        sock.write(
          `GET ${this.path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
            `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
            'Sec-WebSocket-Version: 13\r\n\r\n',
        );
      });
      sock.on('data', (d) => this._data(d));
      const gone = (why) => {
        this.ended ??= why;
        for (const r of this.pending.values()) r(null);
        this.pending.clear();
        this.onFail?.(`connection ended (${why}) before the namespace was connected`);
      };
      sock.on('end', () => gone('end'));
      sock.on('error', (err) => gone(err.code || err.message));
      sock.on('close', () => gone('close'));
    });
  }

  get localPort() {
    return this.sock?.localPort;
  }

  _data(d) {
    this.bytesIn += d.length;
    let i = 0;
    if (!this.upgraded) {
      this.head += d.toString('latin1');
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!/^HTTP\/1\.1 101 /.test(this.head)) {
        this.onFail?.(`handshake answered ${this.head.split('\r\n')[0]}`);
        this.sock.destroy();
        return;
      }
      this.upgraded = true;
      i = d.length - (this.head.length - end - 4);
      this.head = '';
    }
    while (i < d.length) {
      if (this.remaining < 0) {
        // a header, byte by byte (it may be split across reads)
        this.hdr[this.hdrLen++] = d[i++];
        if (this.hdrLen === 2) {
          const l = this.hdr[1] & 0x7f;
          this.hdrNeed = 2 + (l === 126 ? 2 : l === 127 ? 8 : 0) + (this.hdr[1] & 0x80 ? 4 : 0);
        }
        if (this.hdrLen < this.hdrNeed) continue;
        this.fin = (this.hdr[0] & 0x80) !== 0;
        this.opcode = this.hdr[0] & 0x0f;
        let len = this.hdr[1] & 0x7f;
        if (len === 126) len = this.hdr.readUInt16BE(2);
        else if (len === 127) len = Number(this.hdr.readBigUInt64BE(2));
        this.hdrLen = 0;
        this.hdrNeed = 2;
        if (this.opcode !== 0) {
          this.msgOpcode = this.opcode;
          this.prefixLen = 0;
          this.msgLen = 0;
        }
        this.remaining = len;
        if (len === 0) this._frameDone();
        continue;
      }
      const take = Math.min(this.remaining, d.length - i);
      if (this.prefixLen < CAP) {
        const n = Math.min(take, CAP - this.prefixLen);
        d.copy(this.prefix, this.prefixLen, i, i + n);
        this.prefixLen += n;
      }
      this.msgLen += take;
      this.remaining -= take;
      i += take;
      if (this.remaining === 0) this._frameDone();
    }
  }

  _frameDone() {
    this.remaining = -1;
    if (!this.fin) return;
    const p = this.prefix.subarray(0, this.prefixLen);
    this.messagesIn++;
    if (this.msgOpcode === 0x8) {
      this.closeFrame = {
        code: p.length >= 2 ? p.readUInt16BE(0) : undefined,
        reason: p.length > 2 ? p.subarray(2).toString('utf8') : '',
      };
      return;
    }
    if (this.msgOpcode !== 0x1) return;
    const c0 = p[0];
    if (c0 === 0x32 && this.msgLen === 1) {
      // an Engine.IO ping
      this.pings++;
      this.send('3');
    } else if (c0 === 0x30) {
      this.send('40'); // the open packet: connect to the main namespace
    } else if (c0 === 0x34 && p[1] === 0x30) {
      this.connected = p.toString('utf8');
      const cb = this.onConnected;
      this.onConnected = this.onFail = null;
      cb?.();
    } else if (c0 === 0x34 && p[1] === 0x33) {
      this.acksIn++;
      let id = 0;
      let k = 2;
      while (k < p.length && p[k] >= 0x30 && p[k] <= 0x39) id = id * 10 + (p[k++] - 0x30);
      const r = this.pending.get(id);
      if (r) {
        this.pending.delete(id);
        r({ text: p.toString('utf8'), length: this.msgLen });
      }
    } else if (c0 === 0x34 && p[1] === 0x32) {
      this._event(p);
    }
  }

  /**
   * An event: a post of the test's poster (`pN`) in the classic or the demo
   * dialect is timed, typing notices counted, the first 50 others kept.
   */
  _event(p) {
    const now = performance.timeOrigin + performance.now();
    const text = p.toString('utf8');
    const m = POST_RE.exec(text);
    if (m) {
      const n = Number(m[1] ?? m[2]);
      if (this.posts.has(n)) this.postDuplicates++;
      else this.posts.set(n, now);
    } else if (text.startsWith('42["typing",') || text.startsWith('42["stop typing",')) {
      this.typing++;
    } else if (this.events.length < 50) {
      this.events.push(text);
    }
  }

  send(packet) {
    if (!this.sock.destroyed) this.sock.write(maskedFrame(packet));
  }

  /** Sends `42<id>[...]` (given as the part after the id) and resolves with the ack, or null. */
  ack(id, payload, timeout = 8000) {
    return new Promise((resolve) => {
      if (this.ended || this.sock.destroyed) {
        resolve(null);
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, timeout);
      this.pending.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      this.send(`42${id}${payload}`);
    });
  }

  /**
   * Writes `batch` whenever the socket drains, for `ms`; resolves with what
   * was written. The timer ends it even if the server stops reading.
   */
  flood(batch, ms) {
    return new Promise((resolve) => {
      const t0 = performance.now();
      let writes = 0;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.sock.off('drain', pump);
        resolve({ writes, ms: performance.now() - t0, writableLength: this.sock.writableLength });
      };
      const pump = () => {
        while (!done) {
          if (this.sock.destroyed || this.ended) return finish();
          if (performance.now() - t0 >= ms) return finish();
          writes++;
          if (!this.sock.write(batch)) return; // 'drain' comes back here
        }
      };
      const timer = setTimeout(finish, ms);
      this.sock.on('drain', pump);
      pump();
    });
  }

  stats() {
    return {
      messagesIn: this.messagesIn,
      bytesIn: this.bytesIn,
      acksIn: this.acksIn,
      pings: this.pings,
      typing: this.typing,
      postDuplicates: this.postDuplicates,
      closeFrame: this.closeFrame,
      ended: this.ended,
    };
  }

  close() {
    this.sock?.destroy();
  }
}

// ---------------------------------------------------------------- the thread

async function threadMain({ port, path }) {
  const idle = [];
  let candidates = [];
  let own = null; // the thread's own client: the flooder, or the receiver
  const handlers = {
    /** n idle users named `${prefix}${i}`, opened `concurrency` at a time. */
    async idle({ n, prefix = 'idle', concurrency = 50 }) {
      const t0 = performance.now();
      for (let i = 0; i < n; i += concurrency) {
        await Promise.all(
          Array.from({ length: Math.min(concurrency, n - i) }, async (_, j) => {
            const c = new RawSio(port, path, `${prefix}${i + j}`);
            idle.push(c);
            await c.open();
            const a = await c.ack(1, `["login","${prefix}${i + j}"]`);
            if (!a || !a.text.includes('Welcome')) throw new Error(`${c.label}: login answered ${a && a.text}`);
          }),
        );
      }
      return { ms: performance.now() - t0, localPorts: idle.map((c) => c.localPort) };
    },
    /** n connected, unnamed candidates for the own client; resolves with their local ports. */
    async candidates({ n }) {
      for (const c of candidates) c.close(); // an earlier round's
      candidates = Array.from({ length: n }, (_, i) => new RawSio(port, path, `candidate ${i}`));
      await Promise.all(candidates.map((c) => c.open()));
      return { localPorts: candidates.map((c) => c.localPort) };
    },
    /**
     * Keeps candidate `index` as the own client, names it through `door`
     * ('login': classic, 'add user': demo, null: unnamed), closes the others.
     */
    async choose({ index, door, name }) {
      own = candidates[index];
      own.label = name;
      for (const c of candidates) if (c !== own) c.close();
      candidates = [];
      if (door === 'login') {
        const a = await own.ack(1, `["login","${name}"]`);
        if (!a || a.text !== `431["Welcome ${name}!"]`) throw new Error(`${name}: login answered ${a && a.text}`);
      } else if (door === 'add user') {
        own.send(`42["add user","${name}"]`);
        const t0 = Date.now();
        const answered = () => own.events.some((e) => e.startsWith('42["login",'));
        while (!answered() && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 10));
        if (!answered()) throw new Error(`${name}: no login event after add user`);
      }
      return { localPort: own.localPort };
    },
    /**
     * The own client floods: `packets` (Engine.IO packets, e.g.
     * `42["typing"]`; a `#` in one is replaced by an ack id 2, 3, ...) as
     * masked frames, `perBatch` of them per write, for `ms`.
     */
    async flood({ packets, perBatch = 256, ms }) {
      const frames = [];
      let id = 2;
      for (let i = 0; i < perBatch; i++) {
        const p = packets[i % packets.length];
        frames.push(maskedFrame(p.includes('#') ? p.replace('#', String(id++)) : p));
      }
      const batch = Buffer.concat(frames);
      const before = own.stats();
      const r = await own.flood(batch, ms);
      const after = own.stats();
      return {
        ...r,
        perBatch,
        packets: r.writes * perBatch,
        bytesOut: r.writes * batch.length,
        batchBytes: batch.length,
        acksDuring: after.acksIn - before.acksIn,
        bytesInDuring: after.bytesIn - before.bytesIn,
      };
    },
    /**
     * After a flood: one more packet with an ack (`payload` after the id),
     * which the server answers only once it has read all that came before.
     */
    async marker({ payload, id = 999999, timeout }) {
      const t0 = performance.now();
      const a = await own.ack(id, payload, timeout);
      return { answered: a !== null, text: a?.text, ms: performance.now() - t0 };
    },
    /** The own client's counters, and the posts it received: [[n, epoch ms], ...]. */
    async stats() {
      return own ? { ...own.stats(), posts: [...own.posts] } : null;
    },
    async idleStats() {
      return {
        ended: idle.filter((c) => c.ended).length,
        closed: idle.filter((c) => c.closeFrame).map((c) => c.closeFrame),
        messagesIn: idle.reduce((n, c) => n + c.messagesIn, 0),
      };
    },
    async close() {
      for (const c of [...idle, ...candidates, own]) c?.close();
      return true;
    },
  };
  parentPort.on('message', async ({ id, cmd, args }) => {
    try {
      parentPort.postMessage({ id, ok: true, value: await handlers[cmd](args ?? {}) });
    } catch (err) {
      parentPort.postMessage({ id, ok: false, error: err.stack || String(err) });
    }
  });
}

if (!isMainThread && workerData?.rawThread) {
  threadMain(workerData);
}

// ---------------------------------------------------------------- main thread

/**
 * A thread of raw clients, seen from the test: every method is one command
 * to the thread and its answer.
 */
export class RawThread {
  constructor(worker) {
    this.worker = worker;
    this.next = 0;
    this.waiting = new Map();
    this.failure = null;
    worker.on('message', ({ id, ok, value, error }) => {
      const w = this.waiting.get(id);
      if (!w) return;
      this.waiting.delete(id);
      if (ok) w.resolve(value);
      else w.reject(new Error(`raw client thread: ${error}`));
    });
    const fail = (err) => {
      this.failure = err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`raw client thread exited (${code})`)));
  }

  static start({ port, path }) {
    const worker = new Worker(new URL(import.meta.url), { workerData: { rawThread: true, port, path } });
    return new RawThread(worker);
  }

  call(cmd, args) {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, cmd, args });
    });
  }

  idle(n, prefix) {
    return this.call('idle', { n, prefix });
  }

  candidates(n) {
    return this.call('candidates', { n });
  }

  choose(index, door, name) {
    return this.call('choose', { index, door, name });
  }

  flood(packets, ms, perBatch) {
    return this.call('flood', { packets, ms, perBatch });
  }

  marker(payload, timeout) {
    return this.call('marker', { payload, timeout });
  }

  stats() {
    return this.call('stats');
  }

  idleStats() {
    return this.call('idleStats');
  }

  async close() {
    try {
      if (!this.failure) await this.call('close');
    } finally {
      await this.worker.terminate();
    }
  }
}
