//! AV1 on the CPU through FFmpeg's software encoders: the backends that always exist.
//!
//! * SVT-AV1 (`libsvtav1`): fast and efficient, but only for even sizes of at least 64×64.
//! * libaom (`libaom-av1`, realtime usage): any size, used for the sizes SVT-AV1 cannot encode
//!   exactly. Padding plus a container crop would work in FFmpeg-based players, but browsers
//!   show the padded size, so odd game windows get an encoder that codes them as they are.

use ffmpeg::{codec, color, encoder, format::Pixel, Dictionary};
use ffmpeg_next as ffmpeg;
use parking_lot::Mutex;

use super::encoder::{coded_size, receive_ffmpeg_packet, Received, VideoEncoder};
use super::{ffmpeg_open, svt_geometry};
use crate::color::fill_i420;
use crate::config::{quality_to_qindex, RateControl, RecordingConfig, VideoConfig};
use crate::error::{Error, Result};
use crate::frame::{I420Planes, VideoFrame};
use crate::kinds::{BackendKind, Probe};
use crate::quiet;

/// SVT-AV1 1.4.1 changes process-wide state without synchronisation while an encoder is set up
/// or torn down (seen as heap corruption in `svt_av1_enc_init_handle` with two recorders in one
/// process); every open and close goes through this lock.
static OPEN_CLOSE: Mutex<()> = Mutex::new(());

/// SVT-AV1 refuses frames below 64×64 ("Source Width must be at least 64") and odd sizes.
const SVT_MIN_SIZE: u32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Svt,
    Aom,
}

impl Codec {
    pub fn kind(self) -> BackendKind {
        match self {
            Self::Svt => BackendKind::SvtAv1,
            Self::Aom => BackendKind::Aom,
        }
    }

