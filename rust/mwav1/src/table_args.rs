//! The `record` options that are settings of the core's table (`movie_writer_av1_core::settings`,
//! the one the Project Settings come from). Each option's help, allowed range or values, default
//! and alias (the setting's own name) are read from the setting's row, and its value is stored
//! through `settings::apply`, the path a Project Setting takes: a change in the table changes the
//! CLI with it. Only the option's name is the CLI's own, short as scripts and the README use it.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::parser::ValueSource;
use clap::{value_parser, Arg, ArgMatches, Command, FromArgMatches};
use movie_writer_av1_core::settings::{self, Kind, Setting, Value};
use movie_writer_av1_core::{ConfigError, RecordingConfig};

/// (option, setting): `--option` sets the setting of that name (the last part of its path).
const OPTIONS: &[(&str, &str)] = &[
    ("quality", "video_quality"),
    ("preset", "speed_preset"),
    ("keyint", "keyframe_interval"),
    ("rate-control", "rate_control"),
    ("bitrate", "bitrate_kbps"),
    ("max-bitrate", "max_bitrate_kbps"),
    ("backend", "encoder"),
    ("audio-codec", "audio_codec"),
    ("queue", "max_queued_frames"),
];

const HEADING: &str = "Recording settings (as in Project Settings; defaults from the same table)";

/// The table's settings given on the command line, as (full setting name, value).
#[derive(Debug, Clone, Default)]
pub struct SettingArgs(Vec<(String, Value)>);

impl SettingArgs {
    /// Stores every given setting in `config`, checked by the table as a Project Setting is.
    pub fn apply(&self, config: &mut RecordingConfig) -> Result<(), ConfigError> {
        self.0
            .iter()
            .try_for_each(|(name, value)| settings::apply(config, name, value.clone()))
    }
}

/// The setting's name without its Project Settings path, e.g. `speed_preset`.
fn short_name(setting: &Setting) -> &str {
    setting.name.rsplit('/').next().unwrap_or(&setting.name)
}

/// The row of the setting `short`; `OPTIONS` naming a setting the table lacks is this program's
/// bug, found by the first run of any subcommand (and by the unit tests).
fn row<'a>(table: &'a [Setting], short: &str) -> &'a Setting {
    table
        .iter()
        .find(|s| short_name(s) == short)
        .unwrap_or_else(|| panic!("the CLI's option list names `{short}`, which is not in the settings table"))
}

/// `--flag` for `setting`: clap refuses a value out of the setting's range or choices, naming
/// what is allowed.
fn arg(flag: &'static str, setting: &Setting) -> Arg {
    let alias = short_name(setting).replace('_', "-");
    let mut arg = Arg::new(flag)
        .long(flag)
        .help(setting.doc)
        .help_heading(HEADING)
        // So that `-1` reaches the range check instead of passing for an option.
        .allow_negative_numbers(true);
    if alias != flag {
        arg = arg.visible_alias(alias);
    }
    match &setting.kind {
        &Kind::Int { min, max, default } => arg
            .value_name(format!("{min}..={max}"))
            .default_value(default.to_string())
            .value_parser(value_parser!(i64).range(min..=max).map(Value::Int)),
        &Kind::Float { min, max, default } => arg
            .value_name(format!("{min}..={max}"))
            .default_value(default.to_string())
            .value_parser(move |s: &str| -> Result<Value, String> {
                match s.parse::<f64>() {
                    Ok(v) if (min..=max).contains(&v) => Ok(Value::Float(v)),
                    Ok(_) => Err(format!("{s} is not in {min}..={max}")),
                    Err(_) => Err(format!("not a number (allowed: {min}..={max})")),
                }
            }),
        Kind::Choice { options, default } => arg
            .value_name(flag.to_uppercase())
            .default_value(*default)
            .ignore_case(true)
            .value_parser(PossibleValuesParser::new(options.clone()).map(Value::Text)),
        &Kind::Text {
            default,
            placeholder,
            parse,
        } => arg
            .value_name(placeholder)
            .default_value(default)
            .value_parser(move |s: &str| parse(s).map(|()| Value::Text(s.to_string()))),
    }
}

impl clap::Args for SettingArgs {
    fn augment_args(cmd: Command) -> Command {
        let table = settings::all();
        cmd.args(OPTIONS.iter().map(|&(flag, short)| arg(flag, row(&table, short))))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for SettingArgs {
    /// Only the options given: the rest keep `RecordingConfig::new`'s values, which are the
    /// table's defaults (the core's settings tests check that).
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let table = settings::all();
        let given = OPTIONS
            .iter()
            .filter(|(flag, _)| matches.value_source(flag) == Some(ValueSource::CommandLine))
            .filter_map(|&(flag, short)| {
                let value = matches.get_one::<Value>(flag)?.clone();
                Some((row(&table, short).name.clone(), value))
            })
            .collect();
        Ok(Self(given))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: SettingArgs,
    }

    fn config(args: &[&str]) -> Result<RecordingConfig, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("mwav1").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        let mut config = RecordingConfig::new("x.webm", 320, 180, 30);
        cli.settings.apply(&mut config).map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn every_option_names_a_setting_of_the_table() {
        let table = settings::all();
        for &(flag, short) in OPTIONS {
            assert_eq!(short_name(row(&table, short)), short, "--{flag}");
        }
    }

    #[test]
    fn no_option_leaves_the_config_as_it_was() {
        assert_eq!(config(&[]).unwrap(), RecordingConfig::new("x.webm", 320, 180, 30));
    }

    #[test]
    fn options_and_their_aliases_store_through_the_table() {
        let c = config(&[
            "--preset",
            "7",
            "--quality",
            "0.5",
            "--keyint",
            "1.5",
            "--rate-control",
            "VBR",
            "--bitrate-kbps",
            "900",
            "--max-bitrate",
            "1200",
            "--encoder",
            "software",
            "--audio-codec",
            "pcm",
            "--queue",
            "3",
        ])
        .unwrap();
        assert_eq!(
            c.video.speed_preset,
            movie_writer_av1_core::config::SpeedPreset::Fixed(7)
        );
        assert_eq!(c.video.quality, 0.5);
        assert_eq!(c.video.keyframe_interval_s, 1.5);
        assert_eq!(c.video.rate_control.name(), "vbr");
        assert_eq!((c.video.bitrate_kbps, c.video.max_bitrate_kbps), (900, 1200));
        assert_eq!(c.backend.id(), "software");
        assert_eq!(c.audio.codec.map(|a| a.name()), Some("pcm"));
        assert_eq!(c.max_queued_frames, 3);
    }

    #[test]
    fn a_value_outside_the_table_is_refused_naming_what_is_allowed() {
        let e = config(&["--preset", "14"]).unwrap_err();
        assert!(
            e.contains("[possible values: auto, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]"),
            "{e}"
        );
        let e = config(&["--queue", "0"]).unwrap_err();
        assert!(e.contains("0 is not in 1..=120"), "{e}");
        let e = config(&["--quality", "1.5"]).unwrap_err();
        assert!(e.contains("1.5 is not in 0..=1"), "{e}");
        let e = config(&["--rate-control", "abr"]).unwrap_err();
        assert!(e.contains("[possible values: crf, cqp, vbr, cbr]"), "{e}");
    }
}
