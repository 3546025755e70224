//! Everything one frame's video-coding commands point at, built in one place and without a
//! GPU, so that which structure is chained where can be checked by a test against the spec:
//!
//! - `VkVideoBeginCodingInfoKHR` → `VkVideoEncodeAV1GopRemainingFrameInfoKHR` (only this struct
//!   may carry it, and only under a rate control) → the rate control state (from the second
//!   frame on: the spec wants the current state repeated at every begin).
//! - `VkVideoCodingControlInfoKHR` (first frame) → the rate control → its AV1 part → the
//!   quality level.
//! - `VkVideoEncodeInfoKHR` → `VkVideoEncodeAV1PictureInfoKHR` and nothing else.
//!
//! The struct is boxed and never moved out of its box: the chains point into it.

use std::ffi::c_void;
use std::ptr;

use ash::vk;
use ash::vk::native::{
    StdVideoAV1CDEF, StdVideoAV1FrameType_STD_VIDEO_AV1_FRAME_TYPE_INTER as FRAME_TYPE_INTER,
    StdVideoAV1FrameType_STD_VIDEO_AV1_FRAME_TYPE_KEY as FRAME_TYPE_KEY, StdVideoAV1GlobalMotion,
    StdVideoAV1InterpolationFilter_STD_VIDEO_AV1_INTERPOLATION_FILTER_EIGHTTAP as EIGHTTAP, StdVideoAV1LoopFilter,
    StdVideoAV1LoopRestoration, StdVideoAV1Quantization,
    StdVideoAV1TxMode_STD_VIDEO_AV1_TX_MODE_SELECT as TX_MODE_SELECT,
};

use super::av1_ffi::{self, picture_flags};
use super::dpb::{FramePlan, DPB_SLOTS};
use super::params::RatePlan;

