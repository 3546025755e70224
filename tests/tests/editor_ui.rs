//! The encoder button in the running editor (Godot 4.6.3 on Xvfb, Compatibility renderer): the
//! plugin puts "AV1: <encoder>" in the editor's top bar on the row of the Movie Maker button and
//! close to it, where Movie Maker users look, with every encoder's state in its tooltip. A probe
//! plugin (this test's own, not shipped) finds both buttons in the editor's tree, prints their
//! places and saves a screenshot of the editor to the test's output folder.

use std::fs;
use std::path::Path;
use std::time::Duration;

use movie_writer_av1_tests::engine::{
    assert_no_loader_errors, godot, godot_run_on_screen, project, COMPATIBILITY, ENGINE,
};
use movie_writer_av1_tests::with_time_limit;

const PROBE_CFG: &str =
    "[plugin]\nname=\"ui probe\"\ndescription=\"test only\"\nauthor=\"tests\"\nversion=\"1\"\nscript=\"probe.gd\"\n";

/// Waits for the editor to settle, then reports and quits.
const PROBE: &str = r#"@tool
extends EditorPlugin

func _enter_tree() -> void:
	get_tree().create_timer(4.0).timeout.connect(_look)

func _look() -> void:
	var base := EditorInterface.get_base_control()
	var ours := base.find_child("MovieWriterAV1Encoders", true, false) as Button
	var movie: Button = null
	for b in base.find_children("*", "Button", true, false):
		if b.tooltip_text.begins_with("Enable Movie Maker mode."):
			movie = b
	if ours == null or movie == null:
		print("UI_PROBE missing ours=%s movie=%s" % [ours != null, movie != null])
	else:
		var r := ours.get_global_rect()
		var m := movie.get_global_rect()
		print("UI_PROBE ours=%d,%d,%d,%d movie=%d,%d,%d,%d visible=%s" % [r.position.x, r.position.y, r.size.x, r.size.y, m.position.x, m.position.y, m.size.x, m.size.y, ours.is_visible_in_tree()])
		print("UI_PROBE text=" + ours.text)
		print("UI_PROBE tooltip=" + ours.tooltip_text.replace("\n", " | "))
	base.get_viewport().get_texture().get_image().save_png(OS.get_environment("UI_PROBE_PNG"))
	get_tree().quit()
"#;

/// (x, y, w, h) from "x,y,w,h".
fn rect(text: &str) -> (f64, f64, f64, f64) {
    let v: Vec<f64> = text.split(',').map(|n| n.parse().unwrap()).collect();
    (v[0], v[1], v[2], v[3])
}

#[test]
fn the_editor_shows_the_encoder_beside_the_movie_maker_button() {
    let _engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(godot) = godot() else { return };
    with_time_limit(Duration::from_secs(600), move || {
        let dir = project(&godot, "editor-ui", true);
        let probe = dir.join("addons/ui_probe");
        fs::create_dir_all(&probe).unwrap();
        fs::write(probe.join("plugin.cfg"), PROBE_CFG).unwrap();
        fs::write(probe.join("probe.gd"), PROBE).unwrap();
        let settings = fs::read_to_string(dir.join("project.godot")).unwrap().replace(
            "enabled=PackedStringArray(\"res://addons/movie_writer_av1/plugin.cfg\")",
            "enabled=PackedStringArray(\"res://addons/movie_writer_av1/plugin.cfg\", \"res://addons/ui_probe/plugin.cfg\")",
        );
        fs::write(dir.join("project.godot"), settings).unwrap();
        let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("editor-ui.png");
        let _ = fs::remove_file(&png);
        let mut args = vec!["--editor"];
        args.extend(COMPATIBILITY);
        let (log, _) = godot_run_on_screen(
            &godot,
            &dir,
            &args,
            Some("1600x900x24"),
            &[("UI_PROBE_PNG", png.display().to_string())],
        );
        assert_no_loader_errors(&log);
        let probe: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("UI_PROBE ")).collect();
        let places = probe
            .iter()
            .find(|l| l.starts_with("ours="))
            .unwrap_or_else(|| panic!("the probe did not find both buttons: {probe:?}"));
        let field = |name: &str| {
            places
                .split(' ')
                .find_map(|f| f.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {places}"))
        };
        let (ours, movie) = (rect(field("ours=")), rect(field("movie=")));
        assert_eq!(field("visible="), "true", "{places}");
        // The same row: their vertical extents overlap. Close: at most 250 px apart.
        assert!(
            ours.1 < movie.1 + movie.3 && movie.1 < ours.1 + ours.3,
            "not on the Movie Maker button's row: {places}"
        );
        let gap = (ours.0 - (movie.0 + movie.2)).max(movie.0 - (ours.0 + ours.2));
        assert!(gap <= 250.0, "{gap} px from the Movie Maker button: {places}");
        assert!(
            probe.iter().any(|l| l.starts_with("text=AV1: SVT-AV1")),
            "the button does not name the encoder: {probe:?}"
        );
        assert!(
            probe
                .iter()
                .any(|l| l.starts_with("tooltip=") && l.contains("unavailable: NVENC")),
            "the tooltip does not list the encoders: {probe:?}"
        );
        assert!(png.is_file(), "no screenshot at {}", png.display());
        println!("screenshot: {}", png.display());
    });
}
