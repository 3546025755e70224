//! Vulkan Video AV1 encode (VK_KHR_video_encode_av1), on `ash` with the loader opened at run
//! time (`Entry::load`), so machines without Vulkan build and run the same binary.
//!
//! The probe (this file) walks instance → physical devices → queue families with
//! `VK_QUEUE_VIDEO_ENCODE_BIT_KHR` and the AV1 encode codec operation → the device extensions →
//! `vkGetPhysicalDeviceVideoCapabilitiesKHR` for AV1 Main, 8-bit 4:2:0, reports
//! the exact step at which a machine fails, and reports the backend available where all pass.
//!
//! The encoder, [`VulkanEncoder`], in small files:
//! - `device.rs`: a VkInstance and VkDevice of our own (Godot cannot add video extensions to
//!   its device) with a video-encode queue that does AV1 and a compute queue, Vulkan 1.3 with
//!   synchronization2 and the `videoEncodeAV1` feature; host-visible buffers; command buffers.
//! - `session.rs`: the AV1 Main 8-bit 4:2:0 profile, the video session and its memory, the
//!   session parameters with the sequence header (BT.709 limited range), and the encoded
//!   sequence header OBU fetched with vkGetEncodedVideoSessionParametersKHR.
//! - `dpb.rs`: the source picture and DPB images, and the reference scheme: a key frame every
//!   keyframe interval, then P frames predicting from the previous frame (LAST_FRAME) through
//!   two alternating DPB slots.
//! - `params.rs`: what the session and each frame are encoded with, from the settings and the
//!   driver's capabilities: rate control (CQP as "disabled" with a constant qindex from the
//!   quality setting, CRF recorded as CQP since Vulkan has no constant-quality mode, CBR and
//!   VBR from the bitrates), the coded size, the speed preset as the encode quality level,
//!   the AV1 level from size, frame rate and bitrate.
//! - `encoder/mod.rs`: the encoder's resources and its state between calls: the
//!   encode-feedback query for the bitstream offset and size, each packet made a temporal
//!   unit (temporal delimiter, and the sequence header on key frames), flush; a failed frame
//!   ends the session.
//! - `encoder/commands.rs`: the commands one frame records (upload, barriers, the
//!   video-coding scope) and the feedback read back.
//! - `frame_info.rs`: the structures one frame's commands point at and where each is chained.
//! - `convert.rs`: RGB(A) → NV12 in a compute shader (WGSL compiled by `naga` at run time),
//!   and I420 → NV12 on the CPU, then copied into the source picture.
//! - `av1_ffi.rs`: the VK_KHR_video_encode_av1 and AV1 encode std types ash 0.38 lacks.
//!
//! Verified: the probe on this project's machines (Mesa lavapipe: no video-encode queue), the
//! FFI layouts against the C headers' offsets, and the compute conversion on lavapipe, which
//! equals `crate::color::rgb_to_i420` exactly. NOT verified: everything that needs a video
//! queue (session, DPB, rate control, feedback, the bitstream). No machine available to this
//! project has a Vulkan AV1 encoder, so it was written against the spec and has never run; the
//! selection policy (`backend/mod.rs`) keeps `auto` away from it and opens it only by name.

mod av1_ffi;
mod convert;
mod device;
mod dpb;
mod encoder;
mod frame_info;
mod params;
mod self_check;
mod session;

use encoder::VulkanEncoder;
pub use self_check::{self_check, validation_env, validation_layer_available, VALIDATION_ACTIVE, VALIDATION_LAYER};

use std::ffi::{c_void, CStr};

use ash::vk;

use super::encoder::VideoEncoder;
use crate::config::{RateControl, RecordingConfig};
use crate::kinds::{BackendKind, Probe};

