//! [`VulkanEncoder`]: one frame at a time through the compute queue (RGB→NV12, or the CPU's
//! I420→NV12, copied into the source picture) and the video-encode queue (the AV1 encode,
//! its feedback query and the bitstream read back), waiting for each frame before the next.
//!
//! Waiting per frame costs throughput (the CPU and GPU never overlap) but keeps every
//! resource single-buffered and the synchronisation easy to check against the spec, which
//! matters more for a path that has never run on real hardware.

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::Arc;

use ash::vk;
use ash::vk::native::{
    StdVideoAV1CDEF, StdVideoAV1FrameType_STD_VIDEO_AV1_FRAME_TYPE_INTER as FRAME_TYPE_INTER,
    StdVideoAV1FrameType_STD_VIDEO_AV1_FRAME_TYPE_KEY as FRAME_TYPE_KEY, StdVideoAV1GlobalMotion,
    StdVideoAV1InterpolationFilter_STD_VIDEO_AV1_INTERPOLATION_FILTER_EIGHTTAP as EIGHTTAP, StdVideoAV1LoopFilter,
    StdVideoAV1LoopRestoration, StdVideoAV1Quantization,
    StdVideoAV1TxMode_STD_VIDEO_AV1_TX_MODE_SELECT as TX_MODE_SELECT,
};

use super::av1_ffi::{self, picture_flags};
use super::convert::Converter;
use super::device::{unavailable, vk_error, Buffer, Commands, Gpu};
use super::dpb::{FramePlan, Image, References, DPB_SLOTS};
use super::session::{Profile, Session, SessionSpec};
use super::{capabilities, level_string, EncodeCaps};
use crate::backend::{coded_size, BackendKind, Received, VideoEncoder};
use crate::config::{quality_to_qindex, RateControl, RecordingConfig, VideoConfig};
use crate::error::{Error, Result};
use crate::frame::VideoFrame;

/// The rate control the session runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RatePlan {
    pub mode: vk::VideoEncodeRateControlModeFlagsKHR,
    pub average_bps: u64,
    pub max_bps: u64,
    /// The AV1 quantizer index (0–255): every frame's with CQP, and the base for the loop
    /// filter strength otherwise.
    pub qindex: u32,
}

