//! Closed sets of values with one wire name each: stages, roles, statuses.
//!
//! The HTTP layer lists the names in the OpenAPI document (`enum`), so
//! clients learn the set from the same place the domain parses it.

/// A closed set of values, each with one wire and storage name.
pub trait Named: Copy + 'static {
    /// Every value, in a stable order.
    const ALL: &'static [Self];

    /// The wire and storage name of this value.
    fn name(self) -> &'static str;

    /// Every name, in the order of [`Named::ALL`].
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|value| value.name()).collect()
    }
}

/// Implements [`Named`] for enums that already have `ALL` and `as_str`.
macro_rules! named_by_as_str {
    ($($ty:ty),+ $(,)?) => {
        $(impl $crate::named::Named for $ty {
            const ALL: &'static [Self] = &<$ty>::ALL;

            fn name(self) -> &'static str {
                self.as_str()
            }
        })+
    };
}

pub(crate) use named_by_as_str;
