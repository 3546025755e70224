//! NVIDIA NVENC AV1 through the `shiguredo_nvcodec` crate, which bundles the Video Codec SDK
//! headers and dlopens `libcuda.so.1`, `libnvcuvid.so.1` and `libnvidia-encode.so.1` at run
//! time, so the build needs no CUDA toolkit and a machine without NVIDIA simply probes as
//! unavailable.
//!
//! Frames go to NVENC as planar I420 (`IYUV`), converted by the core's colour code
//! (`crate::color`, BT.709 limited range), like every other backend's: NVENC's own RGB→YUV
//! matrix and range are undocumented and cannot be set through the crate, and the container
//! declares BT.709 limited range.
//!
//! What the crate (2026.2) cannot do, and so this backend does not:
//! - constant quality (NVENC's CQ) and the QP value of constant-QP mode: its `EncoderConfig`
//!   has neither field. Only `vbr` and `cbr` are honoured, and the probe says so; `auto` skips
//!   NVENC for `crf`/`cqp` recordings (FFmpeg's `av1_nvenc`, when present, does them).
//! - a peak bitrate at start: VBR's `maxBitRate` is set equal to the average; a cap is applied
//!   with `reconfigure` right after opening.
//! - the AV1 colour description (`NV_ENC_CONFIG_AV1`'s colorPrimaries / transferCharacteristics
//!   / matrixCoefficients / colorRange): the driver preset's defaults may be unspecified, or RGB
//!   (in SDK 13 a zero matrix means RGB). So the sequence header NVENC hands over is rewritten
//!   to say BT.709 limited range, which the samples are (`av1::with_bt709_limited`), and the
//!   in-band copies are dropped from the packets: the worker puts the rewritten one in front of
//!   every keyframe. The bitstream judge (`movie_writer_av1_tools::judge`, run by `hwcheck`) checks the result.
//! - the input pitch: the crate registers its input buffers with a pitch of the frame's width,
//!   where NVIDIA's samples align it. The coded width is rounded up to [`PITCH_ALIGN`] instead
//!   (the container crops the extra columns), so every plane's pitch is aligned.
//! - tiles and film grain (`numTileColumns`, `filmGrainParams`): the driver picks tiles, and
//!   film grain is not synthesised.
//! - B-frames and look-ahead: its encode call treats `NV_ENC_ERR_NEED_MORE_INPUT` as a failed
//!   frame (and unmaps an input NVENC still holds), so nothing may make NVENC hold frames back:
//!   P-frames only (`frame_interval_p = 1`), and never the presets whose configuration turns
//!   look-ahead on (P6 and P7 with high-quality tuning; see [`session_preset`]).
//! - enumerating codec GUIDs (`nvEncGetEncodeGUIDs`): AV1 support is inferred from whether the
//!   AV1 caps query succeeds.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use shiguredo_nvcodec::{
    self as nv, Av1EncoderConfig, Av1Profile, BufferFormat, CodecConfig, EncodeOptions, EncodedFrame, Encoder,
    EncoderCaps, EncoderCodec, EncoderConfig, FnEncodeHandler, PictureType, Preset, RateControlMode, ReconfigureParams,
    TuningInfo,
};

use super::encoder::{coded_size, Received, VideoEncoder};
use crate::color::fill_i420;
use crate::config::{RateControl, RecordingConfig};
use crate::error::{Error, Result};
use crate::frame::{I420Planes, VideoFrame};
use crate::kinds::{BackendKind, Probe};

/// The crate's worker refuses a frame ("encoder buffer is full") once `frame_interval_p + 3`
/// = 4 frames are between submission and output. A frame's result reaches us only after the
/// worker has freed its buffer, so keeping fewer than 4 frames unanswered on our side can never
/// trip that limit.
const MAX_IN_FLIGHT: u64 = 3;

/// Luma pitch alignment, in bytes (chroma: half). An odd width such as 1282 would otherwise
/// give a chroma pitch of 641.
const PITCH_ALIGN: u32 = 16;

/// The coded size NVENC gets: even, at least `min`, and a width whose pitch is aligned.
fn nvenc_coded_size(width: u32, height: u32, min: u32) -> (u32, u32) {
    let (w, h) = coded_size(width, height, min);
    (w.next_multiple_of(PITCH_ALIGN), h)
}

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
    format!("{text}{}", hint(&text))
}