/// What the probe found on one physical device.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// No queue family has VK_QUEUE_VIDEO_ENCODE_BIT_KHR.
    NoEncodeQueue,
    /// Video-encode queues exist, but none lists the AV1 encode codec operation.
    EncodeWithoutAv1 { codecs: String },
    /// The AV1 encode operation is listed but a required device extension is not.
    MissingExtension(&'static CStr),
    /// The capability query for AV1 Main 8-bit 4:2:0 failed.
    CapabilitiesFailed(vk::Result),
    /// Everything up to the capabilities passed.
    Capable(Av1EncodeCaps),
}

#[derive(Debug, Clone, PartialEq)]
struct Av1EncodeCaps {
    max_width: u32,
    max_height: u32,
    max_level: String,
    rate_controls: Vec<RateControl>,
}

/// What the encoder needs from vkGetPhysicalDeviceVideoCapabilitiesKHR and its encode and
/// AV1 chains, for AV1 Main 4:2:0 at one bit depth.
#[derive(Debug, Clone, Copy, Default)]
struct EncodeCaps {
    min_extent: vk::Extent2D,
    max_extent: vk::Extent2D,
    /// VkVideoEncodeAV1CapabilitiesKHR::codedPictureAlignment.
    picture_alignment: vk::Extent2D,
    /// VkVideoEncodeAV1SuperblockSizeFlagsKHR.
    superblock_sizes: vk::Flags,
    max_dpb_slots: u32,
    max_active_reference_pictures: u32,
    std_header_version: vk::ExtensionProperties,
    bitstream_size_alignment: u64,
    rate_control_modes: vk::VideoEncodeRateControlModeFlagsKHR,
    /// Bits per second.
    max_bitrate: u64,
    max_quality_levels: u32,
    feedback_flags: vk::VideoEncodeFeedbackFlagsKHR,
    /// StdVideoAV1Level.
    max_level: u32,
    min_q_index: u32,
    max_q_index: u32,
    max_single_reference_count: u32,
    single_reference_name_mask: u32,
    max_operating_points: u32,
    /// The driver prefers or requires VkVideoEncodeAV1GopRemainingFrameInfoKHR.
    wants_gop_remaining: bool,
}

impl EncodeCaps {
    /// The crate's rate controls that these modes give (see `params::rate_plan`: CRF is
    /// recorded as CQP, Vulkan having no constant-quality mode).
    fn rate_controls(&self) -> Vec<RateControl> {
        [
            (vk::VideoEncodeRateControlModeFlagsKHR::DISABLED, RateControl::Crf),
            (vk::VideoEncodeRateControlModeFlagsKHR::DISABLED, RateControl::Cqp),
            (vk::VideoEncodeRateControlModeFlagsKHR::VBR, RateControl::Vbr),
            (vk::VideoEncodeRateControlModeFlagsKHR::CBR, RateControl::Cbr),
        ]
        .into_iter()
        .filter(|(mode, _)| self.rate_control_modes.contains(*mode))
        .map(|(_, rc)| rc)
        .collect()
    }
}

#[derive(Debug)]
struct Device {
    name: String,
    verdict: Verdict,
}

/// Destroys the instance however the probe ends.
struct InstanceGuard(ash::Instance);

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        // SAFETY: the instance was created by us and has no child objects.
        unsafe { self.0.destroy_instance(None) }
    }
}

fn version_string(v: u32) -> String {
    format!(
        "{}.{}.{}",
        vk::api_version_major(v),
        vk::api_version_minor(v),
        vk::api_version_patch(v)
    )
}

/// StdVideoAV1Level counts 2.0, 2.1, … 7.3 from 0.
fn level_string(level: u32) -> String {
    format!("{}.{}", 2 + level / 4, level % 4)
}

fn codec_names(ops: vk::VideoCodecOperationFlagsKHR) -> String {
    let known = [
        (vk::VideoCodecOperationFlagsKHR::ENCODE_H264, "H.264"),
        (vk::VideoCodecOperationFlagsKHR::ENCODE_H265, "H.265"),
    ];
    let names: Vec<&str> = known
        .iter()
        .filter(|(bit, _)| ops.contains(*bit))
        .map(|&(_, name)| name)
        .collect();
    if names.is_empty() {
        format!("codec operations {:#x}", ops.as_raw())
    } else {
        names.join(", ")
    }
}

