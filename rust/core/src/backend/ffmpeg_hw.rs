//! FFmpeg's hardware AV1 encoders: `av1_nvenc` (NVIDIA), `av1_qsv` (Intel), `av1_amf` (AMD) and
//! `av1_vaapi` (VA-API), each its own [`BackendKind`]. They exist in FFmpeg 6.1 and newer builds
//! made with that hardware's support; the FFmpeg this crate links decides, at run time.
//!
//! Colour is converted on the CPU (BT.709 limited range, [`rgb_to_i420`]) into the software
//! format each encoder takes; VA-API frames are then uploaded into its surfaces through a
//! hardware frames context.
//!
//! The probe goes as far as a recording would: the encoder is in the linked FFmpeg, its device
//! opens (`av_hwdevice_ctx_create`), and an encoder session opens at a small size.

use std::ffi::CStr;
use std::ptr;

use ffmpeg::ffi::{self, AVHWDeviceType};
use ffmpeg::{codec, color, encoder, format::Pixel, Dictionary};
use ffmpeg_next as ffmpeg;

use super::encoder::{coded_size, receive_ffmpeg_packet, Received, VideoEncoder};
use super::ffmpeg_open;
use crate::color::{fill_i420, I420Buffer};
use crate::config::{quality_to_qindex, RateControl, RecordingConfig, VideoConfig, MAX_HEIGHT, MAX_WIDTH};
use crate::error::{Error, Result};
use crate::frame::{I420Planes, VideoFrame};
use crate::kinds::{BackendKind, Probe};
#[cfg(target_os = "linux")]
use crate::runtime_libs::{self, Group};
use crate::{ffmpeg_log, quiet};

/// How one FFmpeg hardware encoder is driven.
struct Spec {
    kind: BackendKind,
    codec: &'static str,
    /// The device FFmpeg opens for it. `None` for AMF: FFmpeg before 7.1 has no AMF device type
    /// and `av1_amf` creates its own AMF context when the encoder opens.
    device: Option<AVHWDeviceType>,
    /// What we hand over: the frame format, or for VA-API the format uploaded into its surfaces.
    sw_format: Pixel,
    /// VA-API encodes only from its own surfaces, so frames go through a hw frames context.
    upload: bool,
    /// The rate controls mapped below onto this encoder's options.
    rate_controls: &'static [RateControl],
}

fn spec(kind: BackendKind) -> Spec {
    use RateControl::{Cbr, Cqp, Crf, Vbr};
    match kind {
        BackendKind::FfmpegNvenc => Spec {
            kind,
            codec: "av1_nvenc",
            device: Some(AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA),
            sw_format: Pixel::YUV420P,
            upload: false,
            rate_controls: &[Crf, Cqp, Vbr, Cbr],
        },
        BackendKind::FfmpegQsv => Spec {
            kind,
            codec: "av1_qsv",
            device: Some(AVHWDeviceType::AV_HWDEVICE_TYPE_QSV),
            // av1_qsv takes NV12 (or P010, or QSV surfaces), not planar YUV.
            sw_format: Pixel::NV12,
            upload: false,
            // ICQ (QSV's constant quality) uses a quality scale we have no verified mapping to.
            rate_controls: &[Cqp, Vbr, Cbr],
        },
        BackendKind::FfmpegAmf => Spec {
            kind,
            codec: "av1_amf",
            device: None,
            sw_format: Pixel::YUV420P,
            upload: false,
            // AMF's quality-VBR uses a quality scale we have no verified mapping to.
            rate_controls: &[Cqp, Vbr, Cbr],
        },
        BackendKind::FfmpegVaapi => Spec {
            kind,
            codec: "av1_vaapi",
            device: Some(AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI),
            sw_format: Pixel::NV12,
            upload: true,
            // VA-API's ICQ/QVBR are driver-specific; CQP, VBR and CBR are what drivers share.
            rate_controls: &[Cqp, Vbr, Cbr],
        },
        other => unreachable!("{other:?} is not an FFmpeg hardware encoder"),
    }
}

