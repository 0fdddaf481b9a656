//! Turning stored rows into domain values, and domain values into rows.

use anyhow::{Context, anyhow};
use chrono::{DateTime, SubsecRound, Utc};
use voice_scheduler_domain::appointment::AppointmentParts;
use voice_scheduler_domain::ports::StoredReply;
use voice_scheduler_domain::{
    Appointment, AppointmentId, AppointmentStatus, BookedBy, CalendarId, Channel, ConfirmationCode,
    Email, PersonName, PhoneNumber, TimeRange, TimeZoneId,
};

use crate::entities::{appointments, tool_replies};

/// Free text as the store keeps it: U+0000 replaced by U+FFFD.
/// PostgreSQL cannot hold U+0000 in `text` (it refuses the whole
/// statement); SQLite can, but both backends must store the same thing. The
/// free text that reaches the store unchecked (a booking's purpose, VAPI call
/// and tool-call ids, idempotency and reply keys, cancel reasons) goes
/// through here, on writes and on the lookups that must match them.
pub(crate) fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// [`storable`] for an owned, optional value.
pub(crate) fn storable_owned(text: Option<String>) -> Option<String> {
    text.map(|t| match storable(&t) {
        std::borrow::Cow::Borrowed(_) => t,
        std::borrow::Cow::Owned(clean) => clean,
    })
}

/// Every timestamp is stored in whole seconds. On SQLite timestamps are RFC 3339
/// text (`2026-03-01T09:30:00+00:00`); without fractions every value has the
/// same width, so comparing the texts compares the instants.
pub(crate) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(0)
}

/// The first whole second at or after `t`.
pub(crate) fn ceil_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = whole_seconds(t);
    if floor == t {
        t
    } else {
        floor + chrono::Duration::seconds(1)
    }
}

/// `range` with both ends in whole seconds.
pub(crate) fn whole_range(range: TimeRange) -> anyhow::Result<TimeRange> {
    TimeRange::new(whole_seconds(range.start()), whole_seconds(range.end()))
        .context("the time range is shorter than one second")
}

/// Rebuilds a domain appointment from its row. A row that does not parse is an
/// error naming the appointment and the column (never the personal value).
pub(crate) fn appointment(row: appointments::Model) -> anyhow::Result<Appointment> {
    let id = row.id;
    let bad = |column: &str| anyhow!("appointment {id}: the stored {column} is not valid");
    Ok(Appointment::from_parts(AppointmentParts {
        id: AppointmentId::from_uuid(row.id),
        calendar_id: CalendarId::from_uuid(row.calendar_id),
        confirmation_code: ConfirmationCode::parse(&row.confirmation_code)
            .map_err(|_| bad("confirmation_code"))?,
        range: TimeRange::new(row.starts_at, row.ends_at)
            .with_context(|| format!("appointment {id}: the stored starts_at/ends_at"))?,
        time_zone: TimeZoneId::parse(&row.time_zone)
            .with_context(|| format!("appointment {id}: the stored time_zone"))?,
        status: AppointmentStatus::parse(&row.status).ok_or_else(|| bad("status"))?,
        customer_name: PersonName::parse(&row.customer_name)
            .with_context(|| format!("appointment {id}: the stored customer_name"))?,
        customer_phone: PhoneNumber::from_e164(&row.customer_phone)
            .map_err(|_| bad("customer_phone"))?,
        customer_email: row
            .customer_email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|_| bad("customer_email"))?,
        purpose: row.purpose,
        booked_by: BookedBy {
            channel: Channel::parse(&row.channel).ok_or_else(|| bad("channel"))?,
            vapi_call_id: row.vapi_call_id,
            tool_call_id: row.tool_call_id,
        },
        idempotency_key: row.idempotency_key,
        created_at: row.created_at,
        updated_at: row.updated_at,
        cancelled_at: row.cancelled_at,
        cancel_reason: row.cancel_reason,
    }))
}

pub(crate) fn stored_reply(row: tool_replies::Model) -> StoredReply {
    StoredReply {
        fingerprint: row.fingerprint,
        body: row.body,
    }
}