    fn ffmpeg_name(self) -> &'static str {
        match self {
            Self::Svt => "libsvtav1",
            Self::Aom => "libaom-av1",
        }
    }

    /// The encoder's frame size for a `width × height` recording.
    fn coded_size(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Self::Svt => coded_size(width, height, SVT_MIN_SIZE),
            Self::Aom => (width, height),
        }
    }

    /// The codec that encodes `width × height` exactly: SVT-AV1 where it can.
    pub fn for_size(width: u32, height: u32) -> Self {
        if Self::Svt.coded_size(width, height) == (width, height) {
            Self::Svt
        } else {
            Self::Aom
        }
    }

    /// Encoder options for `v`. Both take CRF/QP on the same 0–63 scale.
    fn options(self, v: &VideoConfig, enc: &mut encoder::video::Video) -> Dictionary<'static> {
        let mut opts = Dictionary::new();
        let qindex = quality_to_qindex(v.quality).to_string();
        let bitrate = v.bitrate_kbps as usize * 1000;
        match self {
            Self::Svt => {
                opts.set("preset", &v.preset().to_string());
                // irefresh-type=2: every keyframe interval starts a closed GOP with a real key
                // frame (the wrapper's default is open GOP, whose intra frames players cannot seek
                // to, so only frame 0 would be a keyframe).
                // lookahead: frames waiting inside the encoder are lost if the process dies, so
                // its look-ahead is bounded to half a second of video (SVT-AV1's automatic value
                // held back ~50 frames, 1.7 s at 30 fps).
                let lookahead = (v.fps / 2).clamp(4, 32);
                let mut params = vec![
                    format!("film-grain={}", v.film_grain),
                    "irefresh-type=2".to_string(),
                    format!("lookahead={lookahead}"),
                ];
                if v.tile_columns_log2 > 0 {
                    params.push(format!("tile-columns={}", v.tile_columns_log2));
                }
                if v.tile_rows_log2 > 0 {
                    params.push(format!("tile-rows={}", v.tile_rows_log2));
                }
                match v.rate_control {
                    RateControl::Crf => opts.set("crf", &qindex),
                    RateControl::Cqp => {
                        opts.set("qp", &qindex);
                        params.push("aq-mode=0".into());
                    }
                    RateControl::Vbr => {
                        enc.set_bit_rate(bitrate);
                        params.push("rc=1".into());
                        params.push(format!("tbr={}", v.bitrate_kbps));
                        if v.max_bitrate_kbps > 0 {
                            enc.set_max_bit_rate(v.max_bitrate_kbps as usize * 1000);
                        }
                    }
                    RateControl::Cbr => {
                        // No max rate: SVT-AV1 refuses one equal to the target ("Max Bitrate must
                        // be greater than Target Bitrate"); CBR holds the rate by itself.
                        enc.set_bit_rate(bitrate);
                        // SVT-AV1 runs CBR only with the low-delay prediction structure.
                        params.push("rc=2".into());
                        params.push("pred-struct=1".into());
                        params.push(format!("tbr={}", v.bitrate_kbps));
                    }
                }
                opts.set("svtav1-params", &params.join(":"));
            }
            Self::Aom => {
                // The stack builds libaom for real-time use only (smaller, and all it is here for
                // is odd and tiny sizes), so SVT presets 0–13 map onto real-time cpu-used 5–8;
                // the default preset 10 lands on 8, which keeps pace with SVT-AV1 at preset 10.
                // FFmpeg's libaom-av1 refuses cpu-used above 8 (its option's range is 0–8).
                let cpu_used = v.preset().saturating_sub(2).clamp(5, 8);
                opts.set("cpu-used", &cpu_used.to_string());
                opts.set("usage", "realtime");
                opts.set("row-mt", "1");
                opts.set("tile-columns", &v.tile_columns_log2.to_string());
                opts.set("tile-rows", &v.tile_rows_log2.to_string());
                if v.film_grain > 0 {
                    opts.set("denoise-noise-level", &v.film_grain.to_string());
                }
                match v.rate_control {
                    RateControl::Crf => opts.set("crf", &qindex),
                    RateControl::Cqp => {
                        opts.set("crf", &qindex);
                        opts.set("aq-mode", "0");
                    }
                    RateControl::Vbr => {
                        enc.set_bit_rate(bitrate);
                        if v.max_bitrate_kbps > 0 {
                            enc.set_max_bit_rate(v.max_bitrate_kbps as usize * 1000);
                        }
                    }
                    RateControl::Cbr => {
                        enc.set_bit_rate(bitrate);
                        enc.set_max_bit_rate(bitrate);
                        // SAFETY: a plain field write on the context we own, before it is opened;
                        // FFmpeg's libaom wrapper picks CBR when min = max = target rate.
                        unsafe { (*enc.as_mut_ptr()).rc_min_rate = bitrate as i64 };
                    }
                }
                // FFmpeg gives encoders one thread unless told otherwise; libaom's row-mt needs more.
                let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
                enc.set_threading(ffmpeg::threading::Config::count(threads));
            }
        }
        opts
    }
}

pub fn probe(codec: Codec) -> Probe {
    let _ = ffmpeg::init();
    let found = encoder::find_by_name(codec.ffmpeg_name()).is_some();
    let v = ffmpeg::codec::version();
    Probe {
        kind: codec.kind(),
        available: found,
        reason: if found {
            String::new()
        } else {
            format!(
                "the FFmpeg this was linked against has no {} encoder (install an FFmpeg built with it)",
                codec.ffmpeg_name()
            )
        },
        version: format!(
            "libavcodec {}.{}.{} ({})",
            v >> 16,
            (v >> 8) & 0xff,
            v & 0xff,
            codec.ffmpeg_name()
        ),
        // SVT-AV1's own limit (16384×8704) and AV1's (65536²) are above the recording limit.
        max_width: crate::config::MAX_WIDTH,
        max_height: crate::config::MAX_HEIGHT,
        rate_controls: vec![RateControl::Crf, RateControl::Cqp, RateControl::Vbr, RateControl::Cbr],
        ten_bit: true,
    }
}

