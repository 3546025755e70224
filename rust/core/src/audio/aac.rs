//! AAC-LC through FFmpeg's native encoder (LGPL, in our static FFmpeg), for MP4 files that
//! editors read. Its 1024 samples of priming are the delay the container declares.

use std::ptr;

use ffmpeg::ffi;
use ffmpeg_next as ffmpeg;

use super::Codec;
use crate::config::AudioConfig;
use crate::error::{Error, Result};

pub(super) struct Aac {
    ctx: *mut ffi::AVCodecContext,
    frame: *mut ffi::AVFrame,
    packet: *mut ffi::AVPacket,
    channels: usize,
    next_pts: i64,
}

// SAFETY: the FFmpeg objects are owned by this value alone and only used through `&mut self`.
unsafe impl Send for Aac {}

fn ff_err(what: &str, rc: i32) -> Error {
    Error::Audio(format!("AAC encoder: {what}: {}", ffmpeg::Error::from(rc)))
}

impl Aac {
    pub fn new(config: &AudioConfig) -> Result<Self> {
        ffmpeg::init().map_err(|e| Error::Audio(format!("FFmpeg did not initialise: {e}")))?;
        // SAFETY: plain FFmpeg calls on objects created here; every pointer is checked before
        // use and owned by `Self`, whose Drop frees it (also when a later step fails).
        unsafe {
            let codec = ffi::avcodec_find_encoder(ffi::AVCodecID::AV_CODEC_ID_AAC);
            if codec.is_null() {
                return Err(Error::Audio("this build of FFmpeg has no AAC encoder".into()));
            }
            let aac = Self {
                ctx: ffi::avcodec_alloc_context3(codec),
                frame: ffi::av_frame_alloc(),
                packet: ffi::av_packet_alloc(),
                channels: config.channels as usize,
                next_pts: 0,
            };
            if aac.ctx.is_null() || aac.frame.is_null() || aac.packet.is_null() {
                return Err(Error::Audio("AAC encoder: out of memory".into()));
            }
            let ctx = &mut *aac.ctx;
            ctx.sample_rate = config.sample_rate as i32;
            ctx.sample_fmt = ffi::AVSampleFormat::AV_SAMPLE_FMT_FLTP;
            ffi::av_channel_layout_default(&mut ctx.ch_layout, config.channels as i32);
            ctx.bit_rate = i64::from(config.bitrate_kbps) * 1000;
            ctx.time_base = ffi::AVRational {
                num: 1,
                den: config.sample_rate as i32,
            };
            // The AudioSpecificConfig goes into the container (esds, CodecPrivate), not in-band.
            ctx.flags |= ffi::AV_CODEC_FLAG_GLOBAL_HEADER as i32;
            let rc = ffi::avcodec_open2(aac.ctx, codec, ptr::null_mut());
            if rc < 0 {
                return Err(ff_err("could not open", rc));
            }
            let frame = &mut *aac.frame;
            frame.nb_samples = ctx.frame_size;
            frame.format = ctx.sample_fmt as i32;
            frame.sample_rate = ctx.sample_rate;
            let rc = ffi::av_channel_layout_copy(&mut frame.ch_layout, &ctx.ch_layout);
            if rc < 0 {
                return Err(ff_err("channel layout", rc));
            }
            let rc = ffi::av_frame_get_buffer(aac.frame, 0);
            if rc < 0 {
                return Err(ff_err("frame buffer", rc));
            }
            Ok(aac)
        }
    }

    /// Hands every packet the encoder has ready to `out`.
    fn receive(&mut self, out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        loop {
            // SAFETY: ctx and packet are valid (see `new`); the packet's data is read before
            // it is unreferenced.
            let rc = unsafe { ffi::avcodec_receive_packet(self.ctx, self.packet) };
            if rc == ffi::AVERROR(ffi::EAGAIN) || rc == ffi::AVERROR_EOF {
                return Ok(());
            }
            if rc < 0 {
                return Err(ff_err("encoding failed", rc));
            }
            // SAFETY: the packet received above is ours until unreferenced here; its `size` bytes
            // at `data` are read only while it lives.
            let sent = unsafe {
                let p = &*self.packet;
                // An empty packet may have no buffer at all: no slice from a null pointer.
                let data = match usize::try_from(p.size) {
                    Ok(size) if size > 0 && !p.data.is_null() => std::slice::from_raw_parts(p.data, size),
                    _ => &[][..],
                };
                let sent = out(data);
                ffi::av_packet_unref(self.packet);
                sent
            };
            sent?;
        }
    }
}

