//! NVIDIA NVENC AV1 through the `shiguredo_nvcodec` crate, which bundles the Video Codec SDK
//! headers and dlopens `libcuda.so.1`, `libnvcuvid.so.1` and `libnvidia-encode.so.1` at run
//! time, so the build needs no CUDA toolkit and a machine without NVIDIA simply probes as
//! unavailable.
//!
//! Frames go to NVENC as RGBA: Godot's RGBA8 bytes (R, G, B, A in memory) are exactly NVENC's
//! word-ordered `ABGR` format, so the CPU only copies (and pads) them and NVENC converts colour.
//!
//! What the crate (2026.2) cannot do, and so this backend does not:
//! - constant quality (NVENC's CQ) and the QP value of constant-QP mode: its `EncoderConfig`
//!   has neither field. Only `vbr` and `cbr` are honoured, and the probe says so; `auto` skips
//!   NVENC for `crf`/`cqp` recordings (FFmpeg's `av1_nvenc`, when present, does them).
//! - a peak bitrate at start: VBR's `maxBitRate` is set equal to the average; a cap is applied
//!   with `reconfigure` right after opening.
//! - the AV1 colour description and the matrix NVENC uses for RGB input (`NV_ENC_CONFIG_AV1`'s
//!   colorPrimaries / transferCharacteristics / matrixCoefficients / colorRange): they stay at
//!   the driver preset's defaults, while the container declares BT.709 limited range.
//! - tiles and film grain (`numTileColumns`, `filmGrainParams`): the driver picks tiles, and
//!   film grain is not synthesised.
//! - B-frames and lookahead: its encode call treats `NV_ENC_ERR_NEED_MORE_INPUT` as an error,
//!   so the encoder is configured with P-frames only (`frame_interval_p = 1`).
//! - enumerating codec GUIDs (`nvEncGetEncodeGUIDs`): AV1 support is inferred from whether the
//!   AV1 caps query succeeds.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use shiguredo_nvcodec::{
    self as nv, Av1EncoderConfig, Av1Profile, BufferFormat, CodecConfig, EncodeOptions, EncodedFrame, Encoder,
    EncoderCaps, EncoderCodec, EncoderConfig, FnEncodeHandler, PictureType, Preset, RateControlMode, ReconfigureParams,
    TuningInfo,
};

use super::{coded_size, BackendKind, Probe, Received, VideoEncoder};
use crate::config::{RateControl, RecordingConfig};
use crate::error::{Error, Result};
use crate::frame::{PixelFormat, RgbImage, VideoFrame};

/// The crate's worker refuses a frame ("encoder buffer is full") once `frame_interval_p + 3`
/// = 4 frames are between submission and output. A frame's result reaches us only after the
/// worker has freed its buffer, so keeping fewer than 4 frames unanswered on our side can never
/// trip that limit.
const MAX_IN_FLIGHT: u64 = 3;

type NvResult = std::result::Result<EncodedFrame<u64>, nv::Error>;

/// The first CUDA device whose NVENC opens a session and answers the AV1 caps query.
struct Device {
    id: i32,
    name: String,
    caps: EncoderCaps,
}

fn find_device() -> std::result::Result<Device, String> {
    if !nv::is_cuda_library_available() {
        return Err("no NVIDIA driver (libcuda.so.1 could not be loaded)".into());
    }
    let count = nv::device_count().map_err(|e| format!("the NVIDIA driver could not be initialised: {e}"))?;
    if count <= 0 {
        return Err("the NVIDIA driver reports no CUDA device".into());
    }
    let mut reasons = Vec::new();
    for id in 0..count {
        let name = nv::device_name(id).unwrap_or_else(|e| format!("CUDA device {id} (name unknown: {e})"));
        // Opens a CUDA context and an NVENC session on the device, then asks for AV1's caps.
        match nv::query_encoder_caps(EncoderCodec::Av1, id) {
            Ok(caps) => return Ok(Device { id, name, caps }),
            Err(e) => reasons.push(format!("{name}: {}", explain(&e))),
        }
    }
    Err(reasons.join("; "))
}

