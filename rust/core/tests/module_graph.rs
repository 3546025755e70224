//! No import circles between the top-level modules of the core (`config`, `backend`, `error`, …)
//! or of the tools crate (`farm`, `judge`, …). The compiler forbids circles between crates, not
//! inside one: this is the part of the layering it cannot check.
//!
//! Reads every source file of a library, strips comments and literals, and follows each path
//! that starts at `crate::` or `super::` (`use` trees included) to the top-level module it names;
//! `crate::Name` re-exported by `lib.rs` counts as the module it comes from. Then every edge that
//! lies on a cycle is reported with the file and line that makes it. A module may reach into
//! itself freely; two modules that need each other belong together or need a third, lower one
//! (`kinds`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// One token of Rust source, with the line it starts on. Literals, comments and whitespace are
/// gone; what is left is enough to follow paths and `mod` blocks.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

fn lex(src: &str) -> Vec<(Tok, usize)> {
    let s: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let newlines = |from: usize, to: usize| s[from..to].iter().filter(|&&c| c == '\n').count();
    while i < s.len() {
        let c = s[i];
        let start = i;
        if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && s.get(i + 1) == Some(&'*') {
            // Block comments nest.
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&s, i) {
            i = end;
        } else if c == '"' || (c == 'b' && s.get(i + 1) == Some(&'"')) {
            i += if c == 'b' { 2 } else { 1 };
            while i < s.len() && s[i] != '"' {
                i += if s[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && s.get(i + 1) == Some(&'\'')) {
            // A char literal ('x', '\n', b'x'), or a lifetime ('a), which has no closing quote.
            let q = if c == 'b' { i + 1 } else { i };
            if s.get(q + 1) == Some(&'\\') {
                i = q + 2;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if s.get(q + 2) == Some(&'\'') {
                i = q + 3;
            } else {
                i = q + 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(s[start..i].iter().collect()), line));
        } else if c == ':' && s.get(i + 1) == Some(&':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push((Tok::Punct(c), line));
            }
            i += 1;
        }
        line += newlines(start, i.min(s.len()));
    }
    out
}

/// Where a raw string (`r"…"`, `r#"…"#`, `br"…"`) that starts at `i` ends, if one does.
fn raw_string_end(s: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if s.get(j) == Some(&'b') {
        j += 1;
    }
    if s.get(j) != Some(&'r') || (i > 0 && (s[i - 1].is_alphanumeric() || s[i - 1] == '_')) {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if s.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < s.len() {
        if s[j] == '"' && s[j + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(s.len())
}

/// A path in the source, resolved to absolute segments from the crate root.
struct Use {
    segments: Vec<String>,
    line: usize,
}

/// Every `crate::…` and `super::…` path in a file whose module is `module`, resolved to
/// absolute segments. `use` trees (`crate::{a::X, b}`) give one path per branch.
fn paths(tokens: &[(Tok, usize)], module: &[String]) -> Vec<Use> {
    let mut out = Vec::new();
    // Inline `mod name { … }` blocks: (name, the brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            Tok::Ident(m) if m == "mod" => {
                if let (Some((Tok::Ident(name), _)), Some((Tok::Punct('{'), _))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                }
            }
            Tok::Ident(first) if (first == "crate" || first == "super") && starts_path(tokens, i) => {
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline.iter().map(|(n, _)| n.clone()));
                let (base, next) = resolve_prefix(tokens, i, here);
                i = next;
                let line = tokens[i.min(tokens.len() - 1)].1;
                collect(tokens, &mut i, base, line, &mut out);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Whether the `crate`/`super` at `i` begins a path (`crate::x`), rather than, say, ending one
/// (`pub(crate)`) or following one (`a::crate` is not Rust).
fn starts_path(tokens: &[(Tok, usize)], i: usize) -> bool {
    tokens.get(i + 1).is_some_and(|t| t.0 == Tok::PathSep) && (i == 0 || tokens[i - 1].0 != Tok::PathSep)
}

/// Resolves the leading `crate::` or `super::super::…` at `i` against `here` (the module the
/// code is in); returns the absolute base and the index of the token after the last `::`.
fn resolve_prefix(tokens: &[(Tok, usize)], mut i: usize, mut here: Vec<String>) -> (Vec<String>, usize) {
    if tokens[i].0 == Tok::Ident("crate".into()) {
        return (Vec::new(), i + 2);
    }
    while tokens.get(i).is_some_and(|t| t.0 == Tok::Ident("super".into()))
        && tokens.get(i + 1).is_some_and(|t| t.0 == Tok::PathSep)
    {
        here.pop();
        i += 2;
    }
    (here, i)
}

/// Reads the rest of a path (`a::b::C`, or a `use` tree `{a::X, b::{Y, Z}}`) from `i`, each
/// branch appended to `base`.
fn collect(tokens: &[(Tok, usize)], i: &mut usize, mut base: Vec<String>, line: usize, out: &mut Vec<Use>) {
    loop {
        match tokens.get(*i).map(|t| &t.0) {
            Some(Tok::Ident(seg)) => {
                base.push(seg.clone());
                *i += 1;
                if tokens.get(*i).is_some_and(|t| t.0 == Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                out.push(Use { segments: base, line });
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    collect(tokens, i, base.clone(), tokens.get(*i).map_or(line, |t| t.1), out);
                    // Skip `as alias` and anything else up to the branch's end.
                    let mut nested = 0;
                    while let Some((t, _)) = tokens.get(*i) {
                        match t {
                            Tok::Punct('{') => nested += 1,
                            Tok::Punct('}') if nested > 0 => nested -= 1,
                            Tok::Punct(',') | Tok::Punct('}') if nested == 0 => break,
                            _ => {}
                        }
                        *i += 1;
                    }
                    match tokens.get(*i).map(|t| &t.0) {
                        Some(Tok::Punct(',')) => {
                            *i += 1;
                            if tokens.get(*i).is_some_and(|t| t.0 == Tok::Punct('}')) {
                                *i += 1;
                                return;
                            }
                        }
                        _ => {
                            *i += 1;
                            return;
                        }
                    }
                }
            }
            // `*` (a glob) or the end: the path so far is what is used.
            _ => {
                if !base.is_empty() {
                    out.push(Use { segments: base, line });
                }
                return;
            }
        }
    }
}

/// The module path of a source file below `src`: `a.rs` and `a/mod.rs` are `a`, `a/b.rs` is
/// `a::b`, `lib.rs` is the root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if segs.last().is_some_and(|s| s == "mod" || s == "lib") {
        segs.pop();
    }
    segs
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// An import of one top-level module by another, with the first place that makes it.
type Edges = BTreeMap<(String, String), String>;

/// The edges between top-level modules of the library in `src`.
fn module_edges(src: &Path) -> Edges {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let tops: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_of(src, f).first().cloned())
        .collect();
    let reexports = reexports(&lex(&lib), &tops);
    let mut edges = Edges::new();
    for file in &files {
        let module = module_of(src, file);
        let Some(from) = module.first() else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        for u in paths(&lex(&text), &module) {
            let Some(first) = u.segments.first() else { continue };
            let to = if tops.contains(first) {
                first
            } else if let Some(m) = reexports.get(first) {
                m
            } else {
                continue;
            };
            if to != from {
                let at = format!(
                    "{}:{} `{}`",
                    file.strip_prefix(src).unwrap().display(),
                    u.line,
                    u.segments.join("::")
                );
                edges.entry((from.clone(), to.clone())).or_insert(at);
            }
        }
    }
    edges
}

/// The names `lib.rs` re-exports at the crate root (`pub use config::{Container, …}`), each
/// with the top-level module it comes from.
fn reexports(tokens: &[(Tok, usize)], tops: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (i, w) in tokens.windows(2).enumerate() {
        if w[0].0 == Tok::Ident("pub".into()) && w[1].0 == Tok::Ident("use".into()) {
            let mut j = i + 2;
            let mut uses = Vec::new();
            collect(tokens, &mut j, Vec::new(), 0, &mut uses);
            for u in uses {
                if let (Some(top), Some(name)) = (u.segments.first(), u.segments.last()) {
                    if tops.contains(top) {
                        out.insert(name.clone(), top.clone());
                    }
                }
            }
        }
    }
    out
}

/// Every cycle through the edges, once each (rotated to start at its smallest module): for each
/// edge a → b, the shortest way back from b to a.
fn cycles(edges: &Edges) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for (a, b) in edges.keys() {
        let mut back: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue = VecDeque::from([b]);
        while let Some(m) = queue.pop_front() {
            if m == a {
                break;
            }
            for (_, to) in edges.keys().filter(|(f, _)| f == m) {
                if to != b && !back.contains_key(to) {
                    back.insert(to, m);
                    queue.push_back(to);
                }
            }
        }
        if a != b && !back.contains_key(a) {
            continue;
        }
        let mut cycle = vec![a.clone()];
        let mut m = a;
        while m != b {
            m = back[m];
            cycle.push(m.clone());
        }
        cycle.reverse();
        cycle.pop();
        cycle.insert(0, a.clone());
        let start = cycle.iter().enumerate().min_by_key(|(_, m)| *m).unwrap().0;
        cycle.rotate_left(start);
        found.insert(cycle);
    }
    found
}

fn describe(cycle: &[String], edges: &Edges) -> String {
    let mut text = format!("{} → {}", cycle.join(" → "), cycle[0]);
    for (k, from) in cycle.iter().enumerate() {
        let to = &cycle[(k + 1) % cycle.len()];
        text += &format!("\n      {from} → {to}: {}", edges[&(from.clone(), to.clone())]);
    }
    text
}

fn assert_no_cycles(crate_dir: &str, edges: &Edges) {
    let found = cycles(edges);
    assert!(
        found.is_empty(),
        "{} import cycle(s) between the top-level modules of {crate_dir}/src:\n  - {}",
        found.len(),
        found
            .iter()
            .map(|c| describe(c, edges))
            .collect::<Vec<_>>()
            .join("\n  - ")
    );
}

#[test]
fn module_graph_has_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = module_edges(&src);
    // The check sees real imports: without these it would pass on anything.
    for known in [("pipeline", "mux"), ("pipeline", "backend")] {
        assert!(
            edges.contains_key(&(known.0.to_string(), known.1.to_string())),
            "the parser missed {} → {}",
            known.0,
            known.1
        );
    }
    assert_no_cycles("rust/core", &edges);
}

