//! The video session: the AV1 Main 8-bit 4:2:0 encode profile, the session with its memory,
//! and the session parameters carrying the sequence header, whose encoded OBU the driver hands
//! back (vkGetEncodedVideoSessionParametersKHR).

use std::ffi::c_void;
use std::sync::Arc;

use ash::vk;
use ash::vk::native::{
    StdVideoAV1ChromaSamplePosition_STD_VIDEO_AV1_CHROMA_SAMPLE_POSITION_UNKNOWN as CHROMA_POSITION_UNKNOWN,
    StdVideoAV1ColorConfig, StdVideoAV1ColorPrimaries_STD_VIDEO_AV1_COLOR_PRIMARIES_BT_709 as PRIMARIES_BT_709,
    StdVideoAV1MatrixCoefficients_STD_VIDEO_AV1_MATRIX_COEFFICIENTS_BT_709 as MATRIX_BT_709,
    StdVideoAV1Profile_STD_VIDEO_AV1_PROFILE_MAIN as PROFILE_MAIN, StdVideoAV1SequenceHeader,
    StdVideoAV1TransferCharacteristics_STD_VIDEO_AV1_TRANSFER_CHARACTERISTICS_BT_709 as TRANSFER_BT_709,
};

use super::av1_ffi;
use super::device::{vk_error, Gpu};
use crate::backend::BackendKind;
use crate::error::{Error, Result};

/// The AV1 encode profile as the chains the API wants it in: `VkVideoProfileInfoKHR` → AV1
/// profile info, and a one-entry `VkVideoProfileListInfoKHR` for images, buffers and queries.
/// Boxed because the chain points into itself; never moved out of the box.
pub(super) struct Profile {
    av1: av1_ffi::ProfileInfo,
    pub info: vk::VideoProfileInfoKHR<'static>,
    pub list: vk::VideoProfileListInfoKHR<'static>,
}

// SAFETY: the raw pointers only point into the same boxed allocation, which moves with it.
unsafe impl Send for Profile {}

impl Profile {
    pub fn new() -> Box<Self> {
        let mut p = Box::new(Self {
            av1: av1_ffi::ProfileInfo::default(),
            info: vk::VideoProfileInfoKHR::default()
                .video_codec_operation(av1_ffi::VIDEO_CODEC_OPERATION_ENCODE_AV1)
                .chroma_subsampling(vk::VideoChromaSubsamplingFlagsKHR::TYPE_420)
                .luma_bit_depth(vk::VideoComponentBitDepthFlagsKHR::TYPE_8)
                .chroma_bit_depth(vk::VideoComponentBitDepthFlagsKHR::TYPE_8),
            list: vk::VideoProfileListInfoKHR::default(),
        });
        p.info.p_next = (&raw const p.av1).cast::<c_void>();
        p.list.profile_count = 1;
        p.list.p_profiles = &raw const p.info;
        p
    }

    /// The list as a `p_next` pointer for create infos.
    pub fn list_ptr(&self) -> *const c_void {
        (&raw const self.list).cast()
    }
}

/// What the session is created for.
pub(super) struct SessionSpec {
    pub encode_family: u32,
    pub coded: (u32, u32),
    pub picture_format: vk::Format,
    pub dpb_format: vk::Format,
    pub dpb_slots: u32,
    /// StdVideoAV1Level (2.0 = 0, 2.1 = 1, … 7.3 = 23) for the one operating point, or
    /// `None` where the driver takes no operating points (it then signals the level itself).
    pub level: Option<u32>,
    /// 128×128 superblocks where the driver encodes no 64×64 ones.
    pub superblock_128: bool,
    pub quality_level: u32,
    pub std_header_version: vk::ExtensionProperties,
}

pub(super) struct Session {
    gpu: Arc<Gpu>,
    pub video: ash::khr::video_queue::Device,
    pub encode: ash::khr::video_encode_queue::Device,
    pub session: vk::VideoSessionKHR,
    memory: Vec<vk::DeviceMemory>,
    pub parameters: vk::VideoSessionParametersKHR,
    /// The Sequence Header OBU as the driver encoded it, normalised (size field, no padding):
    /// what av1C and every key frame's temporal unit carry.
    pub sequence_header: Vec<u8>,
}