/// The crate's error text names the failing call and NVENC's status; this adds what it means.
fn explain(e: &nv::Error) -> String {
    let text = e.to_string();
    let hint = if text.contains("NV_ENC_ERR_UNSUPPORTED_DEVICE") {
        " (NVENC does not support this GPU; data-centre GPUs such as the A100 and H100 have no NVENC)"
    } else if text.contains("nvEncGetEncodeCaps") {
        " (an NVENC session opened but AV1 is not among its codecs; AV1 encoding needs an Ada Lovelace (RTX 40) or newer GPU)"
    } else {
        ""
    };
    format!("{text}{hint}")
}

fn rate_controls(caps: &EncoderCaps) -> Vec<RateControl> {
    // A bitmask of NV_ENC_PARAMS_RC_MODE values: VBR = 0x1, CBR = 0x2 (constant QP is 0 and so
    // has no bit, and the crate cannot set its QP anyway).
    let mask = caps.supported_ratecontrol_modes;
    let mut out = Vec::new();
    if mask & 0x1 != 0 {
        out.push(RateControl::Vbr);
    }
    if mask & 0x2 != 0 {
        out.push(RateControl::Cbr);
    }
    out
}

pub fn probe() -> Probe {
    let sdk = format!("Video Codec SDK {} headers via shiguredo_nvcodec", nv::BUILD_VERSION);
    match find_device() {
        Ok(d) => Probe {
            kind: BackendKind::Nvenc,
            available: true,
            reason: String::new(),
            version: format!("{sdk}; GPU {} ({})", d.id, d.name),
            max_width: d.caps.width_max.max(0) as u32,
            max_height: d.caps.height_max.max(0) as u32,
            rate_controls: rate_controls(&d.caps),
            ten_bit: d.caps.support_10bit_encode,
        },
        Err(reason) => Probe {
            kind: BackendKind::Nvenc,
            available: false,
            reason,
            version: sdk,
            max_width: 0,
            max_height: 0,
            rate_controls: Vec::new(),
            ten_bit: false,
        },
    }
}

fn nv_err(e: nv::Error) -> Error {
    Error::Encoder {
        backend: BackendKind::Nvenc,
        message: e.to_string(),
    }
}

/// SVT-AV1's 0 (slowest) – 13 (fastest) onto NVENC's P7 (slowest) – P1 (fastest), two steps each.
fn preset(svt: u8) -> Preset {
    match svt {
        0..=1 => Preset::P7,
        2..=3 => Preset::P6,
        4..=5 => Preset::P5,
        6..=7 => Preset::P4,
        8..=9 => Preset::P3,
        10..=11 => Preset::P2,
        _ => Preset::P1,
    }
}

pub struct NvencEncoder {
    encoder: Encoder<FnEncodeHandler<u64>>,
    results: Receiver<NvResult>,
    /// Results taken off the channel early, to keep the in-flight count below the crate's limit.
    ready: VecDeque<NvResult>,
    coded: (u32, u32),
    sequence_header: Option<Vec<u8>>,
    /// The frame at coded size in NVENC's ABGR layout (RGBA bytes), reused every frame.
    input: Vec<u8>,
    sent: u64,
    answered: u64,
    flushed: bool,
}

