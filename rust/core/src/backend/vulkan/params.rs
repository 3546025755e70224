//! What the encoder is opened with, chosen from the recording's settings and the driver's
//! capabilities before anything is created on the GPU: the rate control, the coded size, the
//! AV1 level, the superblock size, the reference name P frames use, the std header version
//! and the encode quality level. Apart from the encoder because none of it touches a device:
//! every choice and every refusal (an error naming what the driver lacks) is checked by
//! tests on machines without a video queue.

use ash::vk;

use super::av1_ffi;
use super::device::unavailable;
use super::dpb::DPB_SLOTS;
use super::{level_string, EncodeCaps};
use crate::backend::coded_size;
use crate::config::{quality_to_qindex, RateControl, VideoConfig};
use crate::error::Result;

/// The session's and every frame's settings.
pub(super) struct EncodeParams {
    /// Size of the images and of the coded frames (the alignment the driver wants).
    pub coded: (u32, u32),
    /// The recording's size inside the coded frame: the AV1 render size.
    pub display: (u32, u32),
    pub fps: u32,
    pub keyint: u64,
    pub rate: RatePlan,
    /// StdVideoAV1Level for the session's one operating point, or `None` where the driver
    /// takes no operating points (it then signals the level itself).
    pub level: Option<u32>,
    pub superblock_128: bool,
    /// Index into `referenceNameSlotIndices` of the name P frames use (LAST_FRAME if allowed).
    pub reference_name: usize,
    /// Whether the driver wants VkVideoEncodeAV1GopRemainingFrameInfoKHR.
    pub gop_remaining: bool,
    pub quality_level: u32,
    /// The std header version the session is created for.
    pub std_header_version: vk::ExtensionProperties,
}

impl EncodeParams {
    /// The settings for recording `v` with a driver that has `caps`, or why it cannot.
    pub fn new(v: &VideoConfig, caps: &EncodeCaps) -> Result<Self> {
        let rate = rate_plan(v, caps)?;
        let coded = coded_extent(v, caps)?;
        let level = level_for(coded.0, coded.1, v.fps, rate.max_bps)
            .filter(|&l| l <= caps.max_level)
            .ok_or_else(|| {
                unavailable(format!(
                    "{}x{} at {} fps and {} kbps needs a higher AV1 level than the driver's {}",
                    coded.0,
                    coded.1,
                    v.fps,
                    rate.max_bps / 1000,
                    level_string(caps.max_level)
                ))
            })?;
        let superblock_128 = use_128x128_superblocks(caps.superblock_sizes)?;
        if caps.max_dpb_slots < DPB_SLOTS
            || caps.max_active_reference_pictures < 1
            || caps.max_single_reference_count < 1
        {
            return Err(unavailable(
                "the driver cannot keep a reference picture (needs 2 DPB slots, 1 single reference)",
            ));
        }
        let reference_name = (0..av1_ffi::REFS_PER_FRAME)
            .find(|&i| caps.single_reference_name_mask & (1 << i) != 0)
            .ok_or_else(|| unavailable("the driver allows no reference name for single-reference prediction"))?;
        let std_header_version = std_header_version(caps)?;
        // SVT-AV1's presets run 0 (slowest) – 13 (fastest); higher Vulkan quality levels are
        // slower and better, so the slow end gets the highest level.
        let quality_level =
            caps.max_quality_levels.saturating_sub(1) * (13 - u32::from(v.hardware_preset().min(13))) / 13;
        Ok(Self {
            coded,
            display: (v.width, v.height),
            fps: v.fps,
            keyint: ((v.keyframe_interval_s * v.fps as f32).round() as u64).max(1),
            rate,
            level: (caps.max_operating_points > 0).then_some(level),
            superblock_128,
            reference_name,
            gop_remaining: caps.wants_gop_remaining,
            quality_level,
            std_header_version,
        })
    }
}

/// The recording's size made even, aligned as the driver wants and at least its minimum; an
/// error where that is above its maximum.
fn coded_extent(v: &VideoConfig, caps: &EncodeCaps) -> Result<(u32, u32)> {
    let align = |value: u32, to: u32| value.next_multiple_of(to.max(2));
    let even = coded_size(v.width, v.height, 2);
    let coded = (
        align(even.0, caps.picture_alignment.width).max(caps.min_extent.width),
        align(even.1, caps.picture_alignment.height).max(caps.min_extent.height),
    );
    if coded.0 > caps.max_extent.width || coded.1 > caps.max_extent.height {
        return Err(unavailable(format!(
            "{}x{} is larger than the driver's maximum of {}x{}",
            coded.0, coded.1, caps.max_extent.width, caps.max_extent.height
        )));
    }
    Ok(coded)
}

