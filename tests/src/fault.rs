//! The core's test-only fault injection (its private `fault-injection` feature), as the failure
//! tests switch it on in an `mwav1` or engine process through the environment.

use std::path::Path;

pub use movie_writer_av1_core::pipeline::FAULT_ENV;

/// Panics unless `binary` (the `mwav1` CLI or the extension library) reads [`FAULT_ENV`]: only
/// builds with the feature contain the variable's name. A workspace build has it everywhere,
/// since this crate enables it (Cargo unifies the core's features across the crates built
/// together, `mwav1` included), and so has `cargo test -p mwav1` (its dev-dependency on the
/// core); the extension or `mwav1` built on its own, as shipped, has not.
pub fn assert_built_in(binary: &Path) {
    let bytes = std::fs::read(binary).unwrap_or_else(|e| panic!("reading {}: {e}", binary.display()));
    let name = FAULT_ENV.as_bytes();
    assert!(
        bytes.windows(name.len()).any(|w| w == name),
        "{} was built without the core's fault-injection feature: build the workspace \
         (`./dev build`) so the failure tests can inject a fault",
        binary.display()
    );
}
