//! What happened to them.

use super::*;

/// Something that happened to a user's preferences. Each carries the
/// complete resulting settings, so projections copy them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PreferencesEvent {
    /// Some keys changed.
    PreferencesUpdated {
        /// The settings after the change.
        settings: Settings,
    },
    /// A document was imported.
    PreferencesImported {
        /// The settings imported.
        settings: Settings,
    },
    /// Everything went back to the defaults.
    PreferencesReset {},
}

impl DomainEvent for PreferencesEvent {
    fn event_type(&self) -> String {
        match self {
            PreferencesEvent::PreferencesUpdated { .. } => "PreferencesUpdated",
            PreferencesEvent::PreferencesImported { .. } => "PreferencesImported",
            PreferencesEvent::PreferencesReset {} => "PreferencesReset",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
