//! Opus through libopus: 20 ms packets, its look-ahead declared as pre-skip.

use super::Codec;
use crate::config::AudioConfig;
use crate::error::{Error, Result};

/// Opus packet duration: 20 ms at 48 kHz.
const PACKET_SAMPLES: usize = 960;
const MAX_PACKET_BYTES: usize = 4000;

pub(super) struct Opus {
    encoder: ::opus::Encoder,
    channels: u8,
    sample_rate: u32,
    pre_skip: u32,
    packet: Vec<u8>,
}

impl Opus {
    pub fn new(config: &AudioConfig) -> Result<Self> {
        let opus_err = |e: ::opus::Error| Error::Audio(e.to_string());
        let channels = match config.channels {
            1 => ::opus::Channels::Mono,
            2 => ::opus::Channels::Stereo,
            n => return Err(Error::Audio(format!("{n} channels; Opus here takes 1 or 2"))),
        };
        let mut encoder =
            ::opus::Encoder::new(config.sample_rate, channels, ::opus::Application::Audio).map_err(opus_err)?;
        encoder
            .set_bitrate(::opus::Bitrate::Bits(config.bitrate_kbps as i32 * 1000))
            .map_err(opus_err)?;
        let pre_skip = encoder.get_lookahead().map_err(opus_err)? as u32;
        Ok(Self {
            encoder,
            channels: config.channels as u8,
            sample_rate: config.sample_rate,
            pre_skip,
            packet: vec![0; MAX_PACKET_BYTES],
        })
    }
}

impl Codec for Opus {
    fn frame_samples(&self) -> usize {
        PACKET_SAMPLES
    }

    fn delay(&self) -> u32 {
        self.pre_skip
    }

    /// OpusHead (RFC 7845 §5.1).
    fn codec_private(&self) -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.push(1);
        h.push(self.channels);
        h.extend_from_slice(&(self.pre_skip as u16).to_le_bytes());
        h.extend_from_slice(&self.sample_rate.to_le_bytes());
        h.extend_from_slice(&0i16.to_le_bytes());
        h.push(0);
        h
    }

    fn encode(&mut self, pcm: &[f32], out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let len = self
            .encoder
            .encode_float(pcm, &mut self.packet)
            .map_err(|e| Error::Audio(e.to_string()))?;
        out(&self.packet[..len])
    }

    /// libopus holds nothing back: its look-ahead is covered by encoding silence.
    fn flush(&mut self, _out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        Ok(())
    }
}
