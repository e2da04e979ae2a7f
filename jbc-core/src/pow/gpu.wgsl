// JBC1 proof of work on a GPU: one WGSL compute shader for WebGPU in the
// browser and for wgpu natively. The host side (jbc-core's `pow::gpu`)
// prepares the parameters below from a mining template and decodes the result.
//
// Each nonce costs one SHA-256 compression of the header's second 64-byte
// block. Rounds 0-5 use only nonce-independent words, so the host does them
// once (`state6`); the shader starts every nonce at round 6. Invocation i
// tries the nonces `start + i * per_invocation + k` for k in
// 0..per_invocation, stops at its first valid one, and the lowest valid
// offset of the whole dispatch wins through `atomicMin`. An untouched
// `best` (0xffffffff) means the dispatch held no valid nonce.

struct Params {
  // SHA-256 state after the header's first 64 bytes.
  midstate: array<vec4<u32>, 2>,
  // Working variables a..h after rounds 0-5 of the second block.
  state6: array<vec4<u32>, 2>,
  // The second block as big-endian words; words 6 and 7 (the nonce) are
  // replaced per nonce.
  block: array<vec4<u32>, 4>,
  // x: low word of the first nonce, y: its high word, z: how many nonces
  // this dispatch tries (at least 1), w: nonces per invocation.
  range: vec4<u32>,
  // x: required leading zero bits; y, z, w: unused (zero).
  rule: vec4<u32>,
}

// A read-only storage buffer, not a uniform buffer: lavapipe (Mesa's
// software Vulkan) specialises a shader on the values of its uniform buffer
// and compiled a new variant, about 200 ms, for every new template.
@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read_write> best: atomic<u32>;

fn rotr(x: u32, n: u32) -> u32 {
  return (x >> n) | (x << (32u - n));
}

fn ssig0(x: u32) -> u32 {
  return rotr(x, 7u) ^ rotr(x, 18u) ^ (x >> 3u);
}

fn ssig1(x: u32) -> u32 {
  return rotr(x, 17u) ^ rotr(x, 19u) ^ (x >> 10u);
}

fn bsig0(x: u32) -> u32 {
  return rotr(x, 2u) ^ rotr(x, 13u) ^ rotr(x, 22u);
}

fn bsig1(x: u32) -> u32 {
  return rotr(x, 6u) ^ rotr(x, 11u) ^ rotr(x, 25u);
}

// Whether the final state (the hash as eight big-endian words) has at least
// `difficulty` leading zero bits: the words in order, stopping at the first
// non-zero one.
fn meets(state: array<u32, 8>, difficulty: u32) -> bool {
  var s = state;
  var zeros = 0u;
  for (var i = 0u; i < 8u; i++) {
    if (zeros >= difficulty) {
      return true;
    }
    if (s[i] != 0u) {
      return zeros + countLeadingZeros(s[i]) >= difficulty;
    }
    zeros += 32u;
  }
  return zeros >= difficulty;
}

// One SHA-256 round for the variables in the roles a..h, with
// `kw = K[t] + W[t]`: `d += T1` and `h = T1 + T2`. The caller rotates the
// roles instead of moving eight values every round.
fn rnd(a: u32, b: u32, c: u32, d: ptr<function, u32>, e: u32, f: u32, g: u32, h: ptr<function, u32>, kw: u32) {
  let t1 = *h + bsig1(e) + ((e & f) ^ (~e & g)) + kw;
  *d = *d + t1;
  *h = t1 + bsig0(a) + ((a & b) ^ (a & c) ^ (b & c));
}

