//! Uncompressed audio: 32-bit float little-endian interleaved samples (Matroska
//! `A_PCM/FLOAT/IEEE`, BitDepth 32). No delay and no padding: the file holds exactly the
//! samples that came in, so render-range chunks join sample-exactly and are encoded once.

use super::Codec;
use crate::config::AudioConfig;
use crate::error::Result;

/// Samples per channel in each packet: 20 ms, like Opus, so clusters hold a few of them. The
/// last packet is shorter ([`Codec::pads_last_frame`] is false).
const PACKET_SAMPLES: usize = 960;

pub(super) struct Pcm {
    packet: Vec<u8>,
}

impl Pcm {
    pub fn new(config: &AudioConfig) -> Self {
        Self {
            packet: Vec::with_capacity(PACKET_SAMPLES * config.channels as usize * 4),
        }
    }
}

impl Codec for Pcm {
    fn frame_samples(&self) -> usize {
        PACKET_SAMPLES
    }

    fn delay(&self) -> u32 {
        0
    }

    /// Matroska's PCM tracks have no codec configuration: BitDepth says it all.
    fn codec_private(&self) -> Vec<u8> {
        Vec::new()
    }

    fn pads_last_frame(&self) -> bool {
        false
    }

    fn encode(&mut self, pcm: &[f32], out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        self.packet.clear();
        self.packet.extend(pcm.iter().flat_map(|s| s.to_le_bytes()));
        out(&self.packet)
    }

    fn flush(&mut self, _out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        Ok(())
    }
}
