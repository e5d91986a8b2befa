#!/usr/bin/env node
/*
 * Writes tests/unit/msgpack_vectors.hpp: what notepack.io 3.0.1 (the codec
 * of @socket.io/redis-adapter 8.3 and @socket.io/redis-emitter 5.1) makes
 * of representative values, and what a Node.js Socket.IO server would send
 * its clients for them. tests/unit/redis_msgpack_test.cpp checks that our
 * decoder reads each to that JSON and that our encoder writes notepack's
 * bytes. Run outside the repository's dependencies (no node_modules here):
 *
 *     mkdir -p /tmp/np && cd /tmp/np && npm init -y && npm i notepack.io@3.0.1
 *     NODE_PATH=/tmp/np/node_modules node tests/tools/msgpack_vectors.js \
 *         > tests/unit/msgpack_vectors.hpp
 *
 * The expected JSON is JSON.stringify's, as socket.io-parser applies it
 * after deconstructPacket: each Buffer (or ArrayBuffer) a placeholder
 * {"_placeholder":true,"num":N} in document order, its bytes an
 * attachment; integers printed exactly (through BigInt), so that values
 * beyond 2^53 compare exactly in C++.
 */
'use strict';

const notepack = require('notepack.io');
const version = require('notepack.io/package.json').version;

/* --- values built the same way on both sides (see the C++ test) --- */

/* exactly n bytes of UTF-8, characters of every width */
function uni(n) {
  const pieces = ['a', '\u00e9', '\u20ac', '\ud834\udd1e'];
  let s = '';
  let len = 0;
  for (let k = 0; len < n; k++) {
    const p = pieces[k % 4];
    const plen = Buffer.byteLength(p);
    if (len + plen > n) {
      s += 'a';
      len += 1;
    } else {
      s += p;
      len += plen;
    }
  }
  return s;
}

function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

function numbers(n) {
  const a = [];
  for (let i = 0; i < n; i++) a.push(i % 200);
  return a;
}

function keyed(n) {
  const o = {};
  for (let i = 0; i < n; i++) o['k' + i] = i % 200;
  return o;
}

/* --- JSON as a Socket.IO server sends it --- */

function sioJson(v, att) {
  if (v === null || v === undefined) return 'null';
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer) {
    att.push(Buffer.from(v).toString('hex'));
    return '{"_placeholder":true,"num":' + (att.length - 1) + '}';
  }
  if (v instanceof Date) return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return 'null';
    if (Number.isInteger(v)) return BigInt(v).toString();
    return JSON.stringify(v);
  }
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map((e) => sioJson(e, att)).join(',') + ']';
  const parts = [];
  for (const k of Object.keys(v)) {
    if (v[k] === undefined || typeof v[k] === 'function') continue;
    parts.push(JSON.stringify(k) + ':' + sioJson(v[k], att));
  }
  return '{' + parts.join(',') + '}';
}

/* a C++ string literal of the UTF-8 bytes of s (octal escapes: they take
   at most three digits, so no following character is swallowed) */
function cstr(s) {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  let out = '"';
  for (const c of b) {
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c && c !== 0x3f) {
      out += String.fromCharCode(c);
    } else {
      out += '\\' + c.toString(8).padStart(3, '0');
    }
  }
  return out + '"';
}

function fnv1a(buf) {
  let h = 0xcbf29ce484222325n;
  for (const c of buf) {
    h ^= BigInt(c);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return '0x' + h.toString(16).padStart(16, '0') + 'ULL';
}

/* --- the vectors --- */

const vectors = [];

/* encoded by notepack: our decoder reads them, our encoder writes them */
function enc(name, value) {
  const bytes = notepack.encode(value);
  const att = [];
  const json = sioJson(value, att);
  vectors.push({ name, hex: bytes.toString('hex'), json, att, encodes: true });
}

/* encoded by notepack, but not from a JSON value (NaN, Date, ...): our
   decoder reads them as a Node.js server would pass them on */
function dec(name, value) {
  const bytes = notepack.encode(value);
  const att = [];
  const json = sioJson(notepack.decode(bytes), att);
  vectors.push({ name, hex: bytes.toString('hex'), json, att, encodes: false });
}

/* bytes notepack does not write (other encoders, or its older versions)
   but reads */
function raw(name, hex) {
  const att = [];
  const json = sioJson(notepack.decode(Buffer.from(hex, 'hex')), att);
  vectors.push({ name, hex, json, att, encodes: false });
}

/* the adapter's messages */
enc('broadcast_event', ['Gx4QzA', { type: 2, data: ['chat message', 'hello'], nsp: '/' },
  { rooms: [], except: [], flags: {} }]);
enc('broadcast_rooms_flags', ['k3J9aZ', { type: 2, data: ['news', { title: 'T\u00eate', n: 1 }], nsp: '/admin' },
  { rooms: ['room1', 'room 2'], except: ['x'], flags: { volatile: true, compress: true } }]);
enc('broadcast_binary', ['k3J9aZ', { type: 2, data: ['file', Buffer.from([1, 2, 3]),
  { name: 'a.bin', parts: [Buffer.from('xyz'), Buffer.alloc(0)] }], nsp: '/' },
  { rooms: ['r'], except: [], flags: {} }]);
enc('broadcast_numeric_rooms', ['u1', { type: 2, data: ['e'], nsp: '/' },
  { rooms: [42, '7'], except: [-1, 4294967296], flags: {} }]);
enc('broadcast_with_id', ['u1', { type: 2, data: ['e', 1], nsp: '/', id: 12 },
  { rooms: [], except: [], flags: { timeout: 5000 } }]);
/* the emitter writes opts in another order: rooms, flags, except */
enc('emitter_event', ['emitter', { type: 2, data: ['time', '2024-01-01'], nsp: '/' },
  { rooms: ['r1'], flags: {}, except: [] }]);
enc('broadcast_request', { uid: 'srv1', requestId: 'req123', type: 7,
  packet: { type: 2, data: ['ping', 1], nsp: '/' },
  opts: { rooms: [], except: [], flags: { timeout: 5000 } } });
enc('broadcast_ack', { type: 9, requestId: 'req123', packet: ['pong', Buffer.from([0xde, 0xad])] });

/* numbers: every form's edges */
const ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296,
  2 ** 53 - 1, 2 ** 53, 2 ** 63, 2 ** 64 - 2048,
  -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649,
  -(2 ** 53), -(2 ** 63)];
