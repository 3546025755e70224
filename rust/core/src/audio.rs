//! Engine PCM → 20 ms Opus packets, sample-exact against video.
//!
//! The engine mixes `48000 / fps` frames (integer division) per video frame, so at fps that do
//! not divide 48 000 (144, say) its audio runs short by a fraction of a sample every frame and
//! would drift by seconds over an hour. Each block is therefore stretched to the exact number of
//! samples between this video frame's start and the next one's (at most a sample longer: a
//! 0.3 % rate change nobody hears), so after N frames exactly ⌊N·48000/fps⌋ samples are encoded.
//! The Opus encoder's look-ahead is declared as pre-skip (OpusHead, CodecDelay), and the zero
//! padding of the last packet as DiscardPadding, so decoders output exactly those samples.

use crate::config::AudioConfig;
use crate::error::{Error, Result};

/// Opus packet duration: 20 ms at 48 kHz.
pub const PACKET_SAMPLES: usize = 960;
const MAX_PACKET_BYTES: usize = 4000;

/// One encoded packet. `pts_samples` counts from the first encoded sample, pre-skip included,
/// which is how Matroska block timestamps work with CodecDelay.
pub struct AudioPacket<'a> {
    pub pts_samples: u64,
    pub data: &'a [u8],
    /// Samples to drop from the end of this (last) packet's decoded output.
    pub end_trim_samples: Option<u32>,
}

pub struct AudioEncoder {
    encoder: opus::Encoder,
    channels: usize,
    sample_rate: u64,
    fps: u64,
    pre_skip: u32,
    video_frames: u64,
    samples_in: u64,
    packets_out: u64,
    fifo: Vec<f32>,
    stretch: Vec<f32>,
    packet: Vec<u8>,
}

