//! Engine PCM → audio packets (Opus, AAC or uncompressed PCM), sample-exact against video.
//!
//! The engine mixes `48000 / fps` frames (integer division) per video frame, so at fps that do
//! not divide 48 000 (144, say) its audio runs short by a fraction of a sample every frame and
//! would drift by seconds over an hour. Each block is therefore stretched to the exact number of
//! samples between this video frame's start and the next one's (at most a sample longer: a
//! 0.3 % rate change nobody hears), so after N frames exactly ⌊N·48000/fps⌋ samples are encoded.
//!
//! Both codecs put samples of their own in front (Opus's look-ahead, AAC's priming): that delay
//! is declared to the container (OpusHead pre-skip and CodecDelay in Matroska, an edit list in
//! MP4), and the zero padding of the last packet is trimmed (DiscardPadding, or the last
//! sample's duration in MP4), so decoders output exactly the samples that came in. PCM has
//! neither: its last packet is simply shorter.
//!
//! A render-range chunk starts its count at the scene frame it starts with
//! ([`AudioEncoder::starting_at`]), so the stretch above gives every frame the same samples as
//! in one long recording, and chunks join sample-exactly.

mod aac;
mod opus;
mod pcm;

use crate::config::{AudioCodec, AudioConfig};
use crate::error::{Error, Result};

/// One encoded packet. `pts_samples` counts from the first decoded sample, the codec's delay
/// included, which is how Matroska block timestamps work with CodecDelay.
pub struct AudioPacket<'a> {
    pub pts_samples: u64,
    pub data: &'a [u8],
    /// Samples to drop from the end of this (last) packet's decoded output.
    pub end_trim_samples: Option<u32>,
    /// Samples per channel the packet decodes to (before the trim): the codec's frame, or
    /// fewer for an unpadded last PCM packet.
    pub samples: u64,
}

