// GPU mining in headless Chromium with SwiftShader's software WebGPU
// adapter: jbc-core's WGSL shader, driven by www/gpu.js, returns exactly what
// the portable kernel (the scalar wasm build's job.mine) returns, on every
// vector block and on random templates and ranges; a block mined on the GPU
// alone is accepted by a real jbc-node and shown in the chain as the
// browser's; and a new tip moves the GPU to the new job.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, TARGET_DIR, startNode, networkArgs, launchBrowser, openMiner, getJson, postJson, waitFor, run } from '../lib/harness.mjs';

// jbc-web's native mine_block example (built by `cargo xtask test`).
const HELPER = path.join(TARGET_DIR, 'release/examples/mine_block');

const vectors = JSON.parse(readFileSync(path.join(ROOT, 'jbc-core/tests/vectors/jbc1-v1.json'), 'utf8'));
const blocks = [...vectors.chain, ...vectors.fork.branch_a, ...vectors.fork.branch_b].filter((b) => b.index > 0);

// Loads the scalar build (portable kernel) and opens the GPU in the page.
const PREPARE = `
  const m = await import('./pkg/scalar/jbc_web.js');
  await m.default();
  const { openGpu } = await import('./gpu.js');
  const gpu = await openGpu(m);
  if (!gpu.ok) throw new Error('no GPU: ' + gpu.reason);
  const plain = (r) => { const o = { found: r.found, hashes: r.hashes, nonce: r.nonce, hash: r.hash, nextNonce: r.nextNonce }; r.free(); return o; };
`;

