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
import { io } from 'socket.io-client';
import { startServer, isReference } from './lib/server.js';
import { sleep, withTimeout } from './lib/helpers.js';
import { OP, RawWs, closeFrame, connect as rawConnect, frame, upgradeRequest } from './lib/rawws.js';

const PATH = '/engine.io/';
const T = { timeout: 15000 };
const nginxOnly = (why) => ({ ...T, skip: isReference ? why : false });

/** Opens an Engine.IO WebSocket session on PATH; resolves with {ws, open}. */
const connect = (server, path = PATH) => rawConnect(server, path);

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

  // What a client asks for itself (here its echoes) is made only as fast as
  // it reads: once a quarter of socketio_output_limit of it is unsent, the
  // module reads none of its messages until it has read (a client that reads
  // nothing is closed by its heartbeat). What others send it is another
  // matter: over the limit, it is closed (limits.test.js, socketio_output_limit).
  it('a client that does not read its answers is read no further, the others go on, and it loses nothing when it reads again', { ...nginxOnly('no output limit in the reference server'), timeout: 60000 }, async () => {
    const logBefore = server.errorLog().length;
    const slow = await sioConnect();
    const good = io(server.url, { path: SIO_PATH, transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      await withTimeout(new Promise((r) => good.once('connect', r)), 5000, 'the good client to connect');

      slow.sock.pause(); // reads nothing for a while
      const frames = [];
      for (let i = 0; i < COUNT; i++) frames.push(frame(OP.text, `42["message","${i} ${MSG}"]`));
      slow.write(Buffer.concat(frames));

      // the other client keeps its round trips while the slow one waits
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

      // reading again: every answer, in order, and the connection stays
      slow.sock.resume();
      for (let i = 0; i < COUNT; i++) {
        const m = await slow.nextMessage({ timeout: 20000 });
        assert.equal(m.slice(0, 40), `42["message-back","${i} ${MSG}"]`.slice(0, 40), `answer ${i}`);
      }
      slow.write(frame(OP.text, '42["message","still here"]'));
      assert.equal(await slow.nextMessage({ timeout: 5000 }), '42["message-back","still here"]');

      const log = server.errorLog().slice(logBefore);
      assert.doesNotMatch(log, /\[alert\]|\[crit\]|\[emerg\]|slow reader/);
    } finally {
      slow.destroy();
      good.disconnect();
    }
  });
});
