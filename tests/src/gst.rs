//! GStreamer's qtdemux as a second, independent MP4 reader: it demuxes every sample of the file
//! into fake sinks, and its own log counts the buffers each sink received.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::tool::{self, Error, Result};

/// How long `timeout` gives gst-launch after its limit before killing it outright.
const KILL_AFTER_S: u64 = 5;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GstDemux {
    /// gst-launch's exit status (124: it ran past its limit; it does after some errors).
    pub exit_code: Option<i32>,
    /// The ERROR and WARNING lines gst-launch printed, with their debug details.
    pub errors: String,
    /// Buffers that reached the video sink: one per sample of the video track.
    pub video_buffers: u64,
    /// Buffers that reached the audio sink (`None` without audio). qtdemux leaves out the
    /// samples that the edit list cuts (the codec's priming), so this is not the sample count.
    pub audio_buffers: Option<u64>,
}

impl GstDemux {
    pub fn clean(&self) -> bool {
        self.exit_code == Some(0) && self.errors.is_empty()
    }
}

/// Demuxes `path` with `filesrc ! qtdemux`, its first video pad (and first audio pad when
/// `audio`) each to a fakesink. A pad named in the pipeline that the file lacks would keep the
/// pipeline from prerolling, hence `audio`.
pub fn demux(path: &Path, audio: bool, limit: Duration) -> Result<GstDemux> {
    // Checks run in parallel: each run logs to a file of its own.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let log = std::env::temp_dir().join(format!(
        "mwav1-gst-{}-{}.log",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    // gst-launch has been seen to print qtdemux's error on a file of random bytes and then hang
    // instead of exiting; coreutils' timeout ends it and keeps what it printed (tool::run's limit
    // would drop the output with it).
    let mut cmd = Command::new("timeout");
    cmd.arg(format!("--kill-after={KILL_AFTER_S}"))
        .arg(limit.as_secs().max(1).to_string())
        .arg("gst-launch-1.0")
        .arg("filesrc")
        .arg(format!("location={}", path.display()))
        .args(["!", "qtdemux", "name=d"])
        .args(["d.video_0", "!", "queue", "!", "fakesink", "name=video", "sync=false"]);
    if audio {
        cmd.args(["d.audio_0", "!", "queue", "!", "fakesink", "name=audio", "sync=false"]);
    }
    // basesink logs each buffer it renders at DEBUG level; the log goes to a file of its own
    // so that stderr holds only what gst-launch reports.
    cmd.env("GST_DEBUG", "basesink:5")
        .env("GST_DEBUG_NO_COLOR", "1")
        .env("GST_DEBUG_FILE", &log);
    let done = tool::run(&mut cmd, limit + Duration::from_secs(KILL_AFTER_S + 5));
    let buffers = fs::read_to_string(&log);
    let _ = fs::remove_file(&log);
    let done = done?;
    if done.status.code() == Some(127) || done.status.code() == Some(126) {
        return Err(Error(format!(
            "gst-launch-1.0 could not be run (install gstreamer1.0-tools and gstreamer1.0-plugins-good: \
             ./dev setup): {}",
            done.stderr.trim()
        )));
    }
    let buffers = buffers.map_err(|e| Error(format!("reading GStreamer's log {}: {e}", log.display())))?;
    let stdout = String::from_utf8_lossy(&done.stdout);
    Ok(GstDemux {
        exit_code: done.status.code(),
        errors: errors(&format!("{stdout}\n{}", done.stderr)),
        video_buffers: rendered(&buffers, "video"),
        audio_buffers: audio.then(|| rendered(&buffers, "audio")),
    })
}

/// gst-launch's "ERROR: from element …" and "WARNING: …" lines with the detail lines after them
/// (up to the next blank line or status line).
fn errors(output: &str) -> String {
    let mut kept = Vec::new();
    let mut in_report = false;
    for line in output.lines() {
        if line.starts_with("ERROR") || line.starts_with("WARNING") {
            in_report = true;
        } else if line.trim().is_empty() || line.starts_with("Setting pipeline") || line.starts_with("Execution") {
            in_report = false;
        }
        if in_report {
            kept.push(line.trim());
        }
    }
    kept.join("\n")
}

/// Buffers the fakesink named `sink` rendered, from basesink's DEBUG log.
fn rendered(log: &str, sink: &str) -> u64 {
    let marker = format!(":<{sink}> rendering object ");
    log.lines().filter(|l| l.contains(&marker)).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_buffers_per_sink() {
        let log = "0:00:00.019 1 0x5 DEBUG basesink gstbasesink.c:3944:gst_base_sink_chain_unlocked:<video> rendering object 0x1\n\
                   0:00:00.019 1 0x5 DEBUG basesink gstbasesink.c:3944:gst_base_sink_chain_unlocked:<audio> rendering object 0x2\n\
                   0:00:00.019 1 0x5 DEBUG basesink gstbasesink.c:3944:gst_base_sink_chain_unlocked:<video> rendering object 0x3\n\
                   0:00:00.019 1 0x5 DEBUG basesink gstbasesink.c:3000:gst_base_sink_chain_unlocked:<video> got times start\n";
        assert_eq!((rendered(log, "video"), rendered(log, "audio")), (2, 1));
    }

    #[test]
    fn keeps_error_reports_with_their_details() {
        let out = "Setting pipeline to PAUSED ...\nERROR: from element /GstPipeline:pipeline0/GstQTDemux:d: \
                   This file is invalid and cannot be played.\nAdditional debug info:\nqtdemux.c(555): atom has bogus size\n\
                   ERROR: pipeline doesn't want to preroll.\nSetting pipeline to NULL ...\n";
        assert_eq!(
            errors(out),
            "ERROR: from element /GstPipeline:pipeline0/GstQTDemux:d: This file is invalid and cannot be played.\n\
             Additional debug info:\nqtdemux.c(555): atom has bogus size\nERROR: pipeline doesn't want to preroll."
        );
    }
}
