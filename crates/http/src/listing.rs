//! Reading the query parameters of the list routes (appointments, calls,
//! audit log): every refused parameter is named, all at once, in one 422.

use chrono::{DateTime, Utc};
use voice_scheduler_domain::{CalendarId, PhoneNumber, PhoneRegion};

use crate::ApiError;
use crate::errors::FieldProblem;

/// The example time in messages about the appointments' and calls' filters.
pub(crate) const LOCAL_EXAMPLE: &str = "2030-03-04T09:00:00-08:00";
/// The example time in messages about the audit log's filters.
pub(crate) const UTC_EXAMPLE: &str = "2030-03-04T09:00:00Z";

/// The page size when `limit` is absent.
const DEFAULT_LIMIT: u64 = 50;

/// Collects the problems of one request's parameters.
#[derive(Debug, Default)]
pub(crate) struct ListParams {
    problems: Vec<FieldProblem>,
}

impl ListParams {
    /// Records that `field` was refused.
    pub(crate) fn bad(&mut self, field: &str, message: String) {
        self.problems.push(FieldProblem {
            field: field.to_owned(),
            message,
        });
    }

    /// `calendar_id`: a UUID.
    pub(crate) fn calendar_id(&mut self, raw: Option<&str>) -> Option<CalendarId> {
        let raw = raw?;
        match uuid::Uuid::parse_str(raw.trim()) {
            Ok(id) => Some(CalendarId::from_uuid(id)),
            Err(_) => {
                self.bad(
                    "calendar_id",
                    format!("'{raw}' is not a calendar id (a UUID)"),
                );
                None
            }
        }
    }

    /// An RFC 3339 time; `example` shows one in the message.
    pub(crate) fn instant(
        &mut self,
        field: &str,
        raw: Option<&str>,
        example: &str,
    ) -> Option<DateTime<Utc>> {
        let raw = raw?;
        match DateTime::parse_from_rfc3339(raw.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.bad(
                    field,
                    format!("'{raw}' is not an RFC 3339 time (for example {example})"),
                );
                None
            }
        }
    }

    /// `phone`: any common spelling, read in `region`.
    pub(crate) fn phone(&mut self, raw: Option<&str>, region: PhoneRegion) -> Option<PhoneNumber> {
        match PhoneNumber::parse(raw?, region) {
            Ok(phone) => Some(phone),
            Err(e) => {
                self.bad("phone", e.to_string());
                None
            }
        }
    }

    /// `limit`: 1 to `max`, [`DEFAULT_LIMIT`] when absent (or refused).
    pub(crate) fn limit(&mut self, raw: Option<&str>, max: u64) -> u64 {
        let Some(raw) = raw else {
            return DEFAULT_LIMIT;
        };
        match raw.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                self.bad("limit", format!("'{raw}' is not a number from 1 to {max}"));
                DEFAULT_LIMIT
            }
        }
    }

    /// `cursor`: `<unix seconds>_<id>`, as the list handed it out.
    pub(crate) fn cursor<Id>(
        &mut self,
        raw: Option<&str>,
        id: impl Fn(&str) -> Option<Id>,
    ) -> Option<(DateTime<Utc>, Id)> {
        let parsed = raw?.split_once('_').and_then(|(ts, rest)| {
            let at = DateTime::from_timestamp(ts.parse().ok()?, 0)?;
            Some((at, id(rest)?))
        });
        if parsed.is_none() {
            self.bad("cursor", "not a cursor this API handed out".to_owned());
        }
        parsed
    }

    /// `Ok` when nothing was refused, else the 422 naming every refusal.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_fields(self.problems))
        }
    }
}

/// A UUID-based id of a cursor.
pub(crate) fn uuid_id<Id>(from: impl Fn(uuid::Uuid) -> Id) -> impl Fn(&str) -> Option<Id> {
    move |raw| uuid::Uuid::parse_str(raw).ok().map(&from)
}
