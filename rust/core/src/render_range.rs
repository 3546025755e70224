//! A render range: record only frames `start..end` of a scene, after `preroll` frames that are
//! rendered and thrown away (so particles, TAA and physics settle), then stop. This is how one
//! long Movie Maker recording is split into chunks that run on many processes or machines.
//!
//! The range comes from the project settings `render_range` / `render_preroll` and from the
//! engine's user arguments (after `--`): `--movie-range=START:END` and `--movie-preroll=N`.
//! Each argument given on the command line wins over its setting. Frames are counted from 0 in
//! the file's frame rate; END is exclusive. `--movie-job=ID` (the render farm's) names the job
//! and range a chunk is rendered for; the writer stores it as the file's `MWAV1_JOB` tag, and
//! the farm refuses a chunk whose tag is not its own.
//!
//! The scene must show frame `start - preroll` first ([`RenderRange::seek_frame`]): the engine
//! knows nothing of the scene's timeline, so a chunk is only correct if the scene can seek there.

use crate::error::RangeError;

/// The settings behind a render range, in Project Settings.
pub const RANGE_SETTING: &str = "editor/movie_writer/av1/render_range";
pub const PREROLL_SETTING: &str = "editor/movie_writer/av1/render_preroll";
/// The user arguments (after `--`).
pub const RANGE_ARG: &str = "--movie-range";
pub const PREROLL_ARG: &str = "--movie-preroll";
pub const JOB_ARG: &str = "--movie-job";
const ARG_PREFIX: &str = "--movie-";
/// The Matroska tag a render-farm chunk carries its `--movie-job` in.
pub const JOB_TAG: &str = "MWAV1_JOB";
/// A job identity's length and characters: what `mwav1 farm plan` writes (hex, digits, `:`).
const JOB_MAX_LEN: usize = 128;

/// Frames `start..end` of the scene, entered after `preroll` frames that are not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderRange {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    pub preroll: u64,
}

impl RenderRange {
    /// Frames the file gets.
    pub fn frames(&self) -> u64 {
        self.end - self.start
    }

    /// The scene frame the engine's first frame must show.
    pub fn seek_frame(&self) -> u64 {
        self.start - self.preroll
    }
}

/// What the settings and the command line ask for, before it is checked as a whole: each
/// value remembers where it came from, so an error names the argument or setting to fix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RangeRequest {
    /// (START, END) as given; `None`: the whole recording.
    pub range: Option<(u64, u64)>,
    pub preroll: u64,
    /// How the pre-roll was given ("--movie-preroll=40"), for the error when it exceeds START.
    preroll_source: Option<String>,
    /// How the range was given ("--movie-range=0:60"), for the error when it is too large.
    range_source: Option<String>,
    /// `--movie-job`: the render-farm job and range this recording is a chunk of.
    pub job: Option<String>,
}

impl RangeRequest {
    /// Sets the range from the `render_range` setting's text.
    pub fn set_range_setting(&mut self, text: &str) {
        self.range = parse_range_setting(text).expect("checked by the settings table");
        self.range_source = self.range.map(|_| format!("{RANGE_SETTING} = {text}"));
    }

    /// Sets the pre-roll from the `render_preroll` setting.
    pub fn set_preroll_setting(&mut self, preroll: u64) {
        self.preroll = preroll;
        self.preroll_source = (preroll > 0).then(|| format!("{PREROLL_SETTING} = {preroll}"));
    }

    /// Applies the engine's user arguments (what follows `--`) over the settings. Arguments
    /// not starting with `--movie-` belong to the game and are left alone.
    pub fn apply_args<S: AsRef<str>>(&mut self, args: &[S]) -> Result<(), RangeError> {
        for arg in args.iter().map(AsRef::as_ref) {
            if !arg.starts_with(ARG_PREFIX) {
                continue;
            }
            let (name, value) = arg.split_once('=').unwrap_or((arg, ""));
            match name {
                RANGE_ARG => {
                    self.range = Some(parse_range(value).map_err(|why| RangeError(format!("{arg}: {why}")))?);
                    self.range_source = Some(arg.to_string());
                }
                JOB_ARG => {
                    let plain = |c: char| c.is_ascii_alphanumeric() || ":._-".contains(c);
                    if value.is_empty() || value.len() > JOB_MAX_LEN || !value.chars().all(plain) {
                        return Err(RangeError(format!(
                            "{arg}: ID must be 1 to {JOB_MAX_LEN} letters, digits, ':', '.', '_' or '-' (what `mwav1 farm plan` writes)"
                        )));
                    }
                    self.job = Some(value.to_string());
                }
                PREROLL_ARG => {
                    self.preroll = value.trim().parse().map_err(|_| {
                        RangeError(format!(
                            "{arg}: N must be a whole number of frames, 0 or more (--movie-preroll=30)"
                        ))
                    })?;
                    self.preroll_source = Some(arg.to_string());
                }
                _ => {
                    return Err(RangeError(format!(
                        "unknown argument {arg}: MovieWriterAV1 takes {RANGE_ARG}=START:END, {PREROLL_ARG}=N and {JOB_ARG}=ID"
                    )))
                }
            }
        }
        Ok(())
    }

