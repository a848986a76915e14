//! Validated values of the User aggregate.

use crate::error::FieldError;
use crate::shared::text::PlainText;

/// An email address, trimmed and lower-cased so that one mailbox is one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The longest address accepted (RFC 5321's path limit).
    pub const MAX_CHARS: usize = 254;

    /// Validates and normalises an address as the client sent it.
    ///
    /// # Errors
    /// When it is not of the form `local@domain.tld` or is too long.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let invalid = || FieldError::new("email", "must be an email address such as name@example.com");
        if email.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new("email", "must be at most 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The address an account would be found under, for sign-in: the
    /// normal form when `raw` is a valid address, else `raw` trimmed and
    /// lower-cased (it matches no account, and answers like a wrong
    /// password rather than telling what is wrong with it).
    ///
    /// # Errors
    /// When it holds a control character, which no stored address has and
    /// no lookup may carry.
    pub fn for_lookup(raw: &str) -> Result<String, FieldError> {
        if let Some(c) = crate::shared::text::find_forbidden_control(raw) {
            return Err(FieldError::new(
                "email",
                format!(
                    "must not contain control characters (found U+{:04X})",
                    u32::from(c)
                ),
            ));
        }
        Ok(Self::parse(raw).map_or_else(|_| raw.trim().to_lowercase(), |email| email.0))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name other people see: 1 to 100 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Validates a display name as the client sent it.
    ///
    /// # Errors
    /// When it is blank, too long or holds control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        PlainText::line("display_name", raw, Self::MAX_CHARS).map(|t| Self(t.into_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A role that reaches beyond projects: `admin` (pricing, projections, the
/// whole audit trail) or `auditor` (the whole audit trail).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SystemRole {
    /// Operates the system.
    Admin,
    /// Reads every event, with personal data opened.
    Auditor,
}

crate::named::named!(SystemRole => "role");

/// A password that meets the policy; exists only until it is hashed.
pub struct Password(String);

impl Password {
    /// The shortest password accepted, in characters.
    pub const MIN_CHARS: usize = 12;
    /// The longest password accepted, in bytes: hashing cost must stay bounded.
    pub const MAX_BYTES: usize = 1024;

    /// Checks a new password against the policy.
    ///
    /// # Errors
    /// When it is shorter than 12 characters or longer than 1 KiB, holds
    /// control characters, is only white space, repeats a few characters
    /// (`aaaaaaaaaaaa`, `abababababab`), or is on the list of common
    /// passwords.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(FieldError::new("password", "must be at least 12 characters"));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(FieldError::new("password", "must be at most 1024 bytes"));
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldError::new("password", "must not contain control characters"));
        }
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        let distinct: std::collections::BTreeSet<char> = compact.chars().collect();
        if distinct.len() < 4 {
            return Err(FieldError::new(
                "password",
                "is too easy to guess: use more different characters",
            ));
        }
        if is_common(&compact) {
            return Err(FieldError::new(
                "password",
                "is one of the most common passwords: choose another",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password's bytes, for hashing.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Whether `compact` (lower-cased, white space removed) is on the list of
/// common passwords.
fn is_common(compact: &str) -> bool {
    include_str!("common_passwords.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .any(|line| line.trim() == compact)
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_malformed_ones_rejected() {
        assert_eq!(Email::parse(" A@B.Co ").map(|e| e.0), Ok("a@b.co".to_owned()));
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b..co", "a b@c.co", "a@b@c.co",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn short_passwords_are_rejected() {
        assert!(Password::parse("elevenchars").is_err());
        assert!(Password::parse("twelve chars").is_ok());
    }

    #[test]
    fn blank_repetitive_and_common_passwords_are_rejected() {
        for weak in [
            "            ",
            "aaaaaaaaaaaa",
            "abababababab",
            "Password1234",
            "QWERTY 123456",
            "correct horse battery staple",
            "twelve\u{0}chars",
        ] {
            assert!(Password::parse(weak).is_err(), "{weak:?} should be rejected");
        }
        assert!(Password::parse("zekka demo passphrase").is_ok());
    }
}
