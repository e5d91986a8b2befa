// RFC 6455 on raw TCP sockets: frames are crafted by hand (masked unless a
// test says otherwise), so that what the server does with fragmentation,
// control frames, bad frames and close codes is seen byte for byte.
//
// Handler engine_echo (path /engine.io/): every Engine.IO message comes back
// as it was sent. The heartbeat is slow (20 s) so that no ping gets in the way.
// The slow-reader test uses the Socket.IO echo handler with a small
// socketio_output_limit.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { io } from 'socket.io-client';
import { startServer, isReference } from './lib/server.js';
import { sleep, withTimeout } from './lib/helpers.js';

const PATH = '/engine.io/';
const T = { timeout: 15000 };
const nginxOnly = (why) => ({ ...T, skip: isReference ? why : false });

const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa };

/**
 * Builds one client frame. payload: string (UTF-8) or Buffer.
 * declaredLength: the length written in the header (default: the payload's).
 */
function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, declaredLength } = {}) {
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
function closeFrame(code, reason = '') {
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
class RawWs {
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

function upgradeRequest(path, { method = 'GET', key = crypto.randomBytes(16).toString('base64'), version = '13', extra = [] } = {}) {
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
async function connect(server, path = PATH) {
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

/** A fresh well-behaved client: text and binary echo, then a clean close. */
async function assertServerStillWorks(server) {
  const { ws } = await connect(server);
  try {
    ws.write(frame(OP.text, '4still serving'));
    assert.equal(await ws.nextMessage(), '4still serving');
    ws.write(frame(OP.binary, Buffer.from([9, 8, 7])));
    assert.deepEqual([...(await ws.nextMessage())], [9, 8, 7]);
    ws.write(closeFrame(1000));
    const c = await ws.expectClose();
    assert.equal(c.code, 1000);
  } finally {
    ws.destroy();
  }
}

/** Sends `bytes` after the handshake and expects a close frame with `code`. */
async function expectFailure(server, bytes, code) {
  const { ws } = await connect(server);
  try {
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) ws.write(b);
    const c = await ws.expectClose();
    assert.equal(c.code, code, `close code (reason "${c.reason}")`);
    assert.equal(ws.problem, null);
    // nothing may follow the close frame
    assert.equal(ws.frames.length, 0, 'frames after the close frame');
  } finally {
    ws.destroy();
  }
  await assertServerStillWorks(server);
}

describe('RFC 6455 on raw sockets (engine_echo)', () => {
  let server;

  before(async () => {
    server = await startServer({
      path: PATH,
      handler: 'engine_echo',
      pingInterval: 20000,
      pingTimeout: 20000,
      maxPayload: 1000000,
    });
  });

  after(async () => {
    await server?.stop();
  });

  describe('echo', () => {
    it('echoes a masked text frame', T, async () => {
      const { ws, open } = await connect(server);
      try {
        assert.deepEqual(open.upgrades, []);
        ws.write(frame(OP.text, '4hello, wörld ✓'));
        const f = await ws.next();
        assert.equal(f.fin, true);
        assert.equal(f.opcode, OP.text);
        assert.equal(f.payload.toString('utf8'), '4hello, wörld ✓');
      } finally {
        ws.destroy();
      }
    });

    it('reads frames sent in the same segment as the handshake', T, async () => {
      const ws = new RawWs(server.port);
      const { text } = upgradeRequest(`${PATH}?EIO=4&transport=websocket`);
      ws.open(Buffer.concat([Buffer.from(text), frame(OP.text, '4early'), frame(OP.text, '4bird')]));
      try {
        const res = await ws.response();
        assert.equal(res.status, 101);
        const first = await ws.nextMessage({ pings: true });
        assert.equal(first[0], '0', `open packet: ${first}`);
        assert.equal(await ws.nextMessage(), '4early');
        assert.equal(await ws.nextMessage(), '4bird');
      } finally {
        ws.destroy();
      }
    });

    it('echoes a masked binary frame', T, async () => {
      const { ws } = await connect(server);
      try {
        const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x34]);
        ws.write(frame(OP.binary, bytes));
        const f = await ws.next();
        assert.equal(f.opcode, OP.binary);
        assert.deepEqual(f.payload, bytes);
      } finally {
        ws.destroy();
      }
    });

    it('echoes frames with 16-bit and 64-bit lengths', T, async () => {
      const { ws } = await connect(server);
      try {
        const mid = `4${'m'.repeat(299)}`;
        const big = `4${'b'.repeat(70000)}`;
        const bin = crypto.randomBytes(66000);
        ws.write(frame(OP.text, mid));
        ws.write(frame(OP.text, big));
        ws.write(frame(OP.binary, bin));
        assert.equal(await ws.nextMessage(), mid);
        assert.equal(await ws.nextMessage(), big);
        assert.deepEqual(await ws.nextMessage(), bin);
      } finally {
        ws.destroy();
      }
    });

    it('echoes an empty binary message', T, async () => {
      const { ws } = await connect(server);
      try {
        ws.write(frame(OP.binary, Buffer.alloc(0)));
        const f = await ws.next();
        assert.equal(f.opcode, OP.binary);
        assert.equal(f.payload.length, 0);
      } finally {
        ws.destroy();
      }
    });

    it('reassembles a text message in 3 fragments with a ping between them', T, async () => {
      const { ws } = await connect(server);
      try {
        ws.write(frame(OP.text, '4frag', { fin: false }));
        ws.write(frame(OP.ping, 'are you there?'));
        ws.write(frame(OP.cont, 'mented ', { fin: false }));
        ws.write(frame(OP.cont, 'message'));
        const pong = await ws.next();
        assert.equal(pong.opcode, OP.pong, 'the ping is answered at once');
        assert.equal(pong.payload.toString(), 'are you there?');
        const f = await ws.next();
        assert.equal(f.opcode, OP.text);
        assert.equal(f.fin, true);
        assert.equal(f.payload.toString(), '4fragmented message');
      } finally {
        ws.destroy();
      }
    });

    it('reassembles a binary message in 3 fragments with a ping between them', T, async () => {
      const { ws } = await connect(server);
      try {
        const parts = [crypto.randomBytes(10), crypto.randomBytes(200), crypto.randomBytes(3)];
        ws.write(frame(OP.binary, parts[0], { fin: false }));
        ws.write(frame(OP.cont, parts[1], { fin: false }));
        ws.write(frame(OP.ping, Buffer.from([1, 2, 3, 4])));
        ws.write(frame(OP.cont, parts[2]));
        const pong = await ws.next();
        assert.equal(pong.opcode, OP.pong);
        assert.deepEqual([...pong.payload], [1, 2, 3, 4]);
        assert.deepEqual(await ws.nextMessage(), Buffer.concat(parts));
      } finally {
        ws.destroy();
      }
    });

    it('accepts a UTF-8 character split between two fragments', T, async () => {
      const { ws } = await connect(server);
      try {
        const whole = Buffer.from('4a€b', 'utf8'); // € is e2 82 ac
        ws.write(frame(OP.text, whole.subarray(0, 3), { fin: false })); // '4a' + e2
        ws.write(frame(OP.cont, whole.subarray(3)));
        assert.equal(await ws.nextMessage(), '4a€b');
      } finally {
        ws.destroy();
      }
    });

    it('answers a ping with an empty payload, and ignores an unsolicited pong', T, async () => {
      const { ws } = await connect(server);
      try {
        ws.write(frame(OP.pong, 'unsolicited'));
        ws.write(frame(OP.ping));
        const pong = await ws.next();
        assert.equal(pong.opcode, OP.pong);
        assert.equal(pong.payload.length, 0);
        ws.write(frame(OP.text, '4after'));
        assert.equal(await ws.nextMessage(), '4after');
      } finally {
        ws.destroy();
      }
    });

    it('answers a ping with the largest control payload (125 bytes)', T, async () => {
      const { ws } = await connect(server);
      try {
        const payload = crypto.randomBytes(125);
        ws.write(frame(OP.ping, payload));
        const pong = await ws.next();
        assert.equal(pong.opcode, OP.pong);
        assert.deepEqual(pong.payload, payload);
        assert.equal(ws.problem, null);
      } finally {
        ws.destroy();
      }
    });

    it('handles frames written one byte at a time', T, async () => {
      const { ws } = await connect(server);
      try {
        await ws.writeByteByByte(frame(OP.text, '4byte by byte'));
        assert.equal(await ws.nextMessage(), '4byte by byte');
        await ws.writeByteByByte(frame(OP.binary, Buffer.from([0xde, 0xad, 0xbe, 0xef])));
        assert.deepEqual([...(await ws.nextMessage())], [0xde, 0xad, 0xbe, 0xef]);
        // a 16-bit length header, split byte by byte too
        const text = `4${'x'.repeat(130)}`;
        await ws.writeByteByByte(frame(OP.text, text));
        assert.equal(await ws.nextMessage(), text);
        // a fragmented message with a ping in the middle, byte by byte
        await ws.writeByteByByte(
          Buffer.concat([
            frame(OP.text, '4one ', { fin: false }),
            frame(OP.ping, 'p'),
            frame(OP.cont, 'two ', { fin: false }),
            frame(OP.cont, 'three'),
          ]),
        );
        const pong = await ws.next();
        assert.equal(pong.opcode, OP.pong);
        assert.equal(pong.payload.toString(), 'p');
        assert.equal(await ws.nextMessage(), '4one two three');
      } finally {
        ws.destroy();
      }
    });

    it('handles many frames in one TCP write', T, async () => {
      const { ws } = await connect(server);
      try {
        const msgs = Array.from({ length: 200 }, (_, i) => `4msg ${i}`);
        ws.write(Buffer.concat(msgs.map((m) => frame(OP.text, m))));
        const got = [];
        for (let i = 0; i < msgs.length; i++) got.push(await ws.nextMessage());
        assert.deepEqual(got, msgs);
      } finally {
        ws.destroy();
      }
    });
  });

  describe('protocol errors (the close code is read from the server close frame)', () => {
    it('RSV1 set: 1002', T, () => expectFailure(server, frame(OP.text, '4x', { rsv: 4 }), 1002));
    it('RSV3 set: 1002', T, () => expectFailure(server, frame(OP.text, '4x', { rsv: 1 }), 1002));
    it('unknown opcode 0x3: 1002', T, () => expectFailure(server, frame(0x3, 'x'), 1002));
    it('unknown control opcode 0xb: 1002', T, () => expectFailure(server, frame(0xb, 'x'), 1002));
    it('unmasked frame: 1002', T, () => expectFailure(server, frame(OP.text, '4x', { mask: false }), 1002));
    it('control frame with FIN=0: 1002', T, () => expectFailure(server, frame(OP.ping, 'p', { fin: false }), 1002));
    it('ping with a 126-byte payload: 1002', T, () =>
      expectFailure(server, frame(OP.ping, Buffer.alloc(126, 0x61)), 1002));
    it('continuation without a start: 1002', T, () => expectFailure(server, frame(OP.cont, 'x'), 1002));
    it('text frame while a fragmented message is in progress: 1002', T, () =>
      expectFailure(server, [frame(OP.text, '4a', { fin: false }), frame(OP.text, '4b')], 1002));
    it('binary frame while a fragmented message is in progress: 1002', T, () =>
      expectFailure(server, [frame(OP.binary, 'a', { fin: false }), frame(OP.binary, 'b')], 1002));
    it('invalid UTF-8 in a text frame: 1007', T, () =>
      expectFailure(server, frame(OP.text, Buffer.from([0x34, 0x61, 0xff, 0x62])), 1007));
    it('overlong UTF-8 encoding (c0 af): 1007', T, () =>
      expectFailure(server, frame(OP.text, Buffer.from([0x34, 0xc0, 0xaf])), 1007));
    it('UTF-16 surrogate encoded in UTF-8 (ed a0 80): 1007', T, () =>
      expectFailure(server, frame(OP.text, Buffer.from([0x34, 0xed, 0xa0, 0x80])), 1007));
    it('invalid UTF-8 split across two fragments: 1007', T, () =>
      expectFailure(
        server,
        [
          frame(OP.text, Buffer.from([0x34, 0x61, 0xe2, 0x82]), { fin: false }), // valid so far
          frame(OP.cont, Buffer.from([0x41, 0x42])), // the character never ends
        ],
        1007,
      ));
    it('text message ending inside a UTF-8 character: 1007', T, () =>
      expectFailure(
        server,
        [frame(OP.text, Buffer.from([0x34, 0x61]), { fin: false }), frame(OP.cont, Buffer.from([0xe2, 0x82]))],
        1007,
      ));
    it('close frame with code 1005: 1002', T, () => expectFailure(server, closeFrame(1005), 1002));
    it('close frame with code 999: 1002', T, () => expectFailure(server, closeFrame(999), 1002));
    it('close frame with code 1004: 1002', T, () => expectFailure(server, closeFrame(1004), 1002));
    it('close frame with a 1-byte payload: 1002', T, () => expectFailure(server, frame(OP.close, Buffer.from([3])), 1002));
    it('close frame with an invalid UTF-8 reason: 1007', T, () =>
      expectFailure(server, frame(OP.close, Buffer.from([0x03, 0xe8, 0xff])), 1007));
  });

  describe('closing handshake', () => {
    it('answers a close frame with code 1000 with 1000 and closes the TCP connection', T, async () => {
      const { ws } = await connect(server);
      try {
        ws.write(frame(OP.text, '4before close'));
        assert.equal(await ws.nextMessage(), '4before close');
        ws.write(closeFrame(1000, 'bye'));
        const c = await ws.expectClose();
        assert.equal(c.code, 1000);
        assert.equal(c.skipped.length, 0);
      } finally {
        ws.destroy();
      }
      await assertServerStillWorks(server);
    });

    it('answers a close frame with code 3000 (application code) with the same code', T, async () => {
      const { ws } = await connect(server);
      try {
        ws.write(closeFrame(3000, 'app'));
        const c = await ws.expectClose();
        assert.equal(c.code, 3000);
      } finally {
        ws.destroy();
      }
    });

    it('answers a close frame with no payload (with an empty close frame)', T, async () => {
      const { ws } = await connect(server);
      try {
        ws.write(closeFrame(undefined));
        const c = await ws.expectClose();
        // 1005 may not be sent on the wire: the answer has no status code
        assert.equal(c.code, undefined, `close payload ${c.payload.toString('hex')}`);
      } finally {
        ws.destroy();
      }
      await assertServerStillWorks(server);
    });

    it('ignores data frames after the client close frame', T, async () => {
      const { ws } = await connect(server);
      try {
        ws.write(Buffer.concat([closeFrame(1000), frame(OP.text, '4ignored')]));
        const c = await ws.expectClose();
        assert.equal(c.code, 1000);
        assert.deepEqual(c.skipped, []);
      } finally {
        ws.destroy();
      }
    });

    it('a client that vanishes without a close frame does not disturb the server', T, async () => {
      const { ws } = await connect(server);
      ws.write(frame(OP.text, '4half', { fin: false }));
      await sleep(50);
      ws.destroy();
      await sleep(50);
      await assertServerStillWorks(server);
    });
  });

  describe('invalid handshakes: HTTP 400 {"code":3,"message":"Bad request"}', () => {
    const cases = [
      ['missing Sec-WebSocket-Key', { key: null }],
      ['Sec-WebSocket-Key of 15 bytes', { key: crypto.randomBytes(15).toString('base64') }],
      ['Sec-WebSocket-Key of 17 bytes', { key: crypto.randomBytes(17).toString('base64') }],
      ['Sec-WebSocket-Key not base64', { key: 'not base64 at all!!!!!!=' }],
      // the reference (npm ws) still speaks version 8 (hybi-10): nginx-only
      ['Sec-WebSocket-Version: 8', { version: '8' }, 'the reference server accepts version 8'],
      ['missing Sec-WebSocket-Version', { version: null }],
      ['POST with Upgrade: websocket', { method: 'POST', extra: ['Content-Length: 0'] }],
    ];
    for (const [label, opts, refSkip] of cases) {
      it(label, refSkip ? nginxOnly(refSkip) : T, async () => {
        const ws = new RawWs(server.port);
        try {
          ws.open(upgradeRequest(`${PATH}?EIO=4&transport=websocket`, opts).text);
          const res = await ws.response();
          assert.equal(res.status, 400, `answer: ${res.statusLine}`);
          assert.equal(res.headers['sec-websocket-accept'], undefined);
          if (!isReference) {
            assert.match(res.headers['content-type'] ?? '', /^application\/json/);
            assert.deepEqual(JSON.parse(res.body), { code: 3, message: 'Bad request' });
          }
        } finally {
          ws.destroy();
        }
      });
    }

    it('the server keeps serving after the refusals', T, () => assertServerStillWorks(server));
  });
});

describe('maxPayload 10000 over WebSocket', () => {
  let server;

  before(async () => {
    server = await startServer({
      path: PATH,
      handler: 'engine_echo',
      pingInterval: 20000,
      pingTimeout: 20000,
      maxPayload: 10000,
    });
  });

  after(async () => {
    await server?.stop();
  });

  it('accepts a message of exactly maxPayload bytes', T, async () => {
    const { ws, open } = await connect(server);
    try {
      assert.equal(open.maxPayload, 10000);
      const msg = `4${'e'.repeat(9999)}`;
      ws.write(frame(OP.text, msg));
      assert.equal(await ws.nextMessage(), msg);
    } finally {
      ws.destroy();
    }
  });

  it('refuses a frame declaring 20000 bytes with 1009 before its payload is sent', T, async () => {
    const { ws } = await connect(server);
    try {
      const whole = frame(OP.text, Buffer.alloc(20000, 0x34));
      ws.write(whole.subarray(0, 8)); // 2 bytes + 16-bit length + mask key: the header only
      const c = await ws.expectClose();
      assert.equal(c.code, 1009);
    } finally {
      ws.destroy();
    }
    await assertServerStillWorks(server);
  });

  it('refuses a frame with a 64-bit length of 2^40 with 1009', T, async () => {
    const { ws } = await connect(server);
    try {
      const whole = frame(OP.binary, Buffer.alloc(0), { declaredLength: 2 ** 40 });
      ws.write(whole);
      const c = await ws.expectClose();
      assert.equal(c.code, 1009);
    } finally {
      ws.destroy();
    }
    await assertServerStillWorks(server);
  });

  it('refuses a frame with the 64-bit length\'s top bit set (1002 or 1009)', T, async () => {
    const { ws } = await connect(server);
    try {
      const whole = frame(OP.binary, Buffer.alloc(0), { declaredLength: 2n ** 63n + 5n });
      ws.write(whole);
      const c = await ws.expectClose();
      assert.ok([1002, 1009].includes(c.code), `close code ${c.code}`);
    } finally {
      ws.destroy();
    }
    await assertServerStillWorks(server);
  });

  it('refuses a fragmented message whose total exceeds maxPayload with 1009', T, async () => {
    const { ws } = await connect(server);
    try {
      ws.write(frame(OP.text, `4${'a'.repeat(3999)}`, { fin: false }));
      ws.write(frame(OP.cont, 'b'.repeat(4000), { fin: false }));
      ws.write(frame(OP.cont, 'c'.repeat(4000)));
      const c = await ws.expectClose();
      assert.equal(c.code, 1009);
      assert.deepEqual(c.skipped, [], 'no part of the message was echoed');
    } finally {
      ws.destroy();
    }
    await assertServerStillWorks(server);
  });
});

describe('slow reader over socketio_output_limit (echo handler)', () => {
  let server;
  const SIO_PATH = '/socket.io/';
  const MSG = 'z'.repeat(90000);
  const COUNT = 400; // about 36 MB of echoes: well over the kernel's socket buffers + 1 MB

  before(async () => {
    if (isReference) return;
    server = await startServer({
      path: SIO_PATH,
      handler: 'echo',
      pingInterval: 30000,
      pingTimeout: 30000,
      maxPayload: 100000,
      extraLocationDirectives: 'socketio_output_limit 1m;',
    });
  });

  after(async () => {
    await server?.stop();
  });

  /** A Socket.IO client connected to "/" on a raw socket. */
  async function sioConnect() {
    const { ws } = await connect(server, SIO_PATH);
    ws.write(frame(OP.text, '40'));
    const got = [await ws.nextMessage(), await ws.nextMessage()];
    assert.match(got[0], /^40\{"sid":"/);
    assert.equal(got[1], '42["auth",{}]');
    return ws;
  }

  let slowLog = null;

  it('closes a connection that does not read, and only that one', { ...nginxOnly('no output limit in the reference server'), timeout: 60000 }, async () => {
    const logBefore = server.errorLog().length;
    const slow = await sioConnect();
    const good = io(server.url, { path: SIO_PATH, transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      await withTimeout(new Promise((r) => good.once('connect', r)), 5000, 'the good client to connect');

      slow.sock.pause(); // reads nothing more from now on
      const frames = [];
      for (let i = 0; i < COUNT; i++) frames.push(frame(OP.text, `42["message","${i} ${MSG}"]`));
      const written = Buffer.concat(frames);
      slow.write(written);
      const echoBytes = COUNT * (MSG.length + 30);

      // the other client keeps its round trips while the slow one piles up
      for (let i = 0; i < 20; i++) {
        const back = await withTimeout(
          new Promise((r) => {
            good.once('message-back', r);
            good.emit('message', `ping ${i}`);
          }),
          3000,
          `message-back ${i} on the good client`,
        );
        assert.equal(back, `ping ${i}`);
        await sleep(100);
      }

      // reading again: what the kernel holds arrives, then the end (or a reset)
      await sleep(1500);
      slow.sock.resume();
      const endKind = await slow.waitEnd(20000);
      assert.ok(
        slow.bytesIn < echoBytes,
        `the server dropped the rest: read ${slow.bytesIn} bytes of ${echoBytes} (${endKind})`,
      );

      // the good client is still fine afterwards
      const back = await withTimeout(
        new Promise((r) => {
          good.once('message-back', r);
          good.emit('message', 'after');
        }),
        3000,
        'message-back after the slow client was dropped',
      );
      assert.equal(back, 'after');

      slowLog = server.errorLog().slice(logBefore);
      assert.doesNotMatch(slowLog, /\[alert\]|\[crit\]|\[emerg\]/);
    } finally {
      slow.destroy();
      good.disconnect();
    }
  });

  it('logs an [info] line saying why it closed the slow reader', nginxOnly('nginx only'), () => {
    assert.ok(slowLog !== null, 'the slow-reader test ran');
    assert.match(
      slowLog,
      /\[info\].*(slow|output.limit|buffer|backlog)/i,
      `error.log lines written during the slow-reader test:\n${slowLog}`,
    );
  });
});