/// An owned `AVBufferRef` (hardware device or frames context).
struct BufferRef(*mut ffi::AVBufferRef);

impl BufferRef {
    /// A new reference for FFmpeg to own (it unrefs it when the codec context is freed).
    fn new_ref(&self) -> *mut ffi::AVBufferRef {
        // SAFETY: self.0 is a valid buffer reference for as long as self lives.
        unsafe { ffi::av_buffer_ref(self.0) }
    }
}

impl Drop for BufferRef {
    fn drop(&mut self) {
        // SAFETY: we own this reference; av_buffer_unref nulls it.
        unsafe { ffi::av_buffer_unref(&mut self.0) }
    }
}

fn device_name(t: AVHWDeviceType) -> String {
    // SAFETY: returns a static string (or null for an unknown type).
    let name = unsafe { ffi::av_hwdevice_get_type_name(t) };
    if name.is_null() {
        format!("{t:?}")
    } else {
        // SAFETY: non-null, NUL-terminated, static.
        unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
    }
}

/// The run-time libraries FFmpeg needs for a device of type `t` (see `runtime_libs`). QSV on
/// Linux runs on a VA-API device underneath.
#[cfg(target_os = "linux")]
fn runtime_libs_for(t: AVHWDeviceType) -> &'static [Group] {
    match t {
        AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI => &[Group::Va],
        AVHWDeviceType::AV_HWDEVICE_TYPE_QSV => &[Group::Va, Group::Vpl],
        _ => &[],
    }
}

fn open_device(t: AVHWDeviceType) -> std::result::Result<BufferRef, String> {
    // Elsewhere FFmpeg loads what a device needs itself (nvcuda.dll for CUDA on Windows).
    #[cfg(target_os = "linux")]
    for &group in runtime_libs_for(t) {
        runtime_libs::load(group).map_err(|e| format!("FFmpeg could not open a {} device: {e}", device_name(t)))?;
    }
    let mut device = ptr::null_mut();
    // SAFETY: out-pointer to a fresh reference; default device, no options.
    let rc = unsafe { ffi::av_hwdevice_ctx_create(&mut device, t, ptr::null(), ptr::null_mut(), 0) };
    if rc < 0 {
        return Err(format!(
            "FFmpeg could not open a {} device: {}",
            device_name(t),
            ffmpeg::Error::from(rc)
        ));
    }
    Ok(BufferRef(device))
}

/// A VA-API frames context of NV12 surfaces at the coded size.
fn frames_context(device: &BufferRef, (w, h): (u32, u32)) -> std::result::Result<BufferRef, String> {
    // SAFETY: device is a valid device reference; the new frames context is ours until handed on.
    unsafe {
        let frames = BufferRef(ffi::av_hwframe_ctx_alloc(device.0));
        if frames.0.is_null() {
            return Err("av_hwframe_ctx_alloc failed".into());
        }
        let ctx = (*frames.0).data as *mut ffi::AVHWFramesContext;
        (*ctx).format = Pixel::VAAPI.into();
        (*ctx).sw_format = Pixel::NV12.into();
        (*ctx).width = w as i32;
        (*ctx).height = h as i32;
        // Enough surfaces for the encoder's references and queue; FFmpeg's own tools use 20.
        (*ctx).initial_pool_size = 20;
        let rc = ffi::av_hwframe_ctx_init(frames.0);
        if rc < 0 {
            return Err(format!(
                "could not make {w}x{h} NV12 VA-API surfaces: {}",
                ffmpeg::Error::from(rc)
            ));
        }
        Ok(frames)
    }
}

/// SVT-AV1's preset 0 (slowest) – 13 (fastest) on a 1 (slowest) – 7 (fastest) scale, two steps
/// each: NVENC's p1–p7 reversed, QSV's and VA-API's target usage.
fn speed_1_to_7(svt: u8) -> u8 {
    (svt / 2 + 1).min(7)
}