impl Session {
    pub fn new(gpu: &Arc<Gpu>, profile: &Profile, spec: &SessionSpec) -> Result<Self> {
        let video = ash::khr::video_queue::Device::new(&gpu.instance, &gpu.device);
        let encode = ash::khr::video_encode_queue::Device::new(&gpu.instance, &gpu.device);
        let info = vk::VideoSessionCreateInfoKHR {
            queue_family_index: spec.encode_family,
            p_video_profile: &raw const profile.info,
            picture_format: spec.picture_format,
            max_coded_extent: vk::Extent2D {
                width: spec.coded.0,
                height: spec.coded.1,
            },
            reference_picture_format: spec.dpb_format,
            max_dpb_slots: spec.dpb_slots,
            // One reference per P frame: the previous frame.
            max_active_reference_pictures: 1,
            p_std_header_version: &raw const spec.std_header_version,
            ..Default::default()
        };
        let dev = gpu.device.handle();
        let mut out = Self {
            gpu: gpu.clone(),
            video,
            encode,
            session: vk::VideoSessionKHR::null(),
            memory: Vec::new(),
            parameters: vk::VideoSessionParametersKHR::null(),
            sequence_header: Vec::new(),
        };
        // SAFETY: the create info and the profile chain it points to live across the call.
        // Each handle is stored in `out` as soon as it exists, so Drop cleans up a failure.
        unsafe {
            (out.video.fp().create_video_session_khr)(dev, &info, std::ptr::null(), &mut out.session)
                .result()
                .map_err(vk_error("vkCreateVideoSessionKHR"))?;
        }
        out.bind_memory()?;
        out.create_parameters(spec)?;
        out.sequence_header = out.encoded_sequence_header()?;
        Ok(out)
    }

    /// Allocates and binds every memory the session asks for (the driver's internal state).
    fn bind_memory(&mut self) -> Result<()> {
        let dev = self.gpu.device.handle();
        let fp = self.video.fp();
        let mut count = 0u32;
        // SAFETY: the session is valid; the two-call idiom sizes the array first.
        let mut reqs = unsafe {
            (fp.get_video_session_memory_requirements_khr)(dev, self.session, &mut count, std::ptr::null_mut())
                .result()
                .map_err(vk_error("vkGetVideoSessionMemoryRequirementsKHR"))?;
            let mut reqs = vec![vk::VideoSessionMemoryRequirementsKHR::default(); count as usize];
            (fp.get_video_session_memory_requirements_khr)(dev, self.session, &mut count, reqs.as_mut_ptr())
                .result()
                .map_err(vk_error("vkGetVideoSessionMemoryRequirementsKHR"))?;
            reqs
        };
        reqs.truncate(count as usize);
        let mut binds = Vec::with_capacity(reqs.len());
        for req in &reqs {
            let r = req.memory_requirements;
            let index = self.gpu.memory_type(
                r.memory_type_bits,
                vk::MemoryPropertyFlags::empty(),
                vk::MemoryPropertyFlags::DEVICE_LOCAL,
            )?;
            let alloc = vk::MemoryAllocateInfo::default()
                .allocation_size(r.size)
                .memory_type_index(index);
            // SAFETY: a valid allocate info; the memory is kept in `self.memory` for Drop.
            let memory =
                unsafe { self.gpu.device.allocate_memory(&alloc, None) }.map_err(vk_error("vkAllocateMemory"))?;
            self.memory.push(memory);
            binds.push(
                vk::BindVideoSessionMemoryInfoKHR::default()
                    .memory_bind_index(req.memory_bind_index)
                    .memory(memory)
                    .memory_offset(0)
                    .memory_size(r.size),
            );
        }
        // SAFETY: each bind names a distinct bind index of this session with memory of an
        // allowed type and the required size.
        unsafe {
            (fp.bind_video_session_memory_khr)(dev, self.session, binds.len() as u32, binds.as_ptr())
                .result()
                .map_err(vk_error("vkBindVideoSessionMemoryKHR"))
        }
    }

    fn create_parameters(&mut self, spec: &SessionSpec) -> Result<()> {
        let (color, mut header) = sequence_header(spec.coded, spec.superblock_128);
        header.pColorConfig = &raw const color;
        let operating_point = av1_ffi::StdOperatingPointInfo {
            seq_level_idx: spec.level.unwrap_or(0) as u8,
            ..Default::default()
        };
        let mut quality = vk::VideoEncodeQualityLevelInfoKHR::default().quality_level(spec.quality_level);
        let av1 = av1_ffi::SessionParametersCreateInfo {
            p_next: (&raw mut quality).cast::<c_void>(),
            p_std_sequence_header: &raw const header,
            std_operating_point_count: u32::from(spec.level.is_some()),
            p_std_operating_points: &raw const operating_point,
            ..Default::default()
        };
        let info = vk::VideoSessionParametersCreateInfoKHR {
            p_next: (&raw const av1).cast::<c_void>(),
            video_session: self.session,
            ..Default::default()
        };
        // SAFETY: the chain (AV1 parameters → quality level) and the std structs it points to
        // live across the call.
        unsafe {
            (self.video.fp().create_video_session_parameters_khr)(
                self.gpu.device.handle(),
                &info,
                std::ptr::null(),
                &mut self.parameters,
            )
            .result()
            .map_err(vk_error("vkCreateVideoSessionParametersKHR"))
        }
    }

