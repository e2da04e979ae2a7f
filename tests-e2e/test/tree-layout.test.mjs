// www/tree-layout.js without a browser (it touches no DOM): the best chain
// on one line, each side branch on a line of its own, an edge from each
// block to its parent, only the top heights, tip labels that overlap
// neither each other nor any block, and tips without a drawn block set
// aside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layoutTree, GEOMETRY } from '../../www/tree-layout.js';

/// A row of GET /tree: `hash` and `parent` are short names.
const row = (index, hash, parent, branch = 'best') => ({ index, hash, prev_hash: parent, branch, miner: `Mined by ${hash}` });

// 0-1-2-3-4-5 best; a1 (side, on 0) and b3-b4 (side, on 2); c3 (side, on 2).
const ROWS = [
  row(0, 'g', 'none'), row(1, 'm1', 'g'), row(2, 'm2', 'm1'), row(3, 'm3', 'm2'), row(4, 'm4', 'm3'), row(5, 'm5', 'm4'),
  row(1, 'a1', 'g', 'side'), row(3, 'b3', 'm2', 'side'), row(4, 'b4', 'b3', 'side'), row(3, 'c3', 'm2', 'side'),
];

const byHash = (layout) => new Map(layout.blocks.map((b) => [b.row.hash, b]));
const overlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

test('the best chain is one line, each side branch a line below it', () => {
  const layout = layoutTree(ROWS, []);
  const at = byHash(layout);
  const best = ['g', 'm1', 'm2', 'm3', 'm4', 'm5'].map((h) => at.get(h));
  assert.ok(best.every((b) => b.lane === 0 && b.y === best[0].y));
  for (let i = 1; i < best.length; i++) assert.ok(best[i].x > best[i - 1].x, 'heights run left to right');
  assert.equal(at.get('b4').lane, at.get('b3').lane, 'a branch goes on in its lane');
  assert.notEqual(at.get('c3').lane, at.get('b3').lane, 'two side blocks at one height');
  for (const h of ['a1', 'b3', 'c3']) assert.ok(at.get(h).lane > 0 && at.get(h).y > best[0].y, h);
  assert.equal(at.get('b3').x, at.get('m3').x, 'one column per height');
  // a1 ends before b3 starts with a free column between: they share a lane.
  assert.equal(at.get('a1').lane, at.get('b3').lane);
  for (const a of layout.blocks) {
    for (const b of layout.blocks) if (a !== b) assert.ok(!overlap(a, b), `${a.row.hash} and ${b.row.hash} overlap`);
  }
});

test('an edge runs from each block to its parent; a parent below the view gets a stub', () => {
  const layout = layoutTree(ROWS, [], { heights: 4 });
  const at = byHash(layout);
  assert.deepEqual([...at.keys()].sort(), ['b3', 'b4', 'c3', 'm2', 'm3', 'm4', 'm5'], 'the top 4 heights only');
  assert.deepEqual(layout.columns.map((c) => c.index), [2, 3, 4, 5]);
  const edges = new Map(layout.edges.map((e) => [e.hash, e]));
  for (const b of layout.blocks) {
    const edge = edges.get(b.row.hash);
    const start = `M${b.x} ${b.y + b.h / 2}`;
    assert.ok(edge.d.startsWith(start), `${b.row.hash}: ${edge.d}`);
    const parent = at.get(b.row.prev_hash);
    if (parent) {
      assert.equal(edge.stub, false);
      assert.ok(edge.d.endsWith(`${parent.x + parent.w} ${parent.y + parent.h / 2}`), `${b.row.hash}: ${edge.d}`);
    } else {
      assert.equal(edge.stub, true, `${b.row.hash}'s parent is below the view`);
    }
  }
  assert.equal(edges.get('m2').stub, true);
});

test('tip labels sit above their block and overlap nothing; a tip not drawn is set aside', () => {
  const tips = [
    { hash: 'm5', text: 'this node' }, { hash: 'm5', text: 'peer :5001' }, { hash: 'm4', text: 'peer :5002 (down)' },
    { hash: 'b4', text: 'peer :5003' }, { hash: 'c3', text: 'peer 10.0.0.7:5000' }, { hash: 'elsewhere', text: 'peer :5004' },
  ];
  const layout = layoutTree(ROWS, tips);
  assert.deepEqual(layout.unplaced.map((t) => t.text), ['peer :5004']);
  const labels = layout.blocks.flatMap((b) => b.labels.map((l) => ({ ...l, h: GEOMETRY.labelH, block: b })));
  assert.equal(labels.length, 5);
  for (const l of labels) {
    assert.ok(l.y + l.h <= l.block.y, `${l.tip.text} is above its block`);
    assert.ok(l.x <= l.block.x && l.x + l.w >= l.block.x + 12, `${l.tip.text} starts at its block or left of it`);
    assert.ok(l.x >= 0 && l.x + l.w <= layout.width, `${l.tip.text} is inside the view`);
    for (const b of layout.blocks) assert.ok(!overlap(l, b), `${l.tip.text} covers block ${b.row.hash}`);
    for (const o of labels) if (o !== l) assert.ok(!overlap(l, o), `${l.tip.text} and ${o.tip.text} overlap`);
    assert.ok(l.y >= GEOMETRY.axisH, `${l.tip.text} is below the axis`);
  }
  assert.ok(layout.height >= Math.max(...layout.blocks.map((b) => b.y + b.h)));
});

test('no rows: nothing drawn, every tip set aside', () => {
  const layout = layoutTree([], [{ hash: 'x', text: 'this node' }]);
  assert.deepEqual([layout.blocks, layout.edges, layout.unplaced.length], [[], [], 1]);
});

test('30 heights fill the width; a long label on the last block stays inside the view', () => {
  const rows = Array.from({ length: 40 }, (_, i) => row(i, `h${i}`, i === 0 ? 'none' : `h${i - 1}`));
  const tip = { hash: 'h39', text: 'peer 192.168.100.200:5000 (down)' };
  const layout = layoutTree(rows, [tip]);
  assert.equal(layout.blocks.length, 30);
  const last = layout.blocks.find((b) => b.row.hash === 'h39');
  assert.ok(last.x + last.w <= layout.width - GEOMETRY.padX && last.x > layout.width / 2);
  const [label] = last.labels;
  assert.ok(label.x + label.w <= layout.width && label.x < last.x, JSON.stringify(label));
});