/// The session is created for the std header version this code was written against (its
/// structs are laid out as in 1.0.0); a driver with a newer one accepts older.
fn std_header_version(caps: &EncodeCaps) -> Result<vk::ExtensionProperties> {
    let std_name = caps.std_header_version.extension_name_as_c_str().ok();
    if std_name != Some(av1_ffi::STD_EXTENSION_NAME) || caps.std_header_version.spec_version < av1_ffi::STD_SPEC_VERSION
    {
        return Err(unavailable(format!(
            "the driver's AV1 encode std header is {:?} version {:#x}, not {:?} 1.0.0 or newer",
            std_name,
            caps.std_header_version.spec_version,
            av1_ffi::STD_EXTENSION_NAME
        )));
    }
    let mut version = vk::ExtensionProperties {
        spec_version: av1_ffi::STD_SPEC_VERSION,
        ..Default::default()
    };
    for (dst, &src) in version
        .extension_name
        .iter_mut()
        .zip(av1_ffi::STD_EXTENSION_NAME.to_bytes())
    {
        *dst = src as std::ffi::c_char;
    }
    Ok(version)
}

/// The rate control the session runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RatePlan {
    pub mode: vk::VideoEncodeRateControlModeFlagsKHR,
    pub average_bps: u64,
    pub max_bps: u64,
    /// The AV1 quantizer index (0–255) every frame gets with rate control disabled (CQP, and
    /// CRF mapped onto it).
    pub qindex: u32,
    /// The quantizer index the loop filter strength is chosen for: `qindex` where it is every
    /// frame's, else an estimate from the bits a pixel gets (the driver's rate control picks
    /// the real one, which the API does not report before the frame is coded).
    pub filter_qindex: u32,
}

/// The qindex a rate-controlled encode at `bits_per_pixel` (per frame) tends to settle at: 40
/// steps coarser per halving of the rate, about 150 at 0.1 bit per pixel. A heuristic for
/// the loop filter only, where being a few steps off costs little.
fn estimated_qindex(bits_per_pixel: f64) -> u32 {
    let steps = 40.0 * (bits_per_pixel.max(1e-6) * 64.0).log2();
    (255.0 - steps).clamp(1.0, 255.0) as u32
}

/// Maps the recording's rate control onto Vulkan's: CQP is "rate control disabled" with a
/// constant quantizer index, CBR and VBR are the driver's. Vulkan has no constant-quality
/// mode; CRF, the default setting, is recorded as CQP at the same quantizer, the closest it
/// offers (so `encoder = vulkan` works with default settings).
fn rate_plan(v: &VideoConfig, caps: &EncodeCaps) -> Result<RatePlan> {
    // The crate's 0–63 scale is SVT-AV1's, whose quantizer maps onto AV1's 0–255 qindex ×4.
    let qindex = (u32::from(quality_to_qindex(v.quality)) * 4)
        .min(255)
        .clamp(caps.min_q_index, caps.max_q_index.max(caps.min_q_index));
    let (mode, average, max) = match v.rate_control {
        RateControl::Cqp | RateControl::Crf => (vk::VideoEncodeRateControlModeFlagsKHR::DISABLED, 0, 0),
        RateControl::Cbr => (
            vk::VideoEncodeRateControlModeFlagsKHR::CBR,
            u64::from(v.bitrate_kbps) * 1000,
            u64::from(v.bitrate_kbps) * 1000,
        ),
        RateControl::Vbr => {
            let average = u64::from(v.bitrate_kbps) * 1000;
            // No cap asked for: allow twice the average, within what the driver takes.
            let max = if v.max_bitrate_kbps > 0 {
                u64::from(v.max_bitrate_kbps) * 1000
            } else {
                (average * 2).min(caps.max_bitrate.max(average))
            };
            (vk::VideoEncodeRateControlModeFlagsKHR::VBR, average, max)
        }
    };
    if !caps.rate_control_modes.contains(mode) {
        return Err(unavailable(format!(
            "the driver does not offer rate control {} (modes {:?})",
            v.rate_control.name(),
            caps.rate_control_modes
        )));
    }
    if max > caps.max_bitrate && caps.max_bitrate > 0 {
        return Err(unavailable(format!(
            "{} kbps is above the driver's maximum of {} kbps",
            max / 1000,
            caps.max_bitrate / 1000
        )));
    }
    let filter_qindex = if mode == vk::VideoEncodeRateControlModeFlagsKHR::DISABLED {
        qindex
    } else {
        let pixels_per_second = f64::from(v.width) * f64::from(v.height) * f64::from(v.fps.max(1));
        estimated_qindex(average as f64 / pixels_per_second)
    };
    Ok(RatePlan {
        mode,
        average_bps: average,
        max_bps: max,
        qindex,
        filter_qindex,
    })
}