/// What a user can do about the NVENC failure `text` names, where we know.
fn hint(text: &str) -> &'static str {
    if text.contains("NV_ENC_ERR_UNSUPPORTED_DEVICE") {
        " (NVENC does not support this GPU; data-centre GPUs such as the A100 and H100 have no NVENC)"
    } else if text.contains("NV_ENC_ERR_INVALID_VERSION") {
        // The crate is built on the Video Codec SDK 13.0 headers, whose API version a driver
        // older than 570 refuses; FFmpeg's av1_nvenc asks for the version the driver has.
        " (the NVIDIA driver is too old for the Video Codec SDK 13.0 this backend uses: driver 570 or newer is needed; update it, or use the ffmpeg_nvenc backend, which works with older drivers)"
    } else if text.contains("NV_ENC_ERR_OUT_OF_MEMORY") {
        // NVENC reports a full session table as out of memory when a session opens.
        " (the GPU has no room for another encoder: GeForce cards allow only a few NVENC sessions at once; close OBS, other recordings, browsers' video calls or games streaming, then retry)"
    } else if text.contains("nvEncGetEncodeCaps") {
        " (an NVENC session opened but AV1 is not among its codecs; AV1 encoding needs an Ada Lovelace (RTX 40) or newer GPU)"
    } else {
        ""
    }
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
            version: sdk,
            ..Probe::unavailable(BackendKind::Nvenc, reason)
        },
    }
}

fn nv_err(e: nv::Error) -> Error {
    Error::Encoder {
        backend: BackendKind::Nvenc,
        message: explain(&e),
    }
}

/// SVT-AV1's 0 (slowest) – 13 (fastest) onto NVENC's presets, with high-quality tuning (a
/// recording is watched later: quality matters, latency does not). NVIDIA's preset
/// configuration turns look-ahead on for P6 and P7 under that tuning, and the crate cannot
/// drive look-ahead (see the module documentation), so the slow end stops at P5; above it, two
/// steps of ours per NVENC preset, down to P1.
fn session_preset(svt: u8) -> (Preset, TuningInfo) {
    let preset = match svt {
        0..=5 => Preset::P5,
        6..=7 => Preset::P4,
        8..=9 => Preset::P3,
        10..=11 => Preset::P2,
        _ => Preset::P1,
    };
    (preset, TuningInfo::HIGH_QUALITY)
}

/// The backend table's opener for this row.
pub fn open(config: &RecordingConfig) -> Result<Box<dyn VideoEncoder>> {
    Ok(Box::new(NvencEncoder::new(config)?))
}

pub struct NvencEncoder {
    encoder: Encoder<FnEncodeHandler<u64>>,
    in_flight: InFlight<NvResult>,
    coded: (u32, u32),
    sequence_header: Option<Vec<u8>>,
    /// The frame at coded size as contiguous I420 (see [`fill_input`]), reused every frame.
    input: Vec<u8>,
}

/// The frames between `encode` and their answer, which the crate's worker thread sends on a
/// channel: at most [`MAX_IN_FLIGHT`] unanswered, answers handed out in order, and the end of a
/// flush known by count. Apart from the crate's calls, so that a fake can drive it.
struct InFlight<R> {
    results: Receiver<R>,
    /// Answers taken off the channel early, to make room for a frame.
    ready: VecDeque<R>,
    sent: u64,
    answered: u64,
    flushed: bool,
}

/// What [`InFlight::next`] found.
#[derive(Debug, PartialEq)]
enum Next<R> {
    Answer(R),
    /// Nothing answered yet, and more frames may come.
    NeedMoreInput,
    /// Flushed, and every frame sent has been answered and handed out.
    Done,
}

impl<R> InFlight<R> {
    fn new(results: Receiver<R>) -> Self {
        Self {
            results,
            ready: VecDeque::new(),
            sent: 0,
            answered: 0,
            flushed: false,
        }
    }

    /// Waits, if it must, until one more frame may be sent.
    fn make_room(&mut self) -> Result<()> {
        while self.sent - self.answered >= MAX_IN_FLIGHT {
            let r = self.results.recv().map_err(|_| Error::Encoder {
                backend: BackendKind::Nvenc,
                message: "the NVENC worker thread stopped".into(),
            })?;
            self.answered += 1;
            self.ready.push_back(r);
        }
        Ok(())
    }