    /// The file's tag (name, text) for `--movie-job`, when given.
    pub fn job_tag(&self) -> Option<(&'static str, &str)> {
        self.job.as_deref().map(|j| (JOB_TAG, j))
    }

    /// Refuses a range whose frames, counted in engine frames (`engine_frames_per_frame` of
    /// them per file frame, with motion blur), pass 2^64: the gate and the audio clock count
    /// engine frames up to END × that.
    pub fn check_engine_frames(&self, range: RenderRange, engine_frames_per_frame: u32) -> Result<(), RangeError> {
        let n = u64::from(engine_frames_per_frame.max(1));
        if range.end.checked_mul(n).is_some() {
            return Ok(());
        }
        let source = self
            .range_source
            .clone()
            .unwrap_or_else(|| format!("the render range {}:{}", range.start, range.end));
        Err(RangeError(format!(
            "{source}: with {n} engine frames per file frame (motion blur), END may be at most {}",
            u64::MAX / n
        )))
    }

    /// The range, checked: `None` when none is asked for (a pre-roll alone does nothing).
    pub fn resolve(&self) -> Result<Option<RenderRange>, RangeError> {
        let Some((start, end)) = self.range else {
            return Ok(None);
        };
        if self.preroll > start {
            let source = self
                .preroll_source
                .clone()
                .unwrap_or_else(|| format!("pre-roll {}", self.preroll));
            return Err(RangeError(format!(
                "{source} is more than START ({start}): the pre-roll frames come before START, so it may be 0 to {start}"
            )));
        }
        Ok(Some(RenderRange {
            start,
            end,
            preroll: self.preroll,
        }))
    }
}

/// The `render_range` setting: "" (the whole recording) or "START:END".
pub fn parse_range_setting(text: &str) -> Result<Option<(u64, u64)>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    parse_range(t)
        .map(Some)
        .map_err(|why| format!("\"\" (the whole recording) or START:END; {why}"))
}

/// "START:END" with END > START, frames from 0, END exclusive.
fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let form = "START:END are frame numbers from 0, END exclusive, e.g. 600:1200";
    let (start, end) = text
        .split_once(':')
        .ok_or_else(|| format!("expected START:END ({form})"))?;
    let (Ok(start), Ok(end)) = (start.trim().parse::<u64>(), end.trim().parse::<u64>()) else {
        return Err(format!("START and END must be whole numbers ({form})"));
    };
    if end <= start {
        return Err(format!("END must be greater than START ({form})"));
    }
    Ok((start, end))
}

/// Counts the engine's frames through a range: which to drop (pre-roll, and any after the
/// end) and when the last one has been taken. Counts engine frames: with motion blur each file
/// frame is `samples` of them.
#[derive(Debug, Clone)]
pub struct RangeGate {
    skip: u64,
    take: u64,
    seen: u64,
}

impl RangeGate {
    /// A range that passed [`RangeRequest::check_engine_frames`] counts within 64 bits; one
    /// that did not saturates (at 2^64 engine frames, which no recording reaches).
    pub fn new(range: RenderRange, engine_frames_per_frame: u32) -> Self {
        let n = u64::from(engine_frames_per_frame.max(1));
        Self {
            skip: range.preroll.saturating_mul(n),
            take: range.frames().saturating_mul(n),
            seen: 0,
        }
    }

    /// Whether the next engine frame goes into the file.
    pub fn admit(&mut self) -> bool {
        let index = self.seen;
        self.seen = self.seen.saturating_add(1);
        (self.skip..self.end()).contains(&index)
    }

    /// True once the range's last frame has been admitted.
    pub fn done(&self) -> bool {
        self.seen >= self.end()
    }

