//! Video encoder backends behind one trait, in rav1e's shape: configure and validate, then
//! `send_frame` / `receive_packet` / `flush`. "Need more input" is normal flow
//! ([`Received::NeedMoreInput`]), never an error.
//!
//! Selection: compiled in → probed at run time → user preference → software fallback, and a
//! [`Probe`] per backend that says why it is or is not usable.

mod svt;

use std::fmt;

use crate::config::{RateControl, RecordingConfig};
use crate::error::{Error, Result};
use crate::frame::RgbImage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// SVT-AV1 on the CPU through FFmpeg's libsvtav1: always the fallback.
    SvtAv1,
}

impl BackendKind {
    pub const ALL: [BackendKind; 1] = [BackendKind::SvtAv1];

    /// Stable identifier used in settings, the CLI and the capability report.
    pub fn id(self) -> &'static str {
        match self {
            Self::SvtAv1 => "svt_av1",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.id() == id)
    }

    pub fn is_hardware(self) -> bool {
        !matches!(self, Self::SvtAv1)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SvtAv1 => "SVT-AV1 (software)",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendPreference {
    /// Best available hardware backend, else SVT-AV1.
    Auto,
    /// Any hardware backend; fail if none is available.
    HardwareOnly,
    /// SVT-AV1 on the CPU.
    Software,
    /// Exactly this backend; fail if it is unavailable.
    Only(BackendKind),
}

impl BackendPreference {
    pub fn id(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::HardwareOnly => "hardware",
            Self::Software => "software",
            Self::Only(k) => k.id(),
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        match id {
            "auto" => Some(Self::Auto),
            "hardware" => Some(Self::HardwareOnly),
            "software" => Some(Self::Software),
            other => BackendKind::from_id(other).map(Self::Only),
        }
    }
}

/// What a run-time probe found out about one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub kind: BackendKind,
    pub available: bool,
    /// Why it is not available (empty when it is).
    pub reason: String,
    /// Library or driver version, when known.
    pub version: String,
    pub max_width: u32,
    pub max_height: u32,
    pub rate_controls: Vec<RateControl>,
    pub ten_bit: bool,
}

/// What `receive_packet` produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A temporal unit was written into the caller's buffer; `pts` is the frame index.
    Packet { pts: u64, keyframe: bool },
    /// Send more frames (or `flush`) before asking again.
    NeedMoreInput,
    /// Flushed: no packet will ever come again.
    Done,
}

pub trait VideoEncoder: Send {
    fn kind(&self) -> BackendKind;

    /// Size of the coded frames: at least the display size, rounded up to what the encoder
    /// accepts. The container crops back to the display size.
    fn coded_size(&self) -> (u32, u32);

    /// The Sequence Header OBU, when the encoder hands it out before the first packet.
    fn sequence_header(&self) -> Option<&[u8]>;

    /// Submits frame `index` (frames must come in order, each exactly once).
    fn send_frame(&mut self, frame: &RgbImage<'_>, index: u64) -> Result<()>;

    /// Signals the end of input; `receive_packet` then drains what is left and ends in `Done`.
    fn flush(&mut self) -> Result<()>;

    /// Writes the next packet into `out` (replacing its contents).
    fn receive_packet(&mut self, out: &mut Vec<u8>) -> Result<Received>;
}

/// Runs every probe. Cheap enough to call once per process; callers cache it.
pub fn probe_all() -> Vec<Probe> {
    BackendKind::ALL.into_iter().map(probe).collect()
}

pub fn probe(kind: BackendKind) -> Probe {
    match kind {
        BackendKind::SvtAv1 => svt::probe(),
    }
}

/// The backend `auto` would pick from these probe results, in order of preference.
pub fn auto_choice(probes: &[Probe]) -> BackendKind {
    probes
        .iter()
        .find(|p| p.available && p.kind.is_hardware())
        .map_or(BackendKind::SvtAv1, |p| p.kind)
}

/// Opens the encoder `config.backend` asks for. Returns it together with a note for the log
/// when `auto` had to fall back (once per recording, with the reasons).
pub fn open(config: &RecordingConfig) -> Result<(Box<dyn VideoEncoder>, Option<String>)> {
    let probes = probe_all();
    let pick = |kind: BackendKind| -> Result<Box<dyn VideoEncoder>> {
        let p = probes.iter().find(|p| p.kind == kind).expect("every kind is probed");
        if !p.available {
            return Err(Error::Unavailable {
                backend: kind,
                reason: p.reason.clone(),
            });
        }
        open_kind(kind, config)
    };
    match config.backend {
        BackendPreference::Only(kind) => Ok((pick(kind)?, None)),
        BackendPreference::Software => Ok((pick(BackendKind::SvtAv1)?, None)),
        BackendPreference::HardwareOnly => {
            let hw = auto_choice(&probes);
            if hw.is_hardware() {
                Ok((pick(hw)?, None))
            } else {
                Err(Error::Unavailable {
                    backend: BackendKind::SvtAv1,
                    reason: format!(
                        "hardware encoding was required but none is available ({})",
                        unavailable_summary(&probes)
                    ),
                })
            }
        }
        BackendPreference::Auto => {
            let choice = auto_choice(&probes);
            let note = (!choice.is_hardware() && probes.iter().any(|p| p.kind.is_hardware())).then(|| {
                format!(
                    "no hardware AV1 encoder usable, recording with SVT-AV1 ({})",
                    unavailable_summary(&probes)
                )
            });
            Ok((pick(choice)?, note))
        }
    }
}

fn unavailable_summary(probes: &[Probe]) -> String {
    probes
        .iter()
        .filter(|p| p.kind.is_hardware() && !p.available)
        .map(|p| format!("{}: {}", p.kind, p.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn open_kind(kind: BackendKind, config: &RecordingConfig) -> Result<Box<dyn VideoEncoder>> {
    Ok(match kind {
        BackendKind::SvtAv1 => Box::new(svt::SvtEncoder::new(config)?),
    })
}

/// The smallest even size ≥ (width, height) and ≥ `min`: what 4:2:0 encoders accept.
pub fn coded_size(width: u32, height: u32, min: u32) -> (u32, u32) {
    let even = |v: u32| (v + 1) & !1;
    (even(width).max(min), even(height).max(min))
}
