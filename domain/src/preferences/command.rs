//! What may be asked of a person's preferences.

use super::*;

/// Something asked of a user's preferences.
#[derive(Debug, Clone, PartialEq)]
pub enum PreferencesCommand {
    /// Change the keys in `patch`.
    Update {
        /// A JSON object of known keys.
        patch: Value,
    },
    /// Replace everything with an exported document.
    Import {
        /// The document.
        document: Value,
    },
    /// Back to the defaults.
    Reset,
}