/// The instance's loader, its Vulkan version and every physical device with its verdict.
fn survey() -> Result<(String, Vec<Device>), String> {
    // SAFETY: loads libvulkan and resolves its entry points; nothing else runs in between.
    let entry = unsafe { ash::Entry::load() }.map_err(|e| format!("no Vulkan loader ({e})"))?;
    // SAFETY: a global command, valid once the entry is loaded.
    let loader = unsafe { entry.try_enumerate_instance_version() }
        .map_err(|e| format!("vkEnumerateInstanceVersion failed: {e:?}"))?
        .unwrap_or(vk::API_VERSION_1_0);
    if loader < vk::API_VERSION_1_1 {
        return Err(format!(
            "the Vulkan loader supports only Vulkan {}; video needs 1.1 or newer",
            version_string(loader)
        ));
    }
    let app = vk::ApplicationInfo::default()
        .application_name(c"MovieWriterAV1")
        .api_version(loader.min(vk::API_VERSION_1_3));
    let info = vk::InstanceCreateInfo::default().application_info(&app);
    // SAFETY: a valid create info without layers or extensions.
    let instance = InstanceGuard(
        unsafe { entry.create_instance(&info, None) }.map_err(|e| format!("vkCreateInstance failed: {e:?}"))?,
    );
    let video = ash::khr::video_queue::Instance::new(&entry, &instance.0);
    // SAFETY: the instance is valid for the whole survey.
    let physical = unsafe { instance.0.enumerate_physical_devices() }
        .map_err(|e| format!("vkEnumeratePhysicalDevices failed: {e:?}"))?;
    let devices = physical
        .into_iter()
        .map(|pd| survey_device(&instance.0, &video, pd))
        .collect();
    Ok((format!("Vulkan loader {}", version_string(loader)), devices))
}

fn survey_device(instance: &ash::Instance, video: &ash::khr::video_queue::Instance, pd: vk::PhysicalDevice) -> Device {
    // SAFETY: pd comes from this instance, which outlives the calls.
    let props = unsafe { instance.get_physical_device_properties(pd) };
    let name = props
        .device_name_as_c_str()
        .map_or_else(|_| "unnamed device".into(), |n| n.to_string_lossy().into_owned());
    // SAFETY: as above.
    let extensions = unsafe { instance.enumerate_device_extension_properties(pd) }.unwrap_or_default();
    let has = |wanted: &CStr| extensions.iter().any(|e| e.extension_name_as_c_str() == Ok(wanted));
    // Video-encode queue flags and codec operations exist only with VK_KHR_video_queue (and
    // chaining its struct is only valid then); without it there is no video queue at all.
    if props.api_version < vk::API_VERSION_1_1 || !has(ash::khr::video_queue::NAME) {
        return Device {
            name,
            verdict: Verdict::NoEncodeQueue,
        };
    }
    let encode_ops = encode_codec_operations(instance, pd);
    let verdict = match encode_ops {
        None => Verdict::NoEncodeQueue,
        Some(ops) if !ops.contains(av1_ffi::VIDEO_CODEC_OPERATION_ENCODE_AV1) => Verdict::EncodeWithoutAv1 {
            codecs: codec_names(ops),
        },
        Some(_) => [ash::khr::video_encode_queue::NAME, av1_ffi::EXTENSION_NAME]
            .into_iter()
            .find(|ext| !has(ext))
            .map_or_else(
                || match capabilities(video, pd, vk::VideoComponentBitDepthFlagsKHR::TYPE_8) {
                    Ok(caps) => Verdict::Capable(Av1EncodeCaps {
                        max_width: caps.max_extent.width,
                        max_height: caps.max_extent.height,
                        max_level: level_string(caps.max_level),
                        rate_controls: caps.rate_controls(),
                    }),
                    Err(e) => Verdict::CapabilitiesFailed(e),
                },
                Verdict::MissingExtension,
            ),
    };
    Device { name, verdict }
}

