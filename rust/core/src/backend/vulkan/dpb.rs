//! Video images (the source picture and the decoded picture buffer) and the reference scheme.
//!
//! The scheme is the simplest one that predicts: a key frame every keyframe interval, then P
//! frames that each reference the frame before (AV1's LAST_FRAME, or the first reference name
//! the driver allows). Two DPB slots alternate: one holds the previous frame's reconstruction,
//! the other receives the current one. On the AV1 side every frame refreshes virtual buffer 0
//! (key frames refresh all eight), and every reference name points at buffer 0.

use std::sync::Arc;

use ash::vk;

use super::av1_ffi::NUM_REF_FRAMES;
use super::device::{vk_error, Gpu};
use super::session::Profile;
use crate::error::Result;

/// DPB slots used: the previous frame and the current one.
pub(super) const DPB_SLOTS: u32 = 2;

/// An image bound to its own memory, with one 2D view per array layer.
pub(super) struct Image {
    gpu: Arc<Gpu>,
    pub image: vk::Image,
    memory: vk::DeviceMemory,
    pub views: Vec<vk::ImageView>,
}

impl Image {
    /// A video image for `profile`. With more than one queue family in `families` it is
    /// shared concurrently, so the compute queue can fill it and the encode queue read it
    /// without ownership transfers.
    pub fn new(
        gpu: &Arc<Gpu>,
        profile: &Profile,
        format: vk::Format,
        extent: (u32, u32),
        layers: u32,
        usage: vk::ImageUsageFlags,
        families: &[u32],
    ) -> Result<Self> {
        let mut info = vk::ImageCreateInfo::default()
            .image_type(vk::ImageType::TYPE_2D)
            .format(format)
            .extent(vk::Extent3D {
                width: extent.0,
                height: extent.1,
                depth: 1,
            })
            .mip_levels(1)
            .array_layers(layers)
            .samples(vk::SampleCountFlags::TYPE_1)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(usage)
            .initial_layout(vk::ImageLayout::UNDEFINED);
        info = if families.len() > 1 {
            info.sharing_mode(vk::SharingMode::CONCURRENT)
                .queue_family_indices(families)
        } else {
            info.sharing_mode(vk::SharingMode::EXCLUSIVE)
        };
        info.p_next = profile.list_ptr();
        let d = &gpu.device;
        let mut out = Self {
            gpu: gpu.clone(),
            image: vk::Image::null(),
            memory: vk::DeviceMemory::null(),
            views: Vec::new(),
        };
        // SAFETY: valid create infos (the profile list chained to the image, as video images
        // require); each handle is stored in `out` at once so Drop cleans up a failure.
        unsafe {
            out.image = d.create_image(&info, None).map_err(vk_error("vkCreateImage"))?;
            let req = d.get_image_memory_requirements(out.image);
            out.memory = gpu.allocate(req, vk::MemoryPropertyFlags::DEVICE_LOCAL)?;
            d.bind_image_memory(out.image, out.memory, 0)
                .map_err(vk_error("vkBindImageMemory"))?;
            for layer in 0..layers {
                let view = vk::ImageViewCreateInfo::default()
                    .image(out.image)
                    .view_type(vk::ImageViewType::TYPE_2D)
                    .format(format)
                    .subresource_range(
                        vk::ImageSubresourceRange::default()
                            .aspect_mask(vk::ImageAspectFlags::COLOR)
                            .level_count(1)
                            .base_array_layer(layer)
                            .layer_count(1),
                    );
                out.views.push(
                    d.create_image_view(&view, None)
                        .map_err(vk_error("vkCreateImageView"))?,
                );
            }
        }
        Ok(out)
    }

    /// The picture resource of array layer `layer` (through its own view, so base layer 0).
    pub fn resource(&self, layer: u32, extent: (u32, u32)) -> vk::VideoPictureResourceInfoKHR<'static> {
        vk::VideoPictureResourceInfoKHR::default()
            .coded_extent(vk::Extent2D {
                width: extent.0,
                height: extent.1,
            })
            .base_array_layer(0)
            .image_view_binding(self.views[layer as usize])
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let d = &self.gpu.device;
        // SAFETY: the owner waited for all work using the image; views before the image,
        // then its memory. Null handles are ignored.
        unsafe {
            for &v in &self.views {
                d.destroy_image_view(v, None);
            }
            d.destroy_image(self.image, None);
            d.free_memory(self.memory, None);
        }
    }
}