    /// The sequence header OBU from the parameters (AV1 has no codec-specific get-info: the
    /// driver returns the sequence header OBU).
    fn encoded_sequence_header(&self) -> Result<Vec<u8>> {
        let info = vk::VideoEncodeSessionParametersGetInfoKHR::default().video_session_parameters(self.parameters);
        let fp = self.encode.fp();
        let dev = self.gpu.device.handle();
        let mut size = 0usize;
        // SAFETY: two-call idiom; the buffer is sized by the first call.
        let data = unsafe {
            (fp.get_encoded_video_session_parameters_khr)(
                dev,
                &info,
                std::ptr::null_mut(),
                &mut size,
                std::ptr::null_mut(),
            )
            .result()
            .map_err(vk_error("vkGetEncodedVideoSessionParametersKHR"))?;
            let mut data = vec![0u8; size];
            (fp.get_encoded_video_session_parameters_khr)(
                dev,
                &info,
                std::ptr::null_mut(),
                &mut size,
                data.as_mut_ptr().cast(),
            )
            .result()
            .map_err(vk_error("vkGetEncodedVideoSessionParametersKHR"))?;
            data.truncate(size);
            data
        };
        crate::av1::normalize_sequence_header(&data).ok_or_else(|| Error::Encoder {
            backend: BackendKind::Vulkan,
            message: format!(
                "the driver's encoded session parameters ({} bytes) hold no sequence header OBU",
                data.len()
            ),
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let dev = self.gpu.device.handle();
        let fp = self.video.fp();
        // SAFETY: the encoder waited for its last submission; parameters before the session,
        // then the memory bound to it. Null handles (a failed `new`) are ignored by Vulkan.
        unsafe {
            (fp.destroy_video_session_parameters_khr)(dev, self.parameters, std::ptr::null());
            (fp.destroy_video_session_khr)(dev, self.session, std::ptr::null());
            for &m in &self.memory {
                self.gpu.device.free_memory(m, None);
            }
        }
    }
}

/// Bits needed to write `v` (at least 1).
fn bits(v: u32) -> u8 {
    (32 - v.leading_zeros()).max(1) as u8
}

/// The sequence header for `coded` pictures: AV1 Main, 8-bit 4:2:0, BT.709 limited range
/// (what the container declares and what `crate::color` converts to), order hints of 8 bits
/// (needed for inter frames), no timing info, no screen-content tools, no frame ids, and no
/// optional coding tools in the sequence (CDEF, loop restoration, superres… stay off: the
/// conservative set every AV1 encode driver must accept), 64×64 superblocks unless
/// `superblock_128`. The caller points `pColorConfig` at the returned colour config.
fn sequence_header(coded: (u32, u32), superblock_128: bool) -> (StdVideoAV1ColorConfig, StdVideoAV1SequenceHeader) {
    // SAFETY: plain C structs of integers, bitfields and pointers: zero is valid for each.
    let (mut color, mut header): (StdVideoAV1ColorConfig, StdVideoAV1SequenceHeader) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    color.BitDepth = 8;
    color.subsampling_x = 1;
    color.subsampling_y = 1;
    color.color_primaries = PRIMARIES_BT_709;
    color.transfer_characteristics = TRANSFER_BT_709;
    color.matrix_coefficients = MATRIX_BT_709;
    color.chroma_sample_position = CHROMA_POSITION_UNKNOWN;
    color.flags.set_color_description_present_flag(1);
    // color_range stays 0: limited ("studio") range.
    header.seq_profile = PROFILE_MAIN;
    header.frame_width_bits_minus_1 = bits(coded.0 - 1) - 1;
    header.frame_height_bits_minus_1 = bits(coded.1 - 1) - 1;
    header.max_frame_width_minus_1 = (coded.0 - 1) as u16;
    header.max_frame_height_minus_1 = (coded.1 - 1) as u16;
    header.order_hint_bits_minus_1 = 7;
    // seq_choose_screen_content_tools = 0 with seq_force_screen_content_tools = 0; integer MVs
    // are then SELECT_INTEGER_MV (2), as the AV1 spec infers.
    header.seq_force_screen_content_tools = 0;
    header.seq_force_integer_mv = 2;
    header.flags.set_enable_order_hint(1);
    header.flags.set_use_128x128_superblock(u32::from(superblock_128));
    (color, header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_header_sizes_take_the_fewest_bits() {
        let (color, h) = sequence_header((1280, 720), false);
        assert_eq!((h.frame_width_bits_minus_1, h.frame_height_bits_minus_1), (10, 9));
        assert_eq!((h.max_frame_width_minus_1, h.max_frame_height_minus_1), (1279, 719));
        assert_eq!(color.BitDepth, 8);
        assert_eq!(color.flags.color_range(), 0);
        let (_, h) = sequence_header((2, 2), false);
        assert_eq!((h.frame_width_bits_minus_1, h.max_frame_width_minus_1), (0, 1));
        assert_eq!(h.flags.enable_order_hint(), 1);
        assert_eq!(h.flags.use_128x128_superblock(), 0);
        let (_, h) = sequence_header((1920, 1088), true);
        assert_eq!(h.flags.use_128x128_superblock(), 1);
    }

    #[test]
    fn profile_chain_points_into_itself() {
        let p = Profile::new();
        assert_eq!(p.list.p_profiles, &raw const p.info);
        assert_eq!(p.info.p_next, (&raw const p.av1).cast::<c_void>());
        let moved = p;
        assert_eq!(
            moved.list.p_profiles, &raw const moved.info,
            "a moved Box keeps its chain"
        );
    }
}
