//! The README's settings table is what users read: every setting in the core's table must be
//! there with its default, so the two cannot drift apart.

use movie_writer_av1_core::backend::BackendKind;
use movie_writer_av1_core::settings::{self, Kind};

#[test]
fn readme_documents_every_setting_with_its_default_and_every_backend() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
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