/// Our 0–63 quantizer (SVT-AV1's CRF/QP scale) on AV1's 0–255 qindex, which the hardware
/// encoders' QP options take: the same ×4 SVT-AV1 applies internally.
fn qindex_255(q: u8) -> u32 {
    (u32::from(q) * 4).min(255)
}

/// Sets up rate control, speed and GOP on an unopened encoder context for `video`.
fn configure(s: &Spec, enc: &mut encoder::video::Video, video: &VideoConfig) -> Dictionary<'static> {
    let mut opts = Dictionary::new();
    // The sequence header as extradata, so the muxer can write av1C before the first packet.
    let mut flags = codec::Flags::GLOBAL_HEADER;
    let q = quality_to_qindex(video.quality);
    let speed = speed_1_to_7(video.hardware_preset());
    let bitrate = video.bitrate_kbps as usize * 1000;
    let cap = video.max_bitrate_kbps as usize * 1000;
    let keyint = ((video.keyframe_interval_s * video.fps as f32).round() as u32).max(1);
    enc.set_gop(keyint);
    match video.rate_control {
        RateControl::Vbr => {
            enc.set_bit_rate(bitrate);
            if cap > 0 {
                enc.set_max_bit_rate(cap);
            }
        }
        RateControl::Cbr => {
            enc.set_bit_rate(bitrate);
            enc.set_max_bit_rate(bitrate);
        }
        RateControl::Crf | RateControl::Cqp => {}
    }
    match s.kind {
        BackendKind::FfmpegNvenc => {
            opts.set("preset", &format!("p{}", 8 - speed));
            opts.set("tune", "hq");
            match video.rate_control {
                RateControl::Crf => {
                    opts.set("rc", "vbr");
                    // av1_nvenc's cq runs 0–63 (0 = automatic), our quantizer's scale.
                    opts.set("cq", &q.max(1).to_string());
                }
                RateControl::Cqp => {
                    opts.set("rc", "constqp");
                    opts.set("qp", &qindex_255(q).to_string());
                }
                RateControl::Vbr => opts.set("rc", "vbr"),
                RateControl::Cbr => opts.set("rc", "cbr"),
            }
        }
        BackendKind::FfmpegQsv => {
            opts.set("preset", &speed.to_string());
            if video.rate_control == RateControl::Cqp {
                // qsvenc picks CQP from the qscale flag and reads the QP from global_quality.
                flags |= codec::Flags::QSCALE;
                enc.set_global_quality((qindex_255(q) * ffi::FF_QP2LAMBDA as u32) as i32);
            }
        }
        BackendKind::FfmpegAmf => {
            opts.set(
                "quality",
                match video.hardware_preset() {
                    0..=4 => "quality",
                    5..=9 => "balanced",
                    _ => "speed",
                },
            );
            match video.rate_control {
                RateControl::Cqp => {
                    opts.set("rc", "cqp");
                    opts.set("qp_i", &qindex_255(q).to_string());
                    opts.set("qp_p", &qindex_255(q).to_string());
                }
                RateControl::Vbr => opts.set("rc", "vbr_peak"),
                _ => opts.set("rc", "cbr"),
            }
        }
        BackendKind::FfmpegVaapi => {
            enc.set_compression(Some(usize::from(speed)));
            match video.rate_control {
                RateControl::Cqp => {
                    opts.set("rc_mode", "CQP");
                    // av1_vaapi has no `qp` option: in CQP mode it reads the base qindex
                    // (0–255) from global_quality, taken as is without the qscale flag.
                    enc.set_global_quality(qindex_255(q) as i32);
                }
                RateControl::Vbr => opts.set("rc_mode", "VBR"),
                _ => opts.set("rc_mode", "CBR"),
            }
        }
        _ => unreachable!("not an FFmpeg hardware encoder"),
    }
    enc.set_flags(flags);
    opts
}

/// An opened encoder with what it needs to keep alive.
struct Opened {
    encoder: encoder::video::Encoder,
    /// For VA-API: the surfaces pool frames are uploaded into.
    frames: Option<BufferRef>,
}

