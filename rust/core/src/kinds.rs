//! The kinds the other modules share: which encoder backend, which one a user prefers, what a
//! probe found, which rate control. This module imports nothing from the crate, so everything
//! can import it without a circle (`tests/module_graph.rs` checks that).
//!
//! What each backend is (its id, name, flags, probe and encoder) is its row in the backend table
//! (`backend::BACKENDS`); [`BackendKind`]'s methods and `Display` read that row.

/// One encoder backend: the key of its row in the backend table, in `auto`'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// NVIDIA NVENC through the shiguredo_nvcodec crate (RTX 40 / Ada and newer have AV1).
    Nvenc,
    /// NVIDIA NVENC through FFmpeg's `av1_nvenc`.
    FfmpegNvenc,
    /// Intel Quick Sync Video through FFmpeg's `av1_qsv`.
    FfmpegQsv,
    /// AMD AMF through FFmpeg's `av1_amf`.
    FfmpegAmf,
    /// VA-API through FFmpeg's `av1_vaapi`.
    FfmpegVaapi,
    /// Vulkan Video (VK_KHR_video_encode_av1) on a VkDevice of its own.
    Vulkan,
    /// SVT-AV1 on the CPU through FFmpeg's libsvtav1: the fallback for even sizes ≥ 64×64.
    SvtAv1,
    /// libaom on the CPU through FFmpeg's libaom-av1: the fallback for the sizes SVT-AV1 cannot
    /// encode exactly (odd, or below 64).
    Aom,
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

impl Probe {
    /// A backend that cannot be used here, and why.
    pub fn unavailable(kind: BackendKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            available: false,
            reason: reason.into(),
            version: String::new(),
            max_width: 0,
            max_height: 0,
            rate_controls: Vec::new(),
            ten_bit: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateControl {
    /// Constant quality (SVT-AV1's CRF): the default, best size for a given look.
    Crf,
    /// Constant quantizer: every frame at the same QP, no adaptive quantization.
    Cqp,
    /// Average bitrate `bitrate_kbps`, bounded by `max_bitrate_kbps` where the backend can.
    Vbr,
    /// Constant bitrate `bitrate_kbps` (low-delay prediction on SVT-AV1).
    Cbr,
}

impl RateControl {
    pub const NAMES: [&'static str; 4] = ["crf", "cqp", "vbr", "cbr"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "crf" => Some(Self::Crf),
            "cqp" => Some(Self::Cqp),
            "vbr" => Some(Self::Vbr),
            "cbr" => Some(Self::Cbr),
            _ => None,
        }
    }
}
