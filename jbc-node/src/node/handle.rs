//! [`Node::handle`]: one event through the state machine under the lock;
//! its writes in one transaction, then its events, then (after the lock)
//! the rest of its actions.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLockWriteGuard};

use jbc_core::node_state::{Action, Durability, NodeState};
use jbc_core::{Block, Chain};

use super::{Caller, Core, Node, Published};
use crate::announce;
use crate::store::StoreError;

impl Node {
    /// Runs one event through the state machine under the lock, carries out
    /// its storage actions and publishes its tip changes (`/events`, logs)
    /// there, and the rest once the lock is released.
    /// Blocking (it may write); call it from a blocking thread.
    pub(crate) fn handle<R>(
        self: &Arc<Self>,
        event: impl FnOnce(&mut NodeState) -> R,
    ) -> Result<R, StoreError> {
        self.handle_as(Caller::Event, event)
    }

    /// [`Node::handle`] for `caller`: the timer task arms the timer with
    /// the new timeout; any other event wakes the task only if it moved the
    /// timeout earlier than the one armed.
    pub(super) fn handle_as<R>(
        self: &Arc<Self>,
        caller: Caller,
        event: impl FnOnce(&mut NodeState) -> R,
    ) -> Result<R, StoreError> {
        let mut later = Vec::new();
        // The lowest height where the best chain changed (for the store;
        // `Some` when it changed at all).
        let mut best_from: Option<u64> = None;
        let mut wake_timer = false;
        let answer = {
            let mut core = self.write();
            if core.failed {
                return Err(StoreError::Stopped);
            }
            let answer = event(&mut core.state);
            let due_ms = core.state.poll_timeout();
            match caller {
                Caller::Timer => self.timer_armed_ms.store(due_ms, Ordering::Release),
                Caller::Event => {
                    if due_ms < self.timer_armed_ms.load(Ordering::Acquire) {
                        self.timer_armed_ms.store(due_ms, Ordering::Release);
                        wake_timer = true;
                    }
                }
            }
            // The writes of this event, made in one transaction at the end:
            // the blocks stored, whether they must be on disk before anyone
            // hears of them, and the lowest height where the best chain
            // changed. Events are published after that commit.
            let mut blocks: Vec<Arc<Block>> = Vec::new();
            let mut durable = false;
            let mut events = Vec::new();
            while let Some(action) = core.state.poll_action() {
                match action {
                    Action::Store {
                        blocks: stored,
                        durability,
                    } => {
                        if durability == Durability::Deferred {
                            // Only sync defers its writes.
                            self.metrics.blocks_synced(stored.len());
                        }
                        durable |= durability == Durability::Fsync;
                        blocks.extend(stored);
                    }
                    Action::Flush => durable = true,
                    Action::TipChanged { change, source } => {
                        if !change.disconnected.is_empty() {
                            self.metrics.reorg(change.disconnected.len());
                        }
                        let chain = core.state.chain();
                        let first = change.connected.first().and_then(|h| chain.header(h));
                        if let Some(first) = first {
                            best_from = Some(best_from.map_or(first.index, |f| f.min(first.index)));
                        }
                        let body_of =
                            |hash: &jbc_core::BlockHash| self.body_of(chain, &blocks, hash);
                        announce::tip_changed(
                            |event| events.push(event),
                            chain,
                            body_of,
                            &change,
                            source,
                        );
                    }
                    other => later.push(other),
                }
            }
            let durability = if durable {
                Durability::Fsync
            } else {
                Durability::Deferred
            };
            let best = best_from.map(|from| (from, core.state.chain()));
            if let Err(e) = self.store.commit(&blocks, durability, best) {
                return Err(self.fail(core, e));
            }
            // Under the lock, so events keep the order of the changes;
            // publishing never blocks.
            for event in events {
                self.publish(event);
            }
            let published = Arc::new(Published::of(&core.state));
            *self.published.write().unwrap_or_else(|p| p.into_inner()) = published;
            answer
        };
        if wake_timer {
            self.timer.notify_one();
        }
        for action in later {
            self.carry_out(action);
        }
        if best_from.is_some() {
            self.refresh_work();
        }
        Ok(answer)
    }

    /// A write failed: the node stops.
    fn fail(&self, mut core: RwLockWriteGuard<'_, Core>, e: StoreError) -> StoreError {
        core.failed = true;
        drop(core);
        tracing::error!("{e}; stopping the node");
        self.shutdown.cancel();
        e
    }

    /// The body of `hash`, which just joined the best chain: stored by this
    /// event (`pending`, not written yet), among the chain's recent bodies,
    /// or read back.
    fn body_of(
        &self,
        chain: &Chain,
        pending: &[Arc<Block>],
        hash: &jbc_core::BlockHash,
    ) -> Option<Block> {
        if let Some(block) = pending.iter().rev().find(|b| b.hash == *hash) {
            return Some(Block::clone(block));
        }
        if let Some(block) = chain.block(hash) {
            return Some(block.clone());
        }
        match self.store.snapshot().and_then(|s| {
            s.block(hash).map_err(|e| StoreError::Io {
                op: "reading a block",
                source: e.into(),
            })
        }) {
            Ok(block) => block,
            Err(e) => {
                tracing::warn!("cannot read block {hash} for its event: {e}");
                None
            }
        }
    }
}
