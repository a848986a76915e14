//! The Preferences aggregate: one per user (its id is the user's), holding
//! their settings. Defaults apply until something is set; a partial update
//! and an import are validated key by key and applied all or nothing.
//!
//! # Layout
//! - [`command`]: what may be asked of a person's preferences.
//! - [`error`]: why preferences refuse a command.
//! - [`event`]: what happened to them.
//! - [`values`]: the settings document and its parts.

pub mod command;
pub mod error;
pub mod event;
#[cfg(test)]
mod tests;
pub mod values;

use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{ErrorKind, FieldError, Refusal};

pub use command::*;
pub use error::*;
pub use event::*;
pub use values::*;

/// A user's preferences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Preferences {
    /// The current settings.
    pub settings: Settings,
}

impl Aggregate for Preferences {
    const TYPE: &'static str = "Preferences";
    type Command = PreferencesCommand;
    type Event = PreferencesEvent;
    type Error = PreferencesError;
    type Services = ();

    crate::sink::handle_by_deciding!();

    fn apply(&mut self, event: Self::Event) {
        match event {
            PreferencesEvent::PreferencesUpdated { settings }
            | PreferencesEvent::PreferencesImported { settings } => {
                self.settings = settings;
            }
            PreferencesEvent::PreferencesReset {} => self.settings = Settings::default(),
        }
    }
}

crate::sink::decider!(Preferences);

impl Preferences {
    /// Decides which events a command produces, or why it is refused.
    ///
    /// # Errors
    /// [`PreferencesError::Invalid`] listing every bad key.
    pub fn decide(&self, command: PreferencesCommand) -> Result<Vec<PreferencesEvent>, PreferencesError> {
        match command {
            PreferencesCommand::Update { patch } => {
                let settings = self.settings.patched(&patch).map_err(PreferencesError::Invalid)?;
                if settings == self.settings {
                    return Ok(vec![]);
                }
                Ok(vec![PreferencesEvent::PreferencesUpdated { settings }])
            }
            PreferencesCommand::Import { document } => {
                let settings = Settings::from_document(&document).map_err(PreferencesError::Invalid)?;
                Ok(vec![PreferencesEvent::PreferencesImported { settings }])
            }
            PreferencesCommand::Reset => Ok(vec![PreferencesEvent::PreferencesReset {}]),
        }
    }
}
