//! The Godot release the tests run is fetched from Debian's development suite, sid, by pinned
//! version and sha256 (scripts/engine/godot.sh, scripts/engine/pins). sid keeps only current
//! versions, so a pin goes stale within weeks: the fetch must then take what sid has now and say
//! so, not fail every run until someone edits the pins.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use movie_writer_av1_tests::engine::repo;
use movie_writer_av1_tests::tool::run;

/// `scripts/engine/godot.sh deb …` in a cache folder of its own: (exit success, stdout, stderr).
fn fetch_one(cache: &Path, pin: [&str; 4]) -> (bool, String, String) {
    let mut cmd = Command::new(repo().join("scripts/engine/godot.sh"));
    cmd.arg("deb").args(pin).env("MWAV1_STACK_CACHE", cache);
    let done = run(&mut cmd, Duration::from_secs(300)).unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&done.stdout).trim().to_string();
    (done.status.success(), stdout, done.stderr)
}

#[test]
fn a_pinned_package_that_has_left_sid_is_replaced_by_the_current_one_with_a_warning() {
    let cache = std::env::temp_dir().join(format!("mwav1-engine-fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    // fonts-dejavu-core 2.30-1 left sid years ago; the sha256 is of no file.
    let stale = [
        "fonts-dejavu-core",
        "2.30-1",
        "f/fonts-dejavu/fonts-dejavu-core_2.30-1_all.deb",
        &"0".repeat(64),
    ];
    let (ok, deb, log) = fetch_one(&cache, stale);
    println!("{log}");
    assert!(ok, "the fetch failed: {log}");
    assert!(
        log.contains("WARNING: fonts-dejavu-core 2.30-1 has left sid; using ")
            && log.contains("scripts/engine/godot.sh resolve"),
        "no warning naming the stale pin and the command that updates the pins: {log}"
    );
    let name = Path::new(&deb).file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("fonts-dejavu-core_") && !name.contains("2.30-1") && Path::new(&deb).is_file(),
        "not the current package: {deb}"
    );

    // A package sid does not have at all fails, naming it.
    let gone = [
        "mwav1-no-such-package",
        "1.0",
        "m/mwav1/mwav1-no-such-package_1.0_all.deb",
        &"0".repeat(64),
    ];
    let (ok, _, log) = fetch_one(&cache, gone);
    assert!(!ok && log.contains("sid has no mwav1-no-such-package"), "{log}");
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn the_engine_pins_name_each_package_once_with_a_pool_path_and_a_sha256() {
    let pins = std::fs::read_to_string(repo().join("scripts/engine/pins")).unwrap();
    let mut names = std::collections::HashSet::new();
    for line in pins.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 4, "not 'name version pool sha256': {line}");
        let [name, version, pool, sha] = [fields[0], fields[1], fields[2], fields[3]];
        assert!(names.insert(name), "{name} is pinned twice");
        assert!(pool.ends_with(".deb") && pool.contains(&format!("/{name}_")), "{line}");
        assert!(!pool.contains(".."), "{line}");
        assert!(!version.is_empty());
        assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    }
    for needed in ["godot", "libc6", "libgl1-mesa-dri", "mesa-vulkan-drivers", "libegl1"] {
        assert!(names.contains(needed), "{needed} is not pinned");
    }
}