for (const n of ints) enc('int_' + BigInt(n).toString(), n);
enc('ints_in_array', ints);
for (const [name, d] of [['1_5', 1.5], ['minus_1_5', -1.5], ['0_1', 0.1],
  ['minus_1e_300', -1e-300], ['denormal', 5e-324]]) {
  enc('float_' + name, d);
}
/* Every double from 2^64 up is an integer to notepack, which writes it as
   a uint 64 with 32-bit arithmetic that wraps: a Node.js server reads
   these as other numbers (1e300 as 0). Our decoder reads what was written;
   our encoder writes such values as float 64. */
dec('wrapped_1e20', 1e20);
dec('wrapped_1e300', 1e300);
dec('wrapped_max', 1.7976931348623157e308);
dec('wrapped_minus_1e20', -1e20);
enc('minus_zero', -0);
dec('nan', NaN);
dec('infinity', Infinity);
dec('minus_infinity', -Infinity);

/* strings: every form's edges, escapes, characters of every width */
for (const n of [0, 1, 31, 32, 255, 256]) enc('str_' + n, uni(n));
enc('str_escapes', 'q"b\\n\nt\tc\u0001\u001f</script>\u2028\u00e9\u20ac\ud834\udd1e');
enc('unicode_keys', { '\u00e9': 1, '\ud834\udd1e': [uni(40)] });

/* binaries */
enc('bin_0', [Buffer.alloc(0)]);
enc('bin_1', [Buffer.from([0xff])]);
enc('bin_255', [pattern(255)]);
enc('bin_256', [pattern(256)]);
enc('bins_in_order', { a: Buffer.from('1'), b: [Buffer.from('2'), { c: Buffer.from('3') }], d: Buffer.from('4') });

/* containers: every form's edges */
enc('empty_array', []);
enc('empty_map', {});
enc('nested_empty', [[], {}, [[]], { a: {} }]);
enc('array_15', numbers(15));
enc('array_16', numbers(16));
enc('map_15', keyed(15));
enc('map_16', keyed(16));
enc('nested', { a: { b: { c: [1, { d: null }] } }, e: true, f: false, g: 'x' });
let deep = 'bottom';
for (let i = 0; i < 32; i++) deep = i % 2 ? [deep] : { d: deep };
enc('deep_32', deep);

/* the rest of the types */
enc('null', null);
enc('true', true);
enc('false', false);
enc('null_true_false', [null, true, false]);
enc('undefined', undefined);
enc('undefined_in_array', [undefined, 1]);
enc('undefined_in_map', { a: undefined, b: 1 });
/* JavaScript lists integer-like keys first: notepack writes them so */
enc('integer_keys', { b: 1, 10: 2, 2: 3, a: 4, '01': 5, 4294967295: 6, 4294967294: 7 });

/* Dates: notepack's timestamps, which Socket.IO sends as ISO strings */
dec('date_ts32', new Date(1700000000000));
dec('date_ts64', new Date(1700000000123));
dec('date_ts96_negative', new Date(-1));
dec('date_ts96_year_10000', new Date(253402300800000));
dec('date_ts96_year_minus_1', new Date(-62198755200000));
dec('date_epoch', new Date(0));
dec('date_in_event', ['u1', { type: 2, data: ['at', new Date(86400000)], nsp: '/' },
  { rooms: [], except: [], flags: {} }]);

