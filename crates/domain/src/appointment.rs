//! Appointments and their confirmation codes.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::Rng;
use uuid::Uuid;

use crate::calendar::CalendarId;
use crate::catalog::{Padding, ServiceId};
use crate::person::{Email, PersonName, PhoneNumber};
use crate::time::{TimeRange, TimeZoneId};

/// The id of an appointment (a UUIDv7, so ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppointmentId(Uuid);

impl AppointmentId {
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

impl Default for AppointmentId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for AppointmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A short code a caller can say and hear: six characters from an alphabet
/// without the look-alikes and sound-alikes 0/O, 1/I/L.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfirmationCode(String);

/// Why a confirmation code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a confirmation code (six letters and digits, for example K7M2QX)")]
pub struct BadConfirmationCode(pub String);

impl ConfirmationCode {
    pub const ALPHABET: &'static [u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    pub const LEN: usize = 6;

    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..Self::LEN)
            .map(|_| char::from(Self::ALPHABET[rng.random_range(0..Self::ALPHABET.len())]))
            .collect();
        Self(code)
    }

    /// Reads a code as a caller or a model may write it: any case, with
    /// spaces, dashes or dots between the characters.
    pub fn parse(raw: &str) -> Result<Self, BadConfirmationCode> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | ','))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if cleaned.len() != Self::LEN || !cleaned.bytes().all(|b| Self::ALPHABET.contains(&b)) {
            return Err(BadConfirmationCode(raw.trim().to_owned()));
        }
        Ok(Self(cleaned))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code spelled out for speech: `K 7 M 2 Q X`.
    pub fn spelled(&self) -> String {
        self.0
            .chars()
            .map(String::from)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for ConfirmationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether an appointment still holds its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppointmentStatus {
    Confirmed,
    Cancelled,
}

impl AppointmentStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "confirmed" => Some(Self::Confirmed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// How a booking reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Voice,
    Api,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Api => "api",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "voice" => Some(Self::Voice),
            "api" => Some(Self::Api),
            _ => None,
        }
    }
}

/// Who made a booking: the channel and, for voice, VAPI's call and tool-call ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BookedBy {
    pub channel: Channel,
    pub vapi_call_id: Option<String>,
    pub tool_call_id: Option<String>,
}

/// The service an appointment was booked for: its id, its name and the
/// buffers it holds, as at booking time (kept when the service is renamed,
/// changed or deleted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BookedService {
    pub id: ServiceId,
    pub name: String,
    pub padding: Padding,
}

/// At most `max` active appointments of the service start within `day`
/// (the calendar's day of the booking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyLimit {
    pub max: u32,
    pub day: TimeRange,
}

/// What a booking of a service adds to a [`NewAppointment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBooking {
    pub service: BookedService,
    /// Held free before the start (the buffer after is passed with the
    /// booking, like a calendar's).
    pub buffer_before: chrono::Duration,
    pub daily_limit: Option<DailyLimit>,
}

/// A booking request that passed validation, ready for the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppointment {
    pub id: AppointmentId,
    pub calendar_id: CalendarId,
    pub range: TimeRange,
    pub time_zone: TimeZoneId,
    pub customer_name: PersonName,
    pub customer_phone: PhoneNumber,
    pub customer_email: Option<Email>,
    pub purpose: Option<String>,
    pub booked_by: BookedBy,
    /// A retry with the same key returns the first booking.
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The service booked, if any.
    pub service: Option<ServiceBooking>,
}

/// A stored appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    id: AppointmentId,
    calendar_id: CalendarId,
    confirmation_code: ConfirmationCode,
    range: TimeRange,
    time_zone: TimeZoneId,
    status: AppointmentStatus,
    customer_name: PersonName,
    customer_phone: PhoneNumber,
    customer_email: Option<Email>,
    purpose: Option<String>,
    booked_by: BookedBy,
    idempotency_key: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    cancel_reason: Option<String>,
    service: Option<BookedService>,
}

/// Every field of an [`Appointment`], for adapters that rebuild one from storage.
#[derive(Debug, Clone)]
pub struct AppointmentParts {
    pub id: AppointmentId,
    pub calendar_id: CalendarId,
    pub confirmation_code: ConfirmationCode,
    pub range: TimeRange,
    pub time_zone: TimeZoneId,
    pub status: AppointmentStatus,
    pub customer_name: PersonName,
    pub customer_phone: PhoneNumber,
    pub customer_email: Option<Email>,
    pub purpose: Option<String>,
    pub booked_by: BookedBy,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    /// `None` for appointments booked without a service (and older rows).
    pub service: Option<BookedService>,
}