/// Opens `s`'s encoder at `coded` size for `video`; the error says which step failed.
fn open_encoder(s: &Spec, coded: (u32, u32), video: &VideoConfig) -> std::result::Result<Opened, String> {
    let codec = encoder::find_by_name(s.codec).ok_or_else(|| missing_codec(s))?;
    let device = s.device.map(open_device).transpose()?;
    let frames = match (&device, s.upload) {
        (Some(d), true) => Some(frames_context(d, coded)?),
        _ => None,
    };
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|e| e.to_string())?;
    enc.set_width(coded.0);
    enc.set_height(coded.1);
    enc.set_format(if s.upload { Pixel::VAAPI } else { s.sw_format });
    enc.set_time_base((1, video.fps as i32));
    enc.set_frame_rate(Some((video.fps as i32, 1)));
    enc.set_colorspace(color::Space::BT709);
    enc.set_color_range(color::Range::MPEG);
    let opts = configure(s, &mut enc, video);
    // SAFETY: plain field writes on the context we own, before it is opened; the context takes
    // ownership of the new buffer references and unrefs them when it is freed.
    unsafe {
        let ctx = enc.as_mut_ptr();
        (*ctx).color_primaries = color::Primaries::BT709.into();
        (*ctx).color_trc = color::TransferCharacteristic::BT709.into();
        if let Some(d) = &device {
            (*ctx).hw_device_ctx = d.new_ref();
        }
        if let Some(f) = &frames {
            (*ctx).hw_frames_ctx = f.new_ref();
        }
    }
    let encoder =
        ffmpeg_open::open(enc, opts).map_err(|e| format!("{} could not open an encoder session: {e}", s.codec))?;
    Ok(Opened { encoder, frames })
}

