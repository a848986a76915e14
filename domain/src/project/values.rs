//! Validated values of the Project aggregate: built once at the edge, trusted
//! everywhere after.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::shared::text::PlainText;

/// The ten workflow stages, in the only order a project may pass them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Stage {
    /// Gathering what the project must do.
    Requirements,
    /// Choosing its shape.
    Architecture,
    /// Designing its data.
    Database,
    /// Designing its interfaces.
    Api,
    /// Building what people see.
    Frontend,
    /// Putting the parts together.
    Integration,
    /// Proving it works.
    Testing,
    /// Writing it down.
    Documentation,
    /// Shipping it.
    Deployment,
    /// The final check.
    QualityAssurance,
}

impl Stage {
    /// The stage that follows this one, if any.
    pub fn next(self) -> Option<Stage> {
        let index = Self::ALL.iter().position(|s| *s == self)?;
        Self::ALL.get(index + 1).copied()
    }
}

crate::named::named!(Stage => "stage", Scope => "scopes", ProjectStatus => "status");

/// What a project API key may do (CONTRACT.md, "Agent integration").
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
pub enum Scope {
    /// Record token usage for the project's agents.
    #[serde(rename = "usage:write")]
    #[strum(serialize = "usage:write")]
    UsageWrite,
    /// Report agents' status.
    #[serde(rename = "status:write")]
    #[strum(serialize = "status:write")]
    StatusWrite,
    /// Give and complete agents' tasks.
    #[serde(rename = "tasks:write")]
    #[strum(serialize = "tasks:write")]
    TasksWrite,
    /// Send messages to the project's conversations.
    #[serde(rename = "messages:write")]
    #[strum(serialize = "messages:write")]
    MessagesWrite,
    /// Report, resolve, escalate and arbitrate conflicts.
    #[serde(rename = "conflicts:write")]
    #[strum(serialize = "conflicts:write")]
    ConflictsWrite,
    /// Take and release file locks on the context bus.
    #[serde(rename = "locks:write")]
    #[strum(serialize = "locks:write")]
    LocksWrite,
    /// Read the project's agents, conversations and analytics.
    #[serde(rename = "read")]
    #[strum(serialize = "read")]
    Read,
}

/// Whether a project is in use or archived.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ProjectStatus {
    /// In use.
    #[default]
    Active,
    /// Archived by its owner: read-only from then on.
    Archived,
}

/// A project's name: 1 to 200 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Validates a name as the client sent it.
    ///
    /// # Errors
    /// When the trimmed name is empty or longer than [`Self::MAX_CHARS`].
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        PlainText::line("name", raw, Self::MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A project's free-text description: at most 10,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    /// The longest description accepted, in characters.
    pub const MAX_CHARS: usize = 10_000;

    /// Validates a description as the client sent it.
    ///
    /// # Errors
    /// When it is longer than [`Self::MAX_CHARS`] or holds control
    /// characters other than tabs and line breaks.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        PlainText::parse("description", raw, Self::MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// The description as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A budget in US dollars: non-negative, at most six decimals, below 10^12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget(Decimal);

impl Budget {
    /// Decimal places kept for money everywhere (micro-dollars).
    pub const SCALE: u32 = 6;

    /// Validates a budget given as a decimal string (`"125.50"`).
    ///
    /// # Errors
    /// When the text is not a decimal number, is negative, has more than six
    /// decimals, or is 10^12 or more.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = crate::shared::money::plain_decimal(raw)
            .ok_or_else(|| FieldError::new("budget_usd", "must be a decimal string such as \"100.00\""))?;
        Self::new(value)
    }

    /// Validates a budget given as a number.
    ///
    /// # Errors
    /// As [`Budget::parse`].
    pub fn new(value: Decimal) -> Result<Self, FieldError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(FieldError::new("budget_usd", "must not be negative"));
        }
        if value.scale() > Self::SCALE {
            return Err(FieldError::new(
                "budget_usd",
                "must have at most 6 decimal places",
            ));
        }
        if value >= Decimal::from(1_000_000_000_000_i64) {
            return Err(FieldError::new("budget_usd", "must be below 1000000000000"));
        }
        Ok(Self(value))
    }

    /// The amount.
    pub fn amount(self) -> Decimal {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_the_contract_order_and_end_at_quality_assurance() {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "requirements",
                "architecture",
                "database",
                "api",
                "frontend",
                "integration",
                "testing",
                "documentation",
                "deployment",
                "quality_assurance"
            ]
        );
        assert_eq!(Stage::Requirements.next(), Some(Stage::Architecture));
        assert_eq!(Stage::QualityAssurance.next(), None);
    }

    #[test]
    fn an_unknown_stage_name_is_rejected() {
        assert!("qa".parse::<Stage>().is_err());
        assert_eq!("api".parse::<Stage>(), Ok(Stage::Api));
    }

    #[test]
    fn a_blank_or_overlong_name_is_rejected_and_a_good_one_is_trimmed() {
        assert!(ProjectName::parse("   ").is_err());
        assert!(ProjectName::parse(&"x".repeat(201)).is_err());
        assert_eq!(
            ProjectName::parse("  Apollo ").map(|n| n.0),
            Ok("Apollo".to_owned())
        );
    }

    #[test]
    fn budgets_must_be_non_negative_exact_decimals() {
        assert!(Budget::parse("-1").is_err());
        assert!(Budget::parse("1.0000001").is_err());
        assert!(Budget::parse("abc").is_err());
        assert!(Budget::parse("1e3").is_err());
        assert_eq!(
            Budget::parse("100.50").map(|b| b.amount().to_string()),
            Ok("100.50".to_owned())
        );
        assert!(Budget::parse("0").is_ok());
    }
}