// Rounds 6..63 of the second block with the nonce words `hi`, `lo`, plus the
// midstate: the final SHA-256 state of the header with that nonce.
//
// Written out round by round, with the message schedule in sixteen named
// variables (W[t] replaces W[t - 16] in w{t % 16}) and the round constants
// as literals: no array indexed at run time, so every value can stay in a
// register, also on compilers that do not unroll loops.
fn final_state(hi: u32, lo: u32) -> array<u32, 8> {
  let b0 = params.block[0];
  let b1 = params.block[1];
  let b2 = params.block[2];
  let b3 = params.block[3];
  var w0 = b0.x;
  var w1 = b0.y;
  var w2 = b0.z;
  var w3 = b0.w;
  var w4 = b1.x;
  var w5 = b1.y;
  var w6 = hi;
  var w7 = lo;
  var w8 = b2.x;
  var w9 = b2.y;
  var w10 = b2.z;
  var w11 = b2.w;
  var w12 = b3.x;
  var w13 = b3.y;
  var w14 = b3.z;
  var w15 = b3.w;
  var a = params.state6[0].x;
  var b = params.state6[0].y;
  var c = params.state6[0].z;
  var d = params.state6[0].w;
  var e = params.state6[1].x;
  var f = params.state6[1].y;
  var g = params.state6[1].z;
  var h = params.state6[1].w;
  rnd(a, b, c, &d, e, f, g, &h, 0x923f82a4u + w6);
  rnd(h, a, b, &c, d, e, f, &g, 0xab1c5ed5u + w7);
  rnd(g, h, a, &b, c, d, e, &f, 0xd807aa98u + w8);
  rnd(f, g, h, &a, b, c, d, &e, 0x12835b01u + w9);
  rnd(e, f, g, &h, a, b, c, &d, 0x243185beu + w10);
  rnd(d, e, f, &g, h, a, b, &c, 0x550c7dc3u + w11);
  rnd(c, d, e, &f, g, h, a, &b, 0x72be5d74u + w12);
  rnd(b, c, d, &e, f, g, h, &a, 0x80deb1feu + w13);
  rnd(a, b, c, &d, e, f, g, &h, 0x9bdc06a7u + w14);
  rnd(h, a, b, &c, d, e, f, &g, 0xc19bf174u + w15);
  w0 = ssig1(w14) + w9 + ssig0(w1) + w0;
  rnd(g, h, a, &b, c, d, e, &f, 0xe49b69c1u + w0);
  w1 = ssig1(w15) + w10 + ssig0(w2) + w1;
  rnd(f, g, h, &a, b, c, d, &e, 0xefbe4786u + w1);
  w2 = ssig1(w0) + w11 + ssig0(w3) + w2;
  rnd(e, f, g, &h, a, b, c, &d, 0x0fc19dc6u + w2);
  w3 = ssig1(w1) + w12 + ssig0(w4) + w3;
  rnd(d, e, f, &g, h, a, b, &c, 0x240ca1ccu + w3);
  w4 = ssig1(w2) + w13 + ssig0(w5) + w4;
  rnd(c, d, e, &f, g, h, a, &b, 0x2de92c6fu + w4);
  w5 = ssig1(w3) + w14 + ssig0(w6) + w5;
  rnd(b, c, d, &e, f, g, h, &a, 0x4a7484aau + w5);
  w6 = ssig1(w4) + w15 + ssig0(w7) + w6;
  rnd(a, b, c, &d, e, f, g, &h, 0x5cb0a9dcu + w6);
  w7 = ssig1(w5) + w0 + ssig0(w8) + w7;
  rnd(h, a, b, &c, d, e, f, &g, 0x76f988dau + w7);
  w8 = ssig1(w6) + w1 + ssig0(w9) + w8;
  rnd(g, h, a, &b, c, d, e, &f, 0x983e5152u + w8);
  w9 = ssig1(w7) + w2 + ssig0(w10) + w9;
  rnd(f, g, h, &a, b, c, d, &e, 0xa831c66du + w9);
  w10 = ssig1(w8) + w3 + ssig0(w11) + w10;
  rnd(e, f, g, &h, a, b, c, &d, 0xb00327c8u + w10);
  w11 = ssig1(w9) + w4 + ssig0(w12) + w11;
  rnd(d, e, f, &g, h, a, b, &c, 0xbf597fc7u + w11);
  w12 = ssig1(w10) + w5 + ssig0(w13) + w12;
  rnd(c, d, e, &f, g, h, a, &b, 0xc6e00bf3u + w12);
  w13 = ssig1(w11) + w6 + ssig0(w14) + w13;
  rnd(b, c, d, &e, f, g, h, &a, 0xd5a79147u + w13);
  w14 = ssig1(w12) + w7 + ssig0(w15) + w14;
  rnd(a, b, c, &d, e, f, g, &h, 0x06ca6351u + w14);
  w15 = ssig1(w13) + w8 + ssig0(w0) + w15;
  rnd(h, a, b, &c, d, e, f, &g, 0x14292967u + w15);
  w0 = ssig1(w14) + w9 + ssig0(w1) + w0;
  rnd(g, h, a, &b, c, d, e, &f, 0x27b70a85u + w0);
  w1 = ssig1(w15) + w10 + ssig0(w2) + w1;
  rnd(f, g, h, &a, b, c, d, &e, 0x2e1b2138u + w1);
  w2 = ssig1(w0) + w11 + ssig0(w3) + w2;
  rnd(e, f, g, &h, a, b, c, &d, 0x4d2c6dfcu + w2);
  w3 = ssig1(w1) + w12 + ssig0(w4) + w3;
  rnd(d, e, f, &g, h, a, b, &c, 0x53380d13u + w3);
  w4 = ssig1(w2) + w13 + ssig0(w5) + w4;
  rnd(c, d, e, &f, g, h, a, &b, 0x650a7354u + w4);
  w5 = ssig1(w3) + w14 + ssig0(w6) + w5;
  rnd(b, c, d, &e, f, g, h, &a, 0x766a0abbu + w5);
  w6 = ssig1(w4) + w15 + ssig0(w7) + w6;
  rnd(a, b, c, &d, e, f, g, &h, 0x81c2c92eu + w6);
  w7 = ssig1(w5) + w0 + ssig0(w8) + w7;
  rnd(h, a, b, &c, d, e, f, &g, 0x92722c85u + w7);
  w8 = ssig1(w6) + w1 + ssig0(w9) + w8;
  rnd(g, h, a, &b, c, d, e, &f, 0xa2bfe8a1u + w8);
  w9 = ssig1(w7) + w2 + ssig0(w10) + w9;
  rnd(f, g, h, &a, b, c, d, &e, 0xa81a664bu + w9);
  w10 = ssig1(w8) + w3 + ssig0(w11) + w10;
  rnd(e, f, g, &h, a, b, c, &d, 0xc24b8b70u + w10);
  w11 = ssig1(w9) + w4 + ssig0(w12) + w11;
  rnd(d, e, f, &g, h, a, b, &c, 0xc76c51a3u + w11);
  w12 = ssig1(w10) + w5 + ssig0(w13) + w12;
  rnd(c, d, e, &f, g, h, a, &b, 0xd192e819u + w12);
  w13 = ssig1(w11) + w6 + ssig0(w14) + w13;
  rnd(b, c, d, &e, f, g, h, &a, 0xd6990624u + w13);
  w14 = ssig1(w12) + w7 + ssig0(w15) + w14;
  rnd(a, b, c, &d, e, f, g, &h, 0xf40e3585u + w14);
  w15 = ssig1(w13) + w8 + ssig0(w0) + w15;
  rnd(h, a, b, &c, d, e, f, &g, 0x106aa070u + w15);
  w0 = ssig1(w14) + w9 + ssig0(w1) + w0;
  rnd(g, h, a, &b, c, d, e, &f, 0x19a4c116u + w0);
  w1 = ssig1(w15) + w10 + ssig0(w2) + w1;
  rnd(f, g, h, &a, b, c, d, &e, 0x1e376c08u + w1);
  w2 = ssig1(w0) + w11 + ssig0(w3) + w2;
  rnd(e, f, g, &h, a, b, c, &d, 0x2748774cu + w2);
  w3 = ssig1(w1) + w12 + ssig0(w4) + w3;
  rnd(d, e, f, &g, h, a, b, &c, 0x34b0bcb5u + w3);
  w4 = ssig1(w2) + w13 + ssig0(w5) + w4;
  rnd(c, d, e, &f, g, h, a, &b, 0x391c0cb3u + w4);
  w5 = ssig1(w3) + w14 + ssig0(w6) + w5;
  rnd(b, c, d, &e, f, g, h, &a, 0x4ed8aa4au + w5);
  w6 = ssig1(w4) + w15 + ssig0(w7) + w6;
  rnd(a, b, c, &d, e, f, g, &h, 0x5b9cca4fu + w6);
  w7 = ssig1(w5) + w0 + ssig0(w8) + w7;
  rnd(h, a, b, &c, d, e, f, &g, 0x682e6ff3u + w7);
  w8 = ssig1(w6) + w1 + ssig0(w9) + w8;
  rnd(g, h, a, &b, c, d, e, &f, 0x748f82eeu + w8);
  w9 = ssig1(w7) + w2 + ssig0(w10) + w9;
  rnd(f, g, h, &a, b, c, d, &e, 0x78a5636fu + w9);
  w10 = ssig1(w8) + w3 + ssig0(w11) + w10;
  rnd(e, f, g, &h, a, b, c, &d, 0x84c87814u + w10);
  w11 = ssig1(w9) + w4 + ssig0(w12) + w11;
  rnd(d, e, f, &g, h, a, b, &c, 0x8cc70208u + w11);
  w12 = ssig1(w10) + w5 + ssig0(w13) + w12;
  rnd(c, d, e, &f, g, h, a, &b, 0x90befffau + w12);
  w13 = ssig1(w11) + w6 + ssig0(w14) + w13;
  rnd(b, c, d, &e, f, g, h, &a, 0xa4506cebu + w13);
  w14 = ssig1(w12) + w7 + ssig0(w15) + w14;
  rnd(a, b, c, &d, e, f, g, &h, 0xbef9a3f7u + w14);
  w15 = ssig1(w13) + w8 + ssig0(w0) + w15;
  rnd(h, a, b, &c, d, e, f, &g, 0xc67178f2u + w15);
  // After 58 rounds the roles a..h are held by g, h, a, b, c, d, e, f.
  let m0 = params.midstate[0];
  let m1 = params.midstate[1];
  return array<u32, 8>(g + m0.x, h + m0.y, a + m0.z, b + m0.w, c + m1.x, d + m1.y, e + m1.z, f + m1.w);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let count = params.range.z;
  let per = params.range.w;
  let difficulty = params.rule.x;
  // The host keeps workgroups * 64 * per below 2^32: no overflow here.
  let first = id.x * per;
  for (var k = 0u; k < per; k++) {
    let offset = first + k;
    // Past the end of the range, or an earlier nonce has already won.
    if (offset >= count || offset >= atomicLoad(&best)) {
      return;
    }
    let lo = params.range.x + offset;
    let hi = params.range.y + select(0u, 1u, lo < offset);
    let state = final_state(hi, lo);
    // The first word decides for almost every nonce; the full check only
    // runs when it has enough leading zeros.
    if (countLeadingZeros(state[0]) >= min(difficulty, 32u) && meets(state, difficulty)) {
      atomicMin(&best, offset);
      return;
    }
  }
}
