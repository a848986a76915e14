//! Closed sets of values of the Conflict aggregate.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and storage name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $crate::named::Named for $name {
            const ALL: &'static [Self] = $name::ALL;

            fn name(self) -> &'static str {
                self.as_str()
            }
        }

        impl FromStr for $name {
            type Err = FieldError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(FieldError::new($field, concat!("one of: ", $($text, " "),+))),
                }
            }
        }
    };
}

named_enum!(
    /// What the agents disagree about.
    ConflictKind, "kind" {
        /// The same code.
        Code => "code",
        /// A design decision.
        Design => "design",
        /// A requirement.
        Requirement => "requirement",
        /// A shared resource.
        Resource => "resource",
    }
);

named_enum!(
    /// How a conflict was settled.
    Strategy, "strategy" {
        /// An arbitrator model decided.
        Arbitrator => "arbitrator",
        /// A person decided.
        Manual => "manual",
        /// The first writer's version stands.
        FirstWriter => "first_writer",
        /// The last writer's version stands.
        LastWriter => "last_writer",
    }
);

named_enum!(
    /// How one arbitration attempt ended.
    ArbitrationOutcome, "outcome" {
        /// The arbitrator settled the conflict.
        Resolved => "resolved",
        /// It answered that a person must decide.
        Declined => "declined",
        /// It failed: timed out, errored, or gave an answer that did not validate.
        Failed => "failed",
    }
);

impl Strategy {
    /// Whether no person was needed (counts towards the auto-resolution rate).
    pub fn is_automatic(self) -> bool {
        !matches!(self, Strategy::Manual)
    }
}
