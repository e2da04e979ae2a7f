//! The world's side of a scripted run ([`crate::script`]): the schedule is
//! put in the queue at the start, each block is handed to its node as
//! `POST /mined` would, and the finished world answers what each node has.

use jbc_core::node_state::Source;
use jbc_core::{BlockError, BlockHash, Chain, Status};

use super::{Event, World};
use crate::observations::{Mined, Observations};

impl World {
    /// Queues every submission at its time (same-time ones in list order),
    /// registers each distinct block as mined (by the node it is first
    /// handed to, at that time) so the arrival table follows it, and ends
    /// the run `settle_ms` after the last one.
    pub(super) fn schedule_script(&mut self) {
        let Some(script) = self.script.take() else {
            return;
        };
        let nodes = self.nodes.len();
        let mut order: Vec<usize> = (0..script.submissions.len()).collect();
        order.sort_by_key(|&i| script.submissions[i].at_ms);
        for &i in &order {
            let s = &script.submissions[i];
            if self.record.row_of(&s.block.hash).is_none() {
                let first = Mined {
                    hash: s.block.hash,
                    height: s.block.index,
                    miner: s.node,
                    found_us: s.at_ms * 1000,
                };
                self.record.mined(first, nodes);
            }
        }
        for (i, s) in script.submissions.iter().enumerate() {
            self.schedule(s.at_ms * 1000, Event::Submit { index: i as u32 });
        }
        let last_ms = script
            .submissions
            .iter()
            .map(|s| s.at_ms)
            .max()
            .unwrap_or(0);
        self.end_us = Some(
            last_ms
                .saturating_add(script.settle_ms)
                .saturating_mul(1000),
        );
        self.script = Some(script);
    }

    /// Hands submission `index` to its node with `handle_block(block,
    /// Submitted)`, as `POST /mined` does, and keeps the answer.
    pub(super) fn submit(&mut self, index: u32) {
        let Some(script) = &self.script else {
            return;
        };
        let s = &script.submissions[index as usize];
        let (node, block) = (s.node, s.block.clone());
        let now_ms = self.now_ms();
        let answer = self.nodes[node as usize]
            .state
            .handle_block(block, Source::Submitted, now_ms);
        self.after(node);
        if let Some(script) = &mut self.script {
            script.answers[index as usize] = Some(answer.map(|a| a.status));
        }
    }

    /// Runs a scripted world to its end (no progress to report: nothing is mined).
    pub(crate) fn run_script(&mut self) {
        self.run_events(&mut |_| {});
    }

    /// Number of nodes.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// `node`'s chain as it is now.
    pub(crate) fn chain_of(&self, node: usize) -> &Chain {
        self.nodes[node].state.chain()
    }

    /// `node`'s best tip.
    pub(crate) fn tip_of(&self, node: usize) -> BlockHash {
        self.nodes[node].tip
    }

    /// What each submission was answered (`None`: not handed out yet).
    pub(crate) fn answers(&self) -> &[Option<Result<Status, BlockError>>] {
        self.script.as_ref().map_or(&[], |s| &s.answers)
    }

    /// The observations of the run, as [`World::run`] gives them.
    pub(crate) fn into_observations(self) -> Observations {
        self.observe()
    }
}
