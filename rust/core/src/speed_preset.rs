//! `speed_preset`: a fixed SVT-AV1 preset, or `auto`, which picks one from the frame size, the
//! frame rate and the cores the encoder can have.

/// The setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeedPreset {
    /// The slowest preset that encodes the recording in real time on the cores available.
    Auto,
    /// SVT-AV1 preset 0 (slowest, smallest) – 13 (fastest).
    Fixed(u8),
}

/// The setting's choices, as the Project Settings dialog and the CLI offer them.
pub const NAMES: [&str; 15] = [
    "auto", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
];

/// The fastest preset SVT-AV1 2.3 runs: it maps 12 and 13 onto 11 ("Preset M12 is mapped to
/// M11", `enc_handle.c`), so they give the same file.
pub const FASTEST: u8 = 11;

/// SVT-AV1 2.3's CPU time per preset, in core-milliseconds per megapixel of frame, slowest
/// first: 8, 10 and 11 from `mwav1 bench --tune` (the encoder alone, 1280×720), 7 and 9 scaled
/// from them by the presets' wall-time costs in `scripts/engine-compare.sh` (docs/performance.md).
/// Auto stops at 7: below it the cost doubles per step for little gain.
const COST: [(u8, f64); 5] = [(7, 64.0), (8, 46.0), (9, 32.0), (10, 28.0), (11, 22.0)];

/// The share of the cores the encoder may fill: the game's own threads and, on a machine
/// without a GPU, its renderer need the rest. At this share 720p at 30 fps on 2 cores gets
/// preset 10, the one that kept the recording within 2× AVI's wall time there.
const ENCODER_SHARE: f64 = 0.4;

impl SpeedPreset {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "auto" => Some(Self::Auto),
            n => n.parse::<u8>().ok().filter(|&p| p <= 13).map(Self::Fixed),
        }
    }

    pub fn name(self) -> String {
        match self {
            Self::Auto => "auto".into(),
            Self::Fixed(p) => p.to_string(),
        }
    }

    /// The preset to encode `width × height` at `fps` with: `Auto` asks for the cores this
    /// process may run on.
    pub fn resolve(self, width: u32, height: u32, fps: u32) -> u8 {
        match self {
            Self::Fixed(p) => p,
            Self::Auto => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                auto_preset(width, height, fps, cores)
            }
        }
    }
}

/// The slowest preset that encodes `fps` frames of `width × height` a second on its share of
/// `cores` cores, else the fastest. Real time is the bar because a game renders at least as fast
/// as it plays: an encoder slower than that holds the recording back.
pub fn auto_preset(width: u32, height: u32, fps: u32, cores: usize) -> u8 {
    let megapixels_per_s = f64::from(width) * f64::from(height) * f64::from(fps.max(1)) / 1e6;
    let budget_ms = cores.max(1) as f64 * ENCODER_SHARE * 1000.0;
    COST.iter()
        .find(|&&(_, cost)| cost * megapixels_per_s <= budget_ms)
        .map_or(FASTEST, |&(preset, _)| preset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_spends_spare_cores_on_slower_presets() {
        // This 2-core machine: 720p at 30 fps gets preset 10, at 60 fps the fastest.
        assert_eq!(auto_preset(1280, 720, 30, 2), 10);
        assert_eq!(auto_preset(1280, 720, 60, 2), 11);
        // One core, or 4K on few cores: the fastest, never 12 or 13 (the same as 11).
        assert_eq!(auto_preset(1280, 720, 30, 1), 11);
        assert_eq!(auto_preset(3840, 2160, 60, 4), 11);
        // The 16-core device machine: 1080p at 60 fps preset 8, at 30 fps preset 7.
        assert_eq!(auto_preset(1920, 1080, 60, 16), 8);
        assert_eq!(auto_preset(1920, 1080, 30, 16), 7);
        // Many cores never go below 7.
        assert_eq!(auto_preset(640, 360, 30, 128), 7);
        // More cores, or fewer pixels, never a faster preset.
        for cores in 1..64 {
            assert!(auto_preset(1920, 1080, 60, cores + 1) <= auto_preset(1920, 1080, 60, cores));
        }
        assert_eq!(auto_preset(1280, 720, 0, 2), 7, "0 fps counts as 1");
    }

    #[test]
    fn names_round_trip() {
        for name in NAMES {
            assert_eq!(
                SpeedPreset::from_name(name).map(SpeedPreset::name).as_deref(),
                Some(name)
            );
        }
        assert_eq!(SpeedPreset::from_name("14"), None);
        assert_eq!(SpeedPreset::from_name("-1"), None);
        assert_eq!(SpeedPreset::Fixed(12).resolve(1280, 720, 30), 12);
    }
}
