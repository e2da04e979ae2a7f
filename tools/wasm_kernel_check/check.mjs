// node check.mjs <wasm_kernel_check.wasm> [cases]
// Prints `wasm-check <disagreements> <cases>` and `wasm <kernel> <MH/s>`
// lines; exits 1 on any disagreement. Fixed work: it always ends.
import { readFileSync } from 'node:fs';

const [path, casesArg] = process.argv.slice(2);
const cases = Number(casesArg ?? 2000);
const { instance } = await WebAssembly.instantiate(readFileSync(path), {});
const e = instance.exports;
const bad = e.check(0x1234n, cases);
console.log(`wasm-check ${bad} ${cases}`);
const kernels = [[0, 'portable']];
if (e.simd_available()) kernels.push([1, 'simd128']);
const n = 500_000n;
for (const [k] of kernels) e.mine(k, 50_000n); // warm up the JIT
const best = kernels.map(() => Infinity);
for (let round = 0; round < 10; round++) {
  kernels.forEach(([k], i) => {
    const t = performance.now();
    e.mine(k, n);
    best[i] = Math.min(best[i], performance.now() - t);
  });
}
kernels.forEach(([, name], i) => console.log(`wasm ${name} ${(Number(n) / best[i] / 1000).toFixed(2)}`));
process.exit(bad === 0 ? 0 : 1);
