//! Video encoder backends behind one trait, in rav1e's shape: configure and validate, then
//! `send_frame` / `receive_packet` / `flush`. "Need more input" is normal flow
//! ([`Received::NeedMoreInput`]), never an error.
//!
//! Selection: compiled in → probed at run time → user preference → software fallback, and a
//! [`Probe`] per backend that says why it is or is not usable.
//!
//! `auto` tries the hardware backends in the order of [`BackendKind::ALL`] and takes the first
//! whose probe passes, that honours the configured rate control and size, and that opens;
//! SVT-AV1 is the fallback, with a note giving each hardware backend's reason:
//!
//! 1. `nvenc`: NVENC through shiguredo_nvcodec, fed the core's I420 (NVENC's own RGB matrix is
//!    undocumented); first because the crate talks to the driver with the fewest layers.
//! 2. `ffmpeg_nvenc`: the same NVENC through FFmpeg's `av1_nvenc` (FFmpeg ≥ 6.1), with the
//!    constant-quality mode the crate lacks, so a CRF recording on NVIDIA lands here.
//! 3. `ffmpeg_qsv`, 4. `ffmpeg_amf`: the vendors' own encoders (Intel Arc / Core Ultra, AMD
//!    RDNA3+), before the generic path to the same hardware.
//! 5. `ffmpeg_vaapi`: VA-API, the generic Linux path (Mesa or Intel's media driver).
//! 6. `vulkan`: Vulkan Video (VK_KHR_video_encode_av1), vendor neutral, on a device of its own;
//!    last because it is the newest driver path. Its probe reports it available where the
//!    driver passes every check up to the AV1 encode capabilities, and the encoder is written
//!    (session, DPB, rate control, feedback query, RGB→NV12 compute shader), but it has never
//!    run on hardware that encodes AV1: only its colour conversion has run (on lavapipe). So it
//!    is experimental ([`Backend::experimental`]): `auto` and `hardware` skip it, saying why, and only asking for
//!    `vulkan` by name opens it (see `vulkan/mod.rs`).

mod encoder;
mod ffmpeg_hw;
mod ffmpeg_open;
#[cfg(target_os = "linux")]
mod nvenc;
#[cfg(not(target_os = "linux"))]
#[path = "nvenc_elsewhere.rs"]
mod nvenc;
mod software;
mod svt_geometry;
#[cfg(feature = "experimental-vulkan")]
mod vulkan;
#[cfg(not(feature = "experimental-vulkan"))]
#[path = "vulkan_absent.rs"]
mod vulkan;

pub use encoder::{coded_size, Received, VideoEncoder};
pub use software::Codec as SoftwareCodec;
#[cfg(feature = "experimental-vulkan")]
pub use vulkan::{
    self_check as vulkan_self_check, validation_env as vulkan_validation_env,
    validation_layer_available as vulkan_validation_layer_available, VALIDATION_ACTIVE as VULKAN_VALIDATION_ACTIVE,
    VALIDATION_LAYER as VULKAN_VALIDATION_LAYER,
};

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::{RecordingConfig, VideoConfig};
use crate::error::{Error, Result};
pub use crate::kinds::{BackendKind, BackendPreference, Probe};

/// One backend: everything the rest of the crate knows about it. A new backend is a module and a
/// row in [`BACKENDS`], keyed by its name in [`BackendKind`].
#[derive(Clone, Copy)]
pub struct Backend {
    pub kind: BackendKind,
    /// Stable identifier used in settings, the CLI and the capability report.
    pub id: &'static str,
    /// What logs, errors and the capability report call it.
    pub name: &'static str,
    /// Encodes on a GPU or other hardware, not on the CPU.
    pub hardware: bool,
    /// `auto` and `hardware` never pick it, however its probe ends: its encode path has not run
    /// on real hardware. Asking for it by name opens it.
    pub experimental: bool,
    /// What a run-time check finds out about it; cheap enough to run once per process.
    pub probe: fn() -> Probe,
    /// Its encoder for a recording (the caller has checked the probe).
    open: fn(&RecordingConfig) -> Result<Box<dyn VideoEncoder>>,
}

