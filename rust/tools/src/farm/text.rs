//! What a job may write into its scripts: text without control characters. Every path and
//! argument of a job reaches a shell script (single-quoted), a Slurm script and an OpenJD
//! template (YAML, single-quoted); quoting keeps `$()`, backquotes, quotes, `%` and `{{` as
//! text, but a newline or carriage return ends a line of those files, and no quoting of all
//! three formats survives one. So a job refuses them, naming where it found one.

use std::path::Path;

use movie_writer_av1_core::error::{ConfigError, Result};

/// `text` when it holds no control character (newline, carriage return, tab, escape, …).
pub fn plain_text<'a>(what: &str, text: &'a str) -> Result<&'a str> {
    match text.chars().find(|c| c.is_control()) {
        None => Ok(text),
        Some(c) => Err(ConfigError::new(
            what,
            format!("{text:?}"),
            format!(
                "text without control characters ({c:?} found): a job's paths and arguments go into its scripts, where a newline would start a command"
            ),
        )
        .into()),
    }
}

/// `path` as UTF-8 text without control characters: a path that is not UTF-8 could not be
/// written into the scripts as it is.
pub fn plain_path<'a>(what: &str, path: &'a Path) -> Result<&'a str> {
    let text = path.to_str().ok_or_else(|| {
        ConfigError::new(
            what,
            path.display(),
            "a path in UTF-8 (the job's scripts are UTF-8 text)",
        )
    })?;
    plain_text(what, text)
}

/// FNV-1a (64 bits): a stable hash for a job's identity (not a guard against forgery: it tells
/// a chunk of this job from one of an earlier plan).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_by_name_and_the_rest_is_text() {
        let e = plain_text("JOB_DIR", "jobs/x\n$(touch pwned)").unwrap_err().to_string();
        assert!(
            e.starts_with(
                r#"JOB_DIR = "jobs/x\n$(touch pwned)" is not allowed: text without control characters ('\n' found)"#
            ),
            "{e}"
        );
        assert!(plain_text("x", "a\rb").is_err());
        assert!(plain_text("x", "a\u{1b}b").is_err());
        for ok in [
            "$(touch pwned)",
            "`id`",
            "it's",
            "\"q\"",
            "100%a",
            "{{x}}",
            "a b",
            "ünï ✓",
            "a\\b",
        ] {
            assert_eq!(plain_text("x", ok).unwrap(), ok);
        }
        // The published FNV-1a test vector.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
