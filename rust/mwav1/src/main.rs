//! `mwav1`: the core's command line. Records the built-in test scene through the very pipeline
//! the Godot extension uses, prints what the backends' probes found, and benchmarks the pipeline;
//! merges render-farm chunks and runs render-farm jobs (`farm`); judges any AV1 recording by its
//! bitstream (`check`).
//!
//! Bad arguments are clap's to report (exit status 2, naming what is allowed); a command that
//! fails once running prints "mwav1: <why>" and exits with 1.

mod bench;
mod check;
mod farm;
mod hwcheck;
mod machine;
mod record;
mod table_args;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use movie_writer_av1_core::backend::{auto_choice, probe_all};

#[derive(Parser)]
#[command(name = "mwav1", version, about, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Records the built-in test scene (moving pattern and a tone) through the recording pipeline.
    Record(record::Args),
    /// Prints what each encoder backend's probe found, and the one `auto` would use.
    Probe,
    /// Prints performance figures of the pipeline (or, with --tune, the sweeps behind the defaults).
    Bench(bench::Args),
    /// Records the conformance cases with every usable hardware encoder and writes a report.
    Hwcheck(hwcheck::Args),
    /// Judges recordings by their bitstream: av1C, keyframes, size, crop and colours against the container.
    Check(check::Args),
    /// Runs what of the Vulkan backend works without a video-encode queue.
    VulkanCheck,
    /// Joins render-farm chunks (what --movie-range renders) into one file, losslessly.
    Merge(MergeArgs),
    /// Plans, renders, checks and merges a chunked render (local pool or Slurm).
    Farm(farm::Args),
}

#[derive(clap::Args)]
struct MergeArgs {
    /// The merged file; its extension picks the container.
    #[arg(short, long, value_name = "OUT.webm|.mkv|.mp4")]
    out: PathBuf,
    /// The chunks, in order.
    #[arg(value_name = "CHUNK.mkv", required = true)]
    chunks: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Record(args) => record::run(&args),
        Command::Probe => {
            probe();
            Ok(())
        }
        Command::Bench(args) => bench::run(&args),
        Command::Hwcheck(args) => hwcheck::run(&args),
        Command::Check(args) => check::run(&args),
        Command::VulkanCheck => vulkan_check(),
        Command::Merge(args) => merge(&args),
        Command::Farm(args) => farm::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mwav1: {e}");
            ExitCode::FAILURE
        }
    }
}

fn probe() {
    let probes = probe_all();
    for p in &probes {
        let state = if p.available {
            "available".to_string()
        } else {
            format!("unavailable: {}", p.reason)
        };
        println!("{:<28} {state}", p.kind.to_string());
        if !p.version.is_empty() {
            println!("{:<28} version {}", "", p.version);
        }
    }
    println!("auto would use: {}", auto_choice(&probes));
}

/// What of the Vulkan backend runs without a video-encode queue (see `vulkan_self_check`).
fn vulkan_check() -> Result<(), String> {
    for line in movie_writer_av1_core::backend::vulkan_self_check()? {
        println!("{line}");
    }
    Ok(())
}

fn merge(args: &MergeArgs) -> Result<(), String> {
    let m = movie_writer_av1_tools::farm::merge(&args.chunks, None, &args.out).map_err(|e| e.to_string())?;
    println!(
        "merged {} chunks: {} frames, {} audio samples per channel, {} bytes to {}",
        args.chunks.len(),
        m.frames,
        m.samples,
        m.bytes,
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own consistency checks of every subcommand and option (names, groups, conflicts),
    /// the table-built options included.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
