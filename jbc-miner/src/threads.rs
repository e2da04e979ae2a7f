//! The mining threads: CPU threads running jbc-core's [`mine_blocking`] on
//! its fastest kernel, and one GPU thread driving the shader through wgpu
//! ([`GpuLoop`]). Each takes the current [`Assignment`](jbc_core::Assignment)
//! from jbc-core's [`MinerHandle`], mines its own nonce lane in rounds sized
//! by a [`RoundPacer`](jbc_core::RoundPacer), checks the generation between
//! rounds (so a new tip replaces the work within one round), and sends what
//! it finds.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jbc_core::miner::{MineOutcome, MinerConfig, MinerHandle, mine_blocking};
use tokio::sync::mpsc::UnboundedSender;

pub use crate::found::{Counters, Device, Found};
use crate::gpu::GpuMiner;
use crate::gpu_loop::GpuLoop;

/// Target duration of a CPU round: a new tip is picked up within about 2 ms.
pub const CPU_ROUND: Duration = Duration::from_millis(2);

/// Fewest nonces in a CPU round (and the first round's size).
const MIN_CPU_ROUND: u64 = 1 << 10;

/// Most nonces in a CPU round.
const MAX_CPU_ROUND: u64 = 1 << 24;

/// Default target duration of a GPU dispatch. With
/// [`PIPELINE_DEPTH`](crate::pipeline::PIPELINE_DEPTH) of them in flight,
/// the work of an old tip still queued when a new one comes is at most about
/// 40 ms (0.4 % of a 10 s block), and the cost of each dispatch that the
/// pipeline cannot hide (on lavapipe, which runs dispatches on the CPU one
/// after the other: 2–5 ms on a busy machine) stays a small part of it.
pub const GPU_DISPATCH: Duration = Duration::from_millis(20);

/// Starts `threads` CPU mining threads (lanes `0..threads`); they count
/// their hashes in `handle`.
pub fn spawn_cpu(
    threads: usize,
    handle: &MinerHandle,
    found: &UnboundedSender<Found>,
) -> Vec<JoinHandle<()>> {
    (0..threads)
        .map(|lane| {
            let (handle, found) = (handle.clone(), found.clone());
            std::thread::Builder::new()
                .name(format!("cpu-{lane}"))
                .spawn(move || cpu_thread(lane as u64, &handle, &found))
                .expect("spawn a mining thread")
        })
        .collect()
}

/// Mines lane `lane` of each assignment until it is found, replaced, or
/// the handle stops.
fn cpu_thread(lane: u64, handle: &MinerHandle, found: &UnboundedSender<Found>) {
    let started = Instant::now();
    let clock_us = || started.elapsed().as_micros() as u64;
    let mut seen = 0;
    while let Some(assignment) = handle.next_assignment(seen) {
        seen = assignment.generation();
        let config = MinerConfig {
            nonces: assignment.lane(lane),
            target_round_us: CPU_ROUND.as_micros() as u64,
            first_round: MIN_CPU_ROUND,
            min_round: MIN_CPU_ROUND,
            max_round: MAX_CPU_ROUND,
        };
        // Replaced or stopped: the loop takes the next one. Used up (2^56
        // nonces, never in practice): wait for the next one.
        if let MineOutcome::Found { nonce, .. } =
            mine_blocking(&assignment.template, &assignment.job, &config, clock_us)
        {
            let _ = found.send(Found {
                generation: seen,
                nonce,
                device: Device::Cpu,
            });
        }
    }
}

/// Starts the GPU thread on nonce lane `lane`, with dispatches sized to
/// take about `dispatch_target` and [`GpuMiner::new`]'s depth of them in
/// flight ([`GpuLoop`]). A dispatch that fails ends the thread after calling
/// `on_error` (the CPU threads go on).
pub fn spawn_gpu(
    gpu: GpuMiner,
    lane: u64,
    dispatch_target: Duration,
    handle: &MinerHandle,
    counters: &Arc<Counters>,
    found: &UnboundedSender<Found>,
    on_error: impl FnOnce(String) + Send + 'static,
) -> JoinHandle<()> {
    let (handle, counters, found) = (handle.clone(), counters.clone(), found.clone());
    std::thread::Builder::new()
        .name("gpu".into())
        .spawn(move || {
            let result = GpuLoop::new(&gpu, lane, dispatch_target)
                .and_then(|mut gpu_loop| gpu_loop.run(&handle, &counters, &found));
            if let Err(e) = result {
                on_error(e.to_string());
            }
        })
        .expect("spawn the GPU thread")
}
