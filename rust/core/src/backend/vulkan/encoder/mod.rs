//! [`VulkanEncoder`]: one frame at a time through the compute queue (RGB→NV12, or the CPU's
//! I420→NV12, copied into the source picture) and the video-encode queue (the AV1 encode,
//! its feedback query and the bitstream read back), waiting for each frame before the next.
//!
//! Waiting per frame costs throughput (the CPU and GPU never overlap) but keeps every
//! resource single-buffered and the synchronisation easy to check against the spec, which
//! matters more for a path that has never run on real hardware.
//!
//! This file holds the encoder's resources and its state between calls (the packets queued,
//! flush, a failure that ended the session); what it is opened with is chosen in
//! `params.rs`, and the commands one frame records are in `commands.rs`.

mod commands;

use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::Arc;

use ash::vk;

use super::convert::Converter;
use super::device::{unavailable, vk_error, Buffer, Commands, Gpu};
use super::dpb::{Image, References, DPB_SLOTS};
use super::params::EncodeParams;
use super::session::{Profile, Session, SessionSpec};
use super::{capabilities, EncodeCaps};
use crate::backend::{BackendKind, Received, VideoEncoder};
use crate::config::RecordingConfig;
use crate::error::{Error, Result};
use crate::frame::VideoFrame;

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
    params: EncodeParams,
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
        let params = EncodeParams::new(v, &caps)?;
        let coded = params.coded;
        let profile = Profile::new();
        let (picture_format, dpb_format) = image_formats(&gpu, &video, &profile)?;
        let session = Session::new(
            &gpu,
            &profile,
            &SessionSpec {
                encode_family,
                coded,
                picture_format,
                dpb_format,
                dpb_slots: DPB_SLOTS,
                level: params.level,
                superblock_128: params.superblock_128,
                quality_level: params.quality_level,
                std_header_version: params.std_header_version,
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
            references: References::new(params.keyint),
            params,
            started: false,
            packets: VecDeque::new(),
            flushed: false,
            failure: Failure::default(),
        };
        out.create_query_pool_and_semaphore(&caps)?;
        Ok(out)
    }

    /// The encode-feedback query (each frame's bitstream offset and size) and the semaphore
    /// between the two queues, stored at once so that Drop destroys them.
    fn create_query_pool_and_semaphore(&mut self, caps: &EncodeCaps) -> Result<()> {
        let wanted = vk::VideoEncodeFeedbackFlagsKHR::BITSTREAM_BUFFER_OFFSET
            | vk::VideoEncodeFeedbackFlagsKHR::BITSTREAM_BYTES_WRITTEN;
        if !caps.feedback_flags.contains(wanted) {
            return Err(unavailable(
                "the driver cannot report the bitstream offset and size of a frame",
            ));
        }
        let mut feedback = vk::QueryPoolVideoEncodeFeedbackCreateInfoKHR::default().encode_feedback_flags(wanted);
        feedback.p_next = (&raw const self.profile.info).cast::<c_void>();
        let mut pool = vk::QueryPoolCreateInfo::default()
            .query_type(vk::QueryType::VIDEO_ENCODE_FEEDBACK_KHR)
            .query_count(1);
        pool.p_next = (&raw const feedback).cast::<c_void>();
        // SAFETY: valid create infos (the feedback info chains the encode profile, as the
        // query type requires); handles stored at once so Drop destroys them.
        unsafe {
            self.query_pool = self
                .gpu
                .device
                .create_query_pool(&pool, None)
                .map_err(vk_error("vkCreateQueryPool"))?;
            self.uploaded = self
                .gpu
                .device
                .create_semaphore(&vk::SemaphoreCreateInfo::default(), None)
                .map_err(vk_error("vkCreateSemaphore"))?;
        }
        Ok(())
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
        let data = self.encoded_bytes(index)?;
        let mut packet = Vec::new();
        temporal_unit(data, &self.session.sequence_header, plan.key, &mut packet);
        self.packets.push_back((packet, index, plan.key));
        Ok(())
    }
}

impl VideoEncoder for VulkanEncoder {
    fn kind(&self) -> BackendKind {
        BackendKind::Vulkan
    }

    fn coded_size(&self) -> (u32, u32) {
        self.params.coded
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

/// The source picture's format (which must be NV12, what the conversion writes) and the DPB's.
fn image_formats(
    gpu: &Gpu,
    video: &ash::khr::video_queue::Instance,
    profile: &Profile,
) -> Result<(vk::Format, vk::Format)> {
    let picture_format = video_format(
        gpu,
        video,
        profile,
        vk::ImageUsageFlags::VIDEO_ENCODE_SRC_KHR | vk::ImageUsageFlags::TRANSFER_DST,
    )?;
    if picture_format != vk::Format::G8_B8R8_2PLANE_420_UNORM {
        return Err(unavailable(format!(
            "the driver's encode source format is {picture_format:?}, not NV12 (G8_B8R8_2PLANE_420_UNORM)"
        )));
    }
    let dpb_format = video_format(gpu, video, profile, vk::ImageUsageFlags::VIDEO_ENCODE_DPB_KHR)?;
    Ok((picture_format, dpb_format))
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
