//! `mwav1`: the core's command line. Records the built-in test scene through the very pipeline
//! the Godot extension uses, prints what the backends' probes found, and benchmarks the pipeline;
//! merges render-farm chunks and runs render-farm jobs (`farm`).

mod bench;
mod farm;
mod hwcheck;
mod machine;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use movie_writer_av1_core::backend::{auto_choice, probe_all};
use movie_writer_av1_core::scene::TestScene;
use movie_writer_av1_core::{BackendPreference, PixelFormat, RateControl, Recorder, RecordingConfig, RgbImage};

fn usage() -> String {
    USAGE.replace("{}", farm::USAGE)
}

const USAGE: &str = "usage:
  mwav1 record [--out PATH.webm|.mkv|.mp4] [--size WxH] [--fps N] [--frames N | --seconds S]
               [--quality 0..1] [--preset 0..13] [--keyint SECONDS] [--rate-control crf|cqp|vbr|cbr]
               [--bitrate KBPS] [--max-bitrate KBPS] [--backend auto|software|hardware|ID]
               [--audio-codec auto|aac|opus] [--queue N] [--seed N]
  mwav1 probe
  mwav1 bench [--quick] [--tune]
  mwav1 hwcheck [--out DIR] [--software] [--only BACKEND] [--no-validation]
  mwav1 vulkan-check
  mwav1 merge -o OUT.webm|.mkv|.mp4 CHUNK.mkv...
{}";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("record") => record(&args[1..]),
        Some("probe") => {
            probe();
            Ok(())
        }
        Some("bench") => bench::run(&args[1..]),
        Some("hwcheck") => hwcheck::run(&args[1..]),
        Some("vulkan-check") => vulkan_check(),
        Some("merge") => merge(&args[1..]),
        Some("farm") => farm::run(&args[1..]),
        _ => Err(usage()),
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

/// Joins render-farm chunks (what `--movie-range` renders) into one file, losslessly.
fn merge(args: &[String]) -> Result<(), String> {
    let mut out = None;
    let mut chunks = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-o" | "--out" => out = Some(std::path::PathBuf::from(parse::<String>(arg, it.next())?)),
            flag if flag.starts_with('-') => return Err(format!("merge: unknown option '{flag}'\n{}", usage())),
            chunk => chunks.push(std::path::PathBuf::from(chunk)),
        }
    }
    let out = out.ok_or_else(|| format!("merge needs -o OUT\n{}", usage()))?;
    let m = movie_writer_av1_core::farm::merge(&chunks, None, &out).map_err(|e| e.to_string())?;
    println!(
        "merged {} chunks: {} frames, {} audio samples per channel, {} bytes to {}",
        chunks.len(),
        m.frames,
        m.samples,
        m.bytes,
        out.display()
    );
    Ok(())
}

fn parse<T: std::str::FromStr>(flag: &str, value: Option<&String>) -> Result<T, String> {
    let v = value.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: cannot read '{v}'"))
}

fn record(args: &[String]) -> Result<(), String> {
    let mut config = RecordingConfig::new("out/demo.webm", 1280, 720, 60);
    let mut frames: Option<u64> = None;
    let mut seconds = 5.0f64;
    let mut seed = 1u64;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = &mut config.video;
        match flag.as_str() {
            "--out" => config.path = parse::<String>(flag, it.next())?.into(),
            "--size" => {
                let s: String = parse(flag, it.next())?;
                let (w, h) = s.split_once('x').ok_or("--size takes WxH, e.g. 1280x720")?;
                v.width = w.parse().map_err(|_| "--size: bad width")?;
                v.height = h.parse().map_err(|_| "--size: bad height")?;
            }
            "--fps" => v.fps = parse(flag, it.next())?,
            "--frames" => frames = Some(parse(flag, it.next())?),
            "--seconds" => seconds = parse(flag, it.next())?,
            "--quality" => v.quality = parse(flag, it.next())?,
            "--preset" => v.preset = parse(flag, it.next())?,
            "--keyint" => v.keyframe_interval_s = parse(flag, it.next())?,
            "--rate-control" => {
                let s: String = parse(flag, it.next())?;
                v.rate_control = RateControl::from_name(&s).ok_or("--rate-control takes crf, cqp, vbr or cbr")?;
            }
            "--bitrate" => v.bitrate_kbps = parse(flag, it.next())?,
            "--max-bitrate" => v.max_bitrate_kbps = parse(flag, it.next())?,
            "--backend" => {
                let s: String = parse(flag, it.next())?;
                config.backend = BackendPreference::from_id(&s).ok_or_else(|| format!("--backend: unknown '{s}'"))?;
            }
            "--queue" => config.max_queued_frames = parse(flag, it.next())?,
            "--audio-codec" => {
                let name: String = parse(flag, it.next())?;
                config.audio.codec = movie_writer_av1_core::config::AudioCodec::from_name(&name);
                if config.audio.codec.is_none() && name != "auto" {
                    return Err(format!("--audio-codec: '{name}' is not one of auto, aac, opus"));
                }
            }
            "--seed" => seed = parse(flag, it.next())?,
            other => return Err(format!("unknown option '{other}'\n{}", usage())),
        }
    }
    let (w, h, fps) = (config.video.width, config.video.height, config.video.fps);
    let frames = frames.unwrap_or((seconds * f64::from(fps)).round() as u64);
    let path = config.path.clone();
    println!(
        "recording the built-in test scene: {frames} frames of {w}x{h} at {fps} fps to {}",
        path.display()
    );
    let rss_start = rss_kib();
    let started = Instant::now();
    let mut recorder = Recorder::start(config).map_err(|e| e.to_string())?;
    if let Some(note) = recorder.fallback_note() {
        println!("note: {note}");
    }
    let scene = TestScene::new(w, h, fps, seed);
    let (mut pixels, mut audio) = (Vec::new(), Vec::new());
    for i in 0..frames {
        scene.render(i, &mut pixels);
        scene.audio_block(i, &mut audio);
        let image = RgbImage::packed(w, h, PixelFormat::Rgba8, &pixels).map_err(|e| e.to_string())?;
        recorder.push_frame(&image, &audio).map_err(|e| e.to_string())?;
        if (i + 1) % u64::from(fps) == 0 {
            // Lets a test (or a user) see how far a recording got before it was interrupted.
            println!("progress: {} frames queued", i + 1);
            let _ = std::io::stdout().flush();
        }
    }
    let finishing = Instant::now();
    let stats = recorder.finish().map_err(|e| e.to_string())?;
    let finish_s = finishing.elapsed().as_secs_f64();
    let wall = started.elapsed().as_secs_f64();
    println!(
        "done: {} frames, {:.2} s of video, {} bytes ({:.0} kbit/s), backend {}, encode {:.1} fps, wall {:.2} s",
        stats.frames,
        stats.duration_s,
        stats.bytes,
        stats.average_bitrate_kbps,
        stats.backend.map(|b| b.to_string()).unwrap_or_default(),
        stats.encode_fps,
        wall
    );
    println!(
        "audio samples {}, queue high-water {}, dropped {}",
        stats.audio_samples, stats.queue_high_water, stats.frames_dropped
    );
    // The queue's last frames, the encoder's flush and, for MP4, the rewrite with one moov.
    println!("finish: {finish_s:.2} s");
    println!(
        "memory: RSS at start {} KiB, at end {} KiB, peak {} KiB",
        rss_start.0,
        rss_kib().0,
        rss_kib().1
    );
    Ok(())
}

/// (current, peak) resident set size in KiB, from /proc (0 where unavailable).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