impl AudioEncoder {
    pub fn new(config: &AudioConfig, fps: u32) -> Result<Self> {
        let opus_err = |e: opus::Error| Error::Audio(e.to_string());
        let channels = match config.channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => return Err(Error::Audio(format!("{n} channels; Opus here takes 1 or 2"))),
        };
        let mut encoder =
            opus::Encoder::new(config.sample_rate, channels, opus::Application::Audio).map_err(opus_err)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(config.bitrate_kbps as i32 * 1000))
            .map_err(opus_err)?;
        let pre_skip = encoder.get_lookahead().map_err(opus_err)? as u32;
        let ch = config.channels as usize;
        Ok(Self {
            encoder,
            channels: ch,
            sample_rate: config.sample_rate.into(),
            fps: fps.into(),
            pre_skip,
            video_frames: 0,
            samples_in: 0,
            packets_out: 0,
            fifo: Vec::with_capacity(PACKET_SAMPLES * ch * 8),
            stretch: Vec::with_capacity(ch * 4096),
            packet: vec![0; MAX_PACKET_BYTES],
        })
    }

    pub fn pre_skip(&self) -> u32 {
        self.pre_skip
    }

    /// Samples per channel the engine delivers each video frame (`AudioDriverDummy::mix_audio`).
    pub fn engine_block_frames(sample_rate: u32, fps: u32) -> usize {
        (sample_rate / fps) as usize
    }

    /// OpusHead (RFC 7845 §5.1), the track's CodecPrivate.
    pub fn opus_head(&self) -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.push(1);
        h.push(self.channels as u8);
        h.extend_from_slice(&(self.pre_skip as u16).to_le_bytes());
        h.extend_from_slice(&(self.sample_rate as u32).to_le_bytes());
        h.extend_from_slice(&0i16.to_le_bytes());
        h.push(0);
        h
    }

    /// Total samples per channel encoded so far (pre-skip and end padding excluded).
    pub fn samples_in(&self) -> u64 {
        self.samples_in
    }

    /// Takes one video frame's interleaved int32 PCM block and emits every packet it completes.
    pub fn push_frame(&mut self, block: &[i32], mut emit: impl FnMut(AudioPacket<'_>) -> Result<()>) -> Result<()> {
        if !block.len().is_multiple_of(self.channels) {
            return Err(Error::Audio(format!(
                "an audio block of {} samples is not a whole number of {}-channel frames",
                block.len(),
                self.channels
            )));
        }
        let have = block.len() / self.channels;
        let next = self.video_frames + 1;
        let want = (next * self.sample_rate / self.fps - self.video_frames * self.sample_rate / self.fps) as usize;
        self.video_frames = next;
        const SCALE: f32 = 1.0 / 2_147_483_648.0;
        if have == want || have == 0 {
            self.fifo.extend(block.iter().map(|&s| s as f32 * SCALE));
            // A missing block (have == 0) is filled with silence so video and audio stay aligned.
            self.fifo.resize(self.fifo.len() + (want - have) * self.channels, 0.0);
        } else {
            self.stretch.clear();
            self.stretch.extend(block.iter().map(|&s| s as f32 * SCALE));
            stretch_linear(&self.stretch, have, want, self.channels, &mut self.fifo);
        }
        self.samples_in += want as u64;
        self.drain(&mut emit)
    }

    /// Takes interleaved f32 PCM at the encoder's rate as it comes (live capture, whose blocks
    /// follow the audio device rather than the video frames) and emits every packet it completes.
    pub fn push_samples(&mut self, samples: &[f32], mut emit: impl FnMut(AudioPacket<'_>) -> Result<()>) -> Result<()> {
        if !samples.len().is_multiple_of(self.channels) {
            return Err(Error::Audio(format!(
                "{} samples are not a whole number of {}-channel frames",
                samples.len(),
                self.channels
            )));
        }
        self.fifo.extend_from_slice(samples);
        self.samples_in += (samples.len() / self.channels) as u64;
        self.drain(&mut emit)
    }

    /// Pads with silence until every real sample has come out of the encoder's look-ahead, and
    /// marks the padding of the last packet for trimming.
    pub fn finish(&mut self, mut emit: impl FnMut(AudioPacket<'_>) -> Result<()>) -> Result<()> {
        let needed = self.samples_in + u64::from(self.pre_skip);
        let packets = needed.div_ceil(PACKET_SAMPLES as u64);
        let fed = self.packets_out * PACKET_SAMPLES as u64 + (self.fifo.len() / self.channels) as u64;
        let total = packets * PACKET_SAMPLES as u64;
        self.fifo
            .resize(self.fifo.len() + (total - fed) as usize * self.channels, 0.0);
        let trim = (total - needed) as u32;
        self.drain(&mut |mut p: AudioPacket<'_>| {
            if p.pts_samples + PACKET_SAMPLES as u64 == total && trim > 0 {
                p.end_trim_samples = Some(trim);
            }
            emit(p)
        })
    }

    fn drain(&mut self, emit: &mut impl FnMut(AudioPacket<'_>) -> Result<()>) -> Result<()> {
        let frame = PACKET_SAMPLES * self.channels;
        let mut offset = 0;
        while self.fifo.len() - offset >= frame {
            let len = self
                .encoder
                .encode_float(&self.fifo[offset..offset + frame], &mut self.packet)
                .map_err(|e| Error::Audio(e.to_string()))?;
            emit(AudioPacket {
                pts_samples: self.packets_out * PACKET_SAMPLES as u64,
                data: &self.packet[..len],
                end_trim_samples: None,
            })?;
            self.packets_out += 1;
            offset += frame;
        }
        self.fifo.drain(..offset);
        Ok(())
    }
}

/// Appends `src` (`have` interleaved frames) resampled to `want` frames by linear interpolation.
fn stretch_linear(src: &[f32], have: usize, want: usize, channels: usize, out: &mut Vec<f32>) {
    let step = have as f64 / want as f64;
    for j in 0..want {
        let pos = j as f64 * step;
        let i = pos as usize;
        let frac = (pos - i as f64) as f32;
        let next = (i + 1).min(have - 1);
        for c in 0..channels {
            let a = src[i * channels + c];
            let b = src[next * channels + c];
            out.push(a + (b - a) * frac);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_block(start: usize, frames: usize, hz: f64) -> Vec<i32> {
        (start..start + frames)
            .flat_map(|n| {
                let s = ((n as f64 / 48_000.0 * hz * std::f64::consts::TAU).sin() * 0.5 * i32::MAX as f64) as i32;
                [s, s]
            })
            .collect()
    }

    /// Encodes `frames` video frames' worth of tone at `fps` and decodes it all with libopus,
    /// returning (encoded-sample count, decoded samples after pre-skip and trim).
    fn round_trip(fps: u32, frames: u64) -> (u64, Vec<f32>) {
        let mut enc = AudioEncoder::new(&AudioConfig::default(), fps).unwrap();
        let mut dec = opus::Decoder::new(48_000, opus::Channels::Stereo).unwrap();
        let block = AudioEncoder::engine_block_frames(48_000, fps);
        let mut decoded = Vec::new();
        let mut trimmed = 0;
        let mut last_pts = None;
        let mut collect = |p: AudioPacket<'_>| -> Result<()> {
            assert_eq!(p.pts_samples, last_pts.map_or(0, |l| l + PACKET_SAMPLES as u64));
            last_pts = Some(p.pts_samples);
            let mut pcm = vec![0f32; PACKET_SAMPLES * 2];
            let n = dec.decode_float(p.data, &mut pcm, false).unwrap();
            assert_eq!(n, PACKET_SAMPLES);
            decoded.extend_from_slice(&pcm);
            trimmed += p.end_trim_samples.unwrap_or(0) as usize;
            Ok(())
        };
        for f in 0..frames as usize {
            enc.push_frame(&tone_block(f * block, block, 440.0), &mut collect)
                .unwrap();
        }
        enc.finish(&mut collect).unwrap();
        let skip = enc.pre_skip() as usize * 2;
        let out = decoded[skip..decoded.len() - trimmed * 2].to_vec();
        (enc.samples_in(), out)
    }

    #[test]
    fn sample_exact_for_fps_that_divide_48k_and_that_do_not() {
        for (fps, frames) in [(60, 90), (144, 300), (30, 7), (7, 3), (1000, 1001)] {
            let (samples, decoded) = round_trip(fps, frames);
            assert_eq!(samples, frames * 48_000 / u64::from(fps), "fps {fps}");
            assert_eq!(decoded.len() as u64, samples * 2, "fps {fps}: decoded length");
        }
    }

    #[test]
    fn tone_survives_with_its_frequency() {
        let (_, decoded) = round_trip(60, 60);
        let left: Vec<f32> = decoded.iter().step_by(2).copied().collect();
        let crossings = left.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        assert!(
            (438..=442).contains(&crossings),
            "≈440 rising zero crossings in 1 s, got {crossings}"
        );
    }

    #[test]
    fn stretch_hits_exact_length_and_keeps_endpoints() {
        let src: Vec<f32> = (0..333).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let mut out = Vec::new();
        stretch_linear(&src, 333, 334, 2, &mut out);
        assert_eq!(out.len(), 334 * 2);
        assert_eq!(out[0], 0.0);
        assert!((out[out.len() - 2] - 332.0).abs() < 1.0);
    }

    #[test]
    fn opus_head_layout() {
        let enc = AudioEncoder::new(&AudioConfig::default(), 60).unwrap();
        let h = enc.opus_head();
        assert_eq!(&h[..8], b"OpusHead");
        assert_eq!(h.len(), 19);
        assert_eq!(u16::from_le_bytes([h[10], h[11]]) as u32, enc.pre_skip());
        assert_eq!(u32::from_le_bytes([h[12], h[13], h[14], h[15]]), 48_000);
    }

    #[test]
    fn rejects_ragged_blocks() {
        let mut enc = AudioEncoder::new(&AudioConfig::default(), 60).unwrap();
        let e = enc.push_frame(&[1, 2, 3], |_| Ok(())).err().unwrap();
        assert!(e.to_string().contains("not a whole number"));
    }
}
