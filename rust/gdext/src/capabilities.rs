//! Probe results and recording stats as Godot dictionaries, cached so that GDScript can ask
//! every frame without re-probing drivers.

use godot::prelude::*;
use movie_writer_av1_core::backend::{auto_choice, probe_all};
use movie_writer_av1_core::{Probe, RecordingStats};
use parking_lot::Mutex;

static PROBES: Mutex<Option<Vec<Probe>>> = Mutex::new(None);
static LAST_STATS: Mutex<Option<(String, RecordingStats)>> = Mutex::new(None);

/// Probes once per process (or again after `refresh`).
pub fn probes() -> Vec<Probe> {
    PROBES.lock().get_or_insert_with(probe_all).clone()
}

pub fn refresh() {
    *PROBES.lock() = Some(probe_all());
}

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