/// Every backend, in the order `auto` prefers them (see the module documentation). Row *i*
/// describes the *i*-th `BackendKind` (checked at compile time below).
pub const BACKENDS: [Backend; 8] = [
    Backend {
        kind: BackendKind::Nvenc,
        id: "nvenc",
        name: "NVENC",
        hardware: true,
        experimental: false,
        probe: nvenc::probe,
        open: nvenc::open,
    },
    Backend {
        kind: BackendKind::FfmpegNvenc,
        id: "ffmpeg_nvenc",
        name: "NVENC (FFmpeg av1_nvenc)",
        hardware: true,
        experimental: false,
        probe: || ffmpeg_hw::probe(BackendKind::FfmpegNvenc),
        open: |c| Ok(Box::new(ffmpeg_hw::HwEncoder::new(BackendKind::FfmpegNvenc, c)?)),
    },
    Backend {
        kind: BackendKind::FfmpegQsv,
        id: "ffmpeg_qsv",
        name: "Quick Sync (FFmpeg av1_qsv)",
        hardware: true,
        experimental: false,
        probe: || ffmpeg_hw::probe(BackendKind::FfmpegQsv),
        open: |c| Ok(Box::new(ffmpeg_hw::HwEncoder::new(BackendKind::FfmpegQsv, c)?)),
    },
    Backend {
        kind: BackendKind::FfmpegAmf,
        id: "ffmpeg_amf",
        name: "AMF (FFmpeg av1_amf)",
        hardware: true,
        experimental: false,
        probe: || ffmpeg_hw::probe(BackendKind::FfmpegAmf),
        open: |c| Ok(Box::new(ffmpeg_hw::HwEncoder::new(BackendKind::FfmpegAmf, c)?)),
    },
    Backend {
        kind: BackendKind::FfmpegVaapi,
        id: "ffmpeg_vaapi",
        name: "VA-API (FFmpeg av1_vaapi)",
        hardware: true,
        experimental: false,
        probe: || ffmpeg_hw::probe(BackendKind::FfmpegVaapi),
        open: |c| Ok(Box::new(ffmpeg_hw::HwEncoder::new(BackendKind::FfmpegVaapi, c)?)),
    },
    Backend {
        kind: BackendKind::Vulkan,
        id: "vulkan",
        name: "Vulkan Video",
        hardware: true,
        // Reached only by name (`hardware_verdicts` keeps `auto` away from it).
        experimental: true,
        probe: vulkan::probe,
        open: vulkan::open,
    },
    Backend {
        kind: BackendKind::SvtAv1,
        id: "svt_av1",
        name: "SVT-AV1 (software)",
        hardware: false,
        experimental: false,
        probe: || software::probe(SoftwareCodec::Svt),
        open: |c| Ok(Box::new(software::SoftwareEncoder::new(SoftwareCodec::Svt, c)?)),
    },
    Backend {
        kind: BackendKind::Aom,
        id: "aom",
        name: "libaom (software)",
        hardware: false,
        experimental: false,
        probe: || software::probe(SoftwareCodec::Aom),
        open: |c| Ok(Box::new(software::SoftwareEncoder::new(SoftwareCodec::Aom, c)?)),
    },
];

// A kind finds its row by its index, so row i must be kind i.
const _: () = {
    let mut i = 0;
    while i < BACKENDS.len() {
        assert!(
            BACKENDS[i].kind as usize == i,
            "BACKENDS must list the kinds in BackendKind's order"
        );
        i += 1;
    }
};

impl BackendKind {
    /// Every backend, in the order `auto` prefers them: the table's order.
    pub const ALL: [BackendKind; BACKENDS.len()] = {
        let mut all = [BackendKind::Nvenc; BACKENDS.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = BACKENDS[i].kind;
            i += 1;
        }
        all
    };

    /// This backend's row in [`BACKENDS`].
    pub fn backend(self) -> Backend {
        BACKENDS[self as usize]
    }

    /// Stable identifier used in settings, the CLI and the capability report.
    pub fn id(self) -> &'static str {
        self.backend().id
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.id() == id)
    }

    pub fn is_hardware(self) -> bool {
        self.backend().hardware
    }

    /// See [`Backend::experimental`].
    pub fn is_experimental(self) -> bool {
        self.backend().experimental
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.backend().name)
    }
}