pub struct SoftwareEncoder {
    codec: Codec,
    encoder: Option<encoder::video::Encoder>,
    frame: ffmpeg::frame::Video,
    packet: ffmpeg::Packet,
    coded: (u32, u32),
    sequence_header: Option<Vec<u8>>,
    frames_sent: u64,
    /// Set when the encoder was flushed without a single real frame (see `flush`).
    discard_output: bool,
    flushed: bool,
    /// SVT-AV1's share of its process-wide block-geometry table (see `svt_geometry.rs`); dropped
    /// after `drop` has closed the encoder.
    _geometry: Option<svt_geometry::Claim>,
}

// SAFETY: the FFmpeg context, frame and packet are owned exclusively by this value and only
// touched through `&mut self`; libavcodec contexts may move between threads as long as they are
// not used from two at once.
unsafe impl Send for SoftwareEncoder {}

impl SoftwareEncoder {
    pub fn new(codec: Codec, config: &RecordingConfig) -> Result<Self> {
        quiet::apply();
        let v = &config.video;
        let coded = codec.coded_size(v.width, v.height);
        let (enc, opts) = context(codec, v, coded)?;
        let geometry = match codec {
            Codec::Svt => Some(claim_geometry(v, coded)?),
            Codec::Aom => None,
        };
        let encoder = {
            let _open = OPEN_CLOSE.lock();
            ffmpeg_open::open(enc, opts).map_err(|e| Error::Encoder {
                backend: codec.kind(),
                message: format!("{} could not open: {e}", codec.ffmpeg_name()),
            })?
        };
        // SAFETY: extradata/extradata_size describe a buffer owned by the opened context.
        let sequence_header = unsafe {
            let ctx = encoder.as_ptr();
            ((*ctx).extradata_size > 0)
                .then(|| std::slice::from_raw_parts((*ctx).extradata, (*ctx).extradata_size as usize).to_vec())
        };
        let mut frame = ffmpeg::frame::Video::new(Pixel::YUV420P, coded.0, coded.1);
        frame.set_color_space(color::Space::BT709);
        frame.set_color_range(color::Range::MPEG);
        Ok(Self {
            codec,
            encoder: Some(encoder),
            frame,
            packet: ffmpeg::Packet::empty(),
            coded,
            sequence_header,
            frames_sent: 0,
            discard_output: false,
            flushed: false,
            _geometry: geometry,
        })
    }
}

/// Waits, if it must, until SVT-AV1 encoders of another block geometry have closed.
fn claim_geometry(v: &VideoConfig, coded: (u32, u32)) -> Result<svt_geometry::Claim> {
    let geometry = svt_geometry::Geometry {
        preset: v.preset(),
        width: coded.0,
        height: coded.1,
        all_intra: v.keyframe_interval_s == 0.0,
    };
    svt_geometry::claim(geometry, svt_geometry::WAIT).map_err(|running| Error::Unavailable {
        backend: BackendKind::SvtAv1,
        reason: format!(
            "another SVT-AV1 recording in this process (preset {}, {}x{}) did not end within {} s; SVT-AV1 runs \
             encoders of one preset and size at a time, since they share one table per process",
            running.preset,
            running.width,
            running.height,
            svt_geometry::WAIT.as_secs()
        ),
    })
}

