//! The parts of VK_KHR_video_encode_av1 (extension 514, spec revision 1; in the Vulkan headers
//! from 1.3.302) and of its codec header `vulkan_video_codec_av1std_encode.h` that the probe and
//! the encoder use and that ash 0.38 (Vulkan 1.3.281) predates. Values and member order are the
//! Vulkan registry's (vk.xml, and the Khronos headers generated from it). The std types shared
//! with decoding (`StdVideoAV1SequenceHeader`, `StdVideoAV1Quantization`, …, `StdVideoAV1Level`)
//! come from ash: the AV1 std header arrived earlier, with VK_KHR_video_decode_av1.
//!
//! Structs the driver reads are written whole by us and never read back, hence the
//! `dead_code` allowances: the layout must be complete even where we leave members at zero.

use std::ffi::{c_void, CStr};

use ash::vk;
use ash::vk::native::{
    StdVideoAV1CDEF, StdVideoAV1FrameType, StdVideoAV1GlobalMotion, StdVideoAV1InterpolationFilter, StdVideoAV1Level,
    StdVideoAV1LoopFilter, StdVideoAV1LoopRestoration, StdVideoAV1Profile, StdVideoAV1Quantization,
    StdVideoAV1Segmentation, StdVideoAV1SequenceHeader, StdVideoAV1TileInfo, StdVideoAV1TxMode,
};

pub const EXTENSION_NAME: &CStr = c"VK_KHR_video_encode_av1";

/// VK_VIDEO_CODEC_OPERATION_ENCODE_AV1_BIT_KHR.
pub const VIDEO_CODEC_OPERATION_ENCODE_AV1: vk::VideoCodecOperationFlagsKHR =
    vk::VideoCodecOperationFlagsKHR::from_raw(0x0004_0000);

/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_CAPABILITIES_KHR.
pub const STRUCTURE_TYPE_CAPABILITIES: vk::StructureType = vk::StructureType::from_raw(1_000_513_000);
/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_SESSION_PARAMETERS_CREATE_INFO_KHR.
pub const STRUCTURE_TYPE_SESSION_PARAMETERS_CREATE_INFO: vk::StructureType = vk::StructureType::from_raw(1_000_513_001);
/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_PICTURE_INFO_KHR.
pub const STRUCTURE_TYPE_PICTURE_INFO: vk::StructureType = vk::StructureType::from_raw(1_000_513_002);
/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_DPB_SLOT_INFO_KHR.
pub const STRUCTURE_TYPE_DPB_SLOT_INFO: vk::StructureType = vk::StructureType::from_raw(1_000_513_003);
/// VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VIDEO_ENCODE_AV1_FEATURES_KHR.
pub const STRUCTURE_TYPE_FEATURES: vk::StructureType = vk::StructureType::from_raw(1_000_513_004);
/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_PROFILE_INFO_KHR.
pub const STRUCTURE_TYPE_PROFILE_INFO: vk::StructureType = vk::StructureType::from_raw(1_000_513_005);
/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_RATE_CONTROL_INFO_KHR.
pub const STRUCTURE_TYPE_RATE_CONTROL_INFO: vk::StructureType = vk::StructureType::from_raw(1_000_513_006);
/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_GOP_REMAINING_FRAME_INFO_KHR.
pub const STRUCTURE_TYPE_GOP_REMAINING_FRAME_INFO: vk::StructureType = vk::StructureType::from_raw(1_000_513_010);

/// `VK_STD_VULKAN_VIDEO_CODEC_AV1_ENCODE_EXTENSION_NAME` and its spec version 1.0.0
/// (`VK_MAKE_VIDEO_STD_VERSION(1, 0, 0)` = 1 << 22), named when the video session is created.
pub const STD_EXTENSION_NAME: &CStr = c"VK_STD_vulkan_video_codec_av1_encode";
pub const STD_SPEC_VERSION: u32 = 1 << 22;

/// STD_VIDEO_AV1_NUM_REF_FRAMES and STD_VIDEO_AV1_REFS_PER_FRAME (= VK_MAX_VIDEO_AV1_REFERENCES_PER_FRAME_KHR).
pub const NUM_REF_FRAMES: usize = 8;
pub const REFS_PER_FRAME: usize = 7;
/// STD_VIDEO_AV1_PRIMARY_REF_NONE: the frame loads default CDFs instead of a reference's.
pub const PRIMARY_REF_NONE: u8 = 7;