/// Runs every probe, now. Most callers want [`probes`], which keeps the result.
pub fn probe_all() -> Vec<Probe> {
    BackendKind::ALL.into_iter().map(probe).collect()
}

static PROBES: Mutex<Option<Arc<[Probe]>>> = Mutex::new(None);

/// Every backend's probe, run once per process and kept: probing loads drivers, and on an
/// NVIDIA machine creating the CUDA contexts takes about a second (1.1 s on an H200), which
/// every recording's [`open`] would otherwise pay again on the engine's main thread. A caller
/// that asks while another thread probes waits for that result instead of probing twice.
pub fn probes() -> Arc<[Probe]> {
    PROBES.lock().get_or_insert_with(|| probe_all().into()).clone()
}

/// Probes again (a driver was installed or a device appeared) and keeps the new result for
/// [`probes`] and the next [`open`].
pub fn refresh_probes() -> Arc<[Probe]> {
    let fresh: Arc<[Probe]> = probe_all().into();
    *PROBES.lock() = Some(fresh.clone());
    fresh
}

pub fn probe(kind: BackendKind) -> Probe {
    (kind.backend().probe)()
}

/// Why `auto` skips an experimental backend whose probe passed.
fn experimental_reason(kind: BackendKind) -> String {
    format!(
        "experimental: never run on real hardware; set the encoder to '{}' to use it",
        kind.id()
    )
}

/// The first available, non-experimental hardware backend in `auto`'s order, else SVT-AV1.
/// This ignores the recording's settings; [`open`] also skips backends that cannot honour its
/// rate control or size, and says so in its note.
pub fn auto_choice(probes: &[Probe]) -> BackendKind {
    probes
        .iter()
        .find(|p| p.available && p.kind.is_hardware() && !p.kind.is_experimental())
        .map_or(BackendKind::SvtAv1, |p| p.kind)
}

/// Opens the encoder `config.backend` asks for. Returns it together with a note for the log
/// when `auto` had to fall back (once per recording, with the reasons).
pub fn open(config: &RecordingConfig) -> Result<(Box<dyn VideoEncoder>, Option<String>)> {
    match config.backend {
        BackendPreference::Only(kind) => Ok((open_usable(&probes(), kind, config)?, None)),
        BackendPreference::Software => Ok((open_usable(&probes(), software_kind(config), config)?, None)),
        BackendPreference::HardwareOnly => match open_hardware(&probes(), config) {
            Ok(encoder) => Ok((encoder, None)),
            Err(reasons) => Err(Error::Unavailable {
                backend: BackendKind::SvtAv1,
                reason: format!(
                    "hardware encoding was required but none is available ({})",
                    reasons.join("; ")
                ),
            }),
        },
        BackendPreference::Auto => {
            let (probes, software) = probes_and_software(config);
            match open_hardware(&probes, config) {
                Ok(encoder) => Ok((encoder, None)),
                Err(reasons) => {
                    let kind = software_kind(config);
                    let note = format!(
                        "no hardware AV1 encoder usable, recording with {kind}. Why: {}",
                        reasons.join("; ")
                    );
                    let encoder = match software {
                        Some(opened) => check_usable(&probes, kind, config).and(opened)?,
                        None => open_usable(&probes, kind, config)?,
                    };
                    Ok((encoder, Some(note)))
                }
            }
        }
    }
}

/// An encoder as its backend's `open` returned it.
type OpenResult = Result<Box<dyn VideoEncoder>>;

/// The probes, and for `auto` on a machine where they are still to run (or running), the
/// software encoder opened meanwhile on a thread of its own: probing can take a second (CUDA
/// contexts) and SVT-AV1's start 0.4 s at 1080p and 1.3 s at 4K on 16 cores, so opening both at
/// once shortens the time to the first encoded frame by the shorter of the two. The software
/// encoder is dropped unused when a hardware one opens.
fn probes_and_software(config: &RecordingConfig) -> (Arc<[Probe]>, Option<OpenResult>) {
    if let Some(probes) = PROBES.try_lock().and_then(|kept| kept.clone()) {
        return (probes, None);
    }
    std::thread::scope(|s| {
        let software = s.spawn(|| open_kind(software_kind(config), config));
        let probes = probes();
        let software = software.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (probes, Some(software))
    })
}