/// The union of the codec operations of the queue families that can encode video, or `None`
/// when no family can.
fn encode_codec_operations(
    instance: &ash::Instance,
    pd: vk::PhysicalDevice,
) -> Option<vk::VideoCodecOperationFlagsKHR> {
    // SAFETY: pd is valid; the output structs are sized by the first call and chained once each.
    unsafe {
        let count = instance.get_physical_device_queue_family_properties2_len(pd);
        let mut video = vec![vk::QueueFamilyVideoPropertiesKHR::default(); count];
        let mut families: Vec<vk::QueueFamilyProperties2> = video
            .iter_mut()
            .map(|v| vk::QueueFamilyProperties2::default().push_next(v))
            .collect();
        instance.get_physical_device_queue_family_properties2(pd, &mut families);
        let flags: Vec<vk::QueueFlags> = families.iter().map(|f| f.queue_family_properties.queue_flags).collect();
        drop(families);
        flags
            .iter()
            .zip(&video)
            .filter(|(flags, _)| flags.contains(vk::QueueFlags::VIDEO_ENCODE_KHR))
            .map(|(_, v)| v.video_codec_operations)
            .reduce(|a, b| a | b)
    }
}

/// vkGetPhysicalDeviceVideoCapabilitiesKHR for AV1 Main 4:2:0 at `depth` bits.
fn capabilities(
    video: &ash::khr::video_queue::Instance,
    pd: vk::PhysicalDevice,
    depth: vk::VideoComponentBitDepthFlagsKHR,
) -> Result<EncodeCaps, vk::Result> {
    let av1_profile = av1_ffi::ProfileInfo {
        s_type: av1_ffi::STRUCTURE_TYPE_PROFILE_INFO,
        p_next: std::ptr::null(),
        std_profile: vk::native::StdVideoAV1Profile_STD_VIDEO_AV1_PROFILE_MAIN,
    };
    let mut profile = vk::VideoProfileInfoKHR::default()
        .video_codec_operation(av1_ffi::VIDEO_CODEC_OPERATION_ENCODE_AV1)
        .chroma_subsampling(vk::VideoChromaSubsamplingFlagsKHR::TYPE_420)
        .luma_bit_depth(depth)
        .chroma_bit_depth(depth);
    profile.p_next = (&raw const av1_profile).cast::<c_void>();
    // The spec requires the encode and the codec-specific capability structs in the chain.
    let mut av1 = av1_ffi::Capabilities::default();
    let mut encode = vk::VideoEncodeCapabilitiesKHR {
        p_next: (&raw mut av1).cast::<c_void>(),
        ..Default::default()
    };
    let mut caps = vk::VideoCapabilitiesKHR {
        p_next: (&raw mut encode).cast::<c_void>(),
        ..Default::default()
    };
    // SAFETY: every struct in both chains lives until the call returns and has its sType set.
    let result = unsafe { (video.fp().get_physical_device_video_capabilities_khr)(pd, &profile, &mut caps) };
    result.result()?;
    Ok(EncodeCaps {
        min_extent: caps.min_coded_extent,
        max_extent: caps.max_coded_extent,
        picture_alignment: av1.coded_picture_alignment,
        superblock_sizes: av1.superblock_sizes,
        max_dpb_slots: caps.max_dpb_slots,
        max_active_reference_pictures: caps.max_active_reference_pictures,
        std_header_version: caps.std_header_version,
        bitstream_size_alignment: caps.min_bitstream_buffer_size_alignment,
        rate_control_modes: encode.rate_control_modes,
        max_bitrate: encode.max_bitrate,
        max_quality_levels: encode.max_quality_levels,
        feedback_flags: encode.supported_encode_feedback_flags,
        max_level: av1.max_level,
        min_q_index: av1.min_q_index,
        max_q_index: av1.max_q_index,
        max_single_reference_count: av1.max_single_reference_count,
        single_reference_name_mask: av1.single_reference_name_mask,
        max_operating_points: av1.max_operating_points,
        wants_gop_remaining: av1.prefers_gop_remaining_frames == vk::TRUE
            || av1.requires_gop_remaining_frames == vk::TRUE,
    })
}