    fn end(&self) -> u64 {
        self.skip.saturating_add(self.take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str]) -> Result<Option<RenderRange>, String> {
        let mut r = RangeRequest::default();
        r.apply_args(args).map_err(|e| e.to_string())?;
        r.resolve().map_err(|e| e.to_string())
    }

    #[test]
    fn arguments_give_the_range() {
        assert_eq!(resolve(&[]), Ok(None));
        assert_eq!(resolve(&["--level=3", "-x"]), Ok(None), "the game's own arguments");
        let r = resolve(&["--movie-range=60:120", "--movie-preroll=10"])
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            RenderRange {
                start: 60,
                end: 120,
                preroll: 10
            }
        );
        assert_eq!((r.frames(), r.seek_frame()), (60, 50));
        assert_eq!(resolve(&["--movie-range=0:1"]).unwrap().unwrap().preroll, 0);
        assert_eq!(
            resolve(&["--movie-preroll=5"]),
            Ok(None),
            "a pre-roll alone does nothing"
        );
    }

    #[test]
    fn bad_arguments_name_the_argument_the_value_and_what_is_allowed() {
        for (args, want) in [
            (&["--movie-range=10:5"][..], "--movie-range=10:5: END must be greater than START"),
            (&["--movie-range=10:10"], "--movie-range=10:10: END must be greater than START"),
            (&["--movie-range=abc"], "--movie-range=abc: expected START:END"),
            (&["--movie-range"], "--movie-range: expected START:END"),
            (&["--movie-range=a:b"], "--movie-range=a:b: START and END must be whole numbers"),
            (&["--movie-range=-5:10"], "--movie-range=-5:10: START and END must be whole numbers"),
            (
                &["--movie-range=30:60", "--movie-preroll=40"],
                "--movie-preroll=40 is more than START (30): the pre-roll frames come before START, so it may be 0 to 30",
            ),
            (&["--movie-preroll=x"], "--movie-preroll=x: N must be a whole number"),
            (&["--movie-job=a b"], "--movie-job=a b: ID must be 1 to 128 letters, digits"),
            (&["--movie-job="], "--movie-job=: ID must be"),
            (
                &["--movie-rnage=0:10"],
                "unknown argument --movie-rnage=0:10: MovieWriterAV1 takes --movie-range=START:END, --movie-preroll=N and --movie-job=ID",
            ),
        ] {
            let e = resolve(args).unwrap_err();
            assert!(e.starts_with(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn the_command_line_wins_over_each_setting() {
        let mut r = RangeRequest::default();
        r.set_range_setting("100:200");
        r.set_preroll_setting(50);
        assert_eq!(r.resolve().unwrap().unwrap().seek_frame(), 50);
        r.apply_args(&["--movie-range=40:80"]).unwrap();
        let e = r.resolve().unwrap_err().to_string();
        assert!(
            e.starts_with("editor/movie_writer/av1/render_preroll = 50 is more than START (40)"),
            "{e}"
        );
        r.apply_args(&["--movie-preroll=0"]).unwrap();
        assert_eq!(
            r.resolve().unwrap(),
            Some(RenderRange {
                start: 40,
                end: 80,
                preroll: 0
            })
        );
        r.set_range_setting("");
        assert_eq!(r.resolve().unwrap(), None);
    }

    #[test]
    fn the_setting_text_is_checked() {
        assert_eq!(parse_range_setting(" "), Ok(None));
        assert_eq!(parse_range_setting("0:60"), Ok(Some((0, 60))));
        let e = parse_range_setting("60:0").unwrap_err();
        assert!(
            e.starts_with("\"\" (the whole recording) or START:END; END must be greater"),
            "{e}"
        );
    }

    #[test]
    fn the_gate_drops_the_preroll_takes_the_range_and_ignores_the_rest() {
        let range = RenderRange {
            start: 40,
            end: 43,
            preroll: 2,
        };
        let mut gate = RangeGate::new(range, 1);
        let admitted: Vec<bool> = (0..7).map(|_| gate.admit()).collect();
        assert_eq!(admitted, [false, false, true, true, true, false, false]);
        assert!(gate.done());

        // Motion blur with 4 samples: engine frames are 4 per file frame.
        let mut gate = RangeGate::new(range, 4);
        let admitted = (0..24).filter(|_| gate.admit()).count();
        assert_eq!(admitted, 12);
        let mut gate = RangeGate::new(range, 4);
        for _ in 0..19 {
            gate.admit();
        }
        assert!(!gate.done());
        gate.admit();
        assert!(gate.done());
    }
}
