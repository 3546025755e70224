//! Probe results and recording stats as Godot dictionaries. The probes are the core's, run once
//! per process (`backend::probes`), so GDScript can ask every frame without re-probing drivers,
//! and a recording uses what the report says.

use godot::classes::Engine;
use godot::prelude::*;
use movie_writer_av1_core::backend::{self, auto_choice};
use movie_writer_av1_core::{Probe, RecordingStats};
use parking_lot::Mutex;

static LAST_STATS: Mutex<Option<(String, RecordingStats)>> = Mutex::new(None);

pub fn to_dictionary(probes: &[Probe]) -> VarDictionary {
    let mut backends = VarDictionary::new();
    for p in probes {
        let rate_controls: PackedStringArray = p.rate_controls.iter().map(|r| GString::from(r.name())).collect();
        let entry = vdict! {
            "name" => p.kind.to_string(),
            "hardware" => p.kind.is_hardware(),
            "experimental" => p.kind.is_experimental(),
            "available" => p.available,
            "reason" => p.reason.clone(),
            "version" => p.version.clone(),
            "max_width" => p.max_width as i64,
            "max_height" => p.max_height as i64,
            "rate_controls" => &rate_controls,
            "ten_bit" => p.ten_bit,
        };
        backends.set(p.kind.id(), &entry);
    }
    vdict! {
        "backends" => &backends,
        "auto_backend" => auto_choice(probes).id(),
    }
}

pub fn store_stats(path: String, stats: RecordingStats) {
    *LAST_STATS.lock() = Some((path, stats));
}

pub fn last_stats() -> VarDictionary {
    let Some((path, s)) = LAST_STATS.lock().clone() else {
        return VarDictionary::new();
    };
    vdict! {
        "path" => path,
        "backend" => s.backend.map(|b| b.id()).unwrap_or_default(),
        "frames" => s.frames as i64,
        "duration_s" => s.duration_s,
        "bytes" => s.bytes as i64,
        "average_bitrate_kbps" => s.average_bitrate_kbps,
        "encode_fps" => s.encode_fps,
        "frames_dropped" => s.frames_dropped as i64,
        "frames_rescaled" => s.frames_rescaled as i64,
        "queue_high_water" => s.queue_high_water as i64,
        "audio_samples" => s.audio_samples as i64,
    }
}

/// In a Movie Maker run, probes the backends on a thread of their own while the engine loads the
/// project, so `write_begin` finds them done instead of probing on the main thread (creating
/// the CUDA contexts alone took 1.1 s on an NVIDIA H200: docs/gpu-node-bench-h200.txt). If the
/// probe is still running when the recording starts, `write_begin` waits for it, as it would
/// have probed itself; if the thread cannot start, `write_begin` probes as before.
pub fn probe_early_for_movie_maker() {
    if Engine::singleton().get_write_movie_path().is_empty() {
        return;
    }
    let _ = std::thread::Builder::new().name("mwav1-probe".into()).spawn(|| {
        backend::probes();
    });
}
