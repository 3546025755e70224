//! Whether two paths name the same file, for paths whose file may not exist yet: a replay about
//! to be written against the recording and the replays still being written.

use std::path::{Path, PathBuf};

/// The file `path` names: the path itself resolved when it exists (links, `..`), otherwise its
/// folder resolved and the file name added; made absolute where neither exists.
pub(super) fn identity(path: &Path) -> PathBuf {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return resolved;
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(folder), path.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_spelt_another_way_is_the_same_file_whether_or_not_it_exists() {
        let dir = std::env::temp_dir().join(format!("mwav1-same-file-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let plain = dir.join("a.webm");
        let roundabout = dir.join("sub/../a.webm");
        assert_eq!(identity(&plain), identity(&roundabout), "before the file exists");
        std::fs::write(&plain, b"x").unwrap();
        assert_eq!(identity(&plain), identity(&roundabout), "once it exists");
        assert_ne!(identity(&plain), identity(&dir.join("b.webm")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