/// An unopened `codec` context at `coded` size for `v`, with the options to open it with.
fn context(codec: Codec, v: &VideoConfig, coded: (u32, u32)) -> Result<(encoder::video::Video, Dictionary<'static>)> {
    let ff_err = |e| ff_err(codec, e);
    ffmpeg::init().map_err(ff_err)?;
    let found = encoder::find_by_name(codec.ffmpeg_name()).ok_or_else(|| Error::Unavailable {
        backend: codec.kind(),
        reason: probe(codec).reason,
    })?;
    let mut enc = codec::context::Context::new_with_codec(found)
        .encoder()
        .video()
        .map_err(ff_err)?;
    enc.set_width(coded.0);
    enc.set_height(coded.1);
    enc.set_format(Pixel::YUV420P);
    enc.set_time_base((1, v.fps as i32));
    enc.set_frame_rate(Some((v.fps as i32, 1)));
    // Sequence header as extradata, so the muxer can write av1C before the first packet.
    enc.set_flags(codec::Flags::GLOBAL_HEADER);
    enc.set_colorspace(color::Space::BT709);
    enc.set_color_range(color::Range::MPEG);
    // SAFETY: plain field writes on the context we own, before it is opened.
    unsafe {
        let ctx = enc.as_mut_ptr();
        (*ctx).color_primaries = color::Primaries::BT709.into();
        (*ctx).color_trc = color::TransferCharacteristic::BT709.into();
    }
    enc.set_gop(((v.keyframe_interval_s * v.fps as f32).round() as u32).max(1));
    // libsvtav1 only warns about an svtav1-params entry SVT-AV1 rejects, unless errors are
    // to explode: then it fails the open, as an unknown option does (see ffmpeg_open).
    // SAFETY: a plain field write on the context we own, before it is opened.
    unsafe { (*enc.as_mut_ptr()).err_recognition |= ffmpeg::ffi::AV_EF_EXPLODE };
    let opts = codec.options(v, &mut enc);
    Ok((enc, opts))
}

impl SoftwareEncoder {
    fn encoder(&mut self) -> &mut encoder::video::Encoder {
        self.encoder.as_mut().expect("the encoder lives until drop")
    }

    fn submit(&mut self, index: u64) -> Result<()> {
        self.frame.set_pts(Some(index as i64));
        let codec = self.codec;
        let frame = &self.frame;
        self.encoder
            .as_mut()
            .expect("open")
            .send_frame(frame)
            .map_err(|e| ff_err(codec, e))
    }
}

fn ff_err(codec: Codec, e: ffmpeg::Error) -> Error {
    Error::Encoder {
        backend: codec.kind(),
        message: e.to_string(),
    }
}

impl VideoEncoder for SoftwareEncoder {
    fn kind(&self) -> BackendKind {
        self.codec.kind()
    }

    fn coded_size(&self) -> (u32, u32) {
        self.coded
    }

    fn sequence_header(&self) -> Option<&[u8]> {
        self.sequence_header.as_deref()
    }

    fn send_frame(&mut self, image: &VideoFrame<'_>, index: u64) -> Result<()> {
        // The encoder may still hold a reference to the last frame's buffers; FFmpeg's rule is to
        // make the frame writable (copy-on-write) before reusing it.
        // SAFETY: the frame pointer is valid and owned by `self.frame`.
        let rc = unsafe { ffmpeg::ffi::av_frame_make_writable(self.frame.as_mut_ptr()) };
        if rc < 0 {
            return Err(ff_err(self.codec, ffmpeg::Error::from(rc)));
        }
        let (w, h) = self.coded;
        let strides = [self.frame.stride(0), self.frame.stride(1), self.frame.stride(2)];
        let chroma_rows = h.div_ceil(2) as usize;
        // SAFETY: the three planes of a YUV420P frame are disjoint allocations of at least
        // stride × rows bytes; we borrow each mutably once, for the duration of the conversion.
        let (y, u, v) = unsafe {
            let f = &*self.frame.as_ptr();
            let plane = |i: usize, rows: usize| std::slice::from_raw_parts_mut(f.data[i], strides[i] * rows);
            (plane(0, h as usize), plane(1, chroma_rows), plane(2, chroma_rows))
        };
        let mut planes = I420Planes {
            width: w,
            height: h,
            y,
            y_stride: strides[0],
            u,
            u_stride: strides[1],
            v,
            v_stride: strides[2],
        };
        fill_i420(image, &mut planes);
        self.submit(index)?;
        self.frames_sent += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        // FFmpeg 5.1's libsvtav1 blocks forever when drained or closed without ever having seen a
        // frame (a recording stopped before its first frame). One black frame, whose output is
        // thrown away, lets it end normally.
        if self.frames_sent == 0 && !self.discard_output {
            for plane in 0..3 {
                let fill = if plane == 0 { 16 } else { 128 };
                self.frame.data_mut(plane).fill(fill);
            }
            self.submit(0)?;
            self.discard_output = true;
        }
        self.flushed = true;
        let codec = self.codec;
        self.encoder().send_eof().map_err(|e| ff_err(codec, e))
    }

