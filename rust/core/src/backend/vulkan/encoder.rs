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

use super::av1_ffi;
use super::convert::Converter;
use super::device::{unavailable, vk_error, Buffer, Commands, Gpu};
use super::dpb::{FramePlan, Image, References, DPB_SLOTS};
use super::frame_info::{FrameInfos, FrameParams};
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
pub(super) fn rate_plan(v: &VideoConfig, caps: &EncodeCaps) -> Result<RatePlan> {
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
pub(super) fn use_128x128_superblocks(sizes: vk::Flags) -> Result<bool> {
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
pub(super) fn level_for(width: u32, height: u32, fps: u32, max_bps: u64) -> Option<u32> {
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

/// What an earlier failure left: once a frame has failed part-way (a semaphore may be left
/// signalled, the DPB holds a picture the next frame must not reference), the session is
/// over, and every later call says why instead of touching the GPU again.
#[derive(Debug, Default)]
pub(super) struct Failure(Option<String>);

impl Failure {
    /// An error naming the frame that ended the session, if one did.
    pub fn check(&self) -> Result<()> {
        match &self.0 {
            None => Ok(()),
            Some(why) => Err(Error::Encoder {
                backend: BackendKind::Vulkan,
                message: format!("the encode session ended after an earlier failure ({why})"),
            }),
        }
    }

    /// Passes `result` on, remembering an error as the end of the session.
    pub fn record<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.0 = Some(e.to_string());
        }
        result
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
    /// The recording's size inside the coded frame: the AV1 render size.
    display: (u32, u32),
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
    failure: Failure,
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
                superblock_128,
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
            display: (v.width, v.height),
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
            failure: Failure::default(),
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
        self.failure.check()?;
        let result = self.try_encode_frame(frame, index);
        self.failure.record(result)
    }

    fn try_encode_frame(&mut self, frame: &VideoFrame<'_>, index: u64) -> Result<()> {
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

        let infos = FrameInfos::new(&FrameParams {
            plan: *plan,
            keyint: self.keyint,
            rate: self.rate,
            fps: self.fps,
            quality_level: self.quality_level,
            started: self.started,
            gop_remaining: self.gop_remaining,
            reference_name: self.reference_name,
            coded,
            display: self.display,
            session: self.session.session,
            parameters: self.session.parameters,
            bitstream: self.bitstream.buffer,
            bitstream_size: self.bitstream.size,
            source: self.picture.resource(0, coded),
            dpb: [self.dpb.resource(0, coded), self.dpb.resource(1, coded)],
        });
        let raw = cmd;
        // SAFETY: `cmd` is recording on the encode queue's pool. Every struct reachable from
        // the infos (rate control, DPB slots, the std picture and reference info) lives in
        // `infos`, which outlives the calls that read them while recording. The query is reset
        // outside the video coding scope and used inside it, as the spec requires.
        unsafe {
            d.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default()
                    .memory_barriers(&memory)
                    .image_memory_barriers(&images),
            );
            d.cmd_reset_query_pool(cmd, self.query_pool, 0, 1);
            (video.cmd_begin_video_coding_khr)(raw, &infos.begin);
            if !self.started {
                (video.cmd_control_video_coding_khr)(raw, &infos.control);
            }
            d.cmd_begin_query(cmd, self.query_pool, 0, vk::QueryControlFlags::empty());
            (self.session.encode.fp().cmd_encode_video_khr)(raw, &infos.encode);
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

    /// After a failed frame every later call says so and leaves the GPU alone.
    #[test]
    fn a_failed_frame_ends_the_session() {
        let mut failure = Failure::default();
        assert!(failure.check().is_ok());
        assert_eq!(failure.record(Ok(3)).unwrap(), 3);
        let failed: Result<()> = Err(Error::Encoder {
            backend: BackendKind::Vulkan,
            message: "frame 7 did not encode: query status ERROR".into(),
        });
        assert!(failure.record(failed).is_err());
        let e = failure.check().unwrap_err().to_string();
        assert!(
            e.contains("ended after an earlier failure") && e.contains("frame 7"),
            "{e}"
        );
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
            // The opposite case, a missing encoder, is what this test needs.
            let reason = "this machine has a Vulkan AV1 encoder";
            crate::skip::skip(
                &crate::skip::current_test(),
                crate::skip::Need::Tool("no-vulkan-av1"),
                reason,
            );
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
}
