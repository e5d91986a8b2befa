// One client flooding over HTTP long-polling (issue 9): POSTs of
// socketio_max_payload bytes, each thousands of small packets, back to
// back, while a pair chats on the same worker. A POST's packets are handled
// a slice a turn of the event loop (src/core/eio/session.cpp, post_slice),
// so the pair is served between the slices: every post of theirs is
// acknowledged and delivered once, none waiting more than BOUND_MS, and the
// flooder's POSTs are all answered "ok" in the end. Its figures (ack
// latency before and during the flood) are printed, not asserted.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pollingHandshake, sleep, withTimeout } from './lib/helpers.js';
import { Peer } from './lib/peer.js';
import { isReference, startServer } from './lib/server.js';

const PATH = '/socket.io/';
const SKIP = isReference ? 'the chat handler is nginx-only' : false;
const FLOOD_MS = 3000;
const POST_EVERY_MS = 50;
const BOUND_MS = 2000;

/** A payload of `bytes` or a little less: `42["message",1]` packets. */
function floodPayload(bytes) {
  const packet = '42["message",1]';
  const n = Math.floor((bytes + 1) / (packet.length + 1));
  return Array(n).fill(packet).join('\x1e');
}

const p99 = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] : 0;
};

async function open(server, label) {
  const p = Peer.open(server, PATH, label, ['websocket'], { waitMs: 5000 });
  await withTimeout(new Promise((resolve) => p.socket.once('connect', resolve)), 5000, `${label} to connect`);
  return p;
}

describe('one client floods over polling: the others chat on (issue 9)', { skip: SKIP }, () => {
  it('max-size POSTs of small packets back to back, one worker', { timeout: 60000 }, async (t) => {
    const server = await startServer({ handler: 'chat', workers: 1, pingInterval: 25000, pingTimeout: 20000 });
    const poster = await open(server, 'poster');
    const receiver = await open(server, 'receiver');
    let flooding = true;
    try {
      await poster.socket.emitWithAck('login', 'poster');
      await receiver.socket.emitWithAck('login', 'receiver');
      const got = new Map();
      receiver.socket.on('message', (m) => got.set(m, (got.get(m) || 0) + 1));

      // the flooder: a named polling session, its GETs drained meanwhile
      const flooder = await pollingHandshake(server.url, PATH);
      await flooder.postOk('40');
      await flooder.postOk('42["login","flooder"]');
      const payload = floodPayload(1000000);
      let posts = 0;
      let bad = 0;
      const drain = (async () => {
        while (flooding) {
          const res = await flooder.get({ timeout: 20000 }).catch(() => null);
          if (res) await res.text();
          else await sleep(50);
        }
      })();

      const latencies = { before: [], during: [] };
      let phase = 'before';
      let seq = 0;
      const post = async () => {
        const text = `hello ${++seq}`;
        const t0 = Date.now();
        const ack = await poster.socket.timeout(BOUND_MS * 2).emitWithAck('message', text).catch(() => null);
        latencies[phase].push(Date.now() - t0);
        assert.equal(ack, `received "${text}"`, `post ${seq} acknowledged (${phase} the flood)`);
        return text;
      };

      const sent = [];
      for (let i = 0; i < 10; i++) {
        sent.push(await post());
        await sleep(POST_EVERY_MS);
      }

      phase = 'during';
      const flood = (async () => {
        const end = Date.now() + FLOOD_MS;
        while (Date.now() < end) {
          const res = await flooder.post(payload, { timeout: 30000 });
          const body = await res.text();
          posts++;
          if (res.status !== 200 || body !== 'ok') bad++;
        }
      })();
      const end = Date.now() + FLOOD_MS;
      while (Date.now() < end) {
        sent.push(await post());
        await sleep(POST_EVERY_MS);
      }
      await flood;
      flooding = false;
      await drain;

      for (let i = 0; i < 100 && sent.some((s) => !got.has(`poster: ${s}`)); i++) await sleep(20);
      const missing = sent.filter((s) => got.get(`poster: ${s}`) !== 1);
      t.diagnostic(`flooder: ${posts} POSTs of ${payload.length} bytes (${Math.round(payload.length / 16)} packets each), ${bad} not "ok"`);
      for (const ph of ['before', 'during']) {
        t.diagnostic(`${ph}: ${latencies[ph].length} posts; ack p99 ${p99(latencies[ph])} ms, max ${Math.max(...latencies[ph])} ms`);
      }
      assert.deepEqual(missing, [], 'every post delivered once');
      assert.ok(Math.max(...latencies.during) < BOUND_MS, `no post waited ${BOUND_MS} ms or more`);
      assert.ok(posts >= 1, 'the flooder was served');
      assert.equal(bad, 0, 'every POST of the flooder answered "ok"');
    } finally {
      flooding = false;
      poster.socket.disconnect();
      receiver.socket.disconnect();
      await server.stop();
    }
  });
});
