//! SVT-AV1 on the CPU through FFmpeg's `libsvtav1` wrapper: the backend that always exists.

use ffmpeg::{codec, color, encoder, format::Pixel, Dictionary};
use ffmpeg_next as ffmpeg;

use super::{coded_size, BackendKind, Probe, Received, VideoEncoder};
use crate::color::rgb_to_i420;
use crate::config::{quality_to_qindex, RateControl, RecordingConfig};
use crate::error::{Error, Result};
use crate::frame::{I420Planes, RgbImage};
use crate::quiet;

const CODEC: &str = "libsvtav1";
/// SVT-AV1 refuses frames below 64×64 ("Source Width must be at least 64").
const MIN_SIZE: u32 = 64;
/// SVT-AV1's own limit (16384×8704) is above ours; our config caps sizes at 8192×4320.
const MAX_SIZE: (u32, u32) = (16384, 8704);

pub fn probe() -> Probe {
    let _ = ffmpeg::init();
    let found = encoder::find_by_name(CODEC).is_some();
    let v = ffmpeg::codec::version();
    Probe {
        kind: BackendKind::SvtAv1,
        available: found,
        reason: if found {
            String::new()
        } else {
            "the FFmpeg this was linked against has no libsvtav1 encoder (install an FFmpeg built with --enable-libsvtav1)".into()
        },
        version: format!("libavcodec {}.{}.{} ({CODEC})", v >> 16, (v >> 8) & 0xff, v & 0xff),
        max_width: MAX_SIZE.0,
        max_height: MAX_SIZE.1,
        rate_controls: vec![RateControl::Crf, RateControl::Cqp, RateControl::Vbr, RateControl::Cbr],
        ten_bit: true,
    }
}

pub struct SvtEncoder {
    encoder: encoder::video::Encoder,
    frame: ffmpeg::frame::Video,
    packet: ffmpeg::Packet,
    coded: (u32, u32),
    sequence_header: Option<Vec<u8>>,
    parallel_convert: bool,
}

// SAFETY: the FFmpeg context, frame and packet are owned exclusively by this value and only
// touched through `&mut self`; libavcodec contexts may move between threads as long as they are
// not used from two at once.
unsafe impl Send for SvtEncoder {}

fn ff_err(e: ffmpeg::Error) -> Error {
    Error::Encoder {
        backend: BackendKind::SvtAv1,
        message: e.to_string(),
    }
}

impl SvtEncoder {
    pub fn new(config: &RecordingConfig) -> Result<Self> {
        quiet::apply();
        ffmpeg::init().map_err(ff_err)?;
        let v = &config.video;
        let codec = encoder::find_by_name(CODEC).ok_or_else(|| Error::Unavailable {
            backend: BackendKind::SvtAv1,
            reason: probe().reason,
        })?;
        let coded = coded_size(v.width, v.height, MIN_SIZE);
        let mut enc = codec::context::Context::new_with_codec(codec)
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
        let keyint = ((v.keyframe_interval_s * v.fps as f32).round() as u32).max(1);
        enc.set_gop(keyint);

        let mut opts = Dictionary::new();
        opts.set("preset", &v.preset.to_string());
        let mut params = vec![format!("film-grain={}", v.film_grain)];
        if v.tile_columns_log2 > 0 {
            params.push(format!("tile-columns={}", v.tile_columns_log2));
        }
        if v.tile_rows_log2 > 0 {
            params.push(format!("tile-rows={}", v.tile_rows_log2));
        }
        let qindex = quality_to_qindex(v.quality);
        match v.rate_control {
            RateControl::Crf => opts.set("crf", &qindex.to_string()),
            RateControl::Cqp => {
                opts.set("qp", &qindex.to_string());
                params.push("aq-mode=0".into());
            }
            RateControl::Vbr => {
                enc.set_bit_rate(v.bitrate_kbps as usize * 1000);
                params.push("rc=1".into());
                params.push(format!("tbr={}", v.bitrate_kbps));
                if v.max_bitrate_kbps > 0 {
                    enc.set_max_bit_rate(v.max_bitrate_kbps as usize * 1000);
                }
            }
            RateControl::Cbr => {
                enc.set_bit_rate(v.bitrate_kbps as usize * 1000);
                enc.set_max_bit_rate(v.bitrate_kbps as usize * 1000);
                // SVT-AV1 runs CBR only with the low-delay prediction structure.
                params.push("rc=2".into());
                params.push("pred-struct=1".into());
                params.push(format!("tbr={}", v.bitrate_kbps));
            }
        }
        opts.set("svtav1-params", &params.join(":"));
        let encoder = enc.open_with(opts).map_err(ff_err)?;
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
            encoder,
            frame,
            packet: ffmpeg::Packet::empty(),
            coded,
            sequence_header,
            parallel_convert: true,
        })
    }
}

impl VideoEncoder for SvtEncoder {
    fn kind(&self) -> BackendKind {
        BackendKind::SvtAv1
    }

    fn coded_size(&self) -> (u32, u32) {
        self.coded
    }

    fn sequence_header(&self) -> Option<&[u8]> {
        self.sequence_header.as_deref()
    }

    fn send_frame(&mut self, image: &RgbImage<'_>, index: u64) -> Result<()> {
        // The encoder may still hold a reference to the last frame's buffers; FFmpeg's rule is to
        // make the frame writable (copy-on-write) before reusing it.
        // SAFETY: the frame pointer is valid and owned by `self.frame`.
        let rc = unsafe { ffmpeg::ffi::av_frame_make_writable(self.frame.as_mut_ptr()) };
        if rc < 0 {
            return Err(ff_err(ffmpeg::Error::from(rc)));
        }
        let (w, h) = self.coded;
        let strides = [self.frame.stride(0), self.frame.stride(1), self.frame.stride(2)];
        // SAFETY: the three planes of a YUV420P frame are disjoint allocations; we borrow each
        // mutably once, for the duration of the conversion.
        let (y, u, v) = unsafe {
            let f = &*self.frame.as_ptr();
            let plane = |i: usize, rows: usize| std::slice::from_raw_parts_mut(f.data[i], strides[i] * rows);
            (plane(0, h as usize), plane(1, h as usize / 2), plane(2, h as usize / 2))
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
        rgb_to_i420(image, &mut planes, self.parallel_convert);
        self.frame.set_pts(Some(index as i64));
        self.encoder.send_frame(&self.frame).map_err(ff_err)
    }

    fn flush(&mut self) -> Result<()> {
        self.encoder.send_eof().map_err(ff_err)
    }

    fn receive_packet(&mut self, out: &mut Vec<u8>) -> Result<Received> {
        match self.encoder.receive_packet(&mut self.packet) {
            Ok(()) => {
                out.clear();
                out.extend_from_slice(self.packet.data().unwrap_or_default());
                Ok(Received::Packet {
                    pts: self.packet.pts().unwrap_or(0).max(0) as u64,
                    keyframe: self.packet.is_key(),
                })
            }
            Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => Ok(Received::NeedMoreInput),
            Err(ffmpeg::Error::Eof) => Ok(Received::Done),
            Err(e) => Err(ff_err(e)),
        }
    }
}
