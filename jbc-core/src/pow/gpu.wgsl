// JBC1 proof of work on a GPU: one WGSL compute shader for WebGPU in the
// browser and for wgpu natively. The host side (jbc-core's `pow::gpu`)
// prepares the uniform below from a mining template and decodes the result.
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

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> best: atomic<u32>;

var<private> K: array<u32, 64> = array<u32, 64>(
  0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
  0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
  0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
  0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
  0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
  0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
  0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
  0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
);

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

// Rounds 6..63 of the second block with the nonce words `hi`, `lo`, plus the
// midstate: the final SHA-256 state of the header with that nonce.
fn final_state(hi: u32, lo: u32) -> array<u32, 8> {
  var w: array<u32, 16>;
  for (var i = 0u; i < 16u; i++) {
    w[i] = params.block[i / 4u][i % 4u];
  }
  w[6] = hi;
  w[7] = lo;
  var a = params.state6[0].x;
  var b = params.state6[0].y;
  var c = params.state6[0].z;
  var d = params.state6[0].w;
  var e = params.state6[1].x;
  var f = params.state6[1].y;
  var g = params.state6[1].z;
  var h = params.state6[1].w;
  for (var t = 6u; t < 64u; t++) {
    var wt: u32;
    if (t < 16u) {
      wt = w[t];
    } else {
      wt = ssig1(w[(t - 2u) & 15u]) + w[(t - 7u) & 15u] + ssig0(w[(t - 15u) & 15u]) + w[t & 15u];
      w[t & 15u] = wt;
    }
    let t1 = h + bsig1(e) + ((e & f) ^ (~e & g)) + K[t] + wt;
    let t2 = bsig0(a) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  let m0 = params.midstate[0];
  let m1 = params.midstate[1];
  return array<u32, 8>(a + m0.x, b + m0.y, c + m0.z, d + m0.w, e + m1.x, f + m1.y, g + m1.z, h + m1.w);
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
    if (meets(final_state(hi, lo), difficulty)) {
      atomicMin(&best, offset);
      return;
    }
  }
}
