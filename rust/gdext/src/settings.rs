//! Registers the core's settings table as Godot Project Settings (with range/enum hints, so the
//! dialog shows proper widgets) and reads them back into a `RecordingConfig` at `write_begin`.

use godot::classes::ProjectSettings;
use godot::prelude::*;
use godot::register::info::PropertyHint;
use movie_writer_av1_core::settings::{self, Kind, Value};
use movie_writer_av1_core::{ConfigError, RecordingConfig};

pub fn register() {
    let mut ps = ProjectSettings::singleton();
    for s in settings::all().into_iter().filter(|s| !s.engine_owned) {
        let (default, ty, hint, hint_string) = match &s.kind {
            Kind::Int { min, max, default } => (
                default.to_variant(),
                VariantType::INT,
                PropertyHint::RANGE,
                format!("{min},{max},1"),
            ),
            Kind::Float { min, max, default } => (
                default.to_variant(),
                VariantType::FLOAT,
                PropertyHint::RANGE,
                format!("{min},{max},0.1"),
            ),
            Kind::Choice { options, default } => (
                default.to_variant(),
                VariantType::STRING,
                PropertyHint::ENUM,
                options.join(","),
            ),
            Kind::Text {
                default, placeholder, ..
            } => (
                default.to_variant(),
                VariantType::STRING,
                PropertyHint::PLACEHOLDER_TEXT,
                placeholder.to_string(),
            ),
        };
        if !ps.has_setting(&s.name) {
            ps.set_setting(&s.name, &default);
        }
        ps.set_initial_value(&s.name, &default);
        ps.set_as_basic(&s.name, true);
        let info = vdict! {
            "name" => s.name.as_str(),
            "type" => ty,
            "hint" => hint,
            "hint_string" => hint_string.as_str(),
        };
        ps.add_property_info(&info);
    }
}

/// Applies every setting from Project Settings to `config`, failing on the first bad value.
pub fn apply_project_settings(config: &mut RecordingConfig) -> Result<(), ConfigError> {
    let names: Vec<String> = settings::all().into_iter().map(|s| s.name).collect();
    apply_named(config, &names)
}

/// Applies the settings `names` from Project Settings to `config`, failing on the first bad
/// value.
pub fn apply_named(config: &mut RecordingConfig, names: &[impl AsRef<str>]) -> Result<(), ConfigError> {
    let ps = ProjectSettings::singleton();
    for name in names.iter().map(AsRef::as_ref) {
        if !ps.has_setting(name) {
            continue;
        }
        let v = ps.get_setting(name);
        let value = match v.get_type() {
            VariantType::INT => Value::Int(v.to::<i64>()),
            VariantType::FLOAT => Value::Float(v.to::<f64>()),
            VariantType::BOOL => Value::Int(i64::from(v.to::<bool>())),
            _ => Value::Text(v.stringify().to_string()),
        };
        settings::apply(config, name, value)?;
    }
    Ok(())
}
