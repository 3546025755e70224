//! `mwav1 check FILE…`: the bitstream judge (`movie_writer_av1_tools::judge`) on any AV1
//! recording in WebM, Matroska or MP4, ours or not. Prints every check of every file; fails
//! (status 1) naming each file and each check it failed, or why it could not be judged.

use std::path::PathBuf;

use movie_writer_av1_tools::judge::judge_file;

#[derive(clap::Args)]
pub struct Args {
    /// The recordings to judge (.webm, .mkv, .mp4).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// The size the recordings were made at: the container's crop must leave exactly this.
    /// Without it, Matroska's DisplayWidth/Height stand in (MP4 states none apart from its crop).
    #[arg(long, value_name = "WxH", value_parser = crate::record::parse_size)]
    size: Option<(u32, u32)>,
}

pub fn run(a: &Args) -> Result<(), String> {
    let mut failures = Vec::new();
    for path in &a.files {
        println!("== {}", path.display());
        match judge_file(path, a.size) {
            Ok(j) => {
                println!("{j}");
                let failed: Vec<&str> = j.failed().map(|c| c.id.name()).collect();
                if !failed.is_empty() {
                    failures.push(format!("{}: failed {}", path.display(), failed.join(", ")));
                }
            }
            Err(e) => {
                println!("not judged: {e}");
                failures.push(format!("{}: not judged: {e}", path.display()));
            }
        }
    }
    if failures.is_empty() {
        println!("{} file(s): every check passed", a.files.len());
        Ok(())
    } else {
        Err(format!(
            "{} of {} file(s) failed:\n  {}",
            failures.len(),
            a.files.len(),
            failures.join("\n  ")
        ))
    }
}