impl Appointment {
    /// Rebuilds an appointment from validated parts.
    pub fn from_parts(p: AppointmentParts) -> Self {
        Self {
            id: p.id,
            calendar_id: p.calendar_id,
            confirmation_code: p.confirmation_code,
            range: p.range,
            time_zone: p.time_zone,
            status: p.status,
            customer_name: p.customer_name,
            customer_phone: p.customer_phone,
            customer_email: p.customer_email,
            purpose: p.purpose,
            booked_by: p.booked_by,
            idempotency_key: p.idempotency_key,
            created_at: p.created_at,
            updated_at: p.updated_at,
            cancelled_at: p.cancelled_at,
            cancel_reason: p.cancel_reason,
            service: p.service,
        }
    }

    /// The appointment a [`NewAppointment`] becomes once stored with `code`.
    pub fn from_new(new: NewAppointment, code: ConfirmationCode) -> Self {
        Self {
            id: new.id,
            calendar_id: new.calendar_id,
            confirmation_code: code,
            range: new.range,
            time_zone: new.time_zone,
            status: AppointmentStatus::Confirmed,
            customer_name: new.customer_name,
            customer_phone: new.customer_phone,
            customer_email: new.customer_email,
            purpose: new.purpose,
            booked_by: new.booked_by,
            idempotency_key: new.idempotency_key,
            created_at: new.created_at,
            updated_at: new.created_at,
            cancelled_at: None,
            cancel_reason: None,
            service: new.service.map(|s| s.service),
        }
    }

    pub fn id(&self) -> AppointmentId {
        self.id
    }
    pub fn calendar_id(&self) -> CalendarId {
        self.calendar_id
    }
    pub fn confirmation_code(&self) -> &ConfirmationCode {
        &self.confirmation_code
    }
    pub fn range(&self) -> TimeRange {
        self.range
    }
    pub fn time_zone(&self) -> TimeZoneId {
        self.time_zone
    }
    pub fn status(&self) -> AppointmentStatus {
        self.status
    }
    pub fn is_active(&self) -> bool {
        self.status == AppointmentStatus::Confirmed
    }
    pub fn customer_name(&self) -> &PersonName {
        &self.customer_name
    }
    pub fn customer_phone(&self) -> &PhoneNumber {
        &self.customer_phone
    }
    pub fn customer_email(&self) -> Option<&Email> {
        self.customer_email.as_ref()
    }
    pub fn purpose(&self) -> Option<&str> {
        self.purpose.as_deref()
    }
    pub fn booked_by(&self) -> &BookedBy {
        &self.booked_by
    }
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    pub fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.cancelled_at
    }
    pub fn cancel_reason(&self) -> Option<&str> {
        self.cancel_reason.as_deref()
    }
    /// The service booked, if any.
    pub fn service(&self) -> Option<&BookedService> {
        self.service.as_ref()
    }

    /// True when `new` asks for the same booking as this one (same time, same
    /// caller): a retry, not a different request.
    pub fn is_same_request(&self, new: &NewAppointment) -> bool {
        self.range == new.range
            && self.customer_phone == new.customer_phone
            && self.calendar_id == new.calendar_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_codes_avoid_confusable_characters() {
        for _ in 0..2000 {
            let code = ConfirmationCode::generate();
            assert_eq!(code.as_str().len(), 6);
            assert!(!code.as_str().contains(['0', 'O', '1', 'I', 'L']), "{code}");
            assert_eq!(ConfirmationCode::parse(code.as_str()).unwrap(), code);
        }
    }

    #[test]
    fn codes_are_read_the_way_callers_say_them() {
        assert_eq!(
            ConfirmationCode::parse("k7m-2qx").unwrap().as_str(),
            "K7M2QX"
        );
        assert_eq!(
            ConfirmationCode::parse("K 7 M 2 Q X").unwrap().as_str(),
            "K7M2QX"
        );
        assert_eq!(
            ConfirmationCode::parse("K7M2QX").unwrap().spelled(),
            "K 7 M 2 Q X"
        );
        for bad in ["", "K7M2Q", "K7M2QXX", "K7M2Q0", "ILO123"] {
            assert!(ConfirmationCode::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(raw in ".{0,20}") {
            let _ = ConfirmationCode::parse(&raw);
        }
    }
}