    fn sent_one(&mut self) {
        self.sent += 1;
    }

    fn flushed(&mut self) {
        self.flushed = true;
    }

    /// The next answer in order, without waiting. After the flush (the crate returns from it once
    /// every answer is on the channel) an answer still missing is an error.
    fn next(&mut self) -> Result<Next<R>> {
        if let Some(r) = self.ready.pop_front() {
            return Ok(Next::Answer(r));
        }
        match self.results.try_recv() {
            Ok(r) => {
                self.answered += 1;
                Ok(Next::Answer(r))
            }
            Err(TryRecvError::Empty) if !self.flushed => Ok(Next::NeedMoreInput),
            Err(_) if self.flushed && self.answered == self.sent => Ok(Next::Done),
            Err(_) => Err(Error::Encoder {
                backend: BackendKind::Nvenc,
                message: format!("NVENC returned {} of {} frames", self.answered, self.sent),
            }),
        }
    }
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
        let coded = nvenc_coded_size(v.width, v.height, min);
        let keyint = ((v.keyframe_interval_s * v.fps as f32).round() as u32).max(1);
        let (preset, tuning_info) = session_preset(v.hardware_preset());
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
            preset,
            tuning_info,
            rate_control_mode,
            gop_length: Some(keyint),
            frame_interval_p: 1,
            buffer_format: BufferFormat::Iyuv,
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
        // BT.709 limited range, whatever the preset said (see the module's notes); a header the
        // rewrite cannot take is kept as it is, for the judge to report.
        let sequence_header = encoder
            .get_sequence_params()
            .ok()
            .and_then(|p| crate::av1::normalize_sequence_header(&p))
            .map(|h| crate::av1::with_bt709_limited(&h).unwrap_or(h));
        Ok(Self {
            encoder,
            in_flight: InFlight::new(results),
            coded,
            sequence_header,
            input: vec![0; input_len(coded)],
        })
    }
}

/// Bytes of one IYUV frame at `coded` (even) size: the crate registers the buffer with a
/// pitch of the width, so the planes follow each other without gaps, chroma at half pitch.
fn input_len(coded: (u32, u32)) -> usize {
    let (w, h) = (coded.0 as usize, coded.1 as usize);
    w * h + 2 * (w / 2) * (h / 2)
}