/// Maps the recording's rate control onto Vulkan's: CQP is "rate control disabled" with a
/// constant quantizer index, CBR and VBR are the driver's. There is no constant-quality mode.
pub(super) fn rate_plan(v: &VideoConfig, caps: &EncodeCaps) -> Result<RatePlan> {
    // The crate's 0–63 scale is SVT-AV1's, whose quantizer maps onto AV1's 0–255 qindex ×4.
    let qindex = (u32::from(quality_to_qindex(v.quality)) * 4)
        .min(255)
        .clamp(caps.min_q_index, caps.max_q_index.max(caps.min_q_index));
    let (mode, average, max) = match v.rate_control {
        RateControl::Cqp => (vk::VideoEncodeRateControlModeFlagsKHR::DISABLED, 0, 0),
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
        RateControl::Crf => {
            return Err(unavailable(
                "Vulkan Video has no constant-quality mode; use rate control cqp, vbr or cbr",
            ))
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
    Ok(RatePlan {
        mode,
        average_bps: average,
        max_bps: max,
        qindex,
    })
}

/// The lowest AV1 level (as StdVideoAV1Level: 2.0 = 0 … 6.3 = 19) whose picture size, width,
/// height and luma sample rate fit (AV1 spec, annex A.3; bitrate is not considered).
pub(super) fn level_for(width: u32, height: u32, fps: u32) -> Option<u32> {
    // (level, MaxPicSize, MaxHSize, MaxVSize, MaxDisplayRate)
    const LEVELS: [(u32, u64, u32, u32, u64); 14] = [
        (0, 147_456, 2048, 1152, 4_423_680),
        (1, 278_784, 2816, 1584, 8_363_520),
        (4, 665_856, 4352, 2448, 19_975_680),
        (5, 1_065_024, 5504, 3096, 31_950_720),
        (8, 2_359_296, 6144, 3456, 70_778_880),
        (9, 2_359_296, 6144, 3456, 141_557_760),
        (12, 8_912_896, 8192, 4352, 267_386_880),
        (13, 8_912_896, 8192, 4352, 534_773_760),
        (14, 8_912_896, 8192, 4352, 1_069_547_520),
        (15, 8_912_896, 8192, 4352, 1_069_547_520),
        (16, 35_651_584, 16384, 8704, 1_069_547_520),
        (17, 35_651_584, 16384, 8704, 2_139_095_040),
        (18, 35_651_584, 16384, 8704, 4_278_190_080),
        (19, 35_651_584, 16384, 8704, 4_278_190_080),
    ];
    let pic = u64::from(width) * u64::from(height);
    LEVELS
        .iter()
        .find(|&&(_, size, w, h, rate)| pic <= size && width <= w && height <= h && pic * u64::from(fps) <= rate)
        .map(|l| l.0)
}

/// A loop-filter strength for quantizer index `qindex`: stronger as quantization coarsens,
/// off when lossless. A heuristic (roughly libaom's choice at its fast presets), since the
/// Vulkan API leaves the choice to the application.
fn loop_filter_level(qindex: u32) -> u8 {
    if qindex == 0 {
        0
    } else {
        (qindex / 6 + 2).min(63) as u8
    }
}

/// Prepends what makes `frame` (the driver's frame OBUs) one temporal unit: a temporal
/// delimiter, and on key frames the sequence header, unless the driver wrote them already.
pub(super) fn temporal_unit(frame: &[u8], sequence_header: &[u8], key: bool, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(frame.len());
    crate::av1::strip_temporal_delimiters(frame, &mut body);
    out.clear();
    out.extend_from_slice(&[0x12, 0x00]);
    if key && crate::av1::find_sequence_header(&body).is_none() {
        out.extend_from_slice(sequence_header);
    }
    out.extend_from_slice(&body);
}

pub struct VulkanEncoder {
    // Everything below holds an Arc<Gpu>; the device goes when the last of them drops.
    gpu: Arc<Gpu>,
    profile: Box<Profile>,
    session: Session,
    picture: Image,
    dpb: Image,
    converter: Converter,
    bitstream: Buffer,
    query_pool: vk::QueryPool,
    /// Signalled by the compute submission, waited on by the encode submission.
    uploaded: vk::Semaphore,
    compute: Commands,
    encode: Commands,
    encode_queue: vk::Queue,
    coded: (u32, u32),
    fps: u32,
    keyint: u64,
    rate: RatePlan,
    /// Index into `referenceNameSlotIndices` of the name P frames use (LAST_FRAME if allowed).
    reference_name: usize,
    /// Whether the driver wants VkVideoEncodeAV1GopRemainingFrameInfoKHR.
    gop_remaining: bool,
    quality_level: u32,
    references: References,
    started: bool,
    packets: VecDeque<(Vec<u8>, u64, bool)>,
    flushed: bool,
}

impl VulkanEncoder {
    pub fn new(config: &RecordingConfig) -> Result<Self> {
        let v = &config.video;
        let gpu = Gpu::av1_encode()?;
        let (encode_family, encode_queue) = gpu.encode.expect("av1_encode opens an encode queue");
        let video = ash::khr::video_queue::Instance::new(&gpu.entry, &gpu.instance);
        let caps = capabilities(&video, gpu.physical, vk::VideoComponentBitDepthFlagsKHR::TYPE_8)
            .map_err(|e| unavailable(format!("vkGetPhysicalDeviceVideoCapabilitiesKHR failed: {e:?}")))?;
        let rate = rate_plan(v, &caps)?;
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
        let level = level_for(coded.0, coded.1, v.fps)
            .filter(|&l| l <= caps.max_level)
            .ok_or_else(|| {
                unavailable(format!(
                    "{}x{} at {} fps needs a higher AV1 level than the driver's {}",
                    coded.0,
                    coded.1,
                    v.fps,
                    level_string(caps.max_level)
                ))
            })?;
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
        // The session is created for the std header version this code was written against
        // (its structs are laid out as in 1.0.0); a driver with a newer one accepts older.
        let std_name = caps.std_header_version.extension_name_as_c_str().ok();
        if std_name != Some(av1_ffi::STD_EXTENSION_NAME)
            || caps.std_header_version.spec_version < av1_ffi::STD_SPEC_VERSION
        {
            return Err(unavailable(format!(
                "the driver's AV1 encode std header is {:?} version {:#x}, not {:?} 1.0.0 or newer",
                std_name,
                caps.std_header_version.spec_version,
                av1_ffi::STD_EXTENSION_NAME
            )));
        }
        let mut std_header_version = vk::ExtensionProperties {
            spec_version: av1_ffi::STD_SPEC_VERSION,
            ..Default::default()
        };
        for (dst, &src) in std_header_version
            .extension_name
            .iter_mut()
            .zip(av1_ffi::STD_EXTENSION_NAME.to_bytes())
        {
            *dst = src as std::ffi::c_char;
        }
        let profile = Profile::new();
        let picture_format = video_format(
            &gpu,
            &video,
            &profile,
            vk::ImageUsageFlags::VIDEO_ENCODE_SRC_KHR | vk::ImageUsageFlags::TRANSFER_DST,
        )?;
        if picture_format != vk::Format::G8_B8R8_2PLANE_420_UNORM {
            return Err(unavailable(format!(
                "the driver's encode source format is {picture_format:?}, not NV12 (G8_B8R8_2PLANE_420_UNORM)"
            )));
        }
        let dpb_format = video_format(&gpu, &video, &profile, vk::ImageUsageFlags::VIDEO_ENCODE_DPB_KHR)?;
        // SVT-AV1's presets run 0 (slowest) – 13 (fastest); higher Vulkan quality levels are
        // slower and better, so the slow end gets the highest level.
        let quality_level = caps.max_quality_levels.saturating_sub(1) * (13 - u32::from(v.preset.min(13))) / 13;
        let session = Session::new(
            &gpu,
            &profile,
            &SessionSpec {
                encode_family,
                coded,
                picture_format,
                dpb_format,
                dpb_slots: DPB_SLOTS,
                level: (caps.max_operating_points > 0).then_some(level),
                quality_level,
                std_header_version,
            },
        )?;
        let families: Vec<u32> = if gpu.compute_family == encode_family {
            vec![encode_family]
        } else {
            vec![gpu.compute_family, encode_family]
        };
        let picture = Image::new(
            &gpu,
            &profile,
            picture_format,
            coded,
            1,
            vk::ImageUsageFlags::VIDEO_ENCODE_SRC_KHR | vk::ImageUsageFlags::TRANSFER_DST,
            &families,
        )?;
        let dpb = Image::new(
            &gpu,
            &profile,
            dpb_format,
            coded,
            DPB_SLOTS,
            vk::ImageUsageFlags::VIDEO_ENCODE_DPB_KHR,
            &[encode_family],
        )?;
        let converter = Converter::new(&gpu, coded.0, coded.1, vk::BufferUsageFlags::TRANSFER_SRC)?;
        // A frame's bitstream stays below its raw size in practice; 64 KiB more covers headers.
        let size = (u64::from(coded.0) * u64::from(coded.1) * 3 / 2 + 65_536)
            .next_multiple_of(caps.bitstream_size_alignment.max(1));
        let bitstream = Buffer::host(
            &gpu,
            size,
            vk::BufferUsageFlags::VIDEO_ENCODE_DST_KHR,
            profile.list_ptr(),
        )?;
        let compute = Commands::new(&gpu, gpu.compute_family)?;
        let encode = Commands::new(&gpu, encode_family)?;
        let mut out = Self {
            gpu: gpu.clone(),
            profile,
            session,
            picture,
            dpb,
            converter,
            bitstream,
            query_pool: vk::QueryPool::null(),
            uploaded: vk::Semaphore::null(),
            compute,
            encode,
            encode_queue,
            coded,
            fps: v.fps,
            keyint: ((v.keyframe_interval_s * v.fps as f32).round() as u64).max(1),
            rate,
            reference_name,
            gop_remaining: caps.wants_gop_remaining,
            quality_level,
            references: References::new(1),
            started: false,
            packets: VecDeque::new(),
            flushed: false,
        };
        out.references = References::new(out.keyint);
        let wanted = vk::VideoEncodeFeedbackFlagsKHR::BITSTREAM_BUFFER_OFFSET
            | vk::VideoEncodeFeedbackFlagsKHR::BITSTREAM_BYTES_WRITTEN;
        if !caps.feedback_flags.contains(wanted) {
            return Err(unavailable(
                "the driver cannot report the bitstream offset and size of a frame",
            ));
        }
        let mut feedback = vk::QueryPoolVideoEncodeFeedbackCreateInfoKHR::default().encode_feedback_flags(wanted);
        feedback.p_next = (&raw const out.profile.info).cast::<c_void>();
        let mut pool = vk::QueryPoolCreateInfo::default()
            .query_type(vk::QueryType::VIDEO_ENCODE_FEEDBACK_KHR)
            .query_count(1);
        pool.p_next = (&raw const feedback).cast::<c_void>();
        // SAFETY: valid create infos (the feedback info chains the encode profile, as the
        // query type requires); handles stored at once so Drop destroys them.
        unsafe {
            out.query_pool = gpu
                .device
                .create_query_pool(&pool, None)
                .map_err(vk_error("vkCreateQueryPool"))?;
            out.uploaded = gpu
                .device
                .create_semaphore(&vk::SemaphoreCreateInfo::default(), None)
                .map_err(vk_error("vkCreateSemaphore"))?;
        }
        Ok(out)
    }

    /// Converts and uploads `frame`, encodes it and queues its packet.
    fn encode_frame(&mut self, frame: &VideoFrame<'_>, index: u64) -> Result<()> {
        let plan = self.references.next(index);
        self.upload(frame)?;
        self.record_encode(&plan)?;
        let wait = [vk::SemaphoreSubmitInfo::default()
            .semaphore(self.uploaded)
            .stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)];
        self.encode.submit(self.encode_queue, &wait, &[], true)?;
        self.compute.wait()?;
        self.started = true;
        let mut feedback = [[0u32; 3]];
        // SAFETY: the query was reset, begun and ended in the submission just waited for.
        unsafe {
            self.gpu
                .device
                .get_query_pool_results(
                    self.query_pool,
                    0,
                    &mut feedback,
                    vk::QueryResultFlags::WAIT | vk::QueryResultFlags::WITH_STATUS_KHR,
                )
                .map_err(vk_error("vkGetQueryPoolResults"))?;
        }
        let [offset, bytes, status] = feedback[0];
        let status = vk::QueryResultStatusKHR::from_raw(status as i32);
        if status != vk::QueryResultStatusKHR::COMPLETE {
            return Err(Error::Encoder {
                backend: BackendKind::Vulkan,
                message: format!("frame {index} did not encode: query status {status:?}"),
            });
        }
        let data = self
            .bitstream
            .bytes()
            .get(offset as usize..offset as usize + bytes as usize)
            .ok_or_else(|| Error::Encoder {
                backend: BackendKind::Vulkan,
                message: format!("frame {index}: the driver reports {bytes} bytes at {offset}, past the buffer"),
            })?;
        let mut packet = Vec::new();
        temporal_unit(data, &self.session.sequence_header, plan.key, &mut packet);
        self.packets.push_back((packet, index, plan.key));
        Ok(())
    }

    /// On the compute queue: RGB through the shader (I420 interleaved on the CPU), then the
    /// NV12 buffer copied into the source picture; signals `uploaded`.
    fn upload(&mut self, frame: &VideoFrame<'_>) -> Result<()> {
        let cmd = self.compute.cmd;
        self.compute.begin()?;
        match frame {
            VideoFrame::Rgb(image) => self.converter.record_rgb(cmd, image)?,
            VideoFrame::I420(image) => self.converter.write_i420(image)?,
        }
        let d = &self.gpu.device;
        let layout = self.converter.layout;
        let range = vk::ImageSubresourceRange::default()
            .aspect_mask(vk::ImageAspectFlags::COLOR)
            .level_count(1)
            .layer_count(1);
        // The previous contents are not needed: every sample is overwritten.
        let to_transfer = [vk::ImageMemoryBarrier2::default()
            .dst_stage_mask(vk::PipelineStageFlags2::COPY)
            .dst_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
            .old_layout(vk::ImageLayout::UNDEFINED)
            .new_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(self.picture.image)
            .subresource_range(range)];
        let plane = |aspect, offset: u32, divisor: u32| {
            vk::BufferImageCopy::default()
                .buffer_offset(u64::from(offset))
                // Rows in texels of the plane's format: R8 for Y, R8G8 for UV.
                .buffer_row_length(layout.stride / divisor)
                .buffer_image_height(layout.height / divisor)
                .image_subresource(vk::ImageSubresourceLayers::default().aspect_mask(aspect).layer_count(1))
                .image_extent(vk::Extent3D {
                    width: layout.width / divisor,
                    height: layout.height / divisor,
                    depth: 1,
                })
        };
        let regions = [
            plane(vk::ImageAspectFlags::PLANE_0, 0, 1),
            plane(vk::ImageAspectFlags::PLANE_1, layout.uv_offset, 2),
        ];
        // SAFETY: `cmd` is recording; the buffer holds a whole NV12 picture at the image's
        // size (the shader's writes are made visible to copies by its barrier; the CPU's by
        // the submission). The semaphore signal below covers the copy's writes.
        unsafe {
            d.cmd_pipeline_barrier2(cmd, &vk::DependencyInfo::default().image_memory_barriers(&to_transfer));
            d.cmd_copy_buffer_to_image(
                cmd,
                self.converter.output.buffer,
                self.picture.image,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &regions,
            );
        }
        let signal = [vk::SemaphoreSubmitInfo::default()
            .semaphore(self.uploaded)
            .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
        self.compute.submit(self.gpu.compute_queue, &[], &signal, false)
    }

    /// Records the encode of one frame into the encode command buffer.
    fn record_encode(&self, plan: &FramePlan) -> Result<()> {
        let d = &self.gpu.device;
        let cmd = self.encode.cmd;
        let video = self.session.video.fp();
        let coded = self.coded;
        self.encode.begin()?;

        // Barriers: the source picture into its encode layout (after the semaphore wait, at
        // the encode stage); the DPB into its layout once; the previous frame's DPB writes
        // made visible to this frame's reads.
        let mut images = vec![vk::ImageMemoryBarrier2::default()
            .src_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
            .dst_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
            .dst_access_mask(vk::AccessFlags2::VIDEO_ENCODE_READ_KHR)
            .old_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
            .new_layout(vk::ImageLayout::VIDEO_ENCODE_SRC_KHR)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(self.picture.image)
            .subresource_range(
                vk::ImageSubresourceRange::default()
                    .aspect_mask(vk::ImageAspectFlags::COLOR)
                    .level_count(1)
                    .layer_count(1),
            )];
        if !self.started {
            images.push(
                vk::ImageMemoryBarrier2::default()
                    .dst_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
                    .dst_access_mask(vk::AccessFlags2::VIDEO_ENCODE_READ_KHR | vk::AccessFlags2::VIDEO_ENCODE_WRITE_KHR)
                    .old_layout(vk::ImageLayout::UNDEFINED)
                    .new_layout(vk::ImageLayout::VIDEO_ENCODE_DPB_KHR)
                    .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                    .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                    .image(self.dpb.image)
                    .subresource_range(
                        vk::ImageSubresourceRange::default()
                            .aspect_mask(vk::ImageAspectFlags::COLOR)
                            .level_count(1)
                            .layer_count(DPB_SLOTS),
                    ),
            );
        }
        let memory = [vk::MemoryBarrier2::default()
            .src_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
            .src_access_mask(vk::AccessFlags2::VIDEO_ENCODE_WRITE_KHR)
            .dst_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
            .dst_access_mask(vk::AccessFlags2::VIDEO_ENCODE_READ_KHR | vk::AccessFlags2::VIDEO_ENCODE_WRITE_KHR)];
        let to_host = [vk::MemoryBarrier2::default()
            .src_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
            .src_access_mask(vk::AccessFlags2::VIDEO_ENCODE_WRITE_KHR)
            .dst_stage_mask(vk::PipelineStageFlags2::HOST)
            .dst_access_mask(vk::AccessFlags2::HOST_READ)];

        // Rate control: the same state for the reset on the first frame and, as the spec
        // requires, chained to every later vkCmdBeginVideoCodingKHR.
        let layers = [vk::VideoEncodeRateControlLayerInfoKHR::default()
            .average_bitrate(self.rate.average_bps)
            .max_bitrate(self.rate.max_bps)
            .frame_rate_numerator(self.fps)
            .frame_rate_denominator(1)];
        let disabled = self.rate.mode == vk::VideoEncodeRateControlModeFlagsKHR::DISABLED;
        let layer_count = if disabled { 0 } else { 1 };
        let quality = vk::VideoEncodeQualityLevelInfoKHR::default().quality_level(self.quality_level);
        let av1_rate = av1_ffi::RateControlInfo {
            // The quality level goes with the rate control in the first frame's reset only
            // (the begin info of later frames takes the rate control alone).
            p_next: if self.started {
                std::ptr::null()
            } else {
                (&raw const quality).cast::<c_void>()
            },
            flags: av1_ffi::RATE_CONTROL_REGULAR_GOP | av1_ffi::RATE_CONTROL_REFERENCE_PATTERN_FLAT,
            gop_frame_count: self.keyint as u32,
            key_frame_period: self.keyint as u32,
            consecutive_bipredictive_frame_count: 0,
            temporal_layer_count: layer_count,
            ..Default::default()
        };
        let mut rate = vk::VideoEncodeRateControlInfoKHR {
            rate_control_mode: self.rate.mode,
            layer_count,
            p_layers: layers.as_ptr(),
            virtual_buffer_size_in_ms: if disabled { 0 } else { 1000 },
            initial_virtual_buffer_size_in_ms: if disabled { 0 } else { 500 },
            ..Default::default()
        };
        rate.p_next = (&raw const av1_rate).cast::<c_void>();

        // The DPB: the slot receiving this frame (activated: index -1 in the begin info) and
        // the previous frame's.
        let resources = [self.dpb.resource(0, coded), self.dpb.resource(1, coded)];
        let (frame_type, prediction, group) = if plan.key {
            (
                FRAME_TYPE_KEY,
                av1_ffi::PREDICTION_MODE_INTRA_ONLY,
                av1_ffi::RATE_CONTROL_GROUP_INTRA,
            )
        } else {
            (
                FRAME_TYPE_INTER,
                av1_ffi::PREDICTION_MODE_SINGLE_REFERENCE,
                av1_ffi::RATE_CONTROL_GROUP_PREDICTIVE,
            )
        };
        let setup_std = av1_ffi::StdReferenceInfo {
            flags: 0,
            ref_frame_id: 0,
            frame_type,
            order_hint: plan.order_hint,
            reserved1: [0; 3],
            p_extension_header: std::ptr::null(),
        };
        let setup_dpb = av1_ffi::DpbSlotInfo {
            p_std_reference_info: &raw const setup_std,
            ..Default::default()
        };
        let mut setup = vk::VideoReferenceSlotInfoKHR::default()
            .slot_index(plan.setup_slot as i32)
            .picture_resource(&resources[plan.setup_slot as usize]);
        setup.p_next = (&raw const setup_dpb).cast::<c_void>();
        let reference = plan.reference.map(|(slot, order_hint, was_key)| {
            (
                slot,
                av1_ffi::StdReferenceInfo {
                    flags: 0,
                    ref_frame_id: 0,
                    frame_type: if was_key { FRAME_TYPE_KEY } else { FRAME_TYPE_INTER },
                    order_hint,
                    reserved1: [0; 3],
                    p_extension_header: std::ptr::null(),
                },
            )
        });
        let reference_dpb = reference.as_ref().map(|(_, std)| av1_ffi::DpbSlotInfo {
            p_std_reference_info: std,
            ..Default::default()
        });
        let mut reference_slots = Vec::new();
        if let (Some((slot, _)), Some(dpb)) = (&reference, &reference_dpb) {
            let mut info = vk::VideoReferenceSlotInfoKHR::default()
                .slot_index(*slot as i32)
                .picture_resource(&resources[*slot as usize]);
            info.p_next = (dpb as *const av1_ffi::DpbSlotInfo).cast::<c_void>();
            reference_slots.push(info);
        }
        let mut begin_slots = vec![vk::VideoReferenceSlotInfoKHR::default()
            .slot_index(-1)
            .picture_resource(&resources[plan.setup_slot as usize])];
        begin_slots.extend(reference.iter().map(|&(slot, _)| {
            vk::VideoReferenceSlotInfoKHR::default()
                .slot_index(slot as i32)
                .picture_resource(&resources[slot as usize])
        }));

        // The AV1 picture: std syntax, then the Vulkan-level picture info.
        // SAFETY (zeroed): plain C structs of integers and arrays, for which zero is valid
        // (no segmentation, no CDEF strengths, no restoration, identity global motion).
        let mut quantization: StdVideoAV1Quantization = unsafe { std::mem::zeroed() };
        quantization.base_q_idx = self.rate.qindex as u8;
        let mut loop_filter: StdVideoAV1LoopFilter = unsafe { std::mem::zeroed() };
        let level = loop_filter_level(self.rate.qindex);
        loop_filter.loop_filter_level = [level, level, level / 2, level / 2];
        let cdef: StdVideoAV1CDEF = unsafe { std::mem::zeroed() };
        let restoration: StdVideoAV1LoopRestoration = unsafe { std::mem::zeroed() };
        let global_motion: StdVideoAV1GlobalMotion = unsafe { std::mem::zeroed() };
        // Key frames shown at once are error resilient by definition (AV1 5.9.2).
        let flags = picture_flags::SHOW_FRAME
            | if plan.key {
                picture_flags::ERROR_RESILIENT_MODE
            } else {
                0
            };
        let std_picture = av1_ffi::StdPictureInfo {
            flags,
            frame_type,
            order_hint: plan.order_hint,
            // Default CDFs on every frame: always valid, at a small cost in compression.
            primary_ref_frame: av1_ffi::PRIMARY_REF_NONE,
            refresh_frame_flags: plan.refresh_frame_flags,
            render_width_minus_1: (coded.0 - 1) as u16,
            render_height_minus_1: (coded.1 - 1) as u16,
            interpolation_filter: EIGHTTAP,
            tx_mode: TX_MODE_SELECT,
            ref_order_hint: plan.ref_order_hint,
            // Every reference name reads virtual buffer 0, the one each frame refreshes.
            ref_frame_idx: [0; av1_ffi::REFS_PER_FRAME],
            p_quantization: &raw const quantization,
            p_loop_filter: &raw const loop_filter,
            p_cdef: &raw const cdef,
            p_loop_restoration: &raw const restoration,
            p_global_motion: &raw const global_motion,
            ..Default::default()
        };
        let remaining = self.keyint - plan.gop_position;
        let gop = av1_ffi::GopRemainingFrameInfo {
            use_gop_remaining_frames: vk::TRUE,
            gop_remaining_intra: u32::from(plan.key),
            gop_remaining_predictive: (remaining - u64::from(plan.key)) as u32,
            gop_remaining_bipredictive: 0,
            ..Default::default()
        };
        let mut slot_indices = [-1i32; av1_ffi::REFS_PER_FRAME];
        if let Some((slot, _)) = reference {
            slot_indices[self.reference_name] = slot as i32;
        }
        let picture = av1_ffi::PictureInfo {
            p_next: if self.gop_remaining && !disabled {
                (&raw const gop).cast::<c_void>()
            } else {
                std::ptr::null()
            },
            prediction_mode: prediction,
            rate_control_group: group,
            constant_q_index: if disabled { self.rate.qindex } else { 0 },
            p_std_picture_info: &raw const std_picture,
            reference_name_slot_indices: slot_indices,
            ..Default::default()
        };
        let mut encode = vk::VideoEncodeInfoKHR::default()
            .dst_buffer(self.bitstream.buffer)
            .dst_buffer_offset(0)
            .dst_buffer_range(self.bitstream.size)
            .src_picture_resource(self.picture.resource(0, coded))
            .setup_reference_slot(&setup)
            .reference_slots(&reference_slots);
        encode.p_next = (&raw const picture).cast::<c_void>();

        let mut begin = vk::VideoBeginCodingInfoKHR::default()
            .video_session(self.session.session)
            .video_session_parameters(self.session.parameters)
            .reference_slots(&begin_slots);
        if self.started {
            begin.p_next = (&raw const rate).cast::<c_void>();
        }
        let raw = cmd;
        // SAFETY: `cmd` is recording on the encode queue's pool. Every struct reachable from
        // the infos (rate control, DPB slots, the std picture and reference info) is a local
        // that outlives the calls, which read them while recording. The query is reset
        // outside the video coding scope and used inside it, as the spec requires.
        unsafe {
            d.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default()
                    .memory_barriers(&memory)
                    .image_memory_barriers(&images),
            );
            d.cmd_reset_query_pool(cmd, self.query_pool, 0, 1);
            (video.cmd_begin_video_coding_khr)(raw, &begin);
            if !self.started {
                let mut control = vk::VideoCodingControlInfoKHR::default().flags(
                    vk::VideoCodingControlFlagsKHR::RESET
                        | vk::VideoCodingControlFlagsKHR::ENCODE_RATE_CONTROL
                        | vk::VideoCodingControlFlagsKHR::ENCODE_QUALITY_LEVEL,
                );
                control.p_next = (&raw const rate).cast::<c_void>();
                (video.cmd_control_video_coding_khr)(raw, &control);
            }
            d.cmd_begin_query(cmd, self.query_pool, 0, vk::QueryControlFlags::empty());
            (self.session.encode.fp().cmd_encode_video_khr)(raw, &encode);
            d.cmd_end_query(cmd, self.query_pool, 0);
            (video.cmd_end_video_coding_khr)(raw, &vk::VideoEndCodingInfoKHR::default());
            d.cmd_pipeline_barrier2(cmd, &vk::DependencyInfo::default().memory_barriers(&to_host));
        }
        Ok(())
    }
}

impl VideoEncoder for VulkanEncoder {
    fn kind(&self) -> BackendKind {
        BackendKind::Vulkan
    }

    fn coded_size(&self) -> (u32, u32) {
        self.coded
    }

    fn sequence_header(&self) -> Option<&[u8]> {
        Some(&self.session.sequence_header)
    }

    /// The compute shader converts colour, so RGB costs the CPU only a copy.
    fn prefers_rgb(&self) -> bool {
        true
    }

    fn send_frame(&mut self, frame: &VideoFrame<'_>, index: u64) -> Result<()> {
        if self.flushed {
            return Err(Error::Frame("a frame was sent after flush".into()));
        }
        self.encode_frame(frame, index)
    }

    fn flush(&mut self) -> Result<()> {
        self.flushed = true;
        Ok(())
    }

    fn receive_packet(&mut self, out: &mut Vec<u8>) -> Result<Received> {
        match self.packets.pop_front() {
            Some((packet, pts, keyframe)) => {
                *out = packet;
                Ok(Received::Packet { pts, keyframe })
            }
            None if self.flushed => Ok(Received::Done),
            None => Ok(Received::NeedMoreInput),
        }
    }
}

impl Drop for VulkanEncoder {
    fn drop(&mut self) {
        // SAFETY: waiting for idle first means nothing below is in use by the GPU (a failed
        // frame may have left a submission pending); then the handles owned here. The fields
        // (images, buffers, session, command pools) destroy themselves after this, and the
        // device itself goes with the last Arc<Gpu>.
        unsafe {
            let _ = self.gpu.device.device_wait_idle();
            self.gpu.device.destroy_semaphore(self.uploaded, None);
            self.gpu.device.destroy_query_pool(self.query_pool, None);
        }
    }
}

/// The first format the driver offers for video images of `profile` with `usage`.
fn video_format(
    gpu: &Gpu,
    video: &ash::khr::video_queue::Instance,
    profile: &Profile,
    usage: vk::ImageUsageFlags,
) -> Result<vk::Format> {
    let mut info = vk::PhysicalDeviceVideoFormatInfoKHR::default().image_usage(usage);
    info.p_next = profile.list_ptr();
    let fp = video.fp().get_physical_device_video_format_properties_khr;
    let mut count = 0u32;
    // SAFETY: two-call idiom with the profile list chained, as the query requires.
    let formats = unsafe {
        fp(gpu.physical, &info, &mut count, std::ptr::null_mut())
            .result()
            .map_err(vk_error("vkGetPhysicalDeviceVideoFormatPropertiesKHR"))?;
        let mut formats = vec![vk::VideoFormatPropertiesKHR::default(); count as usize];
        fp(gpu.physical, &info, &mut count, formats.as_mut_ptr())
            .result()
            .map_err(vk_error("vkGetPhysicalDeviceVideoFormatPropertiesKHR"))?;
        formats.truncate(count as usize);
        formats
    };
    let list: Vec<vk::Format> = formats.iter().map(|f| f.format).collect();
    if list.contains(&vk::Format::G8_B8R8_2PLANE_420_UNORM) {
        return Ok(vk::Format::G8_B8R8_2PLANE_420_UNORM);
    }
    list.first()
        .copied()
        .ok_or_else(|| unavailable(format!("the driver offers no image format for {usage:?}")))
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
        v.rate_control = RateControl::Crf;
        assert!(rate_plan(&v, &caps())
            .unwrap_err()
            .to_string()
            .contains("no constant-quality mode"));
        let only_cbr = EncodeCaps {
            rate_control_modes: vk::VideoEncodeRateControlModeFlagsKHR::CBR,
            ..caps()
        };
        v.rate_control = RateControl::Vbr;
        assert!(rate_plan(&v, &only_cbr).is_err());
    }

    #[test]
    fn levels_follow_annex_a() {
        assert_eq!(level_for(960, 540, 30), Some(4), "3.0");
        assert_eq!(level_for(1280, 720, 30), Some(5), "3.1");
        assert_eq!(level_for(1280, 720, 60), Some(8), "4.0");
        assert_eq!(level_for(1920, 1080, 60), Some(9), "4.1");
        assert_eq!(level_for(3840, 2160, 60), Some(13), "5.1");
        assert_eq!(level_for(64, 64, 1000), Some(0), "2.0");
        assert_eq!(level_for(20_000, 64, 30), None);
    }

    #[test]
    fn temporal_units_start_with_a_delimiter_and_key_frames_carry_the_header() {
        let sequence_header = [0x0a, 0x02, 0xaa, 0xbb];
        let frame = [0x32, 0x01, 0x00];
        let mut out = Vec::new();
        temporal_unit(&frame, &sequence_header, true, &mut out);
        assert_eq!(out, [0x12, 0x00, 0x0a, 0x02, 0xaa, 0xbb, 0x32, 0x01, 0x00]);
        temporal_unit(&frame, &sequence_header, false, &mut out);
        assert_eq!(out, [0x12, 0x00, 0x32, 0x01, 0x00]);
        // A driver that already wrote the delimiter and header gets neither twice.
        let whole = [0x12, 0x00, 0x0a, 0x02, 0xaa, 0xbb, 0x32, 0x01, 0x00];
        temporal_unit(&whole, &sequence_header, true, &mut out);
        assert_eq!(out, whole);
    }

    /// Where the probe finds no AV1 encoder (this machine: lavapipe has no video queues),
    /// opening the encoder fails as unavailable, with the reason, and cleans up after itself.
    #[test]
    fn opening_without_an_av1_encoder_says_why() {
        if super::super::probe().available {
            println!("SKIPPED: this machine has a Vulkan AV1 encoder");
            return;
        }
        let config = RecordingConfig::new("/tmp/mwav1-vulkan.webm", 320, 240, 30);
        match VulkanEncoder::new(&config) {
            Err(Error::Unavailable { backend, reason }) => {
                println!("{reason}");
                assert_eq!(backend, BackendKind::Vulkan);
                assert!(!reason.is_empty());
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("opened without an AV1 encoder"),
        }
    }

    #[test]
    fn loop_filter_strengthens_with_the_quantizer() {
        assert_eq!(loop_filter_level(0), 0);
        assert!(loop_filter_level(40) < loop_filter_level(128));
        assert_eq!(loop_filter_level(255), 44);
    }
}
