//! What of the Vulkan backend runs on a device without a video-encode queue (lavapipe, a
//! data-centre GPU): the probe, our own device, and the RGB→NV12 compute conversion, checked
//! sample for sample against `crate::color`. `mwav1 vulkan-check` runs it, and the
//! validation-layer test runs that command under VK_LAYER_KHRONOS_validation.

use ash::vk;

use super::convert::Converter;
use super::device::{Commands, Gpu};
use crate::backend::coded_size;
use crate::color::{rgb_to_i420, I420Buffer};
use crate::frame::{PixelFormat, RgbImage};

/// The Khronos validation layer's name, as the loader lists it.
pub const VALIDATION_LAYER: &str = "VK_LAYER_KHRONOS_validation";

/// The layer's settings for our runs (vk_layer_settings.txt): synchronization validation and
/// best practices on; errors, warnings and the layer's own start-up message (proof that it was
/// active) logged to stdout.
const VALIDATION_SETTINGS: &str = "\
khronos_validation.debug_action = VK_DBG_LAYER_ACTION_LOG_MSG
khronos_validation.log_filename = stdout
khronos_validation.report_flags = error,warn,perf,info
khronos_validation.enables = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT,VK_VALIDATION_FEATURE_ENABLE_BEST_PRACTICES_EXT
";

/// What the layer prints once it is active (its start-up message's id).
pub const VALIDATION_ACTIVE: &str = "khronos-validation-createinstance-status-message";

/// Writes the layer settings into `dir` and returns the environment that makes the Vulkan
/// loader enable the layer with them for a child process.
pub fn validation_env(dir: &std::path::Path) -> std::io::Result<[(&'static str, String); 2]> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("vk_layer_settings.txt"), VALIDATION_SETTINGS)?;
    Ok([
        ("VK_INSTANCE_LAYERS", VALIDATION_LAYER.to_string()),
        ("VK_LAYER_SETTINGS_PATH", dir.display().to_string()),
    ])
}

/// Whether the Vulkan loader can enable the Khronos validation layer.
pub fn validation_layer_available() -> bool {
    // SAFETY: loads libvulkan; enumerating layers is a global command.
    let Ok(entry) = (unsafe { ash::Entry::load() }) else {
        return false;
    };
    // SAFETY: as above.
    unsafe { entry.enumerate_instance_layer_properties() }
        .unwrap_or_default()
        .iter()
        .any(|l| {
            l.layer_name_as_c_str()
                .is_ok_and(|n| n.to_bytes() == VALIDATION_LAYER.as_bytes())
        })
}

/// Runs the probe, opens a compute device and converts two frames (even RGBA, odd RGB padded
/// by edge replication); returns what it did, one line each, or what failed.
pub fn self_check() -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let p = super::probe();
    lines.push(if p.available {
        format!("probe: available ({})", p.version)
    } else {
        format!("probe: unavailable: {}", p.reason)
    });
    let gpu = Gpu::compute().map_err(|e| format!("no compute device: {e}"))?;
    lines.push(format!(
        "device: {} (compute queue family {})",
        gpu.name, gpu.compute_family
    ));
    let commands = Commands::new(&gpu, gpu.compute_family).map_err(|e| e.to_string())?;
    for (w, h, format) in [(1280, 720, PixelFormat::Rgba8), (33, 17, PixelFormat::Rgb8)] {
        let bpp = format.bytes_per_pixel();
        let data: Vec<u8> = (0..w as usize * h as usize * bpp)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect();
        let image = RgbImage::packed(w, h, format, &data).map_err(|e| e.to_string())?;
        let (cw, ch) = coded_size(w, h, 2);
        let mut reference = I420Buffer::new(cw, ch);
        rgb_to_i420(&image, &mut reference.planes(), false);
        let mut converter = Converter::new(&gpu, cw, ch, vk::BufferUsageFlags::empty()).map_err(|e| e.to_string())?;
        commands.begin().map_err(|e| e.to_string())?;
        converter.record_rgb(commands.cmd, &image).map_err(|e| e.to_string())?;
        commands
            .submit(gpu.compute_queue, &[], &[], true)
            .map_err(|e| e.to_string())?;
        let nv12 = converter.output.bytes();
        let layout = converter.layout;
        let stride = layout.stride as usize;
        let (cw, ch) = (cw as usize, ch as usize);
        let mut mismatches = 0usize;
        for y in 0..ch {
            for x in 0..cw {
                mismatches += usize::from(nv12[y * stride + x] != reference.y[y * cw + x]);
            }
        }
        let uv = &nv12[layout.uv_offset as usize..];
        for y in 0..ch / 2 {
            for x in 0..cw / 2 {
                mismatches += usize::from(uv[y * stride + 2 * x] != reference.u[y * (cw / 2) + x]);
                mismatches += usize::from(uv[y * stride + 2 * x + 1] != reference.v[y * (cw / 2) + x]);
            }
        }
        if mismatches > 0 {
            return Err(format!(
                "{w}x{h} {format:?}: {mismatches} samples differ from the CPU conversion"
            ));
        }
        lines.push(format!(
            "convert {w}x{h} {format:?} → NV12 {cw}x{ch}: equal to the CPU conversion"
        ));
    }
    Ok(lines)
}