/// The first hardware encoder, in `auto`'s order, that passes its probe, can record `config`
/// and opens; else why each one could not. A probe can pass and the open still fail (a consumer
/// GPU's session limit, a driver error): the next one is tried rather than failing the recording.
fn open_hardware(probes: &[Probe], config: &RecordingConfig) -> Result<Box<dyn VideoEncoder>, Vec<String>> {
    let mut reasons = Vec::new();
    for verdict in hardware_verdicts(probes, &config.video) {
        match verdict.and_then(|kind| open_kind(kind, config).map_err(|e| e.to_string())) {
            Ok(encoder) => return Ok(encoder),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(reasons)
}

/// Why the backend of probe `p` cannot record `video`; `None` when it can.
fn unusable(p: &Probe, video: &VideoConfig) -> Option<String> {
    if !p.available {
        return Some(p.reason.clone());
    }
    if !p.rate_controls.contains(&video.rate_control) {
        let names: Vec<&str> = p.rate_controls.iter().map(|r| r.name()).collect();
        return Some(format!(
            "it cannot do rate control {} (it does: {})",
            video.rate_control.name(),
            names.join(", ")
        ));
    }
    if video.width > p.max_width || video.height > p.max_height {
        return Some(format!(
            "{}x{} is larger than its maximum of {}x{}",
            video.width, video.height, p.max_width, p.max_height
        ));
    }
    None
}

/// Each hardware backend in `auto`'s order: its kind when it can record `video`, else why not.
fn hardware_verdicts(probes: &[Probe], video: &VideoConfig) -> Vec<Result<BackendKind, String>> {
    probes
        .iter()
        .filter(|p| p.kind.is_hardware())
        .map(|p| match unusable(p, video) {
            None if p.kind.is_experimental() => Err(format!("{}: {}", p.kind, experimental_reason(p.kind))),
            None => Ok(p.kind),
            Some(reason) => Err(format!("{}: {reason}", p.kind)),
        })
        .collect()
}

fn open_usable(probes: &[Probe], kind: BackendKind, config: &RecordingConfig) -> Result<Box<dyn VideoEncoder>> {
    check_usable(probes, kind, config)?;
    open_kind(kind, config)
}

/// Whether `kind`'s probe says it can record `config`; why not otherwise.
fn check_usable(probes: &[Probe], kind: BackendKind, config: &RecordingConfig) -> Result<()> {
    let p = probes.iter().find(|p| p.kind == kind).expect("every kind is probed");
    match unusable(p, &config.video) {
        Some(reason) => Err(Error::Unavailable { backend: kind, reason }),
        None => Ok(()),
    }
}

fn open_kind(kind: BackendKind, config: &RecordingConfig) -> Result<Box<dyn VideoEncoder>> {
    (kind.backend().open)(config)
}

/// The software encoder for this recording: SVT-AV1 where it encodes the size exactly, else
/// libaom (browsers ignore a container's crop, so padding would show).
pub fn software_kind(config: &RecordingConfig) -> BackendKind {
    SoftwareCodec::for_size(config.video.width, config.video.height).kind()
}

/// A made-up probe result, for tests of what is built on probes.
#[cfg(any(test, feature = "test-support"))]
pub mod test_probe {
    use super::*;
    use crate::kinds::RateControl;

    pub fn probe_of(kind: BackendKind, available: bool, rate_controls: &[RateControl]) -> Probe {
        Probe {
            kind,
            available,
            reason: if available {
                String::new()
            } else {
                format!("{} is absent", kind.id())
            },
            version: String::new(),
            max_width: 4096,
            max_height: 2304,
            rate_controls: rate_controls.to_vec(),
            ten_bit: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_probe::probe_of;
    use super::*;
    use crate::frame::VideoFrame;
    use crate::kinds::RateControl;

    #[test]
    fn software_choice_follows_what_svt_can_encode_exactly() {
        let pick = |w, h| software_kind(&RecordingConfig::new("/tmp/x.webm", w, h, 30));
        assert_eq!(pick(1280, 720), BackendKind::SvtAv1);
        assert_eq!(pick(64, 64), BackendKind::SvtAv1);
        assert_eq!(pick(1281, 721), BackendKind::Aom);
        assert_eq!(pick(1280, 721), BackendKind::Aom);
        assert_eq!(pick(62, 64), BackendKind::Aom);
        assert_eq!(pick(1, 1), BackendKind::Aom);
    }

    #[test]
    fn ids_round_trip_and_only_the_cpu_encoders_are_software() {
        for kind in BackendKind::ALL {
            assert_eq!(BackendKind::from_id(kind.id()), Some(kind));
            assert_eq!(
                BackendPreference::from_id(kind.id()),
                Some(BackendPreference::Only(kind))
            );
            assert_eq!(
                kind.is_hardware(),
                !matches!(kind, BackendKind::SvtAv1 | BackendKind::Aom)
            );
        }
        assert_eq!(
            BackendKind::ALL[BackendKind::ALL.len() - 2..],
            [BackendKind::SvtAv1, BackendKind::Aom],
            "software is the last resort"
        );
    }

    /// `auto` takes hardware in ALL's order, skipping what cannot do the rate control or size,
    /// and names every reason.
    #[test]
    fn hardware_verdicts_respect_order_rate_control_and_size() {
        use RateControl::{Cbr, Cqp, Crf, Vbr};
        let probes = [
            probe_of(BackendKind::Nvenc, true, &[Vbr, Cbr]),
            probe_of(BackendKind::FfmpegNvenc, false, &[]),
            probe_of(BackendKind::FfmpegVaapi, true, &[Cqp, Vbr, Cbr]),
            probe_of(BackendKind::Vulkan, false, &[]),
            probe_of(BackendKind::SvtAv1, true, &[Crf, Cqp, Vbr, Cbr]),
        ];
        let usable = |video: &VideoConfig| -> Vec<BackendKind> {
            hardware_verdicts(&probes, video)
                .into_iter()
                .filter_map(Result::ok)
                .collect()
        };
        let mut video = VideoConfig {
            rate_control: Vbr,
            ..VideoConfig::default()
        };
        assert_eq!(usable(&video), [BackendKind::Nvenc, BackendKind::FfmpegVaapi]);
        video.rate_control = Cqp;
        assert_eq!(usable(&video), [BackendKind::FfmpegVaapi]);
        video.rate_control = Crf;
        assert_eq!(
            hardware_verdicts(&probes, &video),
            [
                Err("NVENC: it cannot do rate control crf (it does: vbr, cbr)".to_string()),
                Err("NVENC (FFmpeg av1_nvenc): ffmpeg_nvenc is absent".to_string()),
                Err("VA-API (FFmpeg av1_vaapi): it cannot do rate control crf (it does: cqp, vbr, cbr)".to_string()),
                Err("Vulkan Video: vulkan is absent".to_string()),
            ]
        );
        video.rate_control = Vbr;
        (video.width, video.height) = (8192, 4320);
        assert_eq!(
            hardware_verdicts(&probes, &video)[0],
            Err("NVENC: 8192x4320 is larger than its maximum of 4096x2304".to_string())
        );
    }

    /// A backend asked for by name that this machine cannot use fails with its probe's reason.
    /// On a machine without a Vulkan AV1 encoder (this one: lavapipe has no video queues) that
    /// includes Vulkan.
    #[test]
    fn forced_unavailable_backend_fails_with_its_reason() {
        let mut config = RecordingConfig::new("/tmp/mwav1-forced.webm", 320, 240, 30);
        let vulkan = probe(BackendKind::Vulkan);
        if !vulkan.available {
            config.backend = BackendPreference::Only(BackendKind::Vulkan);
            match open(&config) {
                Err(Error::Unavailable { backend, reason }) => {
                    assert_eq!(backend, BackendKind::Vulkan);
                    assert_eq!(reason, vulkan.reason);
                    assert!(!reason.is_empty());
                }
                Err(e) => panic!("wrong error: {e}"),
                Ok(_) => panic!("Vulkan must not open without a capable driver"),
            }
        }
        for p in probe_all().into_iter().filter(|p| !p.available) {
            config.backend = BackendPreference::Only(p.kind);
            let e = open(&config).err().expect("an unavailable backend must not open");
            assert_eq!(
                e.to_string(),
                format!("the {} encoder is not available: {}", p.kind, p.reason)
            );
        }
    }

    /// A capable Vulkan driver makes the probe pass, but `auto` and `hardware` skip the
    /// experimental backend with a reason that says how to choose it, while a request by name
    /// gets past the probe check to the encoder itself.
    #[test]
    fn experimental_vulkan_is_opened_only_by_name() {
        use RateControl::{Cbr, Cqp, Vbr};
        let probes = [
            probe_of(BackendKind::Nvenc, false, &[]),
            probe_of(BackendKind::Vulkan, true, &[Cqp, Vbr, Cbr]),
            probe_of(BackendKind::SvtAv1, true, &[Cqp, Vbr, Cbr]),
        ];
        let video = VideoConfig {
            rate_control: Vbr,
            ..VideoConfig::default()
        };
        assert_eq!(
            hardware_verdicts(&probes, &video),
            [
                Err("NVENC: nvenc is absent".to_string()),
                Err(
                    "Vulkan Video: experimental: never run on real hardware; set the encoder to 'vulkan' to use it"
                        .to_string()
                ),
            ]
        );
        assert_eq!(auto_choice(&probes), BackendKind::SvtAv1);
        let mut config = RecordingConfig::new("/tmp/mwav1-vulkan.webm", 320, 240, 30);
        config.video.rate_control = Vbr;
        assert_eq!(
            unusable(&probes[1], &config.video),
            None,
            "by name, the probe lets it through"
        );
        // And the experimental verdict does not hide a real one: an unusable Vulkan says why.
        let absent = [probe_of(BackendKind::Vulkan, false, &[])];
        assert_eq!(
            hardware_verdicts(&absent, &video),
            [Err("Vulkan Video: vulkan is absent".to_string())]
        );
    }

    /// Without usable hardware, `auto` records with SVT-AV1 and its note gives every hardware
    /// backend's reason; with usable hardware it takes the first.
    #[test]
    fn auto_falls_back_with_the_reasons() {
        let config = RecordingConfig::new("/tmp/mwav1-auto.webm", 320, 240, 30);
        let probes = probe_all();
        let (mut encoder, note) = open(&config).expect("auto always opens something");
        // One frame through and out: the chosen encoder works. (libsvtav1 in FFmpeg 5.1 hangs
        // when closed, or drained, without having seen a frame, so the frame is needed.)
        let pixels = vec![128; 320 * 240 * 4];
        let frame = crate::frame::RgbImage::packed(320, 240, crate::frame::PixelFormat::Rgba8, &pixels).unwrap();
        encoder.send_frame(&VideoFrame::Rgb(frame), 0).unwrap();
        encoder.flush().unwrap();
        let mut packets = 0;
        while let Received::Packet { pts, keyframe } = encoder.receive_packet(&mut Vec::new()).unwrap() {
            assert_eq!((pts, keyframe), (0, true));
            packets += 1;
        }
        assert_eq!(packets, 1);
        let verdicts = hardware_verdicts(&probes, &config.video);
        if verdicts.iter().all(Result::is_err) {
            assert_eq!(encoder.kind(), BackendKind::SvtAv1);
            let note = note.expect("a fallback is noted");
            println!("{note}");
            let reasons: Vec<String> = verdicts.into_iter().filter_map(Result::err).collect();
            assert_eq!(
                reasons.len(),
                BackendKind::ALL.len() - 2,
                "every hardware backend is named"
            );
            assert_eq!(
                note,
                format!(
                    "no hardware AV1 encoder usable, recording with SVT-AV1 (software). Why: {}",
                    reasons.join("; ")
                )
            );
        } else {
            assert!(encoder.kind().is_hardware() || note.is_some());
        }
    }
}