impl NvencEncoder {
    pub fn new(config: &RecordingConfig) -> Result<Self> {
        let v = &config.video;
        let unavailable = |reason: String| Error::Unavailable {
            backend: BackendKind::Nvenc,
            reason,
        };
        let device = find_device().map_err(unavailable)?;
        let (rate_control_mode, bitrate) = match v.rate_control {
            RateControl::Vbr => (RateControlMode::Vbr, v.bitrate_kbps),
            RateControl::Cbr => (RateControlMode::Cbr, v.bitrate_kbps),
            RateControl::Crf | RateControl::Cqp => {
                return Err(unavailable(format!(
                    "rate control {} needs a quality or QP setting that shiguredo_nvcodec cannot pass to NVENC; use vbr or cbr",
                    v.rate_control.name()
                )))
            }
        };
        let min = device.caps.width_min.max(device.caps.height_min).max(2) as u32;
        let coded = coded_size(v.width, v.height, min);
        let keyint = ((v.keyframe_interval_s * v.fps as f32).round() as u32).max(1);
        let nv_config = EncoderConfig {
            codec: CodecConfig::Av1(Av1EncoderConfig {
                profile: Some(Av1Profile::Main),
                idr_period: Some(keyint),
            }),
            width: coded.0,
            height: coded.1,
            max_encode_width: None,
            max_encode_height: None,
            framerate_num: v.fps,
            framerate_den: 1,
            average_bitrate: Some(bitrate * 1000),
            preset: preset(v.preset),
            // A recording is watched later: quality matters, latency does not.
            tuning_info: TuningInfo::HIGH_QUALITY,
            rate_control_mode,
            gop_length: Some(keyint),
            frame_interval_p: 1,
            buffer_format: BufferFormat::Abgr,
            device_id: device.id,
        };
        let (tx, results) = mpsc::channel();
        let handler = FnEncodeHandler::new(move |r: NvResult| {
            // The receiver is gone only once this encoder is being dropped: nothing to report to.
            let _ = tx.send(r);
        });
        let encoder = Encoder::new(nv_config, handler).map_err(nv_err)?;
        if v.rate_control == RateControl::Vbr && v.max_bitrate_kbps > 0 {
            encoder
                .reconfigure(ReconfigureParams {
                    max_bitrate: Some(v.max_bitrate_kbps * 1000),
                    ..ReconfigureParams::default()
                })
                .map_err(nv_err)?;
        }
        let sequence_header = encoder
            .get_sequence_params()
            .ok()
            .and_then(|p| crate::av1::find_sequence_header(&p).map(<[u8]>::to_vec));
        Ok(Self {
            encoder,
            results,
            ready: VecDeque::new(),
            coded,
            sequence_header,
            input: vec![0; coded.0 as usize * coded.1 as usize * 4],
            sent: 0,
            answered: 0,
            flushed: false,
        })
    }
}

/// Copies `image` into `input` (RGBA at `coded` size), repeating the last column and row into
/// the padding as the YUV converter does, so the padding stays cheap to encode.
fn fill_padded(input: &mut [u8], coded: (u32, u32), image: &RgbImage<'_>) {
    let (cw, ch) = (coded.0 as usize, coded.1 as usize);
    let (w, h) = (image.width as usize, image.height as usize);
    let row_bytes = cw * 4;
    for (y, dst) in input.chunks_exact_mut(row_bytes).enumerate().take(h) {
        let src = image.row(y as u32);
        match image.format {
            PixelFormat::Rgba8 => dst[..w * 4].copy_from_slice(src),
            PixelFormat::Rgb8 => {
                for (d, s) in dst[..w * 4].chunks_exact_mut(4).zip(src.chunks_exact(3)) {
                    d.copy_from_slice(&[s[0], s[1], s[2], 255]);
                }
            }
        }
        let last: [u8; 4] = dst[(w - 1) * 4..w * 4].try_into().expect("4 bytes");
        for px in dst[w * 4..].chunks_exact_mut(4) {
            px.copy_from_slice(&last);
        }
    }
    let (filled, padding) = input.split_at_mut(h * row_bytes);
    let last_row = &filled[(h - 1) * row_bytes..];
    for row in padding.chunks_exact_mut(row_bytes).take(ch - h) {
        row.copy_from_slice(last_row);
    }
}

impl VideoEncoder for NvencEncoder {
    fn kind(&self) -> BackendKind {
        BackendKind::Nvenc
    }

    fn coded_size(&self) -> (u32, u32) {
        self.coded
    }

    fn sequence_header(&self) -> Option<&[u8]> {
        self.sequence_header.as_deref()
    }

    fn prefers_rgb(&self) -> bool {
        true
    }

