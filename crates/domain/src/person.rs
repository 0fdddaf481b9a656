//! Validated facts about a person: name, email address, phone number.

use std::fmt;
use std::str::FromStr;

/// Why a person's detail was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonError {
    #[error("the name is empty")]
    EmptyName,
    #[error("the name is longer than {max} characters")]
    NameTooLong { max: usize },
    #[error("the name contains characters that are not allowed")]
    NameBadCharacters,
    #[error("'{0}' is not a valid email address")]
    InvalidEmail(String),
    #[error("'{0}' is not a valid phone number")]
    InvalidPhone(String),
    #[error("'{0}' is not a known phone region (expected a two-letter country code such as US)")]
    InvalidRegion(String),
}

/// A person's name as a caller gives it: trimmed, 1–100 characters, no control
/// characters or markup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, PersonError> {
        let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            return Err(PersonError::EmptyName);
        }
        if collapsed.chars().count() > Self::MAX_CHARS {
            return Err(PersonError::NameTooLong {
                max: Self::MAX_CHARS,
            });
        }
        if collapsed
            .chars()
            .any(|c| c.is_control() || matches!(c, '<' | '>' | '{' | '}' | '"' | '\\' | ';'))
        {
            return Err(PersonError::NameBadCharacters);
        }
        Ok(Self(collapsed))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed, with a lower-cased domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, PersonError> {
        use validator::ValidateEmail;
        let trimmed = raw.trim();
        if trimmed.len() > 254 || !trimmed.validate_email() {
            return Err(PersonError::InvalidEmail(trimmed.to_owned()));
        }
        let (local, domain) = trimmed
            .rsplit_once('@')
            .ok_or_else(|| PersonError::InvalidEmail(trimmed.to_owned()))?;
        if !domain.contains('.') {
            return Err(PersonError::InvalidEmail(trimmed.to_owned()));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `j***@example.com`: safe for logs.
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => {
                let first = local.chars().next().unwrap_or('*');
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The region used to read national phone numbers (`DEFAULT_PHONE_REGION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneRegion(phonenumber::country::Id);

impl PhoneRegion {
    pub fn parse(raw: &str) -> Result<Self, PersonError> {
        phonenumber::country::Id::from_str(&raw.trim().to_ascii_uppercase())
            .map(Self)
            .map_err(|_| PersonError::InvalidRegion(raw.to_owned()))
    }

    pub fn code(&self) -> String {
        let code: &str = self.0.as_ref();
        code.to_owned()
    }
}

impl Default for PhoneRegion {
    fn default() -> Self {
        Self(phonenumber::country::Id::US)
    }
}

/// A phone number normalised to E.164 (`+14155550123`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Reads international (`+1 415 555 0123`) and national
    /// (`(415) 555-0123`, `415-555-0123`, `4155550123`) forms; national numbers
    /// are read in `region`.
    pub fn parse(raw: &str, region: PhoneRegion) -> Result<Self, PersonError> {
        let trimmed = raw.trim();
        let invalid = || PersonError::InvalidPhone(trimmed.to_owned());
        if trimmed.is_empty() || trimmed.len() > 40 {
            return Err(invalid());
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(invalid());
        }
        let parsed = phonenumber::parse(Some(region.0), trimmed).map_err(|_| invalid())?;
        if !phonenumber::is_valid(&parsed) {
            return Err(invalid());
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Rebuilds a number that was stored in E.164 form.
    pub fn from_e164(stored: &str) -> Result<Self, PersonError> {
        Self::parse(stored, PhoneRegion::default())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+1******0123`: safe for logs.
    pub fn masked(&self) -> String {
        let digits: Vec<char> = self.0.chars().collect();
        let keep_end = 4.min(digits.len());
        let head: String = digits.iter().take(2).collect();
        let tail: String = digits[digits.len() - keep_end..].iter().collect();
        format!(
            "{head}{}{tail}",
            "*".repeat(digits.len().saturating_sub(2 + keep_end))
        )
    }

    /// The last four digits, for speaking back to a caller.
    pub fn last_four(&self) -> &str {
        &self.0[self.0.len().saturating_sub(4)..]
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_us_forms_callers_give() {
        let us = PhoneRegion::default();
        for raw in [
            "(415) 555-0123",
            "415-555-0123",
            "+1 415 555 0123",
            "4155550123",
            "+14155550123",
            "415.555.0123",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw, us).map(|p| p.0),
                Ok("+14155550123".to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn reads_national_numbers_in_the_configured_region() {
        let gb = PhoneRegion::parse("gb").unwrap();
        assert_eq!(
            PhoneNumber::parse("020 7946 0018", gb).unwrap().as_str(),
            "+442079460018"
        );
    }

    #[test]
    fn rejects_what_is_not_a_phone_number() {
        let us = PhoneRegion::default();
        for raw in [
            "",
            "12",
            "hello",
            "555-0123x",
            "+1 415 555 0123 ext 4",
            "0000000000",
        ] {
            assert!(PhoneNumber::parse(raw, us).is_err(), "{raw}");
        }
        assert!(PhoneRegion::parse("XX").is_err());
    }

    #[test]
    fn masks_phone_and_email_for_logs() {
        let p = PhoneNumber::parse("4155550123", PhoneRegion::default()).unwrap();
        assert_eq!(p.masked(), "+1******0123");
        assert_eq!(p.last_four(), "0123");
        let e = Email::parse("Jane@Example.COM").unwrap();
        assert_eq!(e.as_str(), "Jane@example.com");
        assert_eq!(e.masked(), "J***@example.com");
    }

    #[test]
    fn emails_table() {
        for ok in ["jane@example.com", " a.b+c@sub.example.org "] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@localhost",
            "a b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_table() {
        assert_eq!(
            PersonName::parse("  Jane   Doe ").unwrap().as_str(),
            "Jane Doe"
        );
        assert_eq!(PersonName::parse("   "), Err(PersonError::EmptyName));
        assert!(PersonName::parse(&"a".repeat(101)).is_err());
        assert!(PersonName::parse("Bobby <script>").is_err());
        assert!(PersonName::parse("José O'Brien-Núñez").is_ok());
    }

    proptest! {
        #[test]
        fn any_ten_digit_nanp_number_normalises_to_e164(area in 200u32..999, exch in 200u32..999, line in 0u32..9999) {
            let raw = format!("({area}) {exch}-{line:04}");
            if let Ok(p) = PhoneNumber::parse(&raw, PhoneRegion::default()) {
                prop_assert_eq!(p.as_str(), format!("+1{area}{exch}{line:04}"));
                // normalising twice changes nothing
                prop_assert_eq!(PhoneNumber::parse(p.as_str(), PhoneRegion::default()).unwrap(), p);
            }
        }

        #[test]
        fn names_never_panic_and_stay_trimmed(raw in ".{0,120}") {
            if let Ok(n) = PersonName::parse(&raw) {
                prop_assert_eq!(n.as_str().trim(), n.as_str());
                prop_assert!(!n.as_str().is_empty());
            }
        }
    }
}