/// Converts (or copies) `frame` into `input`, IYUV at `coded` size: the core's BT.709
/// limited-range conversion, padded by edge replication, exactly what the software backends
/// encode.
fn fill_input(input: &mut [u8], coded: (u32, u32), frame: &VideoFrame<'_>) {
    let (w, h) = (coded.0 as usize, coded.1 as usize);
    let (y, chroma) = input.split_at_mut(w * h);
    let (u, v) = chroma.split_at_mut((w / 2) * (h / 2));
    fill_i420(
        frame,
        &mut I420Planes {
            width: coded.0,
            height: coded.1,
            y,
            y_stride: w,
            u,
            u_stride: w / 2,
            v,
            v_stride: w / 2,
        },
    );
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

    fn send_frame(&mut self, frame: &VideoFrame<'_>, index: u64) -> Result<()> {
        self.in_flight.make_room()?;
        fill_input(&mut self.input, self.coded, frame);
        let options = EncodeOptions {
            force_intra: false,
            force_idr: false,
            output_spspps: false,
        };
        self.encoder.encode(&self.input, &options, index).map_err(nv_err)?;
        self.in_flight.sent_one();
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        // P-frames only and no lookahead: every submitted frame comes out without an EOS; the
        // crate's flush returns once each one's result has been handed to us.
        self.encoder.flush().map_err(nv_err)?;
        self.in_flight.flushed();
        Ok(())
    }

    fn receive_packet(&mut self, out: &mut Vec<u8>) -> Result<Received> {
        let frame = match self.in_flight.next()? {
            Next::Answer(r) => r.map_err(nv_err)?,
            Next::NeedMoreInput => return Ok(Received::NeedMoreInput),
            Next::Done => return Ok(Received::Done),
        };
        // NVENC's own sequence headers carry the preset's colours: the worker puts the
        // rewritten one in front of each keyframe instead (when there is one to put).
        if self.sequence_header.is_some() {
            crate::av1::strip_sequence_headers(frame.data(), out);
        } else {
            out.clear();
            out.extend_from_slice(frame.data());
        }
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

    /// The bookkeeping driven by a fake worker: answers that come late (NVENC's EAGAIN, here
    /// "need more input") mixed with answers, the in-flight cap with an answer taken early and
    /// handed out first, and a flush that ends exactly when every frame is answered.
    #[test]
    fn in_flight_frames_are_answered_in_order_and_the_flush_ends_on_the_count() {
        let (tx, rx) = mpsc::channel::<u64>();
        let mut f = InFlight::new(rx);
        f.make_room().unwrap();
        f.sent_one();
        assert_eq!(f.next().unwrap(), Next::NeedMoreInput);
        tx.send(0).unwrap();
        assert_eq!(f.next().unwrap(), Next::Answer(0));
        for _ in 1..=MAX_IN_FLIGHT {
            f.make_room().unwrap();
            f.sent_one();
        }
        // Full: the next make_room waits for the worker's answer to frame 1.
        let late = tx.clone();
        let worker = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            late.send(1).unwrap();
        });
        f.make_room().unwrap();
        worker.join().unwrap();
        f.sent_one();
        tx.send(2).unwrap();
        assert_eq!(f.next().unwrap(), Next::Answer(1), "the answer taken early comes first");
        assert_eq!(f.next().unwrap(), Next::Answer(2));
        assert_eq!(f.next().unwrap(), Next::NeedMoreInput);
        tx.send(3).unwrap();
        tx.send(4).unwrap();
        f.flushed();
        assert_eq!(f.next().unwrap(), Next::Answer(3));
        assert_eq!(f.next().unwrap(), Next::Answer(4));
        assert_eq!(f.next().unwrap(), Next::Done);
    }

    #[test]
    fn a_flush_missing_an_answer_or_a_stopped_worker_is_an_error() {
        let (tx, rx) = mpsc::channel::<u64>();
        let mut f = InFlight::new(rx);
        for _ in 0..2 {
            f.make_room().unwrap();
            f.sent_one();
        }
        tx.send(0).unwrap();
        f.flushed();
        assert_eq!(f.next().unwrap(), Next::Answer(0));
        let e = f.next().unwrap_err().to_string();
        assert!(e.contains("NVENC returned 1 of 2 frames"), "{e}");
        let (tx, rx) = mpsc::channel::<u64>();
        let mut f = InFlight::new(rx);
        for _ in 0..MAX_IN_FLIGHT {
            f.sent_one();
        }
        drop(tx);
        let e = f.make_room().unwrap_err().to_string();
        assert!(e.contains("the NVENC worker thread stopped"), "{e}");
    }

    #[test]
    fn the_coded_width_gives_aligned_pitches() {
        assert_eq!(nvenc_coded_size(1282, 721, 2), (1296, 722));
        assert_eq!(nvenc_coded_size(1920, 1080, 2), (1920, 1080));
        assert_eq!(nvenc_coded_size(8, 8, 128), (128, 128));
    }

    /// Look-ahead makes NVENC answer NV_ENC_ERR_NEED_MORE_INPUT, which the crate takes for a
    /// failed frame: no speed preset may pick a configuration that turns it on (P6 and P7
    /// under high-quality tuning), and the presets still run from slow to fast.
    #[test]
    fn no_preset_turns_on_look_ahead() {
        let order = [Preset::P5, Preset::P4, Preset::P3, Preset::P2, Preset::P1];
        let mut last = 0;
        for svt in 0..=13 {
            let (preset, tuning) = session_preset(svt);
            assert!(
                !(tuning == TuningInfo::HIGH_QUALITY && matches!(preset, Preset::P6 | Preset::P7)),
                "preset {svt} maps to {preset:?} with {tuning:?}: look-ahead"
            );
            let rank = order.iter().position(|p| *p == preset).expect("P5 to P1");
            assert!(rank >= last, "preset {svt} is slower than preset {}", svt - 1);
            last = rank;
        }
        assert_eq!(session_preset(0).0, Preset::P5);
        assert_eq!(session_preset(10).0, Preset::P2);
        assert_eq!(session_preset(13).0, Preset::P1);
    }

    /// Without an NVENC that does AV1 the probe must say why precisely (a machine with one skips,
    /// counted).
    /// The failures a user meets first (an old driver, a full session table) say what to do;
    /// `auto` moves on to the next backend after any failure to open (`open_hardware`).
    #[test]
    fn old_drivers_and_full_session_tables_get_their_hints() {
        let old = hint(
            "nvEncOpenEncodeSessionEx() failed[status=15]: An invalid struct version was used by the client (NV_ENC_ERR_INVALID_VERSION)",
        );
        assert!(
            old.contains("driver 570 or newer") && old.contains("ffmpeg_nvenc"),
            "{old}"
        );
        let full = hint(
            "nvEncOpenEncodeSessionEx() failed[status=10]: The API call failed because it was unable to allocate enough memory to perform the requested operation (NV_ENC_ERR_OUT_OF_MEMORY)",
        );
        assert!(
            full.contains("only a few NVENC sessions") && full.contains("close OBS"),
            "{full}"
        );
        assert_eq!(hint("nvEncEncodePicture() failed[status=20]: NV_ENC_ERR_GENERIC"), "");
    }

    #[test]
    fn probe_without_nvenc_av1_gives_the_reason() {
        let p = probe();
        if p.available {
            // The opposite case, a missing encoder, is what this test needs.
            let reason = format!("this machine has NVENC with AV1 ({})", p.version);
            crate::skip::skip(
                &crate::skip::current_test(),
                crate::skip::Need::Tool("no-nvenc-av1"),
                &reason,
            );
            return;
        }
        println!("NVENC: {}", p.reason);
        assert!(p.rate_controls.is_empty() && p.max_width == 0);
        if !nv::is_cuda_library_available() {
            assert_eq!(p.reason, "no NVIDIA driver (libcuda.so.1 could not be loaded)");
        }
    }

    /// What NVENC gets is the core's I420 conversion, padded, planes back to back: an RGB
    /// frame and the same picture already in I420 (the GPU path) give the same bytes.
    #[test]
    fn nvenc_gets_the_cores_i420_conversion() {
        use crate::color::{rgb_to_i420, I420Buffer};
        use crate::frame::{I420Image, PixelFormat, RgbImage};
        let (w, h) = (5u32, 3u32);
        let coded = (6, 4);
        let rgba: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i * 37) as u8, (i * 11) as u8, 200 - i as u8, 255])
            .collect();
        let image = RgbImage::packed(w, h, PixelFormat::Rgba8, &rgba).unwrap();
        let mut reference = I420Buffer::new(coded.0, coded.1);
        rgb_to_i420(&image, &mut reference.planes(), false);
        let mut input = vec![0; input_len(coded)];
        fill_input(&mut input, coded, &VideoFrame::Rgb(image));
        let expected: Vec<u8> = [&reference.y[..], &reference.u, &reference.v].concat();
        assert_eq!(input, expected);
        assert_eq!(input.len(), 6 * 4 * 3 / 2);
        // Red (255, 0, 0) lands on BT.709 limited range's (63, 102, 240), not on a full-range
        // or BT.601 value.
        let red: Vec<u8> = (0..4).flat_map(|_| [255, 0, 0, 255]).collect();
        fill_input(
            &mut input,
            (2, 2),
            &VideoFrame::Rgb(RgbImage::packed(2, 2, PixelFormat::Rgba8, &red).unwrap()),
        );
        assert_eq!(input[..6], [63, 63, 63, 63, 102, 240]);
        // I420 from the GPU converter is copied as is.
        let mut small = I420Buffer::new(w, h);
        rgb_to_i420(&image, &mut small.planes(), false);
        let data: Vec<u8> = [&small.y[..], &small.u, &small.v].concat();
        let yuv = I420Image::contiguous(w, h, w as usize, w.div_ceil(2) as usize, &data).unwrap();
        let mut from_yuv = vec![0; input_len(coded)];
        fill_input(&mut from_yuv, coded, &VideoFrame::I420(yuv));
        let mut from_rgb = vec![0; input_len(coded)];
        fill_input(&mut from_rgb, coded, &VideoFrame::Rgb(image));
        assert_eq!(from_yuv, from_rgb);
    }
}
