//! The commands one frame records, in named steps: on the compute queue the upload (the
//! conversion, then the NV12 buffer copied into the source picture), on the encode queue the
//! barriers, the video-coding scope with its feedback query, and the barrier that hands the
//! bitstream to the host; then the feedback read back. Apart from the encoder's state so that
//! each step's barriers and what they guard can be read, and checked against the spec, on
//! their own.

use ash::vk;

use super::super::convert::Nv12Layout;
use super::super::device::vk_error;
use super::super::dpb::{FramePlan, DPB_SLOTS};
use super::super::frame_info::{FrameInfos, FrameParams};
use super::VulkanEncoder;
use crate::backend::BackendKind;
use crate::error::{Error, Result};
use crate::frame::VideoFrame;

impl VulkanEncoder {
    /// On the compute queue: RGB through the shader (I420 interleaved on the CPU), then the
    /// NV12 buffer copied into the source picture; signals `uploaded`.
    pub(super) fn upload(&mut self, frame: &VideoFrame<'_>) -> Result<()> {
        let cmd = self.compute.cmd;
        self.compute.begin()?;
        match frame {
            VideoFrame::Rgb(image) => self.converter.record_rgb(cmd, image)?,
            VideoFrame::I420(image) => self.converter.write_i420(image)?,
        }
        self.record_copy_to_picture(cmd);
        let signal = [vk::SemaphoreSubmitInfo::default()
            .semaphore(self.uploaded)
            .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
        self.compute.submit(self.gpu.compute_queue, &[], &signal, false)
    }

    /// The converter's NV12 buffer into the source picture, which first goes to the transfer
    /// layout.
    fn record_copy_to_picture(&self, cmd: vk::CommandBuffer) {
        // The previous contents are not needed: every sample is overwritten.
        let to_transfer = [image_barrier(self.picture.image, 1)
            .dst_stage_mask(vk::PipelineStageFlags2::COPY)
            .dst_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
            .old_layout(vk::ImageLayout::UNDEFINED)
            .new_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)];
        let regions = nv12_regions(self.converter.layout);
        let d = &self.gpu.device;
        // SAFETY: `cmd` is recording; the buffer holds a whole NV12 picture at the image's
        // size (the shader's writes are made visible to copies by its barrier; the CPU's by
        // the submission). The semaphore signal after this covers the copy's writes.
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
    }

    /// Records the encode of one frame into the encode command buffer.
    pub(super) fn record_encode(&self, plan: &FramePlan) -> Result<()> {
        self.encode.begin()?;
        let images = self.encode_image_barriers();
        let infos = self.frame_infos(plan);
        self.record_video_coding(&images, &infos);
        Ok(())
    }

