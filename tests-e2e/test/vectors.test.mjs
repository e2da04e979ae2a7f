// Both wasm builds, in headless Chromium, find exactly the nonces of
// jbc-core/tests/vectors/jbc1-v1.json: the vector blocks were mined from
// nonce 0, so mining each header from 0 must stop at the vector's nonce.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startNode, networkArgs, launchBrowser, openMiner } from '../lib/harness.mjs';

const vectors = JSON.parse(readFileSync(path.join(ROOT, 'jbc-core/tests/vectors/jbc1-v1.json'), 'utf8'));
const blocks = [...vectors.chain, ...vectors.fork.branch_a, ...vectors.fork.branch_b].filter((b) => b.index > 0);

describe('vectors in the browser', () => {
  let node, browser, page;

  before(async () => {
    node = await startNode(networkArgs('e2e-vectors', 30));
    browser = await launchBrowser();
    page = await openMiner(browser.context, `${node.url}/`);
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  for (const [flavor, kernel] of [['scalar', 'portable'], ['simd', 'simd128']]) {
    test(`the ${flavor} build mines every vector block from nonce 0 to its nonce`, async () => {
      assert.ok(blocks.length >= 20);
      const results = await page.evaluate(async ({ flavor, blocks }) => {
        const m = await import(`./pkg/${flavor}/jbc_web.js`);
        await m.default();
        return {
          kernel: m.kernel(),
          mined: blocks.map((b) => {
            const next = JSON.stringify({ index: b.index, prev_hash: b.prev_hash, difficulty: b.difficulty, min_timestamp: 0 });
            const job = new m.MiningJob(next, b.data, b.timestamp);
            // Rounds of 7 nonces cross round boundaries; bounded at 2^20 nonces.
            for (let start = 0; start < 1 << 20;) {
              const round = job.mine(start, 7);
              if (round.found) return { nonce: round.nonce, hash: round.hash, json: job.blockJson(round.nonce) };
              start = round.nextNonce;
            }
            return null;
          }),
        };
      }, { flavor, blocks });
      assert.equal(results.kernel, kernel);
      blocks.forEach((b, i) => {
        const mined = results.mined[i];
        assert.ok(mined, `block ${b.index} found`);
        assert.equal(mined.nonce, b.nonce, `nonce of block ${b.index}`);
        assert.equal(mined.hash, b.hash, `hash of block ${b.index}`);
        assert.deepEqual(JSON.parse(mined.json), b);
      });
    });
  }
});