/// Turns the survey into the probe's reason, or the capable device.
fn verdict(devices: &[Device]) -> Result<(&Device, &Av1EncodeCaps), String> {
    if let Some((d, caps)) = devices.iter().find_map(|d| match &d.verdict {
        Verdict::Capable(caps) => Some((d, caps)),
        _ => None,
    }) {
        return Ok((d, caps));
    }
    if devices.is_empty() {
        return Err("the Vulkan loader found no physical device (no Vulkan driver installed)".into());
    }
    if devices.iter().all(|d| d.verdict == Verdict::NoEncodeQueue) {
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        return Err(format!(
            "no physical device with a video-encode queue (devices: {})",
            names.join("; ")
        ));
    }
    let reasons: Vec<String> = devices
        .iter()
        .map(|d| {
            let why = match &d.verdict {
                Verdict::NoEncodeQueue => "no video-encode queue".to_string(),
                Verdict::EncodeWithoutAv1 { codecs } => {
                    format!("its video-encode queues do {codecs} but not AV1 (driver lacks VK_KHR_video_encode_av1)")
                }
                Verdict::MissingExtension(ext) => format!("driver lacks {}", ext.to_string_lossy()),
                Verdict::CapabilitiesFailed(e) => {
                    format!("vkGetPhysicalDeviceVideoCapabilitiesKHR for AV1 Main 8-bit 4:2:0 failed: {e:?}")
                }
                Verdict::Capable(_) => unreachable!("handled above"),
            };
            format!("{}: {why}", d.name)
        })
        .collect();
    Err(reasons.join("; "))
}

fn unavailable_probe(reason: String, version: String) -> Probe {
    Probe {
        version,
        ..Probe::unavailable(BackendKind::Vulkan, reason)
    }
}

/// The probe of a device that passed every check. Whether `auto` may pick it is the selection
/// policy's call (backend/mod.rs: it is experimental until it has run on real hardware).
/// `ten_bit` stays false whatever the driver can do: this encoder codes 8-bit frames only
/// (its session profile, images and compute shader are 8-bit).
fn available_probe(loader: &str, device: &Device, caps: &Av1EncodeCaps) -> Probe {
    Probe {
        available: true,
        version: format!("{loader}; {} (AV1 encode up to level {})", device.name, caps.max_level),
        max_width: caps.max_width,
        max_height: caps.max_height,
        rate_controls: caps.rate_controls.clone(),
        ..unavailable_probe(String::new(), String::new())
    }
}

/// The backend table's opener (`vulkan_absent.rs` has the same one for builds without the
/// feature).
pub fn open(config: &RecordingConfig) -> crate::error::Result<Box<dyn VideoEncoder>> {
    Ok(Box::new(VulkanEncoder::new(config)?))
}

