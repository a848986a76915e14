//! The settings document and its parts.

use super::*;

/// The `format` marker of an exported preferences document.
pub const DOCUMENT_FORMAT: &str = "zekka.preferences/1";

/// Light, dark, or follow the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// Follow the operating system.
    #[default]
    System,
}

/// Which notifications a user gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    /// By mail.
    pub email: bool,
    /// In the app.
    pub in_app: bool,
    /// With a sound.
    pub sound: bool,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            email: true,
            in_app: true,
            sound: false,
        }
    }
}

/// Every preference, always complete (defaults where unset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The colour theme.
    pub theme: Theme,
    /// A BCP 47 language tag (`en`, `pt-BR`).
    pub language: String,
    /// An IANA time zone name (`Europe/Paris`).
    pub timezone: String,
    /// The model new agents and chats use unless told otherwise.
    pub default_model: String,
    /// Which notifications to get.
    pub notifications: Notifications,
    /// Denser lists and smaller margins.
    pub compact_mode: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            theme: Theme::System,
            language: "en".to_owned(),
            timezone: "UTC".to_owned(),
            default_model: "claude-sonnet".to_owned(),
            notifications: Notifications::default(),
            compact_mode: false,
        }
    }
}

fn text_field(
    field: &str,
    value: &Value,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, FieldError> {
    let text = value
        .as_str()
        .ok_or_else(|| FieldError::new(field, "must be a string"))?
        .trim();
    if text.is_empty() || text.chars().count() > max || !text.chars().all(allowed) {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters of an allowed form"),
        ));
    }
    Ok(text.to_owned())
}

fn flag(field: &str, value: &Value) -> Result<bool, FieldError> {
    value
        .as_bool()
        .ok_or_else(|| FieldError::new(field, "must be true or false"))
}

impl Settings {
    /// The JSON Schema of a patch, as [`Settings::patched`] accepts it.
    pub fn patch_schema() -> Value {
        let flag = json!({"type": "boolean"});
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "theme": {"type": "string", "enum": ["light", "dark", "system"]},
                "language": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,35}$"},
                "timezone": {"type": "string", "pattern": "^[A-Za-z0-9/_+-]{1,64}$"},
                "default_model": {"type": "string", "maxLength": 100, "pattern": crate::shapes::SHORT_TEXT_PATTERN},
                "compact_mode": flag,
                "notifications": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {"email": flag, "in_app": flag, "sound": flag}
                }
            }
        })
    }

    /// The JSON Schema of an export document, as [`Settings::from_document`]
    /// accepts it.
    pub fn document_schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["format"],
            "properties": {
                "format": {"type": "string", "enum": [DOCUMENT_FORMAT]},
                "preferences": Self::patch_schema()
            }
        })
    }

    /// These settings with `patch` (a JSON object of known keys) applied.
    ///
    /// # Errors
    /// Every unknown key and every value of the wrong type or form.
    pub fn patched(&self, patch: &Value) -> Result<Settings, Vec<FieldError>> {
        let Some(object) = patch.as_object() else {
            return Err(vec![FieldError::new("preferences", "must be a JSON object")]);
        };
        let mut next = self.clone();
        let mut errors = Vec::new();
        for (key, value) in object {
            let outcome = match key.as_str() {
                "theme" => serde_json::from_value::<Theme>(value.clone())
                    .map(|theme| next.theme = theme)
                    .map_err(|_| FieldError::new("theme", "must be one of: light, dark, system")),
                "language" => text_field("language", value, 35, |c| c.is_ascii_alphanumeric() || c == '-')
                    .map(|language| next.language = language),
                "timezone" => text_field("timezone", value, 64, |c| {
                    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+')
                })
                .map(|timezone| next.timezone = timezone),
                "default_model" => value
                    .as_str()
                    .ok_or_else(|| FieldError::new("default_model", "must be a string"))
                    .and_then(|model| crate::shared::text::PlainText::line("default_model", model, 100))
                    .map(|model| next.default_model = model.into_string()),
                "compact_mode" => flag("compact_mode", value).map(|on| next.compact_mode = on),
                "notifications" => Self::patch_notifications(&mut next.notifications, value, &mut errors),
                other => Err(FieldError::new(other.to_owned(), "unknown preference")),
            };
            if let Err(error) = outcome {
                errors.push(error);
            }
        }
        if errors.is_empty() { Ok(next) } else { Err(errors) }
    }

    fn patch_notifications(
        notifications: &mut Notifications,
        value: &Value,
        errors: &mut Vec<FieldError>,
    ) -> Result<(), FieldError> {
        let object = value
            .as_object()
            .ok_or_else(|| FieldError::new("notifications", "must be an object"))?;
        for (key, value) in object {
            let field = format!("notifications.{key}");
            let outcome = match key.as_str() {
                "email" => flag(&field, value).map(|on| notifications.email = on),
                "in_app" => flag(&field, value).map(|on| notifications.in_app = on),
                "sound" => flag(&field, value).map(|on| notifications.sound = on),
                _ => Err(FieldError::new(field.clone(), "unknown preference")),
            };
            if let Err(error) = outcome {
                errors.push(error);
            }
        }
        Ok(())
    }

    /// The settings as a JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({}))
    }

    /// The export document: `{"format": …, "preferences": {…}}`.
    pub fn to_document(&self) -> Value {
        json!({ "format": DOCUMENT_FORMAT, "preferences": self.to_json() })
    }

    /// Settings from an export document: defaults, then every key it holds.
    ///
    /// # Errors
    /// A wrong format marker, a missing `preferences` object, unknown keys or
    /// wrong types: every one of them.
    pub fn from_document(document: &Value) -> Result<Settings, Vec<FieldError>> {
        let Some(object) = document.as_object() else {
            return Err(vec![FieldError::new("document", "must be a JSON object")]);
        };
        let mut errors = Vec::new();
        if object.get("format").and_then(Value::as_str) != Some(DOCUMENT_FORMAT) {
            errors.push(FieldError::new(
                "format",
                format!("must be \"{DOCUMENT_FORMAT}\""),
            ));
        }
        for key in object
            .keys()
            .filter(|k| !matches!(k.as_str(), "format" | "preferences"))
        {
            errors.push(FieldError::new(key.clone(), "unknown field"));
        }
        let empty = Value::Object(Map::new());
        let preferences = object.get("preferences").unwrap_or(&empty);
        match Settings::default().patched(preferences) {
            Ok(settings) if errors.is_empty() => Ok(settings),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(
                    more.into_iter()
                        .map(|e| FieldError::new(format!("preferences.{}", e.field), e.message)),
                );
                Err(errors)
            }
        }
    }
}
