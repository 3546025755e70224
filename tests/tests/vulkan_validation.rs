//! The Vulkan backend under the Khronos validation layer, as far as a machine without a
//! video-encode queue goes (lavapipe here): `mwav1 vulkan-check` opens our own device, runs
//! the RGB→NV12 compute conversion and the probe with VK_LAYER_KHRONOS_validation enabled
//! through the loader's environment (synchronization validation and best practices on), and
//! must print no validation error. The layer's start-up message proves it was on.
//! docs/vulkan-validation-lavapipe.txt keeps a run's output. A machine without the layer is a
//! counted skip.

use std::path::Path;
use std::process::Command;

use movie_writer_av1_core::backend::{
    vulkan_validation_env, vulkan_validation_layer_available, VULKAN_VALIDATION_ACTIVE, VULKAN_VALIDATION_LAYER,
};
use movie_writer_av1_tests::mwav1;
use movie_writer_av1_tests::skip::{current_test, skip, Need};

#[test]
fn vulkan_check_prints_no_validation_error() {
    if !vulkan_validation_layer_available() {
        skip(
            &current_test(),
            Need::Tool("vulkan-validationlayers"),
            &format!("the Vulkan loader has no {VULKAN_VALIDATION_LAYER}"),
        );
        return;
    }
    let settings = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vulkan-validation");
    let out = Command::new(mwav1::binary())
        .arg("vulkan-check")
        .envs(vulkan_validation_env(&settings).expect("write the layer settings"))
        .output()
        .expect("run mwav1 vulkan-check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "mwav1 vulkan-check failed:\n{text}");
    assert!(
        text.contains(VULKAN_VALIDATION_ACTIVE),
        "the validation layer never reported itself active:\n{text}"
    );
    assert!(text.contains("equal to the CPU conversion"), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("Validation Error")).collect();
    assert!(
        errors.is_empty(),
        "{} validation errors:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
