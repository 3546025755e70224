//! The parts of VK_KHR_video_encode_av1 (extension 514, spec revision 1; in the Vulkan headers
//! from 1.3.302) that the probe uses and that ash 0.38 (Vulkan 1.3.281) predates. Values and
//! member order are the Vulkan registry's (vk.xml). `StdVideoAV1Profile` and `StdVideoAV1Level`
//! come from ash: the AV1 std header arrived earlier, with VK_KHR_video_decode_av1.

use std::ffi::{c_void, CStr};

use ash::vk;
use ash::vk::native::{StdVideoAV1Level, StdVideoAV1Profile};

pub const EXTENSION_NAME: &CStr = c"VK_KHR_video_encode_av1";

/// VK_VIDEO_CODEC_OPERATION_ENCODE_AV1_BIT_KHR.
pub const VIDEO_CODEC_OPERATION_ENCODE_AV1: vk::VideoCodecOperationFlagsKHR =
    vk::VideoCodecOperationFlagsKHR::from_raw(0x0004_0000);

/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_CAPABILITIES_KHR.
pub const STRUCTURE_TYPE_CAPABILITIES: vk::StructureType = vk::StructureType::from_raw(1_000_513_000);
/// VK_STRUCTURE_TYPE_VIDEO_ENCODE_AV1_PROFILE_INFO_KHR.
pub const STRUCTURE_TYPE_PROFILE_INFO: vk::StructureType = vk::StructureType::from_raw(1_000_513_005);

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
}
