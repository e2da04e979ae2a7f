// The browser miner against a real, non-mining jbc-node at low difficulty:
// two workers find a block the node accepts (tagged with the tab's id), and
// Stop stops every submission.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, networkArgs, launchBrowser, openMiner, getJson, waitFor } from '../lib/harness.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('mining in the page', () => {
  let node, browser, page;
  const minedPosts = [];

  before(async () => {
    node = await startNode(networkArgs('e2e-mine', 14));
    browser = await launchBrowser();
    page = await openMiner(browser.context, `${node.url}/`);
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/mined')) minedPosts.push(Date.now());
    });
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  test('the page connects to the node that serves it and shows its chain', async () => {
    assert.equal(await page.inputValue('#node-url'), node.url);
    await waitFor('the tip on the page', async () => (await page.textContent('#height')) === '0');
    assert.equal(await page.textContent('#network'), 'e2e-mine');
    assert.equal(await page.textContent('#difficulty'), '14 bits');
    const state = await page.evaluate(() => ({ kernel: jbcMiner.kernel, flavor: jbcMiner.flavor }));
    // Chromium supports wasm SIMD, so the page must have picked that build.
    assert.deepEqual(state, { kernel: 'simd128', flavor: 'simd' });
    assert.deepEqual(page.errors, []);
  });

  test('two workers find a block that the node accepts, tagged with the browser id', async () => {
    await page.fill('#workers', '2');
    await page.click('#start');
    const found = await waitFor('a block the node accepted',
      () => page.evaluate(() => jbcMiner.found.find((f) => f.status === 'accepted')), 90_000);
    const minerId = await page.evaluate(() => jbcMiner.minerId);
    assert.match(minerId, /^[0-9a-f]{8}$/);

    const chain = await getJson(`${node.url}/blockchain.json`);
    const block = chain.find((b) => b.hash === found.hash);
    assert.ok(block, 'the accepted block is in /blockchain.json');
    assert.equal(block.data, `Mined by browser ${minerId}`);
    assert.equal(block.index, found.index);
    assert.ok(block.nonce < 2 ** 53, 'browser nonces stay below 2^53');

    // The first block may come before the second worker has loaded its
    // wasm (1 in 2^14 nonces works); both must be hashing soon after.
    const workers = await waitFor('both workers hashing', () => page.evaluate(() => {
      const ws = jbcMiner.workers.map((w) => ({ ready: w.ready, hashes: w.hashes }));
      return ws.every((w) => w.ready && w.hashes > 0) && ws;
    }), 30_000);
    assert.equal(workers.length, 2);
    // The page lists the block as accepted.
    await waitFor('the found table', async () => (await page.textContent('#found')).includes('accepted'));
    assert.deepEqual(await page.evaluate(() => jbcMiner.errors), {});
  });

  test('the tab never competes with itself: every block it finds extends the tip', async () => {
    await waitFor('five accepted blocks',
      () => page.evaluate(() => jbcMiner.found.filter((f) => f.status === 'accepted').length >= 5), 90_000);
    const statuses = await page.evaluate(() => jbcMiner.found.map((f) => f.status));
    // Only this tab mines on this node, so a second block at the same height
    // (an `ignored` answer) would mean the workers mined a stale tip.
    assert.deepEqual(statuses.filter((s) => s !== 'accepted' && !s.startsWith('submitting')), []);
    const chain = await getJson(`${node.url}/blockchain.json`);
    const minerId = await page.evaluate(() => jbcMiner.minerId);
    assert.ok(chain.slice(1).every((b) => b.data === `Mined by browser ${minerId}`));
  });

  test('Stop stops: no more submissions and no more blocks', async () => {
    await page.click('#stop');
    // A submission already on its way may finish; then nothing more is sent.
    await waitFor('in-flight submissions to settle',
      () => page.evaluate(() => !jbcMiner.found.some((f) => f.status.startsWith('submitting'))), 15_000);
    const stoppedAt = Date.now();
    const foundBefore = await page.evaluate(() => jbcMiner.found.length);
    const heightBefore = (await getJson(`${node.url}/tip`)).height;
    assert.ok(heightBefore >= 1);

    await sleep(3_000);
    assert.equal(minedPosts.filter((t) => t > stoppedAt).length, 0, 'no POST /mined after Stop');
    assert.equal(await page.evaluate(() => jbcMiner.found.length), foundBefore);
    assert.equal((await getJson(`${node.url}/tip`)).height, heightBefore, 'the (non-mining) node did not grow');
    assert.equal(await page.evaluate(() => jbcMiner.workers.length), 0);
    assert.equal(await page.isEnabled('#start'), true);
    assert.equal(await page.textContent('#total-rate'), '0 ');
  });
});