impl Codec for Aac {
    fn frame_samples(&self) -> usize {
        // SAFETY: ctx is valid and open.
        unsafe { (*self.ctx).frame_size as usize }
    }

    fn delay(&self) -> u32 {
        // SAFETY: ctx is valid and open.
        unsafe { (*self.ctx).initial_padding as u32 }
    }

    /// AudioSpecificConfig (ISO 14496-3 §1.6.2.1).
    fn codec_private(&self) -> Vec<u8> {
        // SAFETY: extradata holds extradata_size bytes (set by the open encoder).
        unsafe {
            let ctx = &*self.ctx;
            if ctx.extradata.is_null() {
                return Vec::new();
            }
            std::slice::from_raw_parts(ctx.extradata, ctx.extradata_size as usize).to_vec()
        }
    }

    fn encode(&mut self, pcm: &[f32], out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let samples = pcm.len() / self.channels;
        // SAFETY: the frame was allocated for frame_size samples per plane, one plane per
        // channel (planar float); `samples` is checked to be exactly that before any is written.
        unsafe {
            let frame_samples = (*self.frame).nb_samples;
            if usize::try_from(frame_samples) != Ok(samples) || pcm.len() != samples * self.channels {
                return Err(Error::Audio(format!(
                    "AAC encoder: a block of {} values for {} channels, where one frame is {frame_samples} samples a channel",
                    pcm.len(),
                    self.channels
                )));
            }
            let rc = ffi::av_frame_make_writable(self.frame);
            if rc < 0 {
                return Err(ff_err("frame buffer", rc));
            }
            let frame = &mut *self.frame;
            for c in 0..self.channels {
                let plane = std::slice::from_raw_parts_mut(frame.data[c].cast::<f32>(), samples);
                for (i, s) in plane.iter_mut().enumerate() {
                    *s = pcm[i * self.channels + c];
                }
            }
            frame.pts = self.next_pts;
            self.next_pts += samples as i64;
            let rc = ffi::avcodec_send_frame(self.ctx, self.frame);
            if rc < 0 {
                return Err(ff_err("encoding failed", rc));
            }
        }
        self.receive(out)
    }

    fn flush(&mut self, out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        // SAFETY: a null frame is FFmpeg's end-of-stream signal.
        let rc = unsafe { ffi::avcodec_send_frame(self.ctx, ptr::null()) };
        if rc < 0 && rc != ffi::AVERROR_EOF {
            return Err(ff_err("flushing failed", rc));
        }
        self.receive(out)
    }
}

impl Drop for Aac {
    fn drop(&mut self) {
        // SAFETY: each free function takes a pointer to the (possibly null) pointer it frees.
        unsafe {
            ffi::av_packet_free(&mut self.packet);
            ffi::av_frame_free(&mut self.frame);
            ffi::avcodec_free_context(&mut self.ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The framing feeds whole frames; a block of any other length is refused, not written past
    /// the frame's planes (the check was a `debug_assert`, gone from release builds).
    #[test]
    fn a_block_that_is_not_one_frame_is_refused() {
        let mut aac = Aac::new(&AudioConfig::default()).unwrap();
        let frame = aac.frame_samples();
        let mut packets = 0;
        let mut count = |_: &[u8]| {
            packets += 1;
            Ok(())
        };
        for samples in [frame - 1, frame * 2] {
            let e = aac.encode(&vec![0.0; samples * 2], &mut count).unwrap_err().to_string();
            assert!(e.contains("one frame is 1024 samples"), "{samples}: {e}");
        }
        aac.encode(&vec![0.0; frame * 2], &mut count).unwrap();
    }
}