fn libavcodec_version() -> String {
    let v = ffmpeg::codec::version();
    format!("libavcodec {}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

fn missing_codec(s: &Spec) -> String {
    // The Linux encoder stack (scripts/stack/build.sh) compiles in every one of these that exists
    // there; AMF exists for Windows only. The Windows stack (scripts/stack/windows.sh) has
    // av1_nvenc only; the macOS one (scripts/stack/macos.sh) none of them.
    let why = match s.kind {
        BackendKind::FfmpegAmf if cfg!(target_os = "linux") => {
            "AMD's AMF runtime exists for Windows only, and this build is for Linux"
        }
        BackendKind::FfmpegAmf | BackendKind::FfmpegQsv if cfg!(windows) => {
            "not available on this OS yet: the Windows encoder stack does not build it"
        }
        BackendKind::FfmpegVaapi if !cfg!(target_os = "linux") => "not available on this OS: VA-API is Linux's",
        BackendKind::FfmpegNvenc | BackendKind::FfmpegQsv | BackendKind::FfmpegAmf if cfg!(target_os = "macos") => {
            "not available on this OS: macOS has no driver for it"
        }
        _ => "this build of the library was made without it",
    };
    format!(
        "the linked FFmpeg ({}) has no {} encoder: {why}",
        libavcodec_version(),
        s.codec
    )
}

/// Size of the trial session the probe opens: small, and above every encoder's minimum.
const PROBE_SIZE: (u32, u32) = (640, 360);

pub fn probe(kind: BackendKind) -> Probe {
    // Opening devices and sessions makes FFmpeg log; keep that out of the engine's console.
    quiet::apply();
    let _ = ffmpeg::init();
    let s = spec(kind);
    let trial = VideoConfig {
        width: PROBE_SIZE.0,
        height: PROBE_SIZE.1,
        rate_control: RateControl::Vbr,
        ..VideoConfig::default()
    };
    // FFmpeg's own words on a failure ("Cannot load libcuda.so.1") go into the reason instead of
    // the console, where every recording's `auto` selection would repeat them.
    let (result, said) = ffmpeg_log::capture(|| open_encoder(&s, PROBE_SIZE, &trial));
    Probe {
        kind,
        available: result.is_ok(),
        reason: match result {
            Ok(_) => String::new(),
            Err(e) if said.is_empty() => e,
            Err(e) => format!("{e} (FFmpeg: {})", said.join("; ")),
        },
        version: format!("{} ({})", libavcodec_version(), s.codec),
        // FFmpeg does not expose the hardware's size limit; our own is the bound here, and a
        // size the hardware refuses fails at open, where `auto` moves on to the next backend.
        max_width: MAX_WIDTH,
        max_height: MAX_HEIGHT,
        rate_controls: s.rate_controls.to_vec(),
        // This pipeline feeds 8-bit frames; 10-bit support is not probed through FFmpeg.
        ten_bit: false,
    }
}

pub struct HwEncoder {
    kind: BackendKind,
    encoder: encoder::video::Encoder,
    frames: Option<BufferRef>,
    /// The frame we convert into (software format, coded size).
    frame: ffmpeg::frame::Video,
    /// The VA-API surface each frame is uploaded into.
    hw_frame: ffmpeg::frame::Video,
    /// I420 scratch for NV12 targets (the converter writes planar YUV).
    i420: Option<I420Buffer>,
    packet: ffmpeg::Packet,
    coded: (u32, u32),
    sequence_header: Option<Vec<u8>>,
}

// SAFETY: the FFmpeg context, frames, packet and buffer references are owned exclusively by this
// value and only touched through `&mut self`; libavcodec contexts may move between threads as
// long as they are not used from two at once.
unsafe impl Send for HwEncoder {}

impl HwEncoder {
    pub fn new(kind: BackendKind, config: &RecordingConfig) -> Result<Self> {
        quiet::apply();
        let s = spec(kind);
        ffmpeg::init().map_err(|e| ff_err(kind, e))?;
        let v = &config.video;
        if !s.rate_controls.contains(&v.rate_control) {
            return Err(Error::Unavailable {
                backend: kind,
                reason: format!("{} is not mapped to rate control {}", s.codec, v.rate_control.name()),
            });
        }
        // 4:2:0 needs even sizes; hardware encoders take any even size above a small minimum.
        let coded = coded_size(v.width, v.height, 2);
        let Opened { encoder, frames } =
            open_encoder(&s, coded, v).map_err(|message| Error::Encoder { backend: kind, message })?;
        // SAFETY: extradata/extradata_size describe a buffer owned by the opened context.
        let extradata = unsafe {
            let ctx = encoder.as_ptr();
            ((*ctx).extradata_size > 0)
                .then(|| std::slice::from_raw_parts((*ctx).extradata, (*ctx).extradata_size as usize).to_vec())
        };
        // Not every encoder fills extradata; the pipeline then takes the first packet's header.
        let sequence_header = extradata.and_then(|d| crate::av1::normalize_sequence_header(&d));
        let mut frame = ffmpeg::frame::Video::new(s.sw_format, coded.0, coded.1);
        frame.set_color_space(color::Space::BT709);
        frame.set_color_range(color::Range::MPEG);
        Ok(Self {
            kind,
            encoder,
            frames,
            frame,
            hw_frame: ffmpeg::frame::Video::empty(),
            i420: (s.sw_format == Pixel::NV12).then(|| I420Buffer::new(coded.0, coded.1)),
            packet: ffmpeg::Packet::empty(),
            coded,
            sequence_header,
        })
    }

    /// Converts `image` into `self.frame` (YUV420P directly, NV12 through the I420 scratch).
    fn convert(&mut self, image: &VideoFrame<'_>) {
        let (w, h) = (self.coded.0 as usize, self.coded.1 as usize);
        let strides = [self.frame.stride(0), self.frame.stride(1), self.frame.stride(2)];
        // SAFETY: the frame's planes are disjoint allocations of stride × rows bytes each; we
        // borrow each mutably once, for the duration of the conversion.
        let plane = |i: usize, rows: usize| unsafe {
            let f = &*self.frame.as_ptr();
            std::slice::from_raw_parts_mut(f.data[i], strides[i] * rows)
        };
        match &mut self.i420 {
            None => {
                let mut planes = I420Planes {
                    width: w as u32,
                    height: h as u32,
                    y: plane(0, h),
                    y_stride: strides[0],
                    u: plane(1, h / 2),
                    u_stride: strides[1],
                    v: plane(2, h / 2),
                    v_stride: strides[2],
                };
                fill_i420(image, &mut planes);
            }
            Some(i420) => {
                fill_i420(image, &mut i420.planes());
                i420_to_nv12(i420, plane(0, h), strides[0], plane(1, h / 2), strides[1]);
            }
        }
    }
}

/// Copies planar `i420` into NV12 planes (Y, then U and V interleaved) with the given strides.
fn i420_to_nv12(i420: &I420Buffer, y: &mut [u8], y_stride: usize, uv: &mut [u8], uv_stride: usize) {
    let w = i420.width as usize;
    for (dst, src) in y.chunks_mut(y_stride).zip(i420.y.chunks_exact(w)) {
        dst[..w].copy_from_slice(src);
    }
    let chroma_rows = i420.u.chunks_exact(w / 2).zip(i420.v.chunks_exact(w / 2));
    for (dst, (u, v)) in uv.chunks_mut(uv_stride).zip(chroma_rows) {
        for (pair, (&cu, &cv)) in dst[..w].chunks_exact_mut(2).zip(u.iter().zip(v)) {
            pair.copy_from_slice(&[cu, cv]);
        }
    }
}

fn ff_err(backend: BackendKind, e: ffmpeg::Error) -> Error {
    Error::Encoder {
        backend,
        message: e.to_string(),
    }
}

impl VideoEncoder for HwEncoder {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn coded_size(&self) -> (u32, u32) {
        self.coded
    }

    fn sequence_header(&self) -> Option<&[u8]> {
        self.sequence_header.as_deref()
    }

    fn send_frame(&mut self, image: &VideoFrame<'_>, index: u64) -> Result<()> {
        let kind = self.kind;
        // The encoder may still reference the last frame's buffers (copy-on-write, as in svt.rs).
        // SAFETY: the frame pointer is valid and owned by `self.frame`.
        let rc = unsafe { ffi::av_frame_make_writable(self.frame.as_mut_ptr()) };
        if rc < 0 {
            return Err(ff_err(kind, ffmpeg::Error::from(rc)));
        }
        self.convert(image);
        self.frame.set_pts(Some(index as i64));
        let Some(frames) = &self.frames else {
            return self.encoder.send_frame(&self.frame).map_err(|e| ff_err(kind, e));
        };
        // SAFETY: hw_frame is ours; unref drops the previous surface (the encoder holds its own
        // reference while it needs it), get_buffer takes a fresh one from the pool, and the
        // transfer uploads our NV12 frame into it.
        unsafe {
            let hw = self.hw_frame.as_mut_ptr();
            ffi::av_frame_unref(hw);
            let rc = ffi::av_hwframe_get_buffer(frames.0, hw, 0);
            if rc < 0 {
                return Err(ff_err(kind, ffmpeg::Error::from(rc)));
            }
            let rc = ffi::av_hwframe_transfer_data(hw, self.frame.as_ptr(), 0);
            if rc < 0 {
                return Err(ff_err(kind, ffmpeg::Error::from(rc)));
            }
        }
        self.hw_frame.set_pts(Some(index as i64));
        self.encoder.send_frame(&self.hw_frame).map_err(|e| ff_err(kind, e))
    }

    fn flush(&mut self) -> Result<()> {
        self.encoder.send_eof().map_err(|e| ff_err(self.kind, e))
    }

    fn receive_packet(&mut self, out: &mut Vec<u8>) -> Result<Received> {
        receive_ffmpeg_packet(&mut self.encoder, &mut self.packet, out).map_err(|e| ff_err(self.kind, e))
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use super::*;

    const KINDS: [BackendKind; 4] = [
        BackendKind::FfmpegNvenc,
        BackendKind::FfmpegQsv,
        BackendKind::FfmpegAmf,
        BackendKind::FfmpegVaapi,
    ];

    /// The reason must name the missing encoder and the linked libavcodec, or the failing step.
    #[test]
    fn probes_name_the_missing_encoder_or_failing_step() {
        for kind in KINDS {
            let p = probe(kind);
            println!("{kind}: available {}, reason: {}", p.available, p.reason);
            let s = spec(kind);
            if encoder::find_by_name(s.codec).is_none() {
                assert!(!p.available);
                assert_eq!(p.reason, missing_codec(&s));
                assert!(p.reason.contains(&libavcodec_version()) && p.reason.contains(s.codec));
            } else if !p.available {
                // The device did not open, a library it needs is missing, or the session failed.
                assert!(
                    p.reason.contains("could not") || p.reason.contains("lacks"),
                    "{}",
                    p.reason
                );
            }
        }
    }

    /// Every option `configure` passes, for every rate control each encoder is mapped to, is
    /// one that encoder has and whose value it accepts (`av1_vaapi` has no `qp`: FFmpeg would
    /// have dropped it, and `open` now fails instead). Needs only the encoder in the linked
    /// FFmpeg, not the hardware.
    #[test]
    fn every_option_we_pass_is_one_the_encoder_takes() {
        for kind in KINDS {
            let s = spec(kind);
            let Some(found) = encoder::find_by_name(s.codec) else {
                println!(
                    "{}: not in the linked FFmpeg ({}), options not checked",
                    s.codec,
                    libavcodec_version()
                );
                continue;
            };
            for &rate_control in s.rate_controls {
                let mut enc = codec::context::Context::new_with_codec(found)
                    .encoder()
                    .video()
                    .unwrap();
                let video = VideoConfig {
                    rate_control,
                    speed_preset: crate::config::SpeedPreset::Fixed(0),
                    ..VideoConfig::default()
                };
                let opts = configure(&s, &mut enc, &video);
                for (key, value) in opts.iter() {
                    let (k, v) = (CString::new(key).unwrap(), CString::new(value).unwrap());
                    // SAFETY: the context is allocated with the codec's private options; the
                    // strings live across the call.
                    let rc = unsafe {
                        ffi::av_opt_set(
                            enc.as_mut_ptr().cast(),
                            k.as_ptr(),
                            v.as_ptr(),
                            ffi::AV_OPT_SEARCH_CHILDREN,
                        )
                    };
                    assert_eq!(
                        rc,
                        0,
                        "{} ({}): option {key}={value} refused",
                        s.codec,
                        rate_control.name()
                    );
                }
                if kind == BackendKind::FfmpegVaapi && rate_control == RateControl::Cqp {
                    // SAFETY: reading a plain field of the context we own.
                    let global_quality = unsafe { (*enc.as_ptr()).global_quality };
                    assert_eq!(global_quality, qindex_255(quality_to_qindex(video.quality)) as i32);
                }
            }
        }
    }

    #[test]
    fn speed_and_quantizer_scales() {
        assert_eq!([0, 1, 2, 10, 12, 13].map(speed_1_to_7), [1, 1, 2, 6, 7, 7]);
        assert_eq!([0, 32, 63, 64].map(qindex_255), [0, 128, 252, 255]);
    }

    #[test]
    fn nv12_interleaves_the_i420_planes() {
        let mut i420 = I420Buffer::new(4, 2);
        i420.y.copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        i420.u.copy_from_slice(&[10, 11]);
        i420.v.copy_from_slice(&[20, 21]);
        // Strides wider than the picture, as FFmpeg's frames have.
        let (mut y, mut uv) = (vec![0; 2 * 6], vec![0; 6]);
        i420_to_nv12(&i420, &mut y, 6, &mut uv, 6);
        assert_eq!(y, [1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0]);
        assert_eq!(uv, [10, 20, 11, 21, 0, 0]);
    }
}
