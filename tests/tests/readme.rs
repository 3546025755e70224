//! The README and docs/ are what users read, so they must not drift from the code: every setting
//! in the core's table is in the README with its default, and everything the documents name
//! exists: relative links (and their `#anchors`), `./dev` commands, `mwav1` subcommands and
//! `editor/movie_writer/av1/` settings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use movie_writer_av1_core::backend::BackendKind;
use movie_writer_av1_core::settings::{self, Kind};

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .unwrap()
}

#[test]
fn readme_documents_every_setting_with_its_default_and_every_backend() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for s in settings::all() {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}`", s.name)))
            .unwrap_or_else(|| panic!("README has no table row for {}", s.name));
        let default = match &s.kind {
            Kind::Int { default, .. } => default.to_string(),
            Kind::Float { default, .. } => format!("{default:?}"),
            Kind::Choice { default, .. } => format!("`{default}`"),
            Kind::Text { default, .. } => format!("`\"{default}\"`"),
        };
        assert!(
            row.contains(&format!("| {default} |")),
            "README's default for {} is not {default}: {row}",
            s.name
        );
    }
    for kind in BackendKind::ALL {
        assert!(
            readme.contains(&format!("`{}`", kind.id())),
            "README does not mention backend `{}`",
            kind.id()
        );
    }
}

#[test]
fn every_link_command_and_setting_the_docs_name_exists() {
    let root = repo();
    let known = Known::of_this_build(&root);
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| p.strip_prefix(&root).unwrap().to_path_buf())
        .collect();
    docs.sort();
    files.extend(docs);
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        problems.extend(check(&root, file, &text, &known));
    }
    println!(
        "checked {} files: {}",
        files.len(),
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The same check on a README made wrong on purpose: each wrong name is found, and only those.
#[test]
fn the_docs_check_finds_bad_links_commands_and_settings() {
    let root = repo();
    let known = Known::of_this_build(&root);
    let text = "# Fake title\n\
        [ok](docs/building.md#windows-cross-built-not-run-on-windows) [here](#fake-title) \
        ![img](docs/motion_blur_on.png) [web](https://example.com/x.md)\n\
        [gone](docs/nope.md) [bad anchor](docs/building.md#no-such-heading) [nowhere](#nowhere)\n\
        [outside](../shared/tools/gpu-node/)\n\
        ```sh\n./dev demo\n./dev deploy\nmwav1 probe\nmwav1 render --size 1x1\n\
        mwav1 farm plan job/\nmwav1 farm launch job/\n# [not a link](nope.md) in code\n```\n\
        `editor/movie_writer/av1/speed_preset` and `editor/movie_writer/av1/turbo`; \
        `[in code](nope.md)`\n";
    let problems = check(&root, Path::new("README.md"), text, &known);
    let dev = known.dev.iter().cloned().collect::<Vec<_>>().join(", ");
    let no_deploy = format!("README.md: ./dev deploy: dev has no such command (it has: {dev})");
    let expected = [
        "README.md: link docs/nope.md: no such file",
        "README.md: link docs/building.md#no-such-heading: docs/building.md has no heading #no-such-heading",
        "README.md: link #nowhere: README.md has no heading #nowhere",
        "README.md: link ../shared/tools/gpu-node/: outside the repository",
        no_deploy.as_str(),
        "README.md: mwav1 render: no such subcommand",
        "README.md: mwav1 farm launch: no such subcommand of mwav1 farm",
        "README.md: editor/movie_writer/av1/turbo: no such setting",
    ];
    assert_eq!(problems, expected);
}

/// What exists: `dev`'s commands, the built `mwav1`'s subcommands, the core's settings.
struct Known {
    dev: BTreeSet<String>,
    /// Each `mwav1` subcommand and its own subcommands (empty when it has none).
    mwav1: BTreeMap<String, BTreeSet<String>>,
    settings: BTreeSet<String>,
}

impl Known {
    fn of_this_build(root: &Path) -> Known {
        let bin = movie_writer_av1_tests::mwav1::binary();
        let mut mwav1 = BTreeMap::new();
        for sub in subcommands(&bin, &[]) {
            let own = subcommands(&bin, &[sub.as_str()]);
            mwav1.insert(sub, own);
        }
        Known {
            dev: dev_commands(&std::fs::read_to_string(root.join("dev")).unwrap()),
            mwav1,
            settings: settings::all().into_iter().map(|s| s.name).collect(),
        }
    }
}

/// The commands in `dev`'s `case "${1:-}" in … esac`.
fn dev_commands(script: &str) -> BTreeSet<String> {
    let cases = script
        .lines()
        .skip_while(|l| !l.starts_with("case \"${1:-}\" in"))
        .take_while(|l| *l != "esac");
    let commands: BTreeSet<String> = cases
        .filter_map(|l| l.trim().split_once(')').map(|(word, _)| word.to_string()))
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    assert!(commands.contains("test"), "no command list found in dev");
    commands
}

/// The subcommands `mwav1 ARGS --help` lists under "Commands:" (clap's help), `help` left out.
fn subcommands(bin: &Path, args: &[&str]) -> BTreeSet<String> {
    let out = Command::new(bin).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "mwav1 {} --help failed", args.join(" "));
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| *w != "help")
        .map(str::to_string)
        .collect()
}

