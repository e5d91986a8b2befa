// A WebSocket client on a bare TCP socket, for the tests that must send what
// no WebSocket library sends (unmasked frames, fragments out of order, a
// handshake one byte at a time) and read every server frame byte for byte:
// the frame builder and RawWs of websocket.test.js, shared.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { sleep } from './helpers.js';

export const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa };

/**
 * Builds one client frame. payload: string (UTF-8) or Buffer.
 * declaredLength: the length written in the header (default: the payload's).
 */
export function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, declaredLength } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const len = declaredLength ?? data.length;
  const head = [((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)) & 0xff];
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) {
    head.push(maskBit | len);
  } else if (len <= 0xffff) {
    head.push(maskBit | 126, (len >> 8) & 0xff, len & 0xff);
  } else {
    head.push(maskBit | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(len));
    head.push(...big);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** A close frame: code (optional) and reason. */
export function closeFrame(code, reason = '') {
  if (code === undefined) return frame(OP.close);
  const p = Buffer.alloc(2);
  p.writeUInt16BE(code);
  return frame(OP.close, Buffer.concat([p, Buffer.from(reason, 'utf8')]));
}

/**
 * A WebSocket client on a bare TCP socket. It writes the opening handshake,
 * parses the server's answer, then the server's frames (which must be
 * unmasked) into a queue.
 */
export class RawWs {
  constructor(port) {
    this.port = port;
    this.buf = Buffer.alloc(0);
    this.head = null; // {status, headers, raw}
    this.body = null; // body of a refused handshake
    this.frames = [];
    this.ended = false; // the server ended or reset the TCP connection
    this.endKind = null; // 'end' | error code
    this.problem = null; // a protocol violation by the server
    this.waiters = [];
    this.bytesIn = 0;
  }

  /** Opens the connection and sends `request` (a full HTTP request head). */
  open(request) {
    this.sock = net.connect({ host: '127.0.0.1', port: this.port });
    this.sock.setNoDelay(true);
    this.sock.on('data', (d) => {
      this.bytesIn += d.length;
      this.buf = Buffer.concat([this.buf, d]);
      this._parse();
      this._wake();
    });
    this.sock.on('end', () => {
      this.ended = true;
      this.endKind ??= 'end';
      this._wake();
    });
    this.sock.on('error', (err) => {
      this.ended = true;
      this.endKind ??= err.code || err.message;
      this._wake();
    });
    this.sock.on('close', () => {
      this.ended = true;
      this.endKind ??= 'close';
      this._wake();
    });
    this.sock.write(request);
  }

  _wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  _parse() {
    if (!this.head) {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const raw = this.buf.subarray(0, i).toString('latin1');
      this.buf = this.buf.subarray(i + 4);
      const [statusLine, ...lines] = raw.split('\r\n');
      const headers = {};
      for (const l of lines) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      this.head = { status: Number(statusLine.split(' ')[1]), statusLine, headers, raw };
    }
    if (this.head.status !== 101) {
      const want = Number(this.head.headers['content-length'] ?? NaN);
      if (Number.isFinite(want) && this.buf.length >= want) {
        this.body = this.buf.subarray(0, want).toString('utf8');
      }
      return;
    }
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const rsv = (b[0] >> 4) & 7;
      const opcode = b[0] & 0x0f;
      if (b[1] & 0x80) this.problem = 'the server sent a masked frame';
      let len = b[1] & 0x7f;
      let pos = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        pos = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        pos = 10;
      }
      if (b.length < pos + len) return;
      const payload = Buffer.from(b.subarray(pos, pos + len));
      this.buf = b.subarray(pos + len);
      if (rsv) this.problem = 'the server set an RSV bit';
      const f = { fin, opcode, payload };
      if (opcode === OP.close) {
        f.code = payload.length >= 2 ? payload.readUInt16BE(0) : undefined;
        f.reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
      }
      this.frames.push(f);
    }
  }

  async _until(pred, timeout, what) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const v = pred();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout after ${timeout} ms waiting for ${what}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves with the response head (and body for a refusal). */
  async response(timeout = 5000) {
    await this._until(
      () => this.head && (this.head.status === 101 || this.body !== null || this.ended),
      timeout,
      'the handshake answer',
    );
    return { ...this.head, body: this.body };
  }

  /** The next frame from the server (Engine.IO pings "2" skipped unless pings). */
  async next({ timeout = 5000, pings = false } = {}) {
    return this._until(
      () => {
        while (this.frames.length > 0) {
          const f = this.frames.shift();
          if (!pings && f.opcode === OP.text && f.payload.toString() === '2') continue;
          return f;
        }
        if (this.ended) throw new Error(`connection ended (${this.endKind}) while waiting for a frame`);
        return null;
      },
      timeout,
      'a frame',
    );
  }

  /** The next data frame as a string (text) or Buffer (binary). */
  async nextMessage(opts) {
    const f = await this.next(opts);
    if (f.opcode === OP.text) return f.payload.toString('utf8');
    if (f.opcode === OP.binary) return f.payload;
    throw new Error(`expected a data frame, got opcode ${f.opcode} (${f.payload.toString('hex')})`);
  }

  /**
   * Expects the server's close frame (skipping data frames), then the end of
   * the TCP connection. Resolves with {code, reason, skipped}.
   */
  async expectClose(timeout = 5000) {
    const skipped = [];
    const closing = await this._until(
      () => {
        while (this.frames.length > 0) {
          const f = this.frames.shift();
          if (f.opcode === OP.close) return f;
          skipped.push(f);
        }
        if (this.ended) throw new Error(`connection ended (${this.endKind}) without a close frame`);
        return null;
      },
      timeout,
      'a close frame',
    );
    await this.waitEnd(timeout);
    return { code: closing.code, reason: closing.reason, payload: closing.payload, skipped };
  }

  async waitEnd(timeout = 5000) {
    await this._until(() => this.ended, timeout, 'the server to close the TCP connection');
    return this.endKind;
  }

  write(data) {
    if (!this.sock.destroyed) this.sock.write(data);
  }

  /** Writes every byte in its own write(), giving the event loop a turn in between. */
  async writeByteByByte(data) {
    for (let i = 0; i < data.length; i++) {
      this.write(data.subarray(i, i + 1));
      await sleep(1);
    }
  }

  destroy() {
    this.sock?.destroy();
  }
}

export function upgradeRequest(path, { method = 'GET', key = crypto.randomBytes(16).toString('base64'), version = '13', extra = [] } = {}) {
  const lines = [
    `${method} ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
  ];
  if (key !== null) lines.push(`Sec-WebSocket-Key: ${key}`);
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  lines.push(...extra);
  return { text: `${lines.join('\r\n')}\r\n\r\n`, key };
}

/** Opens an Engine.IO WebSocket session; resolves with {ws, open}. */
export async function connect(server, path) {
  const ws = new RawWs(server.port);
  const { text, key } = upgradeRequest(`${path}?EIO=4&transport=websocket`);
  ws.open(text);
  const res = await ws.response();
  assert.equal(res.status, 101, `handshake answer: ${res.statusLine} ${res.body ?? ''}`);
  const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  assert.equal(res.headers['sec-websocket-accept'], accept);
  assert.match(res.headers.upgrade ?? '', /^websocket$/i);
  const first = await ws.nextMessage({ pings: true });
  assert.equal(typeof first, 'string');
  assert.equal(first[0], '0', `open packet: ${first}`);
  return { ws, open: JSON.parse(first.slice(1)) };
}

