//! A bookable calendar: who or what appointments are made with, who owns it,
//! and which VAPI assistants and phone numbers route to it.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::schedule::Schedule;
use crate::user::UserId;

/// The id of a calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CalendarId(Uuid);

impl CalendarId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for CalendarId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CalendarId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a calendar's name or slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarNameError {
    #[error(
        "'{0}' is not a valid slug (expected 1-63 characters: lower-case letters, digits and single hyphens, not at either end)"
    )]
    BadSlug(String),
    #[error("the name must be 1 to {max} characters without control characters")]
    BadName { max: usize },
    #[error("'{0}' is not a valid VAPI id (expected 1-128 visible characters)")]
    BadVapiId(String),
}

/// A URL-safe, unique handle of a calendar (`?calendar=<slug>` on the tool URL).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub const MAX_CHARS: usize = 63;

    pub fn parse(raw: &str) -> Result<Self, CalendarNameError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CalendarNameError::BadSlug(raw.to_owned()))
        }
    }

    /// A slug made from a name: "Dr. Ann Lee's Clinic" → `dr-ann-lee-s-clinic`
    /// (`calendar` when nothing usable is left).
    pub fn from_name(name: &str) -> Self {
        let mut out = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            if out.len() >= Self::MAX_CHARS {
                break;
            }
        }
        let trimmed = out.trim_end_matches('-');
        if trimmed.is_empty() {
            Self("calendar".to_owned())
        } else {
            Self(trimmed.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A calendar's display name (spoken to callers): trimmed, 1–100 characters,
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CalendarName(String);

impl CalendarName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, CalendarNameError> {
        let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty()
            || collapsed.chars().count() > Self::MAX_CHARS
            || collapsed.chars().any(char::is_control)
        {
            return Err(CalendarNameError::BadName {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(collapsed))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CalendarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A VAPI assistant id or phone-number id that routes calls to a calendar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VapiId(String);

impl VapiId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, CalendarNameError> {
        let t = raw.trim();
        if t.is_empty()
            || t.len() > Self::MAX_CHARS
            || t.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(CalendarNameError::BadVapiId(raw.to_owned()));
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which VAPI assistants and phone numbers route to a calendar. An id routes
/// to at most one calendar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VapiRoutes {
    pub assistant_ids: Vec<VapiId>,
    pub phone_number_ids: Vec<VapiId>,
}

/// A calendar with the schedule that decides when it can be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub id: CalendarId,
    pub slug: Slug,
    /// Spoken to callers ("You're booked with {name}").
    pub name: String,
    pub schedule: Schedule,
    /// The staff member it belongs to; `None` until someone adopts it (the
    /// calendar seeded from the environment belongs to the first administrator).
    pub owner: Option<UserId>,
    pub routes: VapiRoutes,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        for good in ["a", "main-office", "dr-lee-2", &"x".repeat(63)] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "Main",
            "a b",
            "a_b",
            "a/b",
            "ä",
            &"x".repeat(64),
        ] {
            assert_eq!(
                Slug::parse(bad),
                Err(CalendarNameError::BadSlug(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn slugs_from_names_are_valid() {
        assert_eq!(
            Slug::from_name("Dr. Ann Lee's Clinic").as_str(),
            "dr-ann-lee-s-clinic"
        );
        assert_eq!(Slug::from_name("  ***  ").as_str(), "calendar");
        assert_eq!(Slug::from_name("Zürich Büro").as_str(), "z-rich-b-ro");
        let long = Slug::from_name(&"word ".repeat(40));
        assert!(Slug::parse(long.as_str()).is_ok(), "{long}");
    }

    #[test]
    fn names_and_vapi_ids_are_checked() {
        assert_eq!(
            CalendarName::parse("  Main   office ").unwrap().as_str(),
            "Main office"
        );
        assert!(CalendarName::parse("   ").is_err());
        assert!(CalendarName::parse("a\u{7}b").is_err());
        assert!(CalendarName::parse(&"n".repeat(101)).is_err());
        assert_eq!(VapiId::parse(" asst_1 ").unwrap().as_str(), "asst_1");
        assert!(VapiId::parse("a b").is_err());
        assert!(VapiId::parse("").is_err());
    }
}