/* forms notepack does not write but reads */
raw('float32_1_5', 'ca3fc00000');
raw('float32_0_1', 'ca3dcccccd');
raw('float64_2', 'cb4000000000000000');
raw('float64_minus_2', 'cbc000000000000000');
raw('uint8_small', 'cc05');
raw('uint16_small', 'cd0005');
raw('uint32_small', 'ce00000005');
raw('uint64_small', 'cf0000000000000005');
raw('int8_positive', 'd005');
raw('int8_minus_1', 'd0ff');
raw('int16_minus_1', 'd1ffff');
raw('int32_minus_1', 'd2ffffffff');
raw('int64_minus_1', 'd3ffffffffffffffff');
raw('str8_short', 'd90161');
raw('str16_short', 'da000161');
raw('str32_short', 'db0000000161');
raw('bin16_short', '91c50003010203');
raw('bin32_short', '91c600000003010203');
raw('array16_short', 'dc0001c0');
raw('array32_short', 'dd00000001c0');
raw('map16_short', 'de0001a161c3');
raw('map32_short', 'df00000001a161c3');
raw('old_undefined', '92d40000c3');
raw('old_arraybuffer', '91c70300010203');
raw('old_date', '91d700' + (() => {
  const b = Buffer.alloc(8);
  const ms = 1700000000123;
  b.writeInt32BE(Math.floor(ms / 2 ** 32), 0);
  b.writeUInt32BE(ms >>> 0, 4);
  return b.toString('hex');
})());
raw('timestamp64_max_ns', '91d7ffee6b27fc00000000');
raw('int_key', '8101c3');
raw('negative_key', '81ffc3');
raw('nil_key', '81c0c3');
raw('bool_keys', '82c3c2c2c3');
/* keys JavaScript lists in another order: Node numbers the binaries in
   its order, not the bytes' */
raw('reordered_keys', '84a16201a2313002a13203a16104');
raw('reordered_keys_with_bins', '83a161c40131' + '32' + '81a163c40133' + 'a164c40134');
raw('reordered_nested', '92c4017a' + '82a178c40178' + '01' + '82a179c40179' + '00c40130');
raw('invalid_utf8', 'a361ff62');
raw('truncated_utf8', 'a2e282');

/* too long to keep as hex: a recipe both sides build, notepack's size,
   first bytes and FNV-1a 64 of the whole */
const big = [];
function bigVector(name, recipe, n, value) {
  const bytes = notepack.encode(value);
  big.push({ name, recipe, n, size: bytes.length, fnv: fnv1a(bytes),
    head: bytes.slice(0, 8).toString('hex') });
}
bigVector('str_65535', 'str', 65535, uni(65535));
bigVector('str_65536', 'str', 65536, uni(65536));
bigVector('bin_65535', 'bin', 65535, [pattern(65535)]);
bigVector('bin_65536', 'bin', 65536, [pattern(65536)]);
bigVector('array_65535', 'array', 65535, numbers(65535));
bigVector('array_65536', 'array', 65536, numbers(65536));
bigVector('map_65535', 'map', 65535, keyed(65535));
bigVector('map_65536', 'map', 65536, keyed(65536));

/* --- the header --- */

const lines = [];
lines.push('/*');
lines.push(' * Generated by tests/tools/msgpack_vectors.js with notepack.io ' + version + ' on');
lines.push(' * Node.js ' + process.version + ': do not edit, run the script again (see its head).');
lines.push(' */');
lines.push('#pragma once');
lines.push('');
lines.push('#include <cstddef>');
lines.push('#include <cstdint>');
lines.push('');
lines.push('namespace msgpack_vectors {');
lines.push('');
lines.push('struct Vector {');
lines.push('    const char* name;');
lines.push('    const char* hex;          /* the msgpack bytes */');
lines.push('    const char* json;         /* what a Node.js server sends its clients */');
lines.push('    const char* attachments;  /* each binary in hex after a \'#\' */');
lines.push('    bool encodes;             /* notepack wrote `hex` from that JSON value */');
lines.push('};');
lines.push('');
lines.push('inline const Vector vectors[] = {');
for (const v of vectors) {
  lines.push('    {' + cstr(v.name) + ',');
  lines.push('     ' + cstr(v.hex) + ',');
  lines.push('     ' + cstr(v.json) + ',');
  lines.push('     ' + cstr(v.att.map((a) => '#' + a).join('')) + ', ' + v.encodes + '},');
}
lines.push('};');
lines.push('');
lines.push('/* recipe "str": uni(n); "bin": [pattern(n)]; "array": n numbers i % 200;');
lines.push('   "map": n keys "k<i>" to i % 200 (the script\'s functions) */');
lines.push('struct Big {');
lines.push('    const char* name;');
lines.push('    const char* recipe;');
lines.push('    std::size_t n;');
lines.push('    std::size_t size;');
lines.push('    std::uint64_t fnv1a;');
lines.push('    const char* head;');
lines.push('};');
lines.push('');
lines.push('inline const Big big[] = {');
for (const b of big) {
  lines.push('    {' + cstr(b.name) + ', ' + cstr(b.recipe) + ', ' + b.n + ', ' + b.size + ', '
    + b.fnv + ', ' + cstr(b.head) + '},');
}
lines.push('};');
lines.push('');
lines.push('}  // namespace msgpack_vectors');
process.stdout.write(lines.join('\n') + '\n');
