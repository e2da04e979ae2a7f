// A block from a native miner switches every worker to the new tip.
//
// The page mines with 2 workers on a non-mining node; the test mines a block
// on the same tip natively (jbc-web's mine_block example: jbc-core with the
// CPU's fastest kernel) and submits it. Once that block is the node's tip,
// every worker must move on to a job on top of it. The browser may win a
// race now and then (its block makes ours stale: `ignored`); the test then mines
// again on the new tip, a bounded number of times.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, TARGET_DIR, startNode, networkArgs, launchBrowser, openMiner, getJson, postJson, waitFor, run } from '../lib/harness.mjs';

const DIFFICULTY = 22;
const ATTEMPTS = 16;
const HELPER = path.join(TARGET_DIR, 'release/examples/mine_block');

describe('a native block switches the workers', () => {
  let node, browser, page;

  before(async () => {
    await run('cargo', ['build', '--quiet', '--release', '-p', 'jbc-web', '--example', 'mine_block'], 900_000);
    node = await startNode(networkArgs('e2e-switch', DIFFICULTY));
    browser = await launchBrowser();
    page = await openMiner(browser.context, `${node.url}/`);
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  test('every worker mines on top of the native block', async () => {
    await page.fill('#workers', '2');
    await page.click('#start');
    await waitFor('both workers hashing',
      () => page.evaluate(() => jbcMiner.workers.length === 2 && jbcMiner.workers.every((w) => w.hashes > 0)), 30_000);

    let native = null;
    for (let attempt = 0; attempt < ATTEMPTS && !native; attempt++) {
      const tip = await getJson(`${node.url}/tip`);
      const json = (await run(HELPER, [JSON.stringify(tip.next), `Mined by native test ${attempt}`, '120'], 150_000)).trim();
      const reply = await postJson(`${node.url}/mined`, json);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      if (reply.body.status === 'accepted') native = JSON.parse(json);
    }
    assert.ok(native, `a native block became the tip within ${ATTEMPTS} attempts`);

    // Every worker leaves the old tip: it mines on the native block, or
    // (if the tab found one since) higher still.
    const workers = await waitFor('every worker to switch', () => page.evaluate((n) => {
      const ws = jbcMiner.workers.map((w) => ({ index: w.index, prevHash: w.prevHash }));
      return ws.length === 2 && ws.every((w) => w.prevHash === n.hash || w.index > n.index + 1) && ws;
    }, native), 15_000);
    assert.equal(workers.length, 2);

    // The live chain view shows the native block.
    await waitFor('the native block in the chain view',
      async () => (await page.textContent('#chain')).includes(native.data), 15_000);
    const chain = await getJson(`${node.url}/blockchain.json`);
    assert.equal(chain[native.index].hash, native.hash);
  });
});
