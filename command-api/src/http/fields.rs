//! Parsing a request's fields all at once: every field is parsed, and the
//! request is refused with every field's error together (one 422 lists
//! them all), never with the first only. Each request DTO has a
//! `TryFrom<&Dto>` into the domain values its command is built from, written
//! with [`AllFields::all`].

use zekka_domain::FieldError;

/// A tuple of parse results, all `Ok` or some errors.
pub trait AllFields {
    /// The parsed values, in the same order.
    type Values;

    /// The values when every field parsed, else every field's error.
    ///
    /// # Errors
    /// The field errors, in field order.
    fn all(self) -> Result<Self::Values, Vec<FieldError>>;
}

macro_rules! all_fields {
    ($($value:ident),+) => {
        impl<$($value),+> AllFields for ($(Result<$value, FieldError>,)+) {
            type Values = ($($value,)+);

            #[allow(non_snake_case)]
            fn all(self) -> Result<Self::Values, Vec<FieldError>> {
                let ($($value,)+) = self;
                match ($($value,)+) {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => Err([$($value.err()),+].into_iter().flatten().collect()),
                }
            }
        }
    };
}

all_fields!(A, B);
all_fields!(A, B, C);
all_fields!(A, B, C, D);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_listed_in_field_order() {
        let parsed: Result<(u8, u8, u8), _> = (
            Err(FieldError::new("a", "bad")),
            Ok(2),
            Err(FieldError::new("c", "worse")),
        )
            .all();
        let fields: Vec<String> = parsed
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["a", "c"]);
        assert_eq!(
            (Ok::<u8, FieldError>(1), Ok::<u8, FieldError>(2)).all().ok(),
            Some((1, 2))
        );
    }
}