/// VkVideoEncodeAV1PredictionModeKHR.
pub const PREDICTION_MODE_INTRA_ONLY: i32 = 0;
pub const PREDICTION_MODE_SINGLE_REFERENCE: i32 = 1;
/// VkVideoEncodeAV1RateControlGroupKHR.
pub const RATE_CONTROL_GROUP_INTRA: i32 = 0;
pub const RATE_CONTROL_GROUP_PREDICTIVE: i32 = 1;
/// VkVideoEncodeAV1RateControlFlagBitsKHR: REGULAR_GOP | REFERENCE_PATTERN_FLAT, what an
/// I-then-P-only scheme with a fixed keyframe interval is.
pub const RATE_CONTROL_REGULAR_GOP: vk::Flags = 0x1;
pub const RATE_CONTROL_REFERENCE_PATTERN_FLAT: vk::Flags = 0x4;

/// Bits of `StdVideoEncodeAV1PictureInfoFlags` (a C bitfield: the first member is bit 0).
pub mod picture_flags {
    pub const ERROR_RESILIENT_MODE: u32 = 1 << 0;
    pub const RENDER_AND_FRAME_SIZE_DIFFERENT: u32 = 1 << 3;
    pub const SHOW_FRAME: u32 = 1 << 27;
    pub const SHOWABLE_FRAME: u32 = 1 << 28;
}

/// VkVideoEncodeAV1SuperblockSizeFlagBitsKHR.
pub const SUPERBLOCK_SIZE_64: vk::Flags = 0x1;
pub const SUPERBLOCK_SIZE_128: vk::Flags = 0x2;

/// VkVideoEncodeAV1ProfileInfoKHR: chained to VkVideoProfileInfoKHR to name the AV1 profile.
#[repr(C)]
pub struct ProfileInfo {
    pub s_type: vk::StructureType,
    pub p_next: *const c_void,
    pub std_profile: StdVideoAV1Profile,
}

/// VkVideoEncodeAV1CapabilitiesKHR: chained to VkVideoEncodeCapabilitiesKHR, filled by
/// vkGetPhysicalDeviceVideoCapabilitiesKHR for an AV1 encode profile.
#[repr(C)]
// The driver writes every member, so the layout must be complete; the probe reads a few.
#[allow(dead_code)]
pub struct Capabilities {
    pub s_type: vk::StructureType,
    pub p_next: *mut c_void,
    /// VkVideoEncodeAV1CapabilityFlagsKHR.
    pub flags: vk::Flags,
    pub max_level: StdVideoAV1Level,
    pub coded_picture_alignment: vk::Extent2D,
    pub max_tiles: vk::Extent2D,
    pub min_tile_size: vk::Extent2D,
    pub max_tile_size: vk::Extent2D,
    /// VkVideoEncodeAV1SuperblockSizeFlagsKHR.
    pub superblock_sizes: vk::Flags,
    pub max_single_reference_count: u32,
    pub single_reference_name_mask: u32,
    pub max_unidirectional_compound_reference_count: u32,
    pub max_unidirectional_compound_group1_reference_count: u32,
    pub unidirectional_compound_reference_name_mask: u32,
    pub max_bidirectional_compound_reference_count: u32,
    pub max_bidirectional_compound_group1_reference_count: u32,
    pub max_bidirectional_compound_group2_reference_count: u32,
    pub bidirectional_compound_reference_name_mask: u32,
    pub max_temporal_layer_count: u32,
    pub max_spatial_layer_count: u32,
    pub max_operating_points: u32,
    pub min_q_index: u32,
    pub max_q_index: u32,
    pub prefers_gop_remaining_frames: vk::Bool32,
    pub requires_gop_remaining_frames: vk::Bool32,
    /// VkVideoEncodeAV1StdFlagsKHR.
    pub std_syntax_flags: vk::Flags,
}

impl Default for Capabilities {
    fn default() -> Self {
        // SAFETY: all members are integers or a raw pointer, for which zero is valid.
        let mut caps: Self = unsafe { std::mem::zeroed() };
        caps.s_type = STRUCTURE_TYPE_CAPABILITIES;
        caps
    }
}

impl Default for ProfileInfo {
    fn default() -> Self {
        Self {
            s_type: STRUCTURE_TYPE_PROFILE_INFO,
            p_next: std::ptr::null(),
            std_profile: ash::vk::native::StdVideoAV1Profile_STD_VIDEO_AV1_PROFILE_MAIN,
        }
    }
}

/// Zero, then the structure type: what every struct here starts from.
macro_rules! zeroed_with_type {
    ($ty:ty, $s_type:expr) => {
        impl Default for $ty {
            fn default() -> Self {
                // SAFETY: all members are integers, raw pointers or arrays of them, for which
                // zero is valid (null pointers, cleared flags).
                let mut v: Self = unsafe { std::mem::zeroed() };
                v.s_type = $s_type;
                v
            }
        }
    };
}