/// Everything in `text` (the file `file`, relative to `root`) that names something missing.
fn check(root: &Path, file: &Path, text: &str, known: &Known) -> Vec<String> {
    let name = file.display();
    let mut problems = Vec::new();
    for link in links(text) {
        if let Err(why) = resolve(root, file, text, &link) {
            problems.push(format!("{name}: link {link}: {why}"));
        }
    }
    for (prefix, rest) in after(text, "./dev ") {
        let word = word(rest);
        if prefix.ends_with(|c: char| c.is_alphanumeric()) || word.is_empty() {
            continue;
        }
        if !known.dev.contains(word) {
            let all = known.dev.iter().cloned().collect::<Vec<_>>().join(", ");
            problems.push(format!("{name}: ./dev {word}: dev has no such command (it has: {all})"));
        }
    }
    for (prefix, rest) in after(text, "mwav1 ") {
        let sub = word(rest);
        if prefix.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.') || sub.is_empty() {
            continue;
        }
        match known.mwav1.get(sub) {
            None => problems.push(format!("{name}: mwav1 {sub}: no such subcommand")),
            Some(own) if !own.is_empty() => {
                let next = rest[sub.len()..].strip_prefix(' ').map(word).unwrap_or("");
                if !next.is_empty() && !own.contains(next) {
                    problems.push(format!("{name}: mwav1 {sub} {next}: no such subcommand of mwav1 {sub}"));
                }
            }
            Some(_) => {}
        }
    }
    for (_, rest) in after(text, "movie_writer/av1/") {
        let setting = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if !setting.is_empty() && !known.settings.contains(&format!("editor/movie_writer/av1/{setting}")) {
            problems.push(format!("{name}: editor/movie_writer/av1/{setting}: no such setting"));
        }
    }
    problems
}

/// For each place `needle` occurs: the text before it and the text after it.
fn after<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
    text.match_indices(needle)
        .map(move |(i, _)| (&text[..i], &text[i + needle.len()..]))
}

/// A command word at the start of `s`: a lowercase letter, then letters, digits and dashes.
fn word(s: &str) -> &str {
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return "";
    }
    let end = s
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The lines of `text` outside fenced code blocks, so that code that looks like Markdown is not
/// read as a link or a heading; with `blank_code`, inline code spans blanked out too (a heading
/// keeps them: they are part of its anchor).
fn prose(text: &str, blank_code: bool) -> Vec<String> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if !blank_code {
            lines.push(line.to_string());
            continue;
        }
        let mut out = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                out.push_str(part);
            } else {
                out.push_str(&" ".repeat(part.len() + 2));
            }
        }
        lines.push(out);
    }
    lines
}

/// The targets of the Markdown links and images in `text`: `[text](target)`.
fn links(text: &str) -> Vec<String> {
    prose(text, true)
        .iter()
        .flat_map(|line| {
            after(line, "](")
                .filter_map(|(_, rest)| rest.split_once(')').map(|(target, _)| target.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// GitHub's anchors for the headings of a Markdown text: lowercase, spaces to dashes, every
/// character but letters, digits, `-` and `_` dropped, and `-1`, `-2` … on repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeMap::<String, usize>::new();
    let mut out = BTreeSet::new();
    for line in prose(text, false) {
        let Some(title) = line.strip_prefix('#').map(|l| l.trim_start_matches('#')) else {
            continue;
        };
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 { slug.clone() } else { format!("{slug}-{n}") });
        *n += 1;
    }
    out
}

/// Whether `link`, written in `file` (whose text is `text`), leads to a file of the repository
/// and, for `#anchor`, to one of that file's headings.
fn resolve(root: &Path, file: &Path, text: &str, link: &str) -> Result<(), String> {
    if link.contains("://") || link.starts_with("mailto:") {
        return Ok(());
    }
    let (path, anchor) = link.split_once('#').map_or((link, None), |(p, a)| (p, Some(a)));
    let (target, target_text) = if path.is_empty() {
        (file.to_path_buf(), text.to_string())
    } else {
        // Judged by the path's words, not the file system: a folder beside the checkout may
        // exist here and nowhere else.
        let mut inside = PathBuf::new();
        for part in file.parent().unwrap_or(Path::new("")).join(path).components() {
            match part {
                Component::Normal(p) => inside.push(p),
                Component::CurDir => {}
                Component::ParentDir if inside.pop() => {}
                _ => return Err("outside the repository".into()),
            }
        }
        let full = root.join(&inside);
        if !full.exists() {
            return Err("no such file".into());
        }
        let target_text = match anchor {
            Some(_) => std::fs::read_to_string(&full).map_err(|e| format!("cannot read it: {e}"))?,
            None => String::new(),
        };
        (inside, target_text)
    };
    match anchor {
        Some(a) if !anchors(&target_text).contains(a) => Err(format!("{} has no heading #{a}", target.display())),
        _ => Ok(()),
    }
}