    /// The source picture into its encode layout (after the semaphore wait, at the encode
    /// stage), and on the first frame the DPB into its layout.
    fn encode_image_barriers(&self) -> Vec<vk::ImageMemoryBarrier2<'static>> {
        let mut images = vec![image_barrier(self.picture.image, 1)
            .src_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
            .dst_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
            .dst_access_mask(vk::AccessFlags2::VIDEO_ENCODE_READ_KHR)
            .old_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
            .new_layout(vk::ImageLayout::VIDEO_ENCODE_SRC_KHR)];
        if !self.started {
            images.push(
                image_barrier(self.dpb.image, DPB_SLOTS)
                    .dst_stage_mask(vk::PipelineStageFlags2::VIDEO_ENCODE_KHR)
                    .dst_access_mask(vk::AccessFlags2::VIDEO_ENCODE_READ_KHR | vk::AccessFlags2::VIDEO_ENCODE_WRITE_KHR)
                    .old_layout(vk::ImageLayout::UNDEFINED)
                    .new_layout(vk::ImageLayout::VIDEO_ENCODE_DPB_KHR),
            );
        }
        images
    }

    /// Everything the frame's video-coding commands point at (see `frame_info.rs`).
    fn frame_infos(&self, plan: &FramePlan) -> Box<FrameInfos> {
        let p = &self.params;
        let coded = p.coded;
        FrameInfos::new(&FrameParams {
            plan: *plan,
            keyint: p.keyint,
            rate: p.rate,
            fps: p.fps,
            quality_level: p.quality_level,
            started: self.started,
            gop_remaining: p.gop_remaining,
            reference_name: p.reference_name,
            coded,
            display: p.display,
            session: self.session.session,
            parameters: self.session.parameters,
            bitstream: self.bitstream.buffer,
            bitstream_size: self.bitstream.size,
            source: self.picture.resource(0, coded),
            dpb: [self.dpb.resource(0, coded), self.dpb.resource(1, coded)],
        })
    }

    /// The barriers, then the video-coding scope (rate control set up on the first frame) with
    /// the encode inside the feedback query, then the bitstream made visible to the host.
    fn record_video_coding(&self, images: &[vk::ImageMemoryBarrier2<'_>], infos: &FrameInfos) {
        let d = &self.gpu.device;
        let cmd = self.encode.cmd;
        let video = self.session.video.fp();
        // The previous frame's DPB writes made visible to this frame's reads.
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
        // SAFETY: `cmd` is recording on the encode queue's pool. Every struct reachable from
        // the infos (rate control, DPB slots, the std picture and reference info) lives in
        // `infos`, which outlives the calls that read them while recording. The query is reset
        // outside the video coding scope and used inside it, as the spec requires.
        unsafe {
            d.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default()
                    .memory_barriers(&memory)
                    .image_memory_barriers(images),
            );
            d.cmd_reset_query_pool(cmd, self.query_pool, 0, 1);
            (video.cmd_begin_video_coding_khr)(cmd, &infos.begin);
            if !self.started {
                (video.cmd_control_video_coding_khr)(cmd, &infos.control);
            }
            d.cmd_begin_query(cmd, self.query_pool, 0, vk::QueryControlFlags::empty());
            (self.session.encode.fp().cmd_encode_video_khr)(cmd, &infos.encode);
            d.cmd_end_query(cmd, self.query_pool, 0);
            (video.cmd_end_video_coding_khr)(cmd, &vk::VideoEndCodingInfoKHR::default());
            d.cmd_pipeline_barrier2(cmd, &vk::DependencyInfo::default().memory_barriers(&to_host));
        }
    }

    /// Frame `index`'s bitstream, where the feedback query says the driver wrote it; an error
    /// where the frame did not encode or the query points past the buffer.
    pub(super) fn encoded_bytes(&self, index: u64) -> Result<&[u8]> {
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
        self.bitstream
            .bytes()
            .get(offset as usize..offset as usize + bytes as usize)
            .ok_or_else(|| Error::Encoder {
                backend: BackendKind::Vulkan,
                message: format!("frame {index}: the driver reports {bytes} bytes at {offset}, past the buffer"),
            })
    }
}

/// The two planes' copy regions: Y as R8 texels, the interleaved UV as R8G8 at half size.
fn nv12_regions(layout: Nv12Layout) -> [vk::BufferImageCopy; 2] {
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
    [
        plane(vk::ImageAspectFlags::PLANE_0, 0, 1),
        plane(vk::ImageAspectFlags::PLANE_1, layout.uv_offset, 2),
    ]
}

/// A barrier over the first `layers` layers of `image`'s one colour mip level, with no queue
/// ownership transfer; the caller adds the stages, accesses and layouts.
fn image_barrier(image: vk::Image, layers: u32) -> vk::ImageMemoryBarrier2<'static> {
    vk::ImageMemoryBarrier2::default()
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .image(image)
        .subresource_range(
            vk::ImageSubresourceRange::default()
                .aspect_mask(vk::ImageAspectFlags::COLOR)
                .level_count(1)
                .layer_count(layers),
        )
}