/// VkPhysicalDeviceVideoEncodeAV1FeaturesKHR: chained to VkDeviceCreateInfo to enable AV1
/// encoding (without the feature no AV1 encode profile may be used).
#[repr(C)]
#[allow(dead_code)]
pub struct Features {
    pub s_type: vk::StructureType,
    pub p_next: *mut c_void,
    pub video_encode_av1: vk::Bool32,
}
zeroed_with_type!(Features, STRUCTURE_TYPE_FEATURES);

/// StdVideoEncodeAV1OperatingPointInfo (its flags bitfield as a plain u32).
#[repr(C)]
#[derive(Clone, Copy, Default)]
#[allow(dead_code)]
pub struct StdOperatingPointInfo {
    pub flags: u32,
    pub operating_point_idc: u16,
    pub seq_level_idx: u8,
    pub seq_tier: u8,
    pub decoder_buffer_delay: u32,
    pub encoder_buffer_delay: u32,
    pub initial_display_delay_minus_1: u8,
}

/// VkVideoEncodeAV1SessionParametersCreateInfoKHR: the sequence header the session encodes
/// with. `p_std_decoder_model_info` stays null (no decoder model).
#[repr(C)]
#[allow(dead_code)]
pub struct SessionParametersCreateInfo {
    pub s_type: vk::StructureType,
    pub p_next: *const c_void,
    pub p_std_sequence_header: *const StdVideoAV1SequenceHeader,
    pub p_std_decoder_model_info: *const c_void,
    pub std_operating_point_count: u32,
    pub p_std_operating_points: *const StdOperatingPointInfo,
}
zeroed_with_type!(
    SessionParametersCreateInfo,
    STRUCTURE_TYPE_SESSION_PARAMETERS_CREATE_INFO
);

/// StdVideoEncodeAV1PictureInfo (flags: the [`picture_flags`] bits).
#[repr(C)]
#[allow(dead_code)]
pub struct StdPictureInfo {
    pub flags: u32,
    pub frame_type: StdVideoAV1FrameType,
    pub frame_presentation_time: u32,
    pub current_frame_id: u32,
    pub order_hint: u8,
    pub primary_ref_frame: u8,
    pub refresh_frame_flags: u8,
    pub coded_denom: u8,
    pub render_width_minus_1: u16,
    pub render_height_minus_1: u16,
    pub interpolation_filter: StdVideoAV1InterpolationFilter,
    pub tx_mode: StdVideoAV1TxMode,
    pub delta_q_res: u8,
    pub delta_lf_res: u8,
    pub ref_order_hint: [u8; NUM_REF_FRAMES],
    pub ref_frame_idx: [i8; REFS_PER_FRAME],
    pub reserved1: [u8; 3],
    pub delta_frame_id_minus_1: [u32; REFS_PER_FRAME],
    pub p_tile_info: *const StdVideoAV1TileInfo,
    pub p_quantization: *const StdVideoAV1Quantization,
    pub p_segmentation: *const StdVideoAV1Segmentation,
    pub p_loop_filter: *const StdVideoAV1LoopFilter,
    pub p_cdef: *const StdVideoAV1CDEF,
    pub p_loop_restoration: *const StdVideoAV1LoopRestoration,
    pub p_global_motion: *const StdVideoAV1GlobalMotion,
    /// `const StdVideoEncodeAV1ExtensionHeader*`: null, we code no OBU extension headers.
    pub p_extension_header: *const c_void,
    pub p_buffer_removal_times: *const u32,
}

impl Default for StdPictureInfo {
    fn default() -> Self {
        // SAFETY: integers, arrays of integers and raw pointers: zero is valid for each.
        unsafe { std::mem::zeroed() }
    }
}

/// StdVideoEncodeAV1ReferenceInfo (flags bitfield as a plain u32, extension header null).
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)]
pub struct StdReferenceInfo {
    pub flags: u32,
    pub ref_frame_id: u32,
    pub frame_type: StdVideoAV1FrameType,
    pub order_hint: u8,
    pub reserved1: [u8; 3],
    pub p_extension_header: *const c_void,
}

/// VkVideoEncodeAV1PictureInfoKHR: chained to VkVideoEncodeInfoKHR.
#[repr(C)]
#[allow(dead_code)]
pub struct PictureInfo {
    pub s_type: vk::StructureType,
    pub p_next: *const c_void,
    pub prediction_mode: i32,
    pub rate_control_group: i32,
    pub constant_q_index: u32,
    pub p_std_picture_info: *const StdPictureInfo,
    pub reference_name_slot_indices: [i32; REFS_PER_FRAME],
    pub primary_reference_cdf_only: vk::Bool32,
    pub generate_obu_extension_header: vk::Bool32,
}
zeroed_with_type!(PictureInfo, STRUCTURE_TYPE_PICTURE_INFO);