describe('GPU mining in the browser (WebGPU, SwiftShader)', () => {
  let node, browser, page;

  before(async () => {
    node = await startNode(networkArgs('e2e-gpu', 14));
    browser = await launchBrowser({ webgpu: true });
    page = await openMiner(browser.context, `${node.url}/?devices=gpu`);
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  test('the page finds the software adapter and names it', async () => {
    const gpu = await page.evaluate(() => ({ status: jbcMiner.gpu.status, name: jbcMiner.gpu.name, software: jbcMiner.gpu.software, reason: jbcMiner.gpu.reason }));
    assert.equal(gpu.status, 'ready', `WebGPU adapter: ${gpu.reason}`);
    assert.match(gpu.name, /swiftshader/i);
    assert.equal(gpu.software, true);
    assert.match(await page.textContent('#gpu-status'), /GPU: .*software adapter/);
    assert.equal(await page.inputValue('#devices'), 'gpu');
  });

  test('the shader finds every vector block at its nonce, like the portable kernel', async () => {
    assert.ok(blocks.length >= 20);
    const results = await page.evaluate(async ({ blocks, prepare }) => {
      const AsyncFunction = (async () => {}).constructor;
      return new AsyncFunction('blocks', `${prepare}
        const out = [];
        for (const b of blocks) {
          const next = JSON.stringify({ index: b.index, prev_hash: b.prev_hash, difficulty: b.difficulty, min_timestamp: 0 });
          const job = new m.MiningJob(next, b.data, b.timestamp);
          // One dispatch over the whole range, and dispatches of 97 nonces
          // (which cross dispatch boundaries), against the portable kernel.
          const whole = plain(await gpu.mine(job, 0, b.nonce + 1000));
          let small = null;
          for (let start = 0; start <= b.nonce && !small;) {
            const r = plain(await gpu.mine(job, start, 97));
            if (r.found) small = r; else start = r.nextNonce;
          }
          const cpu = plain(job.mine(0, b.nonce + 1000));
          out.push({ whole, small, cpu, json: whole.found ? job.blockJson(whole.nonce) : null });
          job.free();
        }
        gpu.destroy();
        return out;`)(blocks);
    }, { blocks, prepare: PREPARE });
    blocks.forEach((b, i) => {
      const { whole, small, cpu, json } = results[i];
      assert.deepEqual(whole, cpu, `block ${b.index}: GPU == portable`);
      assert.equal(whole.nonce, b.nonce, `nonce of block ${b.index}`);
      assert.equal(whole.hash, b.hash, `hash of block ${b.index}`);
      assert.equal(small.nonce, b.nonce, `block ${b.index} in dispatches of 97`);
      assert.deepEqual(JSON.parse(json), b);
    });
  });

  test('random templates and ranges (ends inside a dispatch, near 2^32, at 2^53) equal the portable kernel', async () => {
    const cases = await page.evaluate(async (prepare) => {
      const AsyncFunction = (async () => {}).constructor;
      return new AsyncFunction(`${prepare}
        const MAX = m.maxNonce();
        // A small deterministic generator, so a failure can be replayed.
        let seed = 0x9e3779b9;
        const rand = () => { seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return seed / 2 ** 32; };
        const hex = () => Array.from({ length: 64 }, () => Math.floor(rand() * 16).toString(16)).join('');
        const out = [];
        for (let i = 0; i < 60; i++) {
          const difficulty = Math.floor(rand() * 17);
          const next = JSON.stringify({ index: 1 + Math.floor(rand() * 1000), prev_hash: hex(), difficulty, min_timestamp: 0 });
          const job = new m.MiningJob(next, 'random ' + i + ' ' + hex().slice(0, 8), 1_700_000_000_000 + Math.floor(rand() * 1e9));
          const kind = i % 4;
          const start = kind === 0 ? Math.floor(rand() * 2 ** 40)
            : kind === 1 ? 2 ** 32 * (1 + Math.floor(rand() * 1000)) - Math.floor(rand() * 3000)
              : kind === 2 ? MAX - Math.floor(rand() * 3000) : Math.floor(rand() * 1e6);
          const count = Math.floor(rand() * 150_000);
          const gpuRound = plain(await gpu.mine(job, start, count));
          const cpuRound = plain(job.mine(start, count));
          let cut = null;
          if (cpuRound.found && cpuRound.nonce > start) {
            // The range ends just before the hit, inside the dispatch's
            // last workgroup: exhausted at the hit, on both.
            const n = cpuRound.nonce - start;
            cut = { gpu: plain(await gpu.mine(job, start, n)), cpu: plain(job.mine(start, n)) };
          }
          out.push({ i, difficulty, start, count, gpu: gpuRound, cpu: cpuRound, cut });
          job.free();
        }
        // The top of the browser's nonce space: exhausted, no next nonce.
        const hard = new m.MiningJob(JSON.stringify({ index: 1, prev_hash: hex(), difficulty: 40, min_timestamp: 0 }), 'top', 1);
        out.push({ i: 'top', gpu: plain(await gpu.mine(hard, MAX - 500, 100_000)), cpu: plain(hard.mine(MAX - 500, 100_000)), cut: null });
        gpu.destroy();
        return out;`)();
    }, PREPARE);
    assert.equal(cases.length, 61);
    let found = 0;
    let cuts = 0;
    for (const c of cases) {
      assert.deepEqual(c.gpu, c.cpu, `case ${c.i} (difficulty ${c.difficulty}, start ${c.start}, count ${c.count})`);
      if (c.gpu.found) found += 1;
      if (c.cut) {
        cuts += 1;
        assert.deepEqual(c.cut.gpu, c.cut.cpu, `case ${c.i} cut before the hit`);
        assert.equal(c.cut.gpu.found, false);
      }
    }
    const top = cases.at(-1);
    assert.equal(top.gpu.found, false);
    assert.equal(top.gpu.nextNonce, undefined, 'no nonce past 2^53 - 1');
    // The cases must exercise both outcomes.
    assert.ok(found >= 10 && found < cases.length, `found in ${found} cases`);
    assert.ok(cuts >= 5, `${cuts} cut ranges`);
  });

  test("a block mined on the GPU alone is accepted by the node and shown as the browser's", async () => {
    await page.click('#start');
    const found = await waitFor('a GPU block the node accepted',
      () => page.evaluate(() => jbcMiner.found.find((f) => f.status === 'accepted')), 120_000);
    assert.equal(found.device, 'GPU');
    const state = await page.evaluate(() => ({
      minerId: jbcMiner.minerId, workers: jbcMiner.workers.length,
      dispatches: jbcMiner.gpu.dispatches, gpuHashes: jbcMiner.gpu.hashes,
    }));
    assert.equal(state.workers, 0, 'GPU only: no CPU workers');
    assert.ok(state.dispatches > 0 && state.gpuHashes > 0);

    const chain = await getJson(`${node.url}/blockchain.json`);
    const block = chain.find((b) => b.hash === found.hash);
    assert.ok(block, 'the accepted block is in /blockchain.json');
    assert.equal(block.data, `Mined by browser ${state.minerId}`);
    // The page's chain table shows it as this tab's block.
    await waitFor('the block in the chain table', () => page.evaluate((hash) => [...document.querySelectorAll('#chain tr.mine td.mono')]
      .some((td) => td.title === hash), found.hash), 30_000);
    const row = await page.evaluate((hash) => {
      const td = [...document.querySelectorAll('#chain tr td.mono')].find((t) => t.title === hash);
      return td.parentElement.children[2].textContent;
    }, found.hash);
    assert.match(row, new RegExp(`Mined by browser ${state.minerId}`));
    assert.match(await page.textContent('#found'), /GPU/);
    await page.click('#stop');
    assert.deepEqual(page.errors, []);
  });
});

describe('a new tip switches the GPU', () => {
  let node, browser, page;

  before(async () => {
    await run('cargo', ['build', '--quiet', '--release', '-p', 'jbc-web', '--example', 'mine_block'], 900_000);
    // 2^26 nonces a block: minutes for SwiftShader, about a second natively.
    node = await startNode(networkArgs('e2e-gpu-switch', 26));
    browser = await launchBrowser({ webgpu: true });
    page = await openMiner(browser.context, `${node.url}/?devices=gpu`);
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  test('after a native block becomes the tip, the GPU dispatches on top of it', async () => {
    await page.click('#start');
    await waitFor('GPU dispatches', () => page.evaluate(() => jbcMiner.gpu.dispatches > 2), 30_000);
    const before = await getJson(`${node.url}/tip`);
    assert.equal(await page.evaluate(() => jbcMiner.gpu.prevHash), before.hash);
    let native = null;
    for (let attempt = 0; attempt < 4 && !native; attempt++) {
      const tip = await getJson(`${node.url}/tip`);
      const json = (await run(HELPER, [JSON.stringify(tip.next), `Mined by native test ${attempt}`, '120'], 150_000)).trim();
      const reply = await postJson(`${node.url}/mined`, json);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      if (reply.body.status === 'accepted') native = JSON.parse(json);
    }
    assert.ok(native, 'a native block became the tip');
    const dispatchesAtTip = await page.evaluate(() => jbcMiner.gpu.dispatches);
    const gpu = await waitFor('the GPU on the new tip', () => page.evaluate((n) => {
      const g = jbcMiner.gpu;
      return (g.prevHash === n.hash || g.index > n.index + 1) && { dispatches: g.dispatches, index: g.index };
    }, native), 15_000);
    assert.ok(gpu.dispatches > dispatchesAtTip, 'a dispatch finished on the new job');
    await page.click('#stop');
    assert.deepEqual(page.errors, []);
  });
});

describe('without WebGPU', () => {
  let node, browser, page;

  before(async () => {
    node = await startNode(networkArgs('e2e-no-gpu', 30));
    // The plain test browser: --disable-gpu, so WebGPU offers no adapter.
    browser = await launchBrowser();
    page = await openMiner(browser.context, `${node.url}/?devices=gpu&workers=1`);
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  test('the page says so and mines on the CPU workers', async () => {
    const gpu = await page.evaluate(() => ({ status: jbcMiner.gpu.status, reason: jbcMiner.gpu.reason }));
    assert.equal(gpu.status, 'none');
    assert.ok(gpu.reason.length > 0);
    assert.match(await page.textContent('#gpu-status'), /^No GPU mining: .+\. Mining on the CPU\.$/);
    assert.equal(await page.inputValue('#devices'), 'cpu');
    await page.click('#start');
    await waitFor('a CPU worker hashing',
      () => page.evaluate(() => jbcMiner.workers.length === 1 && jbcMiner.workers[0].hashes > 0), 30_000);
    assert.equal(await page.evaluate(() => jbcMiner.gpu.mining), false);
    await page.click('#stop');
    assert.deepEqual(page.errors, []);
  });
});