/// What the framing below needs of a codec.
trait Codec: Send {
    /// Samples per channel in every packet.
    fn frame_samples(&self) -> usize;
    /// Samples the decoder outputs before the first real one.
    fn delay(&self) -> u32;
    /// The container's codec configuration: OpusHead, or AAC's AudioSpecificConfig.
    fn codec_private(&self) -> Vec<u8>;
    /// Encodes one frame of interleaved samples; `out` gets each packet that comes out.
    fn encode(&mut self, pcm: &[f32], out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>;
    /// After the last frame: the packets the codec still holds.
    fn flush(&mut self, out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>;
    /// Whether the last frame is filled up with silence (and trimmed on decode); `false`: it
    /// goes out as a shorter packet (PCM).
    fn pads_last_frame(&self) -> bool {
        true
    }
}

pub struct AudioEncoder {
    codec: Box<dyn Codec>,
    kind: AudioCodec,
    channels: usize,
    sample_rate: u64,
    fps: u64,
    video_frames: u64,
    samples_in: u64,
    packets_out: u64,
    fifo: Vec<f32>,
    stretch: Vec<f32>,
}

impl AudioEncoder {
    pub fn new(kind: AudioCodec, config: &AudioConfig, fps: u32) -> Result<Self> {
        let codec: Box<dyn Codec> = match kind {
            AudioCodec::Opus => Box::new(opus::Opus::new(config)?),
            AudioCodec::Aac => Box::new(aac::Aac::new(config)?),
            AudioCodec::Pcm => Box::new(pcm::Pcm::new(config)),
        };
        let ch = config.channels as usize;
        Ok(Self {
            fifo: Vec::with_capacity(codec.frame_samples() * ch * 8),
            codec,
            kind,
            channels: ch,
            sample_rate: config.sample_rate.into(),
            fps: fps.into(),
            video_frames: 0,
            samples_in: 0,
            packets_out: 0,
            stretch: Vec::with_capacity(ch * 4096),
        })
    }

    /// Counts video frames from `frame` instead of 0: a render-range chunk that starts at scene
    /// frame `frame` gets each frame's samples exactly as one recording from frame 0 would.
    pub fn starting_at(mut self, frame: u64) -> Self {
        self.video_frames = frame;
        self
    }

    pub fn kind(&self) -> AudioCodec {
        self.kind
    }

    /// Samples the decoder outputs before the first real one (Opus pre-skip, AAC priming).
    pub fn delay(&self) -> u32 {
        self.codec.delay()
    }

    /// Samples per channel in each packet (Opus: 960, 20 ms; AAC: 1024).
    pub fn frame_samples(&self) -> usize {
        self.codec.frame_samples()
    }

    /// Samples per channel the engine delivers each video frame (`AudioDriverDummy::mix_audio`).
    pub fn engine_block_frames(sample_rate: u32, fps: u32) -> usize {
        (sample_rate / fps) as usize
    }

    /// The track's codec configuration: OpusHead (RFC 7845 §5.1) or AudioSpecificConfig.
    pub fn codec_private(&self) -> Vec<u8> {
        self.codec.codec_private()
    }

    /// Total samples per channel encoded so far (delay and end padding excluded).
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
        self.drain(None, &mut emit)
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
        self.drain(None, &mut emit)
    }

    /// Pads the last frame with silence and gets every real sample out of the codec (Opus:
    /// by encoding silence over its look-ahead; AAC: by flushing it), marking the padding of
    /// the last packet for trimming.
    pub fn finish(&mut self, mut emit: impl FnMut(AudioPacket<'_>) -> Result<()>) -> Result<()> {
        if self.samples_in == 0 {
            // No audio at all: no packet either (AAC would have nothing to flush).
            return Ok(());
        }
        let frame = self.codec.frame_samples() as u64;
        if !self.codec.pads_last_frame() {
            // No delay and no padding: what is left goes out as it is.
            self.drain(None, &mut emit)?;
            let rest = self.fifo.len() / self.channels;
            if rest > 0 {
                let pts_samples = self.packets_out * frame;
                let (fifo, codec) = (&self.fifo, &mut self.codec);
                codec.encode(fifo, &mut |data| {
                    emit(AudioPacket {
                        pts_samples,
                        data,
                        end_trim_samples: None,
                        samples: rest as u64,
                    })
                })?;
                self.packets_out += 1;
                self.fifo.clear();
            }
            return Ok(());
        }
        let needed = self.samples_in + u64::from(self.codec.delay());
        // Both codecs end on this many packets: Opus emits one per frame, AAC one per frame plus
        // its one frame of priming.
        let total = needed.div_ceil(frame) * frame;
        let trim = (total - needed) as u32;
        let partial = (self.fifo.len() / self.channels) as u64 % frame;
        if partial > 0 {
            self.fifo
                .resize(self.fifo.len() + (frame - partial) as usize * self.channels, 0.0);
        }
        let end = Some((total, trim));
        self.drain(end, &mut emit)?;
        let (packets_out, codec) = (&mut self.packets_out, &mut self.codec);
        codec.flush(&mut |data| emit_packet(packets_out, frame, end, data, &mut emit))?;
        while self.packets_out * frame < total {
            self.fifo.resize(self.fifo.len() + frame as usize * self.channels, 0.0);
            self.drain(end, &mut emit)?;
        }
        Ok(())
    }

    fn drain(&mut self, end: Option<(u64, u32)>, emit: &mut impl FnMut(AudioPacket<'_>) -> Result<()>) -> Result<()> {
        let frame_samples = self.codec.frame_samples();
        let frame = frame_samples * self.channels;
        let mut offset = 0;
        while self.fifo.len() - offset >= frame {
            let (packets_out, codec) = (&mut self.packets_out, &mut self.codec);
            codec.encode(&self.fifo[offset..offset + frame], &mut |data| {
                emit_packet(packets_out, frame_samples as u64, end, data, emit)
            })?;
            offset += frame;
        }
        self.fifo.drain(..offset);
        Ok(())
    }
}

/// Numbers the next packet and, when it is the last one (`end` = (total samples, trim)),
/// marks its padding for trimming.
fn emit_packet(
    packets_out: &mut u64,
    frame: u64,
    end: Option<(u64, u32)>,
    data: &[u8],
    emit: &mut impl FnMut(AudioPacket<'_>) -> Result<()>,
) -> Result<()> {
    let pts_samples = *packets_out * frame;
    let end_trim_samples = end.and_then(|(total, trim)| (pts_samples + frame == total && trim > 0).then_some(trim));
    *packets_out += 1;
    emit(AudioPacket {
        pts_samples,
        data,
        end_trim_samples,
        samples: frame,
    })
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

    const PACKET_SAMPLES: usize = 960;

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
        let mut enc = AudioEncoder::new(AudioCodec::Opus, &AudioConfig::default(), fps).unwrap();
        let mut dec = ::opus::Decoder::new(48_000, ::opus::Channels::Stereo).unwrap();
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
        let skip = enc.delay() as usize * 2;
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
        let enc = AudioEncoder::new(AudioCodec::Opus, &AudioConfig::default(), 60).unwrap();
        let h = enc.codec_private();
        assert_eq!(&h[..8], b"OpusHead");
        assert_eq!(h.len(), 19);
        assert_eq!(u16::from_le_bytes([h[10], h[11]]) as u32, enc.delay());
        assert_eq!(u32::from_le_bytes([h[12], h[13], h[14], h[15]]), 48_000);
    }

    /// Encodes `frames` video frames of a ramp from scene frame `first` as PCM and returns the
    /// packets' samples, checking that they follow each other without gaps.
    fn pcm_chunk(fps: u32, first: u64, frames: u64) -> Vec<f32> {
        let mut enc = AudioEncoder::new(AudioCodec::Pcm, &AudioConfig::default(), fps)
            .unwrap()
            .starting_at(first);
        assert_eq!((enc.delay(), enc.codec_private().len()), (0, 0));
        let block = AudioEncoder::engine_block_frames(48_000, fps);
        let mut out = Vec::new();
        let mut collect = |p: AudioPacket<'_>| -> Result<()> {
            assert_eq!(p.pts_samples, out.len() as u64 / 2, "packets follow each other");
            assert_eq!(p.end_trim_samples, None, "PCM is never padded");
            assert_eq!(p.data.len() as u64, p.samples * 2 * 4, "{} samples of 2×f32", p.samples);
            out.extend(
                p.data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap())),
            );
            Ok(())
        };
        for f in first..first + frames {
            // A ramp whose value is the sample's index in the whole recording (per frame block).
            let data: Vec<i32> = (0..block).flat_map(|i| [(f as i32) << 16, i as i32]).collect();
            enc.push_frame(&data, &mut collect).unwrap();
        }
        enc.finish(&mut collect).unwrap();
        assert_eq!(out.len() as u64, enc.samples_in() * 2);
        out
    }