/// What one frame is encoded with.
pub(super) struct FrameParams {
    pub plan: FramePlan,
    pub keyint: u64,
    pub rate: RatePlan,
    pub fps: u32,
    pub quality_level: u32,
    /// Whether an earlier frame set the rate control up (the first frame resets it).
    pub started: bool,
    /// Whether the driver prefers or requires the GOP-remaining information.
    pub gop_remaining: bool,
    /// Index into `referenceNameSlotIndices` of the name P frames use.
    pub reference_name: usize,
    /// Size of the images and of the coded frames (the alignment the driver wants).
    pub coded: (u32, u32),
    /// Size of the picture inside them: coded as the AV1 render size.
    pub display: (u32, u32),
    pub session: vk::VideoSessionKHR,
    pub parameters: vk::VideoSessionParametersKHR,
    pub bitstream: vk::Buffer,
    pub bitstream_size: u64,
    pub source: vk::VideoPictureResourceInfoKHR<'static>,
    pub dpb: [vk::VideoPictureResourceInfoKHR<'static>; DPB_SLOTS as usize],
}

pub(super) struct FrameInfos {
    layers: [vk::VideoEncodeRateControlLayerInfoKHR<'static>; 1],
    quality: vk::VideoEncodeQualityLevelInfoKHR<'static>,
    av1_rate: av1_ffi::RateControlInfo,
    rate: vk::VideoEncodeRateControlInfoKHR<'static>,
    gop: av1_ffi::GopRemainingFrameInfo,
    quantization: StdVideoAV1Quantization,
    loop_filter: StdVideoAV1LoopFilter,
    cdef: StdVideoAV1CDEF,
    restoration: StdVideoAV1LoopRestoration,
    global_motion: StdVideoAV1GlobalMotion,
    std_picture: av1_ffi::StdPictureInfo,
    picture: av1_ffi::PictureInfo,
    dpb: [vk::VideoPictureResourceInfoKHR<'static>; DPB_SLOTS as usize],
    setup_std: av1_ffi::StdReferenceInfo,
    setup_dpb: av1_ffi::DpbSlotInfo,
    setup: vk::VideoReferenceSlotInfoKHR<'static>,
    reference_std: av1_ffi::StdReferenceInfo,
    reference_dpb: av1_ffi::DpbSlotInfo,
    /// The previous frame's slot, used by P frames (count in `encode`).
    reference: vk::VideoReferenceSlotInfoKHR<'static>,
    /// The slot receiving this frame (activated: index -1) and the reference, if any.
    begin_slots: [vk::VideoReferenceSlotInfoKHR<'static>; 2],
    pub encode: vk::VideoEncodeInfoKHR<'static>,
    pub begin: vk::VideoBeginCodingInfoKHR<'static>,
    /// Recorded on the first frame only: resets the session and sets rate control and quality.
    pub control: vk::VideoCodingControlInfoKHR<'static>,
}

// SAFETY: the raw pointers only point into the same boxed allocation, which moves with it.
unsafe impl Send for FrameInfos {}

/// A loop-filter strength for quantizer index `qindex`: stronger as quantization coarsens,
/// off when lossless. A heuristic (roughly libaom's choice at its fast presets), since the
/// Vulkan API leaves the choice to the application.
pub(super) fn loop_filter_level(qindex: u32) -> u8 {
    if qindex == 0 {
        0
    } else {
        (qindex / 6 + 2).min(63) as u8
    }
}

fn as_next<T>(value: &T) -> *const c_void {
    (value as *const T).cast()
}

impl FrameInfos {
    pub fn new(p: &FrameParams) -> Box<Self> {
        let disabled = p.rate.mode == vk::VideoEncodeRateControlModeFlagsKHR::DISABLED;
        let layer_count = u32::from(!disabled);
        let key = p.plan.key;
        let (frame_type, prediction, group) = if key {
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
        // Key frames shown at once are error resilient by definition (AV1 5.9.2); a shown
        // inter frame is showable again (showable_frame = frame_type != KEY_FRAME, 5.9.2).
        let mut flags = picture_flags::SHOW_FRAME
            | if key {
                picture_flags::ERROR_RESILIENT_MODE
            } else {
                picture_flags::SHOWABLE_FRAME
            };
        if p.display != p.coded {
            flags |= picture_flags::RENDER_AND_FRAME_SIZE_DIFFERENT;
        }
        let mut slot_indices = [-1i32; av1_ffi::REFS_PER_FRAME];
        if let Some((slot, _, _)) = p.plan.reference {
            slot_indices[p.reference_name] = slot as i32;
        }
        let remaining = p.keyint - p.plan.gop_position;
        let std_reference = |frame_type, order_hint| av1_ffi::StdReferenceInfo {
            flags: 0,
            ref_frame_id: 0,
            frame_type,
            order_hint,
            reserved1: [0; 3],
            p_extension_header: ptr::null(),
        };
        // SAFETY: zeroed plain C structs of integers and arrays, for which zero is valid (no
        // segmentation, no CDEF strengths, no restoration, identity global motion).
        let (mut quantization, mut loop_filter): (StdVideoAV1Quantization, StdVideoAV1LoopFilter) =
            unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        quantization.base_q_idx = p.rate.qindex as u8;
        let level = loop_filter_level(p.rate.filter_qindex);
        loop_filter.loop_filter_level = [level, level, level / 2, level / 2];
        let (previous_slot, previous_hint, previous_key) = p.plan.reference.unwrap_or((0, 0, false));
        let mut out = Box::new(Self {
            layers: [vk::VideoEncodeRateControlLayerInfoKHR::default()
                .average_bitrate(p.rate.average_bps)
                .max_bitrate(p.rate.max_bps)
                .frame_rate_numerator(p.fps)
                .frame_rate_denominator(1)],
            quality: vk::VideoEncodeQualityLevelInfoKHR::default().quality_level(p.quality_level),
            av1_rate: av1_ffi::RateControlInfo {
                flags: av1_ffi::RATE_CONTROL_REGULAR_GOP | av1_ffi::RATE_CONTROL_REFERENCE_PATTERN_FLAT,
                gop_frame_count: p.keyint as u32,
                key_frame_period: p.keyint as u32,
                consecutive_bipredictive_frame_count: 0,
                temporal_layer_count: layer_count,
                ..Default::default()
            },
            rate: vk::VideoEncodeRateControlInfoKHR {
                rate_control_mode: p.rate.mode,
                layer_count,
                virtual_buffer_size_in_ms: if disabled { 0 } else { 1000 },
                initial_virtual_buffer_size_in_ms: if disabled { 0 } else { 500 },
                ..Default::default()
            },
            gop: av1_ffi::GopRemainingFrameInfo {
                use_gop_remaining_frames: vk::TRUE,
                gop_remaining_intra: u32::from(key),
                gop_remaining_predictive: (remaining - u64::from(key)) as u32,
                gop_remaining_bipredictive: 0,
                ..Default::default()
            },
            quantization,
            loop_filter,
            // SAFETY: as above.
            cdef: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            restoration: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            global_motion: unsafe { std::mem::zeroed() },
            std_picture: av1_ffi::StdPictureInfo {
                flags,
                frame_type,
                order_hint: p.plan.order_hint,
                // Default CDFs on every frame: always valid, at a small cost in compression.
                primary_ref_frame: av1_ffi::PRIMARY_REF_NONE,
                refresh_frame_flags: p.plan.refresh_frame_flags,
                render_width_minus_1: (p.display.0 - 1) as u16,
                render_height_minus_1: (p.display.1 - 1) as u16,
                interpolation_filter: EIGHTTAP,
                tx_mode: TX_MODE_SELECT,
                ref_order_hint: p.plan.ref_order_hint,
                // Every reference name reads virtual buffer 0, the one each frame refreshes.
                ref_frame_idx: [0; av1_ffi::REFS_PER_FRAME],
                ..Default::default()
            },
            picture: av1_ffi::PictureInfo {
                prediction_mode: prediction,
                rate_control_group: group,
                constant_q_index: if disabled { p.rate.qindex } else { 0 },
                reference_name_slot_indices: slot_indices,
                ..Default::default()
            },
            dpb: p.dpb,
            setup_std: std_reference(frame_type, p.plan.order_hint),
            setup_dpb: av1_ffi::DpbSlotInfo::default(),
            setup: vk::VideoReferenceSlotInfoKHR::default().slot_index(p.plan.setup_slot as i32),
            reference_std: std_reference(
                if previous_key { FRAME_TYPE_KEY } else { FRAME_TYPE_INTER },
                previous_hint,
            ),
            reference_dpb: av1_ffi::DpbSlotInfo::default(),
            reference: vk::VideoReferenceSlotInfoKHR::default().slot_index(previous_slot as i32),
            begin_slots: [
                vk::VideoReferenceSlotInfoKHR::default().slot_index(-1),
                vk::VideoReferenceSlotInfoKHR::default().slot_index(previous_slot as i32),
            ],
            encode: vk::VideoEncodeInfoKHR {
                dst_buffer: p.bitstream,
                dst_buffer_offset: 0,
                dst_buffer_range: p.bitstream_size,
                src_picture_resource: p.source,
                reference_slot_count: u32::from(p.plan.reference.is_some()),
                ..Default::default()
            },
            begin: vk::VideoBeginCodingInfoKHR {
                video_session: p.session,
                video_session_parameters: p.parameters,
                reference_slot_count: 1 + u32::from(p.plan.reference.is_some()),
                ..Default::default()
            },
            control: vk::VideoCodingControlInfoKHR {
                flags: vk::VideoCodingControlFlagsKHR::RESET
                    | vk::VideoCodingControlFlagsKHR::ENCODE_RATE_CONTROL
                    | vk::VideoCodingControlFlagsKHR::ENCODE_QUALITY_LEVEL,
                ..Default::default()
            },
        });
        out.link(p.started, p.gop_remaining && !disabled, p.plan.setup_slot as usize);
        out
    }

    /// Points the chains into the box (see the module documentation for their shape).
    fn link(&mut self, started: bool, gop_remaining: bool, setup_slot: usize) {
        // Rate control: the same state for the first frame's reset and, from then on, for
        // every begin. The quality level goes with the reset only.
        self.rate.p_layers = self.layers.as_ptr();
        self.rate.p_next = as_next(&self.av1_rate);
        self.av1_rate.p_next = if started { ptr::null() } else { as_next(&self.quality) };
        self.control.p_next = as_next(&self.rate);
        self.gop.p_next = if started { as_next(&self.rate) } else { ptr::null() };
        self.begin.p_next = match (gop_remaining, started) {
            (true, _) => as_next(&self.gop),
            (false, true) => as_next(&self.rate),
            (false, false) => ptr::null(),
        };

        // The picture: std syntax, then the Vulkan-level picture info on the encode info.
        self.std_picture.p_quantization = &raw const self.quantization;
        self.std_picture.p_loop_filter = &raw const self.loop_filter;
        self.std_picture.p_cdef = &raw const self.cdef;
        self.std_picture.p_loop_restoration = &raw const self.restoration;
        self.std_picture.p_global_motion = &raw const self.global_motion;
        self.picture.p_std_picture_info = &raw const self.std_picture;
        self.encode.p_next = as_next(&self.picture);

        // The DPB: the slot receiving this frame and the previous frame's.
        let reference_slot = self.reference.slot_index.max(0) as usize;
        self.setup_dpb.p_std_reference_info = &raw const self.setup_std;
        self.setup.p_next = as_next(&self.setup_dpb);
        self.setup.p_picture_resource = &raw const self.dpb[setup_slot];
        self.reference_dpb.p_std_reference_info = &raw const self.reference_std;
        self.reference.p_next = as_next(&self.reference_dpb);
        self.reference.p_picture_resource = &raw const self.dpb[reference_slot];
        self.begin_slots[0].p_picture_resource = &raw const self.dpb[setup_slot];
        self.begin_slots[1].p_picture_resource = &raw const self.dpb[reference_slot];
        self.encode.p_setup_reference_slot = &raw const self.setup;
        self.encode.p_reference_slots = &raw const self.reference;
        self.begin.p_reference_slots = self.begin_slots.as_ptr();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::vulkan::dpb::References;

    /// The sTypes along a pNext chain.
    fn chain(mut next: *const c_void) -> Vec<vk::StructureType> {
        let mut out = Vec::new();
        while !next.is_null() {
            // SAFETY: every struct in these chains starts with sType and pNext.
            let base = unsafe { &*next.cast::<vk::BaseInStructure>() };
            out.push(base.s_type);
            next = base.p_next.cast();
        }
        out
    }

    fn params(plan: FramePlan, mode: vk::VideoEncodeRateControlModeFlagsKHR, started: bool) -> FrameParams {
        FrameParams {
            plan,
            keyint: 300,
            rate: RatePlan {
                mode,
                average_bps: 6_000_000,
                max_bps: 12_000_000,
                qindex: 128,
                filter_qindex: 100,
            },
            fps: 60,
            quality_level: 0,
            started,
            gop_remaining: true,
            reference_name: 0,
            coded: (1920, 1088),
            display: (1920, 1080),
            session: vk::VideoSessionKHR::null(),
            parameters: vk::VideoSessionParametersKHR::null(),
            bitstream: vk::Buffer::null(),
            bitstream_size: 1 << 20,
            source: vk::VideoPictureResourceInfoKHR::default(),
            dpb: [vk::VideoPictureResourceInfoKHR::default(); DPB_SLOTS as usize],
        }
    }

    const RATE: vk::StructureType = vk::StructureType::VIDEO_ENCODE_RATE_CONTROL_INFO_KHR;
    const QUALITY: vk::StructureType = vk::StructureType::VIDEO_ENCODE_QUALITY_LEVEL_INFO_KHR;

    /// GOP-remaining info goes on the begin-coding info (the only place the spec allows it),
    /// never on the picture info; the rate control state is repeated at every begin after the
    /// first; the encode info carries the AV1 picture info alone.
    #[test]
    fn structures_are_chained_where_the_spec_allows_them() {
        let mut refs = References::new(300);
        let (key, inter) = (refs.next(0), refs.next(1));
        let vbr = vk::VideoEncodeRateControlModeFlagsKHR::VBR;

        let first = FrameInfos::new(&params(key, vbr, false));
        assert_eq!(
            chain(first.begin.p_next),
            [av1_ffi::STRUCTURE_TYPE_GOP_REMAINING_FRAME_INFO]
        );
        assert_eq!(
            chain(first.control.p_next),
            [RATE, av1_ffi::STRUCTURE_TYPE_RATE_CONTROL_INFO, QUALITY]
        );
        assert_eq!(chain(first.encode.p_next), [av1_ffi::STRUCTURE_TYPE_PICTURE_INFO]);

        let later = FrameInfos::new(&params(inter, vbr, true));
        assert_eq!(
            chain(later.begin.p_next),
            [
                av1_ffi::STRUCTURE_TYPE_GOP_REMAINING_FRAME_INFO,
                RATE,
                av1_ffi::STRUCTURE_TYPE_RATE_CONTROL_INFO
            ]
        );
        assert_eq!(chain(later.encode.p_next), [av1_ffi::STRUCTURE_TYPE_PICTURE_INFO]);
        assert_eq!(later.gop.gop_remaining_predictive, 299);
        assert_eq!(later.gop.gop_remaining_intra, 0);

        // Constant QP has no rate control for GOP information to feed.
        let cqp = vk::VideoEncodeRateControlModeFlagsKHR::DISABLED;
        let constant = FrameInfos::new(&params(inter, cqp, true));
        assert_eq!(
            chain(constant.begin.p_next),
            [RATE, av1_ffi::STRUCTURE_TYPE_RATE_CONTROL_INFO]
        );
        assert_eq!(constant.picture.constant_q_index, 128);
        // A driver that does not want GOP information gets none.
        let mut quiet = params(inter, vbr, true);
        quiet.gop_remaining = false;
        assert_eq!(
            chain(FrameInfos::new(&quiet).begin.p_next),
            [RATE, av1_ffi::STRUCTURE_TYPE_RATE_CONTROL_INFO]
        );
    }

    /// Shown inter frames are showable, key frames are error resilient; the render size is the
    /// display size inside the aligned coded frame; the DPB slots are the plan's.
    #[test]
    fn picture_syntax_follows_the_plan() {
        let mut refs = References::new(300);
        let (key, inter) = (refs.next(0), refs.next(1));
        let vbr = vk::VideoEncodeRateControlModeFlagsKHR::VBR;
        let k = FrameInfos::new(&params(key, vbr, false));
        let flags = k.std_picture.flags;
        assert_ne!(flags & picture_flags::ERROR_RESILIENT_MODE, 0);
        assert_eq!(flags & picture_flags::SHOWABLE_FRAME, 0);
        assert_eq!((k.begin.reference_slot_count, k.encode.reference_slot_count), (1, 0));

        let p = FrameInfos::new(&params(inter, vbr, true));
        let flags = p.std_picture.flags;
        assert_ne!(flags & picture_flags::SHOW_FRAME, 0);
        assert_ne!(flags & picture_flags::SHOWABLE_FRAME, 0);
        assert_eq!(flags & picture_flags::ERROR_RESILIENT_MODE, 0);
        assert_ne!(flags & picture_flags::RENDER_AND_FRAME_SIZE_DIFFERENT, 0);
        assert_eq!(
            (p.std_picture.render_width_minus_1, p.std_picture.render_height_minus_1),
            (1919, 1079)
        );
        assert_eq!((p.begin.reference_slot_count, p.encode.reference_slot_count), (2, 1));
        assert_eq!(p.picture.reference_name_slot_indices[0], 0, "LAST_FRAME reads slot 0");
        assert_eq!(p.setup.slot_index, 1);
        assert_eq!(
            p.picture.constant_q_index, 0,
            "the driver's rate control picks the qindex"
        );
        assert_eq!(p.loop_filter.loop_filter_level[0], loop_filter_level(100));

        let mut exact = params(inter, vbr, true);
        exact.display = exact.coded;
        let e = FrameInfos::new(&exact);
        assert_eq!(e.std_picture.flags & picture_flags::RENDER_AND_FRAME_SIZE_DIFFERENT, 0);
    }

    #[test]
    fn loop_filter_strengthens_with_the_quantizer() {
        assert_eq!(loop_filter_level(0), 0);
        assert!(loop_filter_level(40) < loop_filter_level(128));
        assert_eq!(loop_filter_level(255), 44);
    }
}
