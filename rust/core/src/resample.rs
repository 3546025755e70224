//! Live audio to the encoder's 48 kHz. The engine's mix rate follows the audio device (44.1 kHz
//! is common), and Opus takes 48 kHz; an FFT resampler (rubato) keeps the quality that linear
//! interpolation would lose to aliasing.

use rubato::{FftFixedIn, Resampler as _};

use crate::error::{Error, Result};

/// Input frames per resampler call: about 21 ms at 48 kHz, well below a game frame's worth of
/// latency at any frame rate worth recording.
const CHUNK: usize = 1024;

pub struct Resampler {
    to: u32,
    channels: usize,
    from: u32,
    fft: Option<FftFixedIn<f32>>,
    pending: Vec<Vec<f32>>,
    output: Vec<Vec<f32>>,
}

impl Resampler {
    pub fn new(to: u32, channels: usize) -> Self {
        Self {
            to,
            channels,
            from: to,
            fft: None,
            pending: vec![Vec::new(); channels],
            output: vec![Vec::new(); channels],
        }
    }

    /// Appends `input` (interleaved, at `from` Hz) to `out` at the target rate. Holds back up
    /// to one chunk until enough input has come.
    pub fn process(&mut self, input: &[f32], from: u32, out: &mut Vec<f32>) -> Result<()> {
        if from == self.to {
            out.extend_from_slice(input);
            return Ok(());
        }
        if from != self.from || self.fft.is_none() {
            let fft = FftFixedIn::new(from as usize, self.to as usize, CHUNK, 2, self.channels)
                .map_err(|e| Error::Audio(format!("cannot resample {from} Hz to {} Hz: {e}", self.to)))?;
            self.output = vec![vec![0.0; fft.output_frames_max()]; self.channels];
            self.pending.iter_mut().for_each(Vec::clear);
            self.fft = Some(fft);
            self.from = from;
        }
        let fft = self.fft.as_mut().expect("created above");
        for frame in input.chunks_exact(self.channels) {
            for (c, s) in frame.iter().enumerate() {
                self.pending[c].push(*s);
            }
        }
        while self.pending[0].len() >= CHUNK {
            let (_, written) = fft
                .process_into_buffer(&self.pending, &mut self.output, None)
                .map_err(|e| Error::Audio(format!("resampling failed: {e}")))?;
            for i in 0..written {
                out.extend(self.output.iter().map(|ch| ch[i]));
            }
            self.pending.iter_mut().for_each(|ch| {
                ch.drain(..CHUNK);
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_44100_to_48000_keeping_length_and_pitch() {
        let mut r = Resampler::new(48_000, 2);
        let tone: Vec<f32> = (0..44_100)
            .flat_map(|n| {
                let s = (n as f32 / 44_100.0 * 1000.0 * std::f32::consts::TAU).sin() * 0.5;
                [s, s]
            })
            .collect();
        let mut out = Vec::new();
        for block in tone.chunks(735 * 2) {
            r.process(block, 44_100, &mut out).unwrap();
        }
        let frames = out.len() / 2;
        assert!((46_900..=48_000).contains(&frames), "{frames} frames for 1 s");
        // 1 kHz at 48 kHz: 2000 zero crossings per second; count them past the filter delay.
        let left: Vec<f32> = out.iter().step_by(2).copied().collect();
        let crossings = left[4800..frames]
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count() as f64;
        let hz = crossings / 2.0 / ((frames - 4800) as f64 / 48_000.0);
        assert!((hz - 1000.0).abs() < 5.0, "{hz} Hz");
    }

    #[test]
    fn passes_48000_through() {
        let mut r = Resampler::new(48_000, 2);
        let mut out = Vec::new();
        r.process(&[0.25, -0.25], 48_000, &mut out).unwrap();
        assert_eq!(out, [0.25, -0.25]);
    }
}
