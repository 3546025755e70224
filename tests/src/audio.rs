//! Decodes the audio track with FFmpeg to 48 kHz stereo f32 and measures the test tone in it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::tool::{self, Result};

pub const SAMPLE_RATE: u32 = 48_000;
pub const CHANNELS: usize = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Interleaved stereo at [`SAMPLE_RATE`].
    pub samples: Vec<f32>,
    /// What FFmpeg printed at `-v error`: empty for a clean track.
    pub errors: String,
    pub exit_ok: bool,
}

impl DecodedAudio {
    pub fn frames(&self) -> usize {
        self.samples.len() / CHANNELS
    }

    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(SAMPLE_RATE)
    }

    pub fn clean(&self) -> bool {
        self.exit_ok && self.errors.trim().is_empty()
    }

    pub fn left(&self) -> Vec<f32> {
        self.samples.iter().step_by(CHANNELS).copied().collect()
    }
}

/// Decodes the first audio track. FFmpeg applies Opus pre-skip (CodecDelay) and the last
/// packet's DiscardPadding, so the sample count is the track's true length. Decoding stops at the
/// first error (`-xerror`); what was decoded until then is returned with it.
pub fn decode_audio(path: &Path, limit: Duration) -> Result<DecodedAudio> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-f", "f32le", "-ac", "2", "-ar", "48000", "-"]);
    let done = tool::run(&mut cmd, limit)?;
    let samples = done
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(DecodedAudio {
        samples,
        errors: done.stderr,
        exit_ok: done.status.success(),
    })
}

/// What was measured about a tone that starts somewhere after silence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    pub peak: f32,
    /// Time of the first sample whose magnitude exceeds a tenth of the peak.
    pub start_s: f64,
    /// From the spacing of the first and last rising zero crossings after the onset.
    pub frequency_hz: f64,
}

/// Measures the tone in one channel, or `None` when it is silent or too short to measure.
///
/// The onset threshold is a tenth of the peak: far above codec noise in the silence, yet a
/// sine starting at phase 0 reaches it within a few hundredths of a millisecond. Crossings are
/// counted with hysteresis (the signal must dip below −threshold between rising crossings) and
/// located by linear interpolation, so codec noise near zero cannot add crossings and the
/// frequency is precise to a small fraction of a hertz over a few hundred milliseconds.
pub fn measure_tone(mono: &[f32], sample_rate: u32) -> Option<Tone> {
    let rate = f64::from(sample_rate);
    let peak = mono.iter().fold(0f32, |m, &s| m.max(s.abs()));
    if peak < 1e-3 {
        return None;
    }
    let threshold = peak / 10.0;
    let onset = mono.iter().position(|s| s.abs() > threshold)?;
    // Skip the onset and the end, where the codec's transients live.
    let margin = (0.02 * rate) as usize;
    let segment = mono.get(onset + margin..mono.len().saturating_sub(margin))?;
    let mut crossings = Vec::new();
    let mut armed = false;
    for (i, w) in segment.windows(2).enumerate() {
        if w[0] < -threshold {
            armed = true;
        }
        if armed && w[0] < 0.0 && w[1] >= 0.0 {
            crossings.push(i as f64 + f64::from(-w[0] / (w[1] - w[0])));
            armed = false;
        }
    }
    if crossings.len() < 3 {
        return None;
    }
    let (first, last) = (crossings[0], crossings[crossings.len() - 1]);
    Some(Tone {
        peak,
        start_s: onset as f64 / rate,
        frequency_hz: (crossings.len() - 1) as f64 * rate / (last - first),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_onset_and_frequency_of_a_clean_tone() {
        let rate = 48_000;
        let onset = 12_345;
        let mono: Vec<f32> = (0..rate as usize)
            .map(|n| {
                if n < onset {
                    0.0
                } else {
                    let t = (n - onset) as f64 / f64::from(rate);
                    (0.4 * (t * 441.5 * std::f64::consts::TAU).sin()) as f32
                }
            })
            .collect();
        let tone = measure_tone(&mono, rate).unwrap();
        assert!((tone.start_s - onset as f64 / 48_000.0).abs() < 1e-4, "{tone:?}");
        assert!((tone.frequency_hz - 441.5).abs() < 0.01, "{tone:?}");
        assert!((tone.peak - 0.4).abs() < 1e-3);
    }

    #[test]
    fn silence_has_no_tone() {
        assert_eq!(measure_tone(&[0.0; 4800], 48_000), None);
    }
}
