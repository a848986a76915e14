//! The configuration reference, read from clap's own description of the
//! settings, so `docs/operations.md` is generated from the code that parses
//! them (`tests/api/config_reference.rs` keeps the page equal to it).

use std::ffi::OsStr;

use super::Config;

/// One setting as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable.
    pub variable: String,
    /// Its default, when it has one.
    pub default: Option<String>,
    /// What it sets (the field's doc comment).
    pub description: String,
}

impl Config {
    /// Every setting, in the order the configuration declares them.
    pub fn reference() -> Vec<Setting> {
        Self::command()
            .get_arguments()
            .filter_map(|arg| {
                let variable = arg.get_env().and_then(OsStr::to_str)?.to_owned();
                let default = arg
                    .get_default_values()
                    .iter()
                    .filter_map(|value| value.to_str())
                    .collect::<Vec<_>>()
                    .join(",");
                let description = arg
                    .get_long_help()
                    .or_else(|| arg.get_help())
                    .map(ToString::to_string)
                    .unwrap_or_default();
                Some(Setting {
                    variable,
                    default: (!default.is_empty()).then_some(default),
                    description: description.split_whitespace().collect::<Vec<_>>().join(" "),
                })
            })
            .collect()
    }
}