/// The tools crate (rust/tools) sits beside the core; its modules reach each other too
/// (`conformance` → `judge`, `conformance` → `farm`).
#[test]
fn tools_module_graph_has_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/src");
    let edges = module_edges(&src);
    assert!(
        edges.contains_key(&("conformance".to_string(), "judge".to_string())),
        "the parser missed conformance → judge"
    );
    assert_no_cycles("rust/tools", &edges);
}

/// The parser on made-up source: `use` trees, `super` out of an inline module, a lifetime, and
/// paths inside comments and strings that must not count.
#[test]
fn module_graph_parser_follows_use_trees_and_super() {
    let src = r#"
        // crate::commented::Out
        use crate::{a::X, b::{Y, Z as W}, c};
        fn f<'a>(s: &'a str) -> char { let _ = "crate::quoted::Out"; let _ = r"crate::raw"; '{' }
        mod tests { use super::super::d::V; pub(crate) fn g() { crate::e::h(); } }
    "#;
    let got: Vec<String> = paths(&lex(src), &["m".to_string()])
        .into_iter()
        .map(|u| u.segments.join("::"))
        .collect();
    assert_eq!(got, ["a::X", "b::Y", "b::Z", "c", "d::V", "e::h"]);
    let edges: Edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d")]
        .into_iter()
        .map(|(f, t)| ((f.to_string(), t.to_string()), String::new()))
        .collect();
    let found: Vec<String> = cycles(&edges).into_iter().map(|c| c.join(" → ")).collect();
    assert_eq!(found, ["a → b → c", "d → e"]);
}
