//! What a scripted run is given, as plain data: the [`Submission`]s (each
//! block handed to a node at a time) and, for the world, the topology,
//! params and epoch that replace the random ones. [`crate::script`] builds
//! it and [`crate::world`] carries it out; neither depends on the other
//! for it.

use jbc_core::{Block, BlockError, Params, Status};

use crate::network::Topology;

/// One block handed to one node at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// When, in ms of simulated time (after the epoch). Submissions at the
    /// same time are handed out in list order.
    pub at_ms: u64,
    /// To which node (an index into the topology).
    pub node: u32,
    /// The block, given to `handle_block(block, Source::Submitted, now)`.
    pub block: Block,
}

/// What a scripted run puts in place of the random topology, the sim
/// params, [`EPOCH_MS`](crate::world::EPOCH_MS) and mining.
pub(crate) struct Setup {
    /// Who links to whom.
    pub topology: Topology,
    /// Every node's params.
    pub params: Params,
    /// Simulated time 0 (ms since the Unix epoch).
    pub epoch_ms: u64,
    /// The nodes that cannot be dialled.
    pub unreachable: Vec<u32>,
    /// The blocks to hand out.
    pub script: Scripted,
}

/// The schedule and what each submission was answered.
pub(crate) struct Scripted {
    /// The blocks to hand out.
    pub submissions: Vec<Submission>,
    /// How long the run goes on after the last submission (ms).
    pub settle_ms: u64,
    /// What each submission was answered (`None`: not handed out yet).
    pub answers: Vec<Option<Result<Status, BlockError>>>,
}