pub fn probe() -> Probe {
    let (loader, devices) = match survey() {
        Ok(found) => found,
        Err(reason) => return unavailable_probe(reason, String::new()),
    };
    match verdict(&devices) {
        Err(reason) => unavailable_probe(reason, loader),
        Ok((device, caps)) => available_probe(&loader, device, caps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_codec_names_read_as_in_the_spec() {
        assert_eq!(level_string(0), "2.0");
        assert_eq!(level_string(13), "5.1");
        assert_eq!(level_string(23), "7.3");
        assert_eq!(
            codec_names(vk::VideoCodecOperationFlagsKHR::ENCODE_H264 | vk::VideoCodecOperationFlagsKHR::ENCODE_H265),
            "H.264, H.265"
        );
    }

    fn device(name: &str, verdict: Verdict) -> Device {
        Device {
            name: name.into(),
            verdict,
        }
    }

    #[test]
    fn reasons_name_the_step_that_failed() {
        assert_eq!(
            verdict(&[device("llvmpipe (LLVM 15.0.6, 256 bits)", Verdict::NoEncodeQueue)]).unwrap_err(),
            "no physical device with a video-encode queue (devices: llvmpipe (LLVM 15.0.6, 256 bits))"
        );
        let mixed = [
            device(
                "NVIDIA GeForce RTX 3080",
                Verdict::EncodeWithoutAv1 {
                    codecs: "H.264, H.265".into(),
                },
            ),
            device("AMD Radeon", Verdict::MissingExtension(av1_ffi::EXTENSION_NAME)),
            device(
                "Intel Arc",
                Verdict::CapabilitiesFailed(vk::Result::ERROR_VIDEO_PROFILE_OPERATION_NOT_SUPPORTED_KHR),
            ),
        ];
        assert_eq!(
            verdict(&mixed).unwrap_err(),
            "NVIDIA GeForce RTX 3080: its video-encode queues do H.264, H.265 but not AV1 (driver lacks \
             VK_KHR_video_encode_av1); AMD Radeon: driver lacks VK_KHR_video_encode_av1; Intel Arc: \
             vkGetPhysicalDeviceVideoCapabilitiesKHR for AV1 Main 8-bit 4:2:0 failed: \
             ERROR_VIDEO_PROFILE_OPERATION_NOT_SUPPORTED_KHR"
        );
        assert!(verdict(&[]).unwrap_err().contains("no physical device"));
    }

    /// A capable device gives an available probe that offers CRF (recorded as CQP) and never
    /// claims 10-bit, which this 8-bit encoder cannot record.
    #[test]
    fn capable_probe_is_eight_bit_and_takes_the_default_rate_control() {
        let caps = Av1EncodeCaps {
            max_width: 4096,
            max_height: 2304,
            max_level: level_string(16),
            rate_controls: EncodeCaps {
                rate_control_modes: vk::VideoEncodeRateControlModeFlagsKHR::DISABLED
                    | vk::VideoEncodeRateControlModeFlagsKHR::VBR,
                ..EncodeCaps::default()
            }
            .rate_controls(),
        };
        let d = device("AMD Radeon RX 7900 XTX (RADV NAVI31)", Verdict::Capable(caps.clone()));
        let p = available_probe("Vulkan loader 1.4.304", &d, &caps);
        assert!(p.available && !p.ten_bit);
        assert_eq!(p.rate_controls, [RateControl::Crf, RateControl::Cqp, RateControl::Vbr]);
        assert_eq!(
            p.version,
            "Vulkan loader 1.4.304; AMD Radeon RX 7900 XTX (RADV NAVI31) (AV1 encode up to level 6.0)"
        );
    }

    /// This machine has Mesa's lavapipe (llvmpipe), which has no video queues: the real probe
    /// must say exactly that. Elsewhere it prints what it found.
    #[test]
    fn probe_on_this_machine() {
        let p = probe();
        println!("Vulkan: {} [{}]", p.reason, p.version);
        match survey() {
            Err(reason) => assert_eq!(p.reason, reason),
            Ok((_, devices)) => {
                for d in devices.iter().filter(|d| d.name.starts_with("llvmpipe")) {
                    assert_eq!(d.verdict, Verdict::NoEncodeQueue, "{}", d.name);
                }
                if !devices.is_empty() && devices.iter().all(|d| d.name.starts_with("llvmpipe")) {
                    assert!(!p.available);
                    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
                    assert_eq!(
                        p.reason,
                        format!(
                            "no physical device with a video-encode queue (devices: {})",
                            names.join("; ")
                        )
                    );
                }
            }
        }
    }
}
