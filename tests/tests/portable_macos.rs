//! The macOS build (`./dev build-macos`, cross-built here with zig): the universal dylib and
//! `mwav1` each hold an x86_64 and an arm64 slice; every slice loads nothing but libSystem (no
//! framework, no library outside /usr/lib), asks for no newer macOS than the official Godot 4.6
//! builds do (10.13 on x86_64, 11.0 on arm64), and the arm64 slice carries an ad-hoc code
//! signature over its final bytes (arm64 macOS runs no unsigned code). The dylib exports the
//! entry point the `.gdextension` names.
//!
//! Nothing here can load or run a Mach-O file: no macOS machine and no Godot on macOS ran any of
//! it. The files are read by this test's own small Mach-O reader (fat header, load commands,
//! export trie, code directory), which needs no Apple tool.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use movie_writer_av1_tests::engine::repo;
use movie_writer_av1_tests::skip::{current_test, skip, Need};
use movie_writer_av1_tests::tool::run_with_io;

/// The libraries a slice may load, each with what needs it. libSystem is macOS's C runtime
/// (libc, libm, pthreads, dyld's API); every macOS program loads it.
const SYSTEM_LIBRARIES: [(&str, &str); 1] = [(
    "/usr/lib/libSystem.B.dylib",
    "the C runtime: Rust's std, FFmpeg, SVT-AV1, libaom, libopus",
)];

/// Each architecture's Mach-O CPU type and the oldest macOS the official Godot 4.6 builds run
/// on (platform/macos/detect.py: -mmacosx-version-min).
const ARCHES: [(&str, u32, (u32, u32)); 2] = [("x86_64", 0x0100_0007, (10, 13)), ("arm64", 0x0100_000c, (11, 0))];

const LC_CODE_SIGNATURE: u32 = 0x1d;
const LC_VERSION_MIN_MACOSX: u32 = 0x24;
const LC_BUILD_VERSION: u32 = 0x32;
const LC_DYLD_INFO_ONLY: u32 = 0x8000_0022;
const LC_DYLD_EXPORTS_TRIE: u32 = 0x8000_0033;
/// Every command that makes dyld load a library (plain, weak, re-exported, lazy, upward).
const LOAD_DYLIB_COMMANDS: [u32; 5] = [0xc, 0x8000_0018, 0x8000_001f, 0x20, 0x8000_0023];

/// Where `./dev build-macos` leaves the merged (universal) `mwav1`.
fn universal_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR lies inside the target dir (below the host triple's folder when the
    // tests are built with --target); the merged build lies in the target dir's macos-universal/.
    // Not built: the default target dir, for the message.
    let universal = |dir: &Path| dir.join("macos-universal/release");
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .ancestors()
        .skip(1)
        .find(|dir| universal(dir).is_dir())
        .map_or_else(|| universal(&repo().join("target")), universal)
}

/// `file` if it exists, or a counted skip that says how to make it.
fn built(file: PathBuf) -> Option<PathBuf> {
    if file.is_file() {
        return Some(file);
    }
    skip(
        &current_test(),
        Need::Build("macos"),
        &format!("{} is not built: run ./dev build-macos", file.display()),
    );
    None
}

fn macos_dylib() -> Option<PathBuf> {
    built(repo().join("addons/movie_writer_av1/bin/libmovie_writer_av1.macos.universal.dylib"))
}