/// How one frame is coded and which DPB slots it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FramePlan {
    pub key: bool,
    /// Frames since the last key frame (0 for a key frame).
    pub gop_position: u64,
    /// The DPB slot the reconstruction goes to.
    pub setup_slot: u32,
    /// The DPB slot of the previous frame, with its order hint and whether it was a key
    /// frame; `None` for key frames.
    pub reference: Option<(u32, u8, bool)>,
    pub order_hint: u8,
    pub refresh_frame_flags: u8,
    /// Order hint held by each of AV1's eight virtual reference buffers before this frame.
    pub ref_order_hint: [u8; NUM_REF_FRAMES],
}

/// The reference state carried from frame to frame.
pub(super) struct References {
    keyint: u64,
    last: Option<(u32, u8, bool)>,
    ref_order_hint: [u8; NUM_REF_FRAMES],
    key_index: u64,
}

impl References {
    pub fn new(keyint: u64) -> Self {
        Self {
            keyint: keyint.max(1),
            last: None,
            ref_order_hint: [0; NUM_REF_FRAMES],
            key_index: 0,
        }
    }

    /// The plan for frame `index` (frames come in order, from 0), and the state after it.
    pub fn next(&mut self, index: u64) -> FramePlan {
        let key = index.is_multiple_of(self.keyint) || self.last.is_none();
        if key {
            self.key_index = index;
        }
        let gop_position = index - self.key_index;
        // 8 order-hint bits: only the distance to the previous frame matters, which the
        // wrap-around keeps right.
        let order_hint = (gop_position & 0xff) as u8;
        let reference = if key { None } else { self.last };
        let setup_slot = match reference {
            Some((slot, _, _)) => (slot + 1) % DPB_SLOTS,
            None => 0,
        };
        let refresh_frame_flags = if key { 0xff } else { 0x01 };
        let plan = FramePlan {
            key,
            gop_position,
            setup_slot,
            reference,
            order_hint,
            refresh_frame_flags,
            ref_order_hint: self.ref_order_hint,
        };
        for (i, hint) in self.ref_order_hint.iter_mut().enumerate() {
            if refresh_frame_flags & (1 << i) != 0 {
                *hint = order_hint;
            }
        }
        self.last = Some((setup_slot, order_hint, key));
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_then_p_frames_alternate_two_slots() {
        let mut refs = References::new(3);
        let plans: Vec<FramePlan> = (0..5).map(|i| refs.next(i)).collect();
        assert!(plans[0].key && plans[0].reference.is_none() && plans[0].refresh_frame_flags == 0xff);
        assert_eq!(plans[1].reference, Some((0, 0, true)));
        assert_eq!((plans[1].setup_slot, plans[1].order_hint), (1, 1));
        assert_eq!(plans[1].ref_order_hint, [0; 8]);
        assert_eq!(plans[2].reference, Some((1, 1, false)));
        assert_eq!(plans[2].setup_slot, 0);
        assert_eq!(plans[2].ref_order_hint, [1, 0, 0, 0, 0, 0, 0, 0]);
        assert!(plans[3].key && plans[3].gop_position == 0 && plans[3].order_hint == 0);
        assert_eq!(plans[4].reference, Some((0, 0, true)));
        assert_eq!(plans[4].ref_order_hint, [0; 8], "the key frame refreshed every buffer");
    }

    #[test]
    fn order_hints_wrap_at_eight_bits() {
        let mut refs = References::new(1000);
        let plans: Vec<FramePlan> = (0..300).map(|i| refs.next(i)).collect();
        assert_eq!(plans[256].order_hint, 0);
        assert_eq!(plans[257].reference.map(|r| r.1), Some(0));
        assert!(plans[1..].iter().all(|p| !p.key));
    }
}
