// One socket.io-client socket and the record of every event it received,
// checked against what a test expects of it: the chat and the several-worker
// tests both drive their clients through this.

import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { withTimeout } from './helpers.js';

/** Buffers, ArrayBuffers and typed arrays as Buffers, recursively (for deepEqual). */
export function norm(v) {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  }
  return v;
}

/** JSON for messages: Buffers as their bytes, long strings cut short. */
export const show = (v) =>
  JSON.stringify(v, (k, x) => {
    if (x && x.type === 'Buffer' && Array.isArray(x.data)) return `<Buffer ${x.data.join(',')}>`;
    if (typeof x === 'string' && x.length > 60) return `${x.slice(0, 40)}...(${x.length})`;
    return x;
  });

/** Order-insensitive comparison key of an event. */
export const keyOf = (e) => show(norm(e));

/**
 * A socket and its record (`got`: [event, ...args]); `waitMs` bounds every
 * wait that is not given its own.
 */
export class Peer {
  constructor(label, socket, { waitMs = 5000 } = {}) {
    this.label = label;
    this.socket = socket;
    this.got = [];
    this.segments = []; // [{ordered: bool, events: [...]}]
    this.waiters = new Set();
    this.disconnects = [];
    this.connects = 0;
    this.waitMs = waitMs;
    this.ignore = null; // (event) => true for events a test does not record
    socket.onAny((event, ...args) => {
      const e = norm([event, ...args]);
      if (this.ignore?.(e)) return;
      this.got.push(e);
      this._wake();
    });
    socket.on('connect', () => {
      this.connects++;
      this._wake();
    });
    socket.on('disconnect', (reason) => {
      this.disconnects.push(reason);
      this._wake();
    });
  }

  /**
   * A socket.io-client socket to `server` on `path` (connecting, not
   * awaited; emits are buffered until it connects), without reconnection.
   */
  static open(server, path, label, transports, { waitMs = 5000, ...extra } = {}) {
    const socket = io(server.url, {
      path,
      forceNew: true,
      reconnection: false,
      timeout: waitMs,
      ...(transports ? { transports } : {}),
      ...extra,
    });
    return new Peer(label, socket, { waitMs });
  }

  /** The reason of the last disconnection, or null. */
  get disconnected() {
    return this.disconnects.length ? this.disconnects[this.disconnects.length - 1] : null;
  }

  _wake() {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves once pred() holds (re-checked on every event), or rejects after timeout ms. */
  until(pred, what, timeout = this.waitMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timeout after ${timeout} ms waiting for ${this.label}: ${what} ` +
          `(got ${show(this.got.slice(-20))}; disconnects ${show(this.disconnects)})`));
      }, timeout);
      const check = () => {
        if (pred()) {
          cleanup();
          resolve();
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Resolves with the first recorded event named `event` matching pred. */
  async waitFor(event, pred = () => true, timeout = this.waitMs) {
    let found;
    await this.until(() => (found = this.got.find((e) => e[0] === event && pred(...e.slice(1)))) !== undefined,
      `event "${event}"`, timeout);
    return found;
  }

  /** Declares events this peer must receive, in this order, after those declared before. */
  expect(...events) {
    if (events.length) this.segments.push({ ordered: true, events: events.map(norm) });
  }

  /** Declares events this peer must receive in any order (posts of concurrent senders). */
  expectAnyOrder(...events) {
    if (events.length) this.segments.push({ ordered: false, events: events.map(norm) });
  }

  get expectedCount() {
    return this.segments.reduce((n, s) => n + s.events.length, 0);
  }

  /** Asserts that the first n recorded events are the expected ones. */
  check(n = this.got.length) {
    let i = 0;
    for (const seg of this.segments) {
      const part = this.got.slice(i, i + seg.events.length);
      i += seg.events.length;
      if (seg.ordered) {
        assert.deepEqual(part, seg.events.slice(0, part.length), `${this.label} received ${show(this.got)}`);
      } else if (part.length === seg.events.length) {
        assert.deepEqual(part.map(keyOf).sort(), seg.events.map(keyOf).sort(),
          `${this.label} received ${show(this.got)}`);
      }
      if (i >= n) break;
    }
    if (n > this.expectedCount) {
      assert.fail(`${this.label} received unexpected events: ${show(this.got.slice(this.expectedCount))} ` +
        `(all: ${show(this.got)})`);
    }
  }

  /** Waits until everything expected so far arrived, and checks it. */
  async settle(timeout = this.waitMs) {
    const n = this.expectedCount;
    try {
      await this.until(() => this.got.length >= n, `${n} events`, timeout);
    } catch (err) {
      this.check();
      throw err;
    }
    this.check(n);
  }

  /** Checks the whole record: nothing more than expected (after a quiet moment). */
  final() {
    this.check(this.got.length);
    assert.equal(this.got.length, this.expectedCount, `${this.label} received ${show(this.got)}`);
  }

  /** emit with an ack; resolves with the ack's arguments. */
  ack(event, ...args) {
    return withTimeout(
      new Promise((resolve) => this.socket.emit(event, ...args, (...res) => resolve(norm(res)))),
      this.waitMs,
      `${this.label}: ack of "${event}"`,
    );
  }

  emit(event, ...args) {
    this.socket.emit(event, ...args);
  }

  disconnect() {
    this.socket.disconnect();
  }

  async waitDisconnect(timeout = this.waitMs) {
    await this.until(() => this.disconnected !== null, 'disconnection', timeout);
    return this.disconnected;
  }
}