fn mwav1() -> Option<PathBuf> {
    built(universal_dir().join("mwav1"))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The slices of a fat (universal) file: CPU type and bytes.
fn slices(file: &[u8]) -> Vec<(u32, &[u8])> {
    assert_eq!(be32(file, 0), 0xcafe_babe, "not a fat Mach-O file (32-bit fat header)");
    (0..be32(file, 4) as usize)
        .map(|i| {
            let arch = 8 + 20 * i;
            let (offset, size) = (be32(file, arch + 8) as usize, be32(file, arch + 12) as usize);
            (be32(file, arch), &file[offset..offset + size])
        })
        .collect()
}

/// What the load commands of one 64-bit little-endian slice say.
#[derive(Debug, Default)]
struct Commands {
    libraries: Vec<String>,
    /// LC_BUILD_VERSION's minos, or LC_VERSION_MIN_MACOSX's version (zig writes it below 10.14).
    min_macos: Option<(u32, u32, u32)>,
    /// Offset and size of the export trie.
    exports: Option<(usize, usize)>,
    /// Offset and size of the code signature.
    signature: Option<(usize, usize)>,
}

fn commands(slice: &[u8]) -> Commands {
    assert_eq!(le32(slice, 0), 0xfeed_facf, "not a 64-bit Mach-O slice");
    let version = |v: u32| (v >> 16, (v >> 8) & 0xff, v & 0xff);
    let mut found = Commands::default();
    let mut at = 32;
    for _ in 0..le32(slice, 16) {
        let (cmd, size) = (le32(slice, at), le32(slice, at + 4) as usize);
        let field = |offset: usize| le32(slice, at + offset) as usize;
        match cmd {
            c if LOAD_DYLIB_COMMANDS.contains(&c) => {
                let name = &slice[at + field(8)..at + size];
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                found.libraries.push(String::from_utf8_lossy(&name[..end]).into_owned());
            }
            LC_BUILD_VERSION => found.min_macos = Some(version(le32(slice, at + 12))),
            LC_VERSION_MIN_MACOSX => found.min_macos = Some(version(le32(slice, at + 8))),
            LC_DYLD_INFO_ONLY => found.exports = Some((field(40), field(44))),
            LC_DYLD_EXPORTS_TRIE => found.exports = Some((field(8), field(12))),
            LC_CODE_SIGNATURE => found.signature = Some((field(8), field(12))),
            _ => {}
        }
        at += size;
    }
    found
}

fn uleb128(b: &[u8], at: &mut usize) -> u64 {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let byte = b[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

/// Every name in an export trie (dyld's prefix tree: each node holds its export info, then its
/// edges, each a label and the offset of the node it leads to).
fn exported_names(trie: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut nodes = if trie.is_empty() {
        vec![]
    } else {
        vec![(0usize, String::new())]
    };
    while let Some((node, prefix)) = nodes.pop() {
        assert!(names.len() + nodes.len() < 1_000_000, "the export trie does not end");
        let mut at = node;
        let info = uleb128(trie, &mut at) as usize;
        if info > 0 {
            names.push(prefix.clone());
        }
        at += info;
        let edges = trie[at];
        at += 1;
        for _ in 0..edges {
            let end = at + trie[at..].iter().position(|&b| b == 0).expect("an edge label");
            let label = String::from_utf8_lossy(&trie[at..end]).into_owned();
            at = end + 1;
            nodes.push((uleb128(trie, &mut at) as usize, format!("{prefix}{label}")));
        }
    }
    names
}

/// sha256sum of `bytes`, as lowercase hex.
fn sha256(bytes: &[u8]) -> String {
    let mut cmd = Command::new("sha256sum");
    let done = run_with_io(
        &mut cmd,
        Duration::from_secs(60),
        |stdin| stdin.write_all(bytes),
        |_, out| {
            let mut text = String::new();
            std::io::Read::read_to_string(out, &mut text).map(|_| text)
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(done.status.success(), "sha256sum: {}", done.stderr);
    done.stdout.split_whitespace().next().expect("a digest").to_string()
}

/// Checks the slice's embedded signature: a code directory that is ad hoc (no identity: what a
/// linker makes), hashes with SHA-256 every page up to the signature itself, and whose hashes
/// match the bytes of the first, a middle and the last page.
fn assert_ad_hoc_signed(what: &str, slice: &[u8], (offset, size): (usize, usize)) {
    let blob = &slice[offset..offset + size];
    assert_eq!(
        be32(blob, 0),
        0xfade_0cc0,
        "{what}: the signature is not an embedded signature"
    );
    let directory = (0..be32(blob, 8) as usize)
        .map(|i| (be32(blob, 12 + 8 * i), be32(blob, 16 + 8 * i) as usize))
        .find(|&(slot, _)| slot == 0)
        .map(|(_, at)| &blob[at..])
        .unwrap_or_else(|| panic!("{what}: the signature has no code directory"));
    assert_eq!(be32(directory, 0), 0xfade_0c02, "{what}: not a code directory");
    let flags = be32(directory, 12);
    let (hashes, code_slots, code_limit) = (
        be32(directory, 16) as usize,
        be32(directory, 28) as usize,
        be32(directory, 32) as usize,
    );
    let (hash_size, hash_type, page) = (directory[36] as usize, directory[37], 1usize << directory[39]);
    println!("{what}: code directory flags {flags:#x}, {code_slots} pages of {page} bytes, limit {code_limit}");
    assert!(
        flags & 0x2 != 0,
        "{what}: the signature is not ad hoc (flags {flags:#x})"
    );
    assert_eq!(
        (hash_type, hash_size),
        (2, 32),
        "{what}: the pages are not hashed with SHA-256"
    );
    assert_eq!(
        code_limit, offset,
        "{what}: the signature does not cover every byte before it"
    );
    assert_eq!(code_slots, code_limit.div_ceil(page), "{what}: not one hash per page");
    for i in [0, code_slots / 2, code_slots - 1] {
        let bytes = &slice[i * page..((i + 1) * page).min(code_limit)];
        let stored: String = directory[hashes + i * hash_size..hashes + (i + 1) * hash_size]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sha256(bytes), stored, "{what}: page {i} changed after it was signed");
    }
}

/// Checks every slice of `file`; returns each slice's exported names.
fn assert_portable(file: &Path) -> Vec<(&'static str, Vec<String>)> {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let slices = slices(&bytes);
    let mut cpu_types: Vec<u32> = slices.iter().map(|(cpu, _)| *cpu).collect();
    cpu_types.sort_unstable();
    assert_eq!(
        cpu_types,
        ARCHES.map(|(_, cpu, _)| cpu),
        "{}: the slices are not x86_64 and arm64",
        file.display()
    );
    let mut exports = Vec::new();
    for (arch, cpu, floor) in &ARCHES {
        let what = format!("{} ({arch})", file.display());
        let slice = slices.iter().find(|(c, _)| c == cpu).expect("the slice").1;
        let found = commands(slice);
        println!(
            "{what}: {} bytes, loads {:?}, minimum macOS {:?}",
            slice.len(),
            found.libraries,
            found.min_macos
        );
        // The reader's own control: every macOS program loads libSystem.
        assert!(
            found.libraries.iter().any(|l| l == SYSTEM_LIBRARIES[0].0),
            "{what}: libSystem is not among {:?}: the load commands were not understood",
            found.libraries
        );
        let foreign: Vec<_> = found
            .libraries
            .iter()
            .filter(|l| !SYSTEM_LIBRARIES.iter().any(|(lib, _)| lib == l))
            .collect();
        assert!(foreign.is_empty(), "{what}: loads more than the C runtime: {foreign:?}");
        let (major, minor, _) = found
            .min_macos
            .unwrap_or_else(|| panic!("{what}: no minimum macOS version"));
        assert!(
            (major, minor) <= *floor,
            "{what}: needs macOS {major}.{minor}, newer than Godot's floor {}.{}",
            floor.0,
            floor.1
        );
        if *arch == "arm64" {
            let signature = found
                .signature
                .unwrap_or_else(|| panic!("{what}: no code signature; arm64 macOS would refuse it"));
            assert_ad_hoc_signed(&what, slice, signature);
        }
        let (offset, size) = found.exports.unwrap_or((0, 0));
        exports.push((*arch, exported_names(&slice[offset..offset + size])));
    }
    exports
}

#[test]
fn the_macos_dylib_is_universal_and_loads_only_libsystem() {
    if let Some(dylib) = macos_dylib() {
        assert_portable(&dylib);
    }
}

#[test]
fn mwav1_for_macos_is_universal_and_loads_only_libsystem() {
    if let Some(exe) = mwav1() {
        assert_portable(&exe);
    }
}

/// The `.gdextension` names `gdext_rust_init`; the engine finds it among the dylib's exports
/// (C names carry a leading underscore in Mach-O).
#[test]
fn the_macos_dylib_exports_the_entry_point() {
    let Some(dylib) = macos_dylib() else { return };
    for (arch, names) in assert_portable(&dylib) {
        println!("{} ({arch}) exports {} names", dylib.display(), names.len());
        assert!(
            names.iter().any(|n| n == "_gdext_rust_init"),
            "{arch}: no _gdext_rust_init among {names:?}"
        );
    }
    let extension = std::fs::read_to_string(repo().join("addons/movie_writer_av1/movie_writer_av1.gdextension"))
        .expect("the .gdextension");
    assert!(
        extension.contains("macos.release = \"bin/libmovie_writer_av1.macos.universal.dylib\""),
        "the .gdextension does not name the macOS dylib"
    );
}
