#!/usr/bin/env node
// Prints the table of a benchmark run (tests/bench/run.sh) as Markdown:
//   node tests/bench/table.js OUT_DIR
// OUT_DIR holds results.jsonl (one line per load and server, from
// socketio_loadgen plus the server's log counts), env.txt, and optionally
// micro.json (Google Benchmark) and logs/*.summary.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: table.js OUT_DIR');
  process.exit(2);
}

const results = fs
  .readFileSync(path.join(dir, 'results.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return { ok: false, error: `unparsable line: ${l.slice(0, 80)}` };
    }
  });
const env = fs.existsSync(path.join(dir, 'env.txt')) ? fs.readFileSync(path.join(dir, 'env.txt'), 'utf8') : '';

const SERVERS = ['module-1w', 'node', 'module-2w'];
const LOADS = ['lat16', 'ws1k', 'ws5k', 'max1k', 'mixed1k', 'idle10k', 'handshake', 'flood1k'];
const get = (load, server) => results.find((r) => r.label === load && r.server === server);

function fmt(v, digits) {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  if (digits !== undefined) return v.toFixed(digits);
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function ratio(a, b) {
  if (typeof a !== 'number' || typeof b !== 'number' || !b) return '—';
  return `${fmt(a / b, 2)}×`;
}

function describe(load, r) {
  if (!r) return load;
  if (r.mode === 'idle') return `${load}: ${fmt(r.clients)} idle WebSocket clients`;
  if (r.mode === 'handshake') return `${load}: polling handshakes, ${r.conns} keep-alive connections, ${fmt(r.duration_s, 0)} s`;
  const ws = r.clients - (r.polling || 0);
  const n = (v) => (v >= 1000 ? fmt(v) : String(v));
  const who = r.polling ? `${n(r.clients)} clients (${n(ws)} WebSocket, ${n(r.polling)} polling)` : `${n(r.clients)} WebSocket clients`;
  const rate = r.rate > 0 ? `${fmt(r.rate, 0)} posts/s` : `closed loop, ${r.window} posts in flight`;
  if (r.flood_event) {
    return `${load}: ${who}, ${r.senders} of them post ${fmt(r.rate, 0)} posts/s; ${fmt(r.quiet_s, 0)} s quiet, then ` +
      `${fmt(r.flood_s, 0)} s of one more client flooding \`${r.flood_event}\``;
  }
  return `${load}: ${who}, ${rate}, ${fmt(r.duration_s, 0)} s`;
}

// rows: [label, field or function, ratio?, digits]
const CHAT_ROWS = [
  ['posts/s', 'posts_per_s', true],
  ['deliveries/s', 'deliveries_per_s', true],
  ['delivered / expected', 'ratio', false, 4],
  ['latency p50 (ms)', 'lat_p50_ms', true],
  ['latency p99 (ms)', 'lat_p99_ms', true],
  ['latency max (ms)', 'lat_max_ms', true],
  ['server CPU per delivery (µs)', 'server_cpu_us_per_delivery', true],
  ['server CPU (cores busy)', 'server_cpu_util', false],
  ['kernel share of the server CPU', 'server_sys_share', false],
  ['load generator CPU (cores)', 'client_cpu_util', false],
  ['other processes CPU (cores)', 'others_cpu_util', false],
  ['server memory per connected socket (PSS, bytes)', 'pss_per_socket_b', true],
];
const LAT_ROWS = [
  ['deliveries/s', 'deliveries_per_s', true],
  ['delivered / expected', 'ratio', false, 4],
  ['latency p50 (ms)', 'lat_p50_ms', true, 3],
  ['latency p99 (ms)', 'lat_p99_ms', true, 3],
  ['latency max (ms)', 'lat_max_ms', true, 3],
  ['open descriptors per process', (r) => (r.server_fds_ready ? r.server_fds_ready.join(' / ') : undefined), false],
];
// issue 9: the bystanders' latency by the send time of the post: before the
// flood (quiet) and during it. A percentile that falls among deliveries
// that never came (the load generator gives null) reads "not delivered".
const phaseLat = (field, phase) => (r) => {
  const v = r[field];
  if (typeof v === 'number') return v;
  const exp = r[`${phase}_expected`];
  return typeof exp === 'number' && r[`${phase}_deliveries`] < exp ? 'not delivered' : undefined;
};
const FLOOD_ROWS = [
  ['deliveries/s', 'deliveries_per_s', true],
  ['delivered / expected', 'ratio', false, 4],
  ['delivered / expected, posts sent during the flood', 'flood_ratio', false, 4],
  ['latency p50 before the flood (ms)', phaseLat('lat_quiet_p50_ms', 'quiet'), true],
  ['latency p50 during the flood (ms)', phaseLat('lat_flood_p50_ms', 'flood'), true],
  ['latency p99 before the flood (ms)', phaseLat('lat_quiet_p99_ms', 'quiet'), true],
  ['latency p99 during the flood (ms)', phaseLat('lat_flood_p99_ms', 'flood'), true],
  ['latency max during the flood (ms)', phaseLat('lat_flood_max_ms', 'flood'), true],
  ['p99 during / before the flood', (r) => (typeof r.flood_p99_ratio === 'number' ? `${fmt(r.flood_p99_ratio)}×` : undefined), false],
  ['flood: packets written per second', 'flood_packets_per_s', false],
  ['flood: answers received per second', 'flood_answers_per_s', false],
  ['flood: closed by the server', (r) => (r.flood_closes === undefined ? undefined
    : r.flood_closes ? `${r.flood_closes}× (${r.flood_close_code} ${r.flood_close_reason})` : 'no'), false],
  ['server CPU (cores busy)', 'server_cpu_util', false],
  ['load generator CPU (cores, the flooder included)', 'client_cpu_util', false],
  ['other processes CPU (cores)', 'others_cpu_util', false],
];
const IDLE_ROWS = [
  ['sockets connected and named', 'ready', false],
  ['server memory per idle socket (PSS, bytes)', 'pss_per_socket_b', true],
  ['the same as the sum of VmRSS (bytes)', 'rss_per_socket_b', true],
  ['server memory with all connected (PSS, MB)', (r) => (r.pss_ready_kb ? r.pss_ready_kb / 1024 : undefined), true],
  ['connect time (s)', 'setup_s', true],
];
const HS_ROWS = [
  ['new sessions/s', 'handshakes_per_s', true],
  ['server CPU per session (µs)', 'server_cpu_us_per_handshake', true],
  ['failed handshakes', 'handshake_errors', false],
  ['load generator CPU (s)', 'client_cpu_s', false],
  ['other processes CPU (cores)', 'others_cpu_util', false],
];

const val = (r, f) => (r ? (typeof f === 'function' ? f(r) : r[f]) : undefined);
const present = SERVERS.filter((s) => results.some((r) => r.server === s));
const has = (s) => present.includes(s);

const out = [];
out.push('| load | measure | module, 1 worker | Node.js | module / Node | module, 2 workers | 2 workers / Node | 2 workers / 1 |');
out.push('| --- | --- | --: | --: | --: | --: | --: | --: |');
for (const load of LOADS) {
  const m1 = get(load, 'module-1w');
  const nd = get(load, 'node');
  const m2 = get(load, 'module-2w');
  const any = m1 || nd || m2;
  if (!any) continue;
  const rows = any.mode === 'idle' ? IDLE_ROWS : any.mode === 'handshake' ? HS_ROWS : load === 'lat16' ? LAT_ROWS
    : any.flood_event ? FLOOD_ROWS : CHAT_ROWS;
  let first = true;
  for (const [label, f, withRatio, digits] of rows) {
    const a = val(m1, f);
    const b = val(nd, f);
    const c = val(m2, f);
    const cell = (r, v) => (r && r.ok === false && v === undefined ? `failed: ${r.error || '?'}` : fmt(v, digits));
    out.push(
      `| ${first ? describe(load, any) : ''} | ${label} | ${has('module-1w') ? cell(m1, a) : '—'} | ${has('node') ? cell(nd, b) : '—'} | ${
        withRatio ? ratio(a, b) : ''
      } | ${has('module-2w') ? cell(m2, c) : '—'} | ${withRatio ? ratio(c, b) : ''} | ${withRatio ? ratio(c, a) : ''} |`,
    );
    first = false;
  }
}

// ------------------------------------------------------------ cross-node
// issue 10: a cluster of two servers on one Redis. `xnode1k-local`: every
// client on B, the posts broadcast there (B also publishes them to Redis;
// A, idle, reads them); `xnode1k`: the senders on A, the receivers on B,
// every delivery to B's clients crossing through Redis. Both kinds of
// server, each with the other of its kind: two one-worker nginx nodes with
// `socketio_redis`, two reference-chat.js with @socket.io/redis-adapter.
const xnode = [];
const xnodeTargets = [];
{
  const ml = get('xnode1k-local', 'module-1w');
  const mx = get('xnode1k', 'module-1w');
  const nl = get('xnode1k-local', 'node');
  const nx = get('xnode1k', 'node');
  const any = mx || ml || nx || nl;
  if (any) {
    const diff = (f, digits = 3) => (l, x) => (l && x && typeof l[f] === 'number' && typeof x[f] === 'number' ? fmt(x[f] - l[f], digits) : '—');
    const XROWS = [
      [`deliveries/s to the ${fmt(any.rx_clients)} receivers`, 'rx_deliveries_per_s', true],
      ['delivered / expected (every client)', 'ratio', false, 4],
      ['delivered / expected (the receivers)', 'rx_ratio', false, 4],
      ['latency p50 (ms, the receivers)', 'rx_lat_p50_ms', true, 3],
      ['latency p99 (ms)', 'rx_lat_p99_ms', true, 3],
      ['latency max (ms)', 'rx_lat_max_ms', true, 3],
      ['latency the hop adds, p50 (ms: across − local)', null, false, diff('rx_lat_p50_ms')],
      ['latency the hop adds, p99 (ms)', null, false, diff('rx_lat_p99_ms')],
      ['server B CPU per delivery (µs)', 'server_cpu_us_per_delivery', true],
      ['kernel share of B\'s CPU', 'server_sys_share', false],
      ['server B CPU (cores busy)', 'server_cpu_util', false],
      ['server A CPU (cores busy; local: an idle member)', 'peer_cpu_util', false],
      ['server A CPU per post (µs)', 'peer_cpu_us_per_post', true],
      ['Redis CPU per post (µs)', 'redis_cpu_us_per_post', true],
      ['load generator CPU (cores)', 'client_cpu_util', false],
      ['other processes CPU (cores)', 'others_cpu_util', false],
    ];
    const r = any;
    xnode.push(
      `xnode1k: ${fmt(r.rx_clients)} WebSocket clients on server B receive the posts of ${r.senders} clients on server A ` +
        `(local: all ${fmt(r.clients)} on B), ${fmt(r.rate, 0)} posts/s, ${fmt(r.duration_s, 0)} s; A and B on one Redis`,
      '',
      '| measure | module: local | module: across | across / local | Node.js: local | Node.js: across | across / local | module / Node (across) |',
      '| --- | --: | --: | --: | --: | --: | --: | --: |',
    );
    const cell = (x, f, digits) => (x && x.ok === false && val(x, f) === undefined ? `failed: ${x.error || '?'}` : fmt(val(x, f), digits));
    for (const [label, f, withRatio, digits] of XROWS) {
      if (f === null) {
        // a difference, in the "across" columns
        xnode.push(`| ${label} |  | ${digits(ml, mx)} |  |  | ${digits(nl, nx)} |  |  |`);
        continue;
      }
      const [a, b, c, d] = [ml, mx, nl, nx].map((x) => val(x, f));
      xnode.push(
        `| ${label} | ${cell(ml, f, digits)} | ${cell(mx, f, digits)} | ${withRatio ? ratio(b, a) : ''} | ${cell(nl, f, digits)} | ${cell(
          nx,
          f,
          digits,
        )} | ${withRatio ? ratio(d, c) : ''} | ${withRatio ? ratio(b, d) : ''} |`,
      );
    }
    const row = (name, ok, detail) =>
      xnodeTargets.push(`| ${name} | ${ok === undefined ? 'not measured' : ok ? 'met' : '**missed**'} | ${detail} |`);
    const num = (x, f) => (x && typeof x[f] === 'number' ? x[f] : undefined);
    const hop = (l, x, f) => (num(l, f) !== undefined && num(x, f) !== undefined ? x[f] - l[f] : undefined);
    const d50 = hop(ml, mx, 'rx_lat_p50_ms');
    const n50 = hop(nl, nx, 'rx_lat_p50_ms');
    row(
      'the Redis hop adds under 1 ms at p50 (module: xnode1k p50 − xnode1k-local p50)',
      d50 === undefined ? undefined : d50 < 1,
      `${fmt(d50, 3)} ms (p50 ${fmt(num(mx, 'rx_lat_p50_ms'), 3)} across vs ${fmt(num(ml, 'rx_lat_p50_ms'), 3)} ms local; p99 ${fmt(
        hop(ml, mx, 'rx_lat_p99_ms'),
        3,
      )} ms more); Node.js: ${fmt(n50, 3)} ms`,
    );
    const cb = num(mx, 'server_cpu_us_per_delivery');
    const cl = num(ml, 'server_cpu_us_per_delivery');
    const nb = num(nx, 'server_cpu_us_per_delivery');
    const nlc = num(nl, 'server_cpu_us_per_delivery');
    row(
      'node B\'s CPU per delivery within 1.2× of a local broadcast (module)',
      cb && cl ? cb / cl <= 1.2 : undefined,
      `${fmt(cb)} µs vs ${fmt(cl)} µs: ${ratio(cb, cl)}; Node.js: ${fmt(nb)} µs vs ${fmt(nlc)} µs: ${ratio(nb, nlc)}`,
    );
    row(
      'every post reaches every client across the hop exactly once (module)',
      mx && typeof mx.ratio === 'number' ? mx.ratio === 1 && !mx.duplicates : undefined,
      `${fmt(num(mx, 'ratio'), 4)} (${fmt(num(mx, 'rx_delivered'))} of ${fmt(num(mx, 'rx_expected'))} on B, duplicates ${num(mx, 'duplicates') ?? '—'}); Node.js: ${fmt(num(nx, 'ratio'), 4)}`,
    );
  }
}

// ------------------------------------------------------------ targets
const targets = [];
function target(name, ok, detail) {
  targets.push(`| ${name} | ${ok === undefined ? 'not measured' : ok ? 'met' : '**missed**'} | ${detail} |`);
}
{
  const m1 = get('ws1k', 'module-1w');
  const nd = get('ws1k', 'node');
  const a = m1 && m1.server_cpu_us_per_delivery;
  const b = nd && nd.server_cpu_us_per_delivery;
  const ka = m1 && m1.server_sys_share;
  const kb = nd && nd.server_sys_share;
  target(
    'server CPU per delivery at ws1k ≤ ¼ of Node.js',
    a && b ? a / b <= 0.25 : undefined,
    `${fmt(a)} µs vs ${fmt(b)} µs: ${ratio(a, b)} (in the kernel: ${fmt(a * ka)} µs vs ${fmt(b * kb)} µs; in user space: ${fmt(
      a * (1 - ka),
    )} µs vs ${fmt(b * (1 - kb))} µs)`,
  );
}
{
  const m1 = get('idle10k', 'module-1w');
  const nd = get('idle10k', 'node');
  const a = m1 && m1.pss_per_socket_b;
  const b = nd && nd.pss_per_socket_b;
  target('memory per idle WebSocket ≤ 4 KB (PSS, idle10k)', a ? a <= 4096 : undefined, `${fmt(a)} B`);
  target(
    'memory per idle WebSocket < 1/7 of Node.js (PSS, idle10k)',
    a && b ? a < b / 7 : undefined,
    `${fmt(a)} B vs ${fmt(b)} B: ${ratio(a, b)} (1/7 = 0.14×)`,
  );
}
{
  const m1 = get('ws1k', 'module-1w');
  const p = m1 && m1.lat_p99_ms;
  target('p99 latency at ws1k < 5 ms', typeof p === 'number' ? p < 5 : undefined, `${fmt(p)} ms (Node.js ${fmt(val(get('ws1k', 'node'), 'lat_p99_ms'))} ms)`);
}
{
  const a = val(get('max1k', 'module-1w'), 'deliveries_per_s');
  const c = val(get('max1k', 'module-2w'), 'deliveries_per_s');
  const lg = val(get('max1k', 'module-2w'), 'client_cpu_util');
  const sv = val(get('max1k', 'module-2w'), 'server_cpu_util');
  target(
    'two workers ≥ 1.6× one at max1k',
    a && c ? c / a >= 1.6 : undefined,
    `${fmt(c)} vs ${fmt(a)} deliveries/s: ${ratio(c, a)} (with two workers the server had ${fmt(sv)} cores, the load generator ${fmt(
      lg,
    )}, of ${require('node:os').cpus().length})`,
  );
}
{
  /* issue 4: with two workers (reuseport) about half of the deliveries
     cross from the sender's worker to another, through the zone's log
     and a wake-up */
  const m1 = get('lat16', 'module-1w');
  const m2 = get('lat16', 'module-2w');
  const d50 = m1 && m2 ? m2.lat_p50_ms - m1.lat_p50_ms : undefined;
  const d99 = m1 && m2 ? m2.lat_p99_ms - m1.lat_p99_ms : undefined;
  target(
    'latency added by crossing workers well under 1 ms (lat16, p50 with 2 workers − with 1)',
    typeof d50 === 'number' ? d50 < 0.5 : undefined,
    `p50 ${fmt(d50, 3)} ms, p99 ${fmt(d99, 3)} ms (1 worker: p50 ${fmt(val(m1, 'lat_p50_ms'), 3)}, p99 ${fmt(
      val(m1, 'lat_p99_ms'),
      3,
    )} ms)`,
  );
}
{
  const bad = results.filter((r) => r.server && r.server.startsWith('module') && r.mode === 'chat' && r.ratio !== 1);
  target(
    'every expected delivery arrives (module)',
    results.some((r) => r.server && r.server.startsWith('module') && r.mode === 'chat') ? bad.length === 0 : undefined,
    bad.length ? bad.map((r) => `${r.label} ${r.server}: ${r.ratio}`).join('; ') : 'ratio 1.0 in every module run',
  );
}

// issue 9: one client flooding `users` must not make everybody else wait
const floodTargets = [];
{
  const m2 = get('flood1k', 'module-2w');
  if (m2 && m2.flood_event) {
    const q = m2.lat_quiet_p99_ms;
    const f = m2.lat_flood_p99_ms;
    const row = (name, ok, detail) =>
      floodTargets.push(`| ${name} | ${ok === undefined ? 'not measured' : ok ? 'met' : '**missed**'} | ${detail} |`);
    const closed = m2.flood_closes ? `; the server closed the flooder ${m2.flood_closes}× (${m2.flood_close_code} ${m2.flood_close_reason})` : '';
    // a p99 among the posts never delivered (null) is a miss, not "not measured"
    const lostF = f === null && m2.flood_deliveries < m2.flood_expected;
    const fText = lostF ? `over 1 % of the deliveries never came (${fmt(m2.flood_ratio, 4)} delivered)` : `${fmt(f)} ms`;
    row(
      `p99 during a flood of \`${m2.flood_event}\` within 3× of before (flood1k, 2 workers)`,
      lostF ? false : typeof q === 'number' && typeof f === 'number' && q > 0 ? f / q <= 3 : undefined,
      `${fText} during vs ${fmt(q)} ms before${typeof f === 'number' && q > 0 ? `: ${fmt(f / q)}×` : ''}${closed}`,
    );
    row(
      `p99 during a flood of \`${m2.flood_event}\` < 60 ms (flood1k, 2 workers)`,
      lostF ? false : typeof f === 'number' ? f < 60 : undefined,
      `${fText} (max ${fmt(m2.lat_flood_max_ms)} ms; ${fmt(m2.clients)} clients${m2.clients < 1000 ? ', a --quick run' : ''})`,
    );
  }
}

// ------------------------------------------------------------ problems
// With --nice the benchmark had the CPU first and other processes only what
// it left: one line says how much they took rather than one per run.
const niced = /^nice: /m.test(env);
const problems = [];
if (niced) {
  const others = results.map((r) => r.others_cpu_util).filter((v) => typeof v === 'number');
  if (others.length && Math.max(...others) > 0.25) {
    problems.push(
      `- other processes ran during the runs (up to ${fmt(Math.max(...others))} cores, median ${fmt(
        others.sort((a, b) => a - b)[Math.floor(others.length / 2)],
      )}): the benchmark ran before them (nice), they took what it left`,
    );
  }
}
for (const r of results) {
  const what = [];
  if (r.ok === false) what.push(`failed: ${r.error}`);
  if (r.mode === 'chat' && r.ratio !== 1) what.push(`delivered ${r.delivered} of ${r.expected} (lost ${r.lost})`);
  for (const k of ['duplicates', 'bogus', 'to_sender', 'given_up', 'disconnects', 'failed', 'login_failures', 'http_errors', 'handshake_errors']) {
    if (r[k]) what.push(`${k} ${r[k]}`);
  }
  if (r.flood_closes) what.push(`the flooder was closed by the server ${r.flood_closes}× (last: ${r.flood_close_code} ${r.flood_close_reason})`);
  for (const k of ['log_alerts', 'log_crashes', 'log_errors', 'log_warns']) {
    if (r[k]) what.push(`${k.replace('log_', 'log ')} ${r[k]}`);
  }
  if (r.server_pids_changed) what.push('server processes changed during the run (a worker died?)');
  if (!niced && typeof r.others_cpu_util === 'number' && r.others_cpu_util > 0.25) what.push(`other processes took ${fmt(r.others_cpu_util)} cores`);
  if (what.length) {
    let line = `- ${r.label} on ${r.server}: ${what.join(', ')}`;
    const summary = path.join(dir, 'logs', `${r.label}.${r.server}.summary`);
    if (fs.existsSync(summary)) {
      const top = fs.readFileSync(summary, 'utf8').split('\n').filter(Boolean).slice(0, 3);
      if (top.length) line += `\n  log: ${top.map((t) => '`' + t.trim().slice(0, 160) + '`').join('; ')}`;
    }
    problems.push(line);
  }
}

// ------------------------------------------------------------ micro
const micro = [];
const microPath = path.join(dir, 'micro.json');
if (fs.existsSync(microPath)) {
  try {
    const m = JSON.parse(fs.readFileSync(microPath, 'utf8'));
    micro.push('| micro-benchmark | time | items/s | bytes/s |', '| --- | --: | --: | --: |');
    for (const b of m.benchmarks) {
      if (b.run_type && b.run_type !== 'iteration') continue;
      const t = b.cpu_time;
      const unit = b.time_unit || 'ns';
      micro.push(
        `| ${b.name} | ${fmt(t)} ${unit} | ${b.items_per_second ? fmt(b.items_per_second) : ''} | ${
          b.bytes_per_second ? `${fmt(b.bytes_per_second / 1048576)} MiB/s` : ''
        } |`,
      );
    }
  } catch (e) {
    micro.push(`(micro.json unreadable: ${e.message})`);
  }
}

console.log('```');
console.log(env.trim());
console.log('```');
console.log('');
// (a run of xnode1k alone has nothing for the main table and issue 5's targets)
if (results.some((r) => LOADS.includes(r.label))) {
  console.log(out.join('\n'));
  console.log('');
  console.log('| target (issue 5) | result | numbers |');
  console.log('| --- | --- | --- |');
  console.log(targets.join('\n'));
}
if (xnode.length) {
  console.log('');
  console.log(xnode.join('\n'));
  console.log('');
  console.log('| target (issue 10) | result | numbers |');
  console.log('| --- | --- | --- |');
  console.log(xnodeTargets.join('\n'));
}
if (floodTargets.length) {
  console.log('');
  console.log('| target (issue 9) | result | numbers |');
  console.log('| --- | --- | --- |');
  console.log(floodTargets.join('\n'));
}
if (problems.length) {
  console.log('');
  console.log('Things to look at:');
  console.log('');
  console.log(problems.join('\n'));
}
if (micro.length) {
  console.log('');
  console.log(micro.join('\n'));
}
