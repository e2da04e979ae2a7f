//! `jbc-node`: parses the command line and runs the node, or `export` /
//! `import` (see the library).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use jbc_node::chainfiles;
use jbc_node::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let done = match cli.command {
        None => run_node(cli.node),
        Some(Command::Export(args)) => chainfiles::export(&args)
            .map(|s| {
                println!(
                    "exported {} blocks (height {}) to {} in {:.2} s (load {:.2} s, write {:.2} s)",
                    s.blocks,
                    s.height,
                    args.out.display(),
                    (s.load + s.write).as_secs_f64(),
                    s.load.as_secs_f64(),
                    s.write.as_secs_f64()
                )
            })
            .map_err(anyhow::Error::from),
        Some(Command::Import(args)) => chainfiles::import(&args)
            .map(|s| {
                println!(
                    "imported {} blocks from {}: {} stored, {} known; height {}, tip {}, in {:.2} s",
                    s.read,
                    args.path.display(),
                    s.stored,
                    s.known,
                    s.height,
                    s.tip,
                    s.elapsed.as_secs_f64()
                )
            })
            .map_err(anyhow::Error::from),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jbc-node: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_node(config: jbc_node::Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(jbc_node::run(config))
}