    fn receive_packet(&mut self, out: &mut Vec<u8>) -> Result<Received> {
        let codec = self.codec;
        let encoder = self.encoder.as_mut().expect("open");
        loop {
            match receive_ffmpeg_packet(encoder, &mut self.packet, out) {
                // The throw-away frame of a never-fed encoder (see `flush`).
                Ok(Received::Packet { .. }) if self.discard_output => continue,
                received => return received.map_err(|e| ff_err(codec, e)),
            }
        }
    }
}

impl Drop for SoftwareEncoder {
    fn drop(&mut self) {
        // An encoder that never saw a frame must be drained before it is closed, or closing
        // blocks (see `flush`). Errors are moot here: the output is thrown away.
        if self.frames_sent == 0 && !self.flushed && self.flush().is_ok() {
            while let Ok(Received::Packet { .. }) = self.receive_packet(&mut Vec::new()) {}
        }
        let _close = OPEN_CLOSE.lock();
        drop(self.encoder.take());
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use super::*;
    use crate::backend::ffmpeg_open::OpenError;

    /// FFmpeg drops an option an encoder does not know; we fail the open and name it. The same
    /// for an svtav1-params entry SVT-AV1 rejects, which libsvtav1 would only warn about.
    #[test]
    fn options_the_encoder_ignores_fail_the_open() {
        let v = VideoConfig::default();
        let open_with = |extra: &[(&str, &str)]| {
            let (enc, mut opts) = context(Codec::Svt, &v, (320, 240)).unwrap();
            for (k, value) in extra {
                opts.set(k, value);
            }
            let _open = OPEN_CLOSE.lock();
            ffmpeg_open::open(enc, opts).map(drop)
        };
        assert_eq!(
            open_with(&[("no-such-option", "1")]),
            Err(OpenError::Unused(vec!["no-such-option=1".into()]))
        );
        let e = open_with(&[("svtav1-params", "no-such-param=1")]).unwrap_err();
        assert!(matches!(e, OpenError::Failed(_)), "{e}");
        let message = format!("{}", open_with(&[("qp_typo", "30"), ("cq", "2")]).unwrap_err());
        assert!(message.contains("qp_typo=30") && message.contains("cq=2"), "{message}");
    }

    /// Every option we build, for both codecs, every rate control and both ends of the preset
    /// range, is one the encoder has, with a value it accepts (libaom's cpu-used stops at 8).
    /// Checked on unopened contexts: opening and dropping SVT-AV1 encoders that never saw a
    /// frame, from tests running in parallel, can hang inside SVT-AV1.
    #[test]
    fn every_option_we_build_is_one_the_encoder_takes() {
        for codec in [Codec::Svt, Codec::Aom] {
            for rate_control in [RateControl::Crf, RateControl::Cqp, RateControl::Vbr, RateControl::Cbr] {
                for preset in [0, 13] {
                    let v = VideoConfig {
                        rate_control,
                        speed_preset: crate::config::SpeedPreset::Fixed(preset),
                        film_grain: 4,
                        tile_columns_log2: 1,
                        ..VideoConfig::default()
                    };
                    let (mut enc, opts) = context(codec, &v, (640, 360)).unwrap();
                    for (key, value) in opts.iter() {
                        let (k, val) = (CString::new(key).unwrap(), CString::new(value).unwrap());
                        // SAFETY: the context carries its codec's private options; the strings
                        // live across the call.
                        let rc = unsafe {
                            ffmpeg::ffi::av_opt_set(
                                enc.as_mut_ptr().cast(),
                                k.as_ptr(),
                                val.as_ptr(),
                                ffmpeg::ffi::AV_OPT_SEARCH_CHILDREN,
                            )
                        };
                        assert_eq!(
                            rc,
                            0,
                            "{} ({}, preset {preset}): {key}={value} refused",
                            codec.ffmpeg_name(),
                            rate_control.name()
                        );
                    }
                }
            }
        }
    }
}