    fn send_frame(&mut self, frame: &VideoFrame<'_>, index: u64) -> Result<()> {
        // The session takes ABGR and converts colour on the GPU; callers ask `prefers_rgb`.
        let VideoFrame::Rgb(image) = frame else {
            return Err(Error::Frame(
                "the NVENC backend takes RGBA frames (it converts colour on the GPU), not I420".into(),
            ));
        };
        while self.sent - self.answered >= MAX_IN_FLIGHT {
            let r = self.results.recv().map_err(|_| Error::Encoder {
                backend: BackendKind::Nvenc,
                message: "the NVENC worker thread stopped".into(),
            })?;
            self.answered += 1;
            self.ready.push_back(r);
        }
        fill_padded(&mut self.input, self.coded, image);
        let options = EncodeOptions {
            force_intra: false,
            force_idr: false,
            output_spspps: false,
        };
        self.encoder.encode(&self.input, &options, index).map_err(nv_err)?;
        self.sent += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        // P-frames only and no lookahead: every submitted frame comes out without an EOS; the
        // crate's flush returns once each one's result has been handed to us.
        self.encoder.flush().map_err(nv_err)?;
        self.flushed = true;
        Ok(())
    }

    fn receive_packet(&mut self, out: &mut Vec<u8>) -> Result<Received> {
        let next = match self.ready.pop_front() {
            Some(r) => r,
            None => match self.results.try_recv() {
                Ok(r) => {
                    self.answered += 1;
                    r
                }
                Err(TryRecvError::Empty) if !self.flushed => return Ok(Received::NeedMoreInput),
                Err(TryRecvError::Empty) if self.answered == self.sent => return Ok(Received::Done),
                Err(_) => {
                    return Err(Error::Encoder {
                        backend: BackendKind::Nvenc,
                        message: format!("NVENC returned {} of {} frames", self.answered, self.sent),
                    })
                }
            },
        };
        let frame = next.map_err(nv_err)?;
        out.clear();
        out.extend_from_slice(frame.data());
        Ok(Received::Packet {
            pts: *frame.user_data(),
            // As FFmpeg's nvenc does: NVENC marks AV1 key frames as IDR.
            keyframe: frame.picture_type() == PictureType::Idr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_span_p7_to_p1() {
        assert_eq!(preset(0), Preset::P7);
        assert_eq!(preset(7), Preset::P4);
        assert_eq!(preset(10), Preset::P2);
        assert_eq!(preset(13), Preset::P1);
    }

    /// No machine that runs the tests has an NVENC with AV1; the probe must say why precisely.
    #[test]
    fn probe_without_nvenc_av1_gives_the_reason() {
        let p = probe();
        if p.available {
            println!("NVENC AV1 available: {}", p.version);
            return;
        }
        println!("NVENC: {}", p.reason);
        assert!(p.rate_controls.is_empty() && p.max_width == 0);
        if !nv::is_cuda_library_available() {
            assert_eq!(p.reason, "no NVIDIA driver (libcuda.so.1 could not be loaded)");
        }
    }

    #[test]
    fn rgba_and_rgb_fill_the_padded_abgr_buffer() {
        let rgba: Vec<u8> = (0..3 * 3)
            .flat_map(|i| [i as u8, 10 + i as u8, 20 + i as u8, 255])
            .collect();
        let rgb: Vec<u8> = rgba.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        let fill = |image: RgbImage<'_>| {
            let mut input = vec![0; 4 * 4 * 4];
            fill_padded(&mut input, (4, 4), &image);
            input
        };
        let a = fill(RgbImage::packed(3, 3, PixelFormat::Rgba8, &rgba).unwrap());
        let b = fill(RgbImage::packed(3, 3, PixelFormat::Rgb8, &rgb).unwrap());
        assert_eq!(a, b);
        assert_eq!(&a[..12], &rgba[..12], "first row copied as is");
        assert_eq!(&a[12..16], &rgba[8..12], "padded column repeats the last pixel");
        assert_eq!(&a[48..64], &a[32..48], "padded row repeats the last row");
    }
}