/// Whether the sequence uses 128×128 superblocks: 64×64 where the driver encodes them (what
/// every AV1 encoder we know offers), else 128×128; neither is an error naming what it has.
fn use_128x128_superblocks(sizes: vk::Flags) -> Result<bool> {
    if sizes & av1_ffi::SUPERBLOCK_SIZE_64 != 0 {
        Ok(false)
    } else if sizes & av1_ffi::SUPERBLOCK_SIZE_128 != 0 {
        Ok(true)
    } else {
        Err(unavailable(format!(
            "the driver offers no superblock size this encoder knows (superblockSizes {sizes:#x}; 64x64 = 0x1, 128x128 = 0x2)"
        )))
    }
}

/// The lowest AV1 level (as StdVideoAV1Level: 2.0 = 0 … 6.3 = 19) whose picture size, width,
/// height, luma sample rate and Main-tier bitrate fit (AV1 spec, annex A.3). `max_bps` is the
/// peak the rate control may reach; 0 (constant QP: no target) leaves the rate unchecked.
fn level_for(width: u32, height: u32, fps: u32, max_bps: u64) -> Option<u32> {
    // (level, MaxPicSize, MaxHSize, MaxVSize, MaxDisplayRate, MainMbps × 10)
    const LEVELS: [(u32, u64, u32, u32, u64, u64); 14] = [
        (0, 147_456, 2048, 1152, 4_423_680, 15),
        (1, 278_784, 2816, 1584, 8_363_520, 30),
        (4, 665_856, 4352, 2448, 19_975_680, 60),
        (5, 1_065_024, 5504, 3096, 31_950_720, 100),
        (8, 2_359_296, 6144, 3456, 70_778_880, 120),
        (9, 2_359_296, 6144, 3456, 141_557_760, 200),
        (12, 8_912_896, 8192, 4352, 267_386_880, 300),
        (13, 8_912_896, 8192, 4352, 534_773_760, 400),
        (14, 8_912_896, 8192, 4352, 1_069_547_520, 600),
        (15, 8_912_896, 8192, 4352, 1_069_547_520, 600),
        (16, 35_651_584, 16384, 8704, 1_069_547_520, 600),
        (17, 35_651_584, 16384, 8704, 2_139_095_040, 1000),
        (18, 35_651_584, 16384, 8704, 4_278_190_080, 1600),
        (19, 35_651_584, 16384, 8704, 4_278_190_080, 1600),
    ];
    let pic = u64::from(width) * u64::from(height);
    LEVELS
        .iter()
        .find(|&&(_, size, w, h, rate, mbps10)| {
            pic <= size && width <= w && height <= h && pic * u64::from(fps) <= rate && max_bps <= mbps10 * 100_000
        })
        .map(|l| l.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> EncodeCaps {
        EncodeCaps {
            rate_control_modes: vk::VideoEncodeRateControlModeFlagsKHR::DISABLED
                | vk::VideoEncodeRateControlModeFlagsKHR::CBR
                | vk::VideoEncodeRateControlModeFlagsKHR::VBR,
            max_bitrate: 100_000_000,
            min_q_index: 1,
            max_q_index: 255,
            ..EncodeCaps::default()
        }
    }

    #[test]
    fn rate_control_maps_onto_vulkan_modes() {
        let mut v = VideoConfig {
            rate_control: RateControl::Cqp,
            quality: 0.75,
            ..VideoConfig::default()
        };
        let p = rate_plan(&v, &caps()).unwrap();
        assert_eq!(
            (p.mode, p.qindex),
            (vk::VideoEncodeRateControlModeFlagsKHR::DISABLED, 128)
        );
        v.quality = 0.0;
        assert_eq!(rate_plan(&v, &caps()).unwrap().qindex, 252);
        v.rate_control = RateControl::Vbr;
        v.bitrate_kbps = 6000;
        let p = rate_plan(&v, &caps()).unwrap();
        assert_eq!((p.average_bps, p.max_bps), (6_000_000, 12_000_000));
        v.max_bitrate_kbps = 8000;
        assert_eq!(rate_plan(&v, &caps()).unwrap().max_bps, 8_000_000);
        v.rate_control = RateControl::Cbr;
        let p = rate_plan(&v, &caps()).unwrap();
        assert_eq!(
            (p.mode, p.average_bps, p.max_bps),
            (vk::VideoEncodeRateControlModeFlagsKHR::CBR, 6_000_000, 6_000_000)
        );
        let only_cbr = EncodeCaps {
            rate_control_modes: vk::VideoEncodeRateControlModeFlagsKHR::CBR,
            ..caps()
        };
        v.rate_control = RateControl::Vbr;
        assert!(rate_plan(&v, &only_cbr).is_err());
    }

    /// CRF, the default setting, records as constant QP at the same quantizer, so the backend
    /// works with default settings.
    #[test]
    fn default_settings_map_onto_constant_qp() {
        let v = VideoConfig::default();
        assert_eq!(v.rate_control, RateControl::Crf, "CRF is the default");
        let crf = rate_plan(&v, &caps()).unwrap();
        let cqp = rate_plan(
            &VideoConfig {
                rate_control: RateControl::Cqp,
                ..v
            },
            &caps(),
        )
        .unwrap();
        assert_eq!(crf, cqp);
        assert_eq!(crf.mode, vk::VideoEncodeRateControlModeFlagsKHR::DISABLED);
        let probe_caps = EncodeCaps {
            rate_control_modes: vk::VideoEncodeRateControlModeFlagsKHR::DISABLED,
            ..caps()
        };
        assert_eq!(probe_caps.rate_controls(), [RateControl::Crf, RateControl::Cqp]);
    }

    /// Under CBR and VBR the driver picks the quantizer: the loop filter follows the bits a
    /// pixel gets, not the quality setting that only CQP uses.
    #[test]
    fn loop_filter_follows_the_rate_not_the_unused_quality_setting() {
        let mut v = VideoConfig {
            rate_control: RateControl::Vbr,
            width: 1920,
            height: 1080,
            fps: 60,
            bitrate_kbps: 12_000,
            ..VideoConfig::default()
        };
        let rich = rate_plan(&v, &caps()).unwrap();
        v.quality = 0.0;
        assert_eq!(rate_plan(&v, &caps()).unwrap().filter_qindex, rich.filter_qindex);
        v.bitrate_kbps = 3_000;
        let poor = rate_plan(&v, &caps()).unwrap();
        assert!(poor.filter_qindex > rich.filter_qindex, "{poor:?} vs {rich:?}");
        assert_eq!(estimated_qindex(0.1), 147);
        v.rate_control = RateControl::Cqp;
        let constant = rate_plan(&v, &caps()).unwrap();
        assert_eq!(constant.filter_qindex, constant.qindex);
    }

    #[test]
    fn superblocks_are_64_where_offered_and_checked() {
        assert!(!use_128x128_superblocks(av1_ffi::SUPERBLOCK_SIZE_64 | av1_ffi::SUPERBLOCK_SIZE_128).unwrap());
        assert!(use_128x128_superblocks(av1_ffi::SUPERBLOCK_SIZE_128).unwrap());
        let e = use_128x128_superblocks(0).unwrap_err().to_string();
        assert!(e.contains("superblockSizes 0x0"), "{e}");
    }

    #[test]
    fn levels_follow_annex_a() {
        assert_eq!(level_for(960, 540, 30, 0), Some(4), "3.0");
        assert_eq!(level_for(1280, 720, 30, 0), Some(5), "3.1");
        assert_eq!(level_for(1280, 720, 60, 0), Some(8), "4.0");
        assert_eq!(level_for(1920, 1080, 60, 0), Some(9), "4.1");
        assert_eq!(level_for(3840, 2160, 60, 0), Some(13), "5.1");
        assert_eq!(level_for(64, 64, 1000, 0), Some(0), "2.0");
        assert_eq!(level_for(20_000, 64, 30, 0), None);
        // The Main tier's bitrate caps: 1080p60 at up to 20 Mbps is 4.1, above it 5.0.
        assert_eq!(level_for(1920, 1080, 60, 20_000_000), Some(9), "4.1");
        assert_eq!(level_for(1920, 1080, 60, 24_000_000), Some(12), "5.0");
        assert_eq!(level_for(640, 360, 30, 8_000_000), Some(5), "3.1 for the rate");
        assert_eq!(level_for(640, 360, 30, 200_000_000), None);
    }
}
