//! Closed sets of values with one wire name each: stages, roles, statuses.
//!
//! Each is an enum that derives `strum`'s `IntoStaticStr` and
//! `VariantArray` (names from `#[strum(serialize_all = "snake_case")]`, as
//! serde's, or one `#[strum(serialize = "…")]` per variant) and is listed
//! once in [`named!`], which derives the rest from those names: [`Named`],
//! `FromStr` (a refusal naming the field and every allowed name), `Display`,
//! `ALL` and `as_str`. The HTTP layer lists the names in the OpenAPI
//! document (`enum`), so clients learn the set from the same place the
//! domain parses it.

use crate::error::FieldError;

/// A closed set of values, each with one wire and storage name.
pub trait Named: Copy + strum::VariantArray + Into<&'static str> + 'static {
    /// The request field a value of this set arrives in (named by refusals).
    const FIELD: &'static str;

    /// The wire and storage name of this value.
    fn name(self) -> &'static str {
        self.into()
    }

    /// Every name, in declaration order.
    fn names() -> Vec<&'static str> {
        Self::VARIANTS.iter().map(|value| (*value).into()).collect()
    }

    /// The value named `text`.
    ///
    /// # Errors
    /// A refusal of [`Named::FIELD`] listing every name.
    fn from_name(text: &str) -> Result<Self, FieldError> {
        Self::VARIANTS
            .iter()
            .copied()
            .find(|value| value.name() == text)
            .ok_or_else(|| {
                FieldError::new(
                    Self::FIELD,
                    format!("unknown value {text:?}; one of: {}", Self::names().join(", ")),
                )
            })
    }
}

/// Implements [`Named`] (with the field each set arrives in), `FromStr`,
/// `Display`, `ALL` and `as_str` for enums deriving `strum`'s
/// `IntoStaticStr` and `VariantArray`.
macro_rules! named {
    ($($ty:ty => $field:literal),+ $(,)?) => {
        $(
            impl $crate::named::Named for $ty {
                const FIELD: &'static str = $field;
            }

            impl std::str::FromStr for $ty {
                type Err = $crate::error::FieldError;

                fn from_str(text: &str) -> Result<Self, Self::Err> {
                    <$ty as $crate::named::Named>::from_name(text)
                }
            }

            impl std::fmt::Display for $ty {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str($crate::named::Named::name(*self))
                }
            }

            impl $ty {
                /// Every value, in declaration order.
                pub const ALL: &'static [$ty] = <$ty as strum::VariantArray>::VARIANTS;

                /// The wire and storage name.
                pub fn as_str(self) -> &'static str {
                    self.into()
                }
            }
        )+
    };
}

pub(crate) use named;

#[cfg(test)]
mod tests {
    use crate::conflict::ConflictKind;
    use crate::project::{Role, Scope, Stage};

    use super::Named;

    #[test]
    fn names_are_serdes_names_and_parse_back() {
        for stage in Stage::ALL {
            let json = serde_json::to_value(stage).expect("serialise");
            assert_eq!(json, stage.as_str());
            assert_eq!(stage.as_str().parse::<Stage>().ok(), Some(*stage));
        }
        for scope in Scope::ALL {
            assert_eq!(serde_json::to_value(scope).expect("serialise"), scope.as_str());
        }
        assert_eq!(Scope::TasksWrite.as_str(), "tasks:write");
        assert_eq!(Stage::QualityAssurance.to_string(), "quality_assurance");
        assert_eq!(
            ConflictKind::names(),
            ["code", "design", "requirement", "resource"]
        );
    }

    #[test]
    fn an_unknown_name_is_refused_naming_the_field_and_the_choices() {
        let refusal = "chief".parse::<Role>().expect_err("unknown role");
        assert_eq!(refusal.field, "role");
        assert!(
            refusal.message.contains("owner, admin, member, viewer"),
            "{}",
            refusal.message
        );
    }
}