    #[test]
    fn pcm_holds_exactly_the_samples_and_chunks_join_sample_exactly() {
        for fps in [60, 144, 7] {
            let whole = pcm_chunk(fps, 0, 130);
            assert_eq!(whole.len() as u64, 130 * 48_000 / u64::from(fps) * 2, "fps {fps}");
            let mut joined = pcm_chunk(fps, 0, 40);
            joined.extend(pcm_chunk(fps, 40, 50));
            joined.extend(pcm_chunk(fps, 90, 40));
            assert_eq!(joined, whole, "fps {fps}: three chunks are the one recording");
        }
        // At 60 fps nothing is stretched: the int32 samples come out scaled, unchanged.
        let one = pcm_chunk(60, 5, 1);
        assert_eq!(one.len(), 800 * 2);
        assert_eq!(one[0], (5 << 16) as f32 / 2_147_483_648.0);
        assert_eq!(one[799 * 2 + 1], 799.0 / 2_147_483_648.0);
    }

    #[test]
    fn rejects_ragged_blocks() {
        let mut enc = AudioEncoder::new(AudioCodec::Opus, &AudioConfig::default(), 60).unwrap();
        let e = enc.push_frame(&[1, 2, 3], |_| Ok(())).err().unwrap();
        assert!(e.to_string().contains("not a whole number"));
    }
}