/// VkVideoEncodeAV1DpbSlotInfoKHR: chained to each VkVideoReferenceSlotInfoKHR of an encode.
#[repr(C)]
#[allow(dead_code)]
pub struct DpbSlotInfo {
    pub s_type: vk::StructureType,
    pub p_next: *const c_void,
    pub p_std_reference_info: *const StdReferenceInfo,
}
zeroed_with_type!(DpbSlotInfo, STRUCTURE_TYPE_DPB_SLOT_INFO);

/// VkVideoEncodeAV1RateControlInfoKHR: chained to VkVideoEncodeRateControlInfoKHR.
#[repr(C)]
#[allow(dead_code)]
pub struct RateControlInfo {
    pub s_type: vk::StructureType,
    pub p_next: *const c_void,
    pub flags: vk::Flags,
    pub gop_frame_count: u32,
    pub key_frame_period: u32,
    pub consecutive_bipredictive_frame_count: u32,
    pub temporal_layer_count: u32,
}
zeroed_with_type!(RateControlInfo, STRUCTURE_TYPE_RATE_CONTROL_INFO);

/// VkVideoEncodeAV1GopRemainingFrameInfoKHR: chained to VkVideoEncodeInfoKHR where the
/// driver's rate control wants to know how much of the GOP is left.
#[repr(C)]
#[allow(dead_code)]
pub struct GopRemainingFrameInfo {
    pub s_type: vk::StructureType,
    pub p_next: *const c_void,
    pub use_gop_remaining_frames: vk::Bool32,
    pub gop_remaining_intra: u32,
    pub gop_remaining_predictive: u32,
    pub gop_remaining_bipredictive: u32,
}
zeroed_with_type!(GopRemainingFrameInfo, STRUCTURE_TYPE_GOP_REMAINING_FRAME_INFO);

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    /// Offsets from the member order above on LP64: a pointer after the 4-byte sType is
    /// 8-aligned, then 4-byte members and 8-byte extents of two u32.
    #[test]
    fn capabilities_layout_matches_the_c_struct() {
        assert_eq!(offset_of!(Capabilities, flags), 16);
        assert_eq!(offset_of!(Capabilities, coded_picture_alignment), 24);
        assert_eq!(offset_of!(Capabilities, superblock_sizes), 56);
        assert_eq!(offset_of!(Capabilities, max_q_index), 112);
        assert_eq!(offset_of!(Capabilities, std_syntax_flags), 124);
        assert_eq!(size_of::<Capabilities>(), 128);
        assert_eq!(size_of::<ProfileInfo>(), 24);
    }

    /// Offsets computed by hand from the Khronos headers' member order (LP64, natural
    /// alignment), so a member dropped or reordered here shows up as a failed test.
    #[test]
    fn encode_structs_match_the_c_layout() {
        assert_eq!(size_of::<Features>(), 24);
        assert_eq!(size_of::<StdOperatingPointInfo>(), 20);
        assert_eq!(offset_of!(StdOperatingPointInfo, decoder_buffer_delay), 8);
        assert_eq!(offset_of!(SessionParametersCreateInfo, std_operating_point_count), 32);
        assert_eq!(size_of::<SessionParametersCreateInfo>(), 48);
        assert_eq!(offset_of!(StdPictureInfo, order_hint), 16);
        assert_eq!(offset_of!(StdPictureInfo, interpolation_filter), 24);
        assert_eq!(offset_of!(StdPictureInfo, ref_order_hint), 34);
        assert_eq!(offset_of!(StdPictureInfo, ref_frame_idx), 42);
        assert_eq!(offset_of!(StdPictureInfo, delta_frame_id_minus_1), 52);
        assert_eq!(offset_of!(StdPictureInfo, p_tile_info), 80);
        assert_eq!(size_of::<StdPictureInfo>(), 152);
        assert_eq!(size_of::<StdReferenceInfo>(), 24);
        assert_eq!(offset_of!(PictureInfo, p_std_picture_info), 32);
        assert_eq!(offset_of!(PictureInfo, reference_name_slot_indices), 40);
        assert_eq!(size_of::<PictureInfo>(), 80);
        assert_eq!(size_of::<DpbSlotInfo>(), 24);
        assert_eq!(size_of::<RateControlInfo>(), 40);
        assert_eq!(size_of::<GopRemainingFrameInfo>(), 32);
    }
}
