//! `mwav1 record`: the built-in test scene through the recording pipeline, with the figures a
//! test or a user reads from its output (progress, the recording's stats, memory).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use movie_writer_av1_core::{PixelFormat, Recorder, RecordingConfig, RgbImage};
use movie_writer_av1_tools::scene::TestScene;

use crate::table_args::SettingArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The file to write; its extension picks the container.
    #[arg(long, value_name = "PATH.webm|.mkv|.mp4", default_value = "out/demo.webm")]
    out: PathBuf,
    /// The frame size.
    #[arg(long, value_name = "WxH", default_value = "1280x720", value_parser = parse_size)]
    size: (u32, u32),
    #[arg(long, value_name = "N", default_value_t = 60)]
    fps: u32,
    /// The frames to record (instead of --seconds).
    #[arg(long, value_name = "N", conflicts_with = "seconds")]
    frames: Option<u64>,
    /// The length to record, in seconds of video.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    seconds: f64,
    /// The test scene's seed (its pattern and tone).
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    settings: SettingArgs,
}

pub(crate) fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("takes WxH, e.g. 1280x720")?;
    let w = w.parse().map_err(|_| format!("bad width '{w}'"))?;
    let h = h.parse().map_err(|_| format!("bad height '{h}'"))?;
    Ok((w, h))
}

pub fn run(args: &Args) -> Result<(), String> {
    let ((w, h), fps) = (args.size, args.fps);
    let mut config = RecordingConfig::new(&args.out, w, h, fps);
    args.settings.apply(&mut config).map_err(|e| e.to_string())?;
    let frames = args.frames.unwrap_or((args.seconds * f64::from(fps)).round() as u64);
    println!(
        "recording the built-in test scene: {frames} frames of {w}x{h} at {fps} fps to {}",
        args.out.display()
    );
    let rss_start = rss_kib();
    let started = Instant::now();
    let mut recorder = Recorder::start(config).map_err(|e| e.to_string())?;
    let opened = recorder.wait_opened().map_err(|e| e.to_string())?;
    if let Some(note) = &opened.fallback_note {
        println!("note: {note}");
    }
    // The backend probes (when still running) and the encoder's start-up, on the encode thread.
    println!("open: {:.2} s ({})", opened.took.as_secs_f64(), opened.backend);
    let scene = TestScene::new(w, h, fps, args.seed);
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

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn reads_a_size() {
        assert_eq!(parse_size("1280x720"), Ok((1280, 720)));
        assert_eq!(parse_size("1280"), Err("takes WxH, e.g. 1280x720".into()));
        assert_eq!(parse_size("ax720"), Err("bad width 'a'".into()));
    }
}
