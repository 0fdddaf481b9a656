//! Turning stored rows into domain values, and domain values into rows.

use anyhow::{Context, anyhow};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::ActiveValue::Set;
use voice_scheduler_domain::appointment::AppointmentParts;
use voice_scheduler_domain::ports::StoredReply;
use voice_scheduler_domain::{
    Appointment, AppointmentId, AppointmentStatus, BookedBy, CalendarId, Channel, ConfirmationCode,
    Email, NewAppointment, PersonName, PhoneNumber, TimeRange, TimeZoneId,
};

use crate::entities::{appointments, tool_replies};

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

/// The row of a new, confirmed appointment.
pub(crate) fn new_appointment_row(
    new: &NewAppointment,
    code: &ConfirmationCode,
    blocked_until: DateTime<Utc>,
) -> appointments::ActiveModel {
    appointments::ActiveModel {
        id: Set(new.id.as_uuid()),
        calendar_id: Set(new.calendar_id.as_uuid()),
        confirmation_code: Set(code.as_str().to_owned()),
        starts_at: Set(new.range.start()),
        ends_at: Set(new.range.end()),
        blocked_until: Set(blocked_until),
        time_zone: Set(new.time_zone.name().to_owned()),
        status: Set(AppointmentStatus::Confirmed.as_str().to_owned()),
        customer_name: Set(new.customer_name.as_str().to_owned()),
        customer_phone: Set(new.customer_phone.as_str().to_owned()),
        customer_email: Set(new.customer_email.as_ref().map(|e| e.as_str().to_owned())),
        purpose: Set(new.purpose.clone()),
        channel: Set(new.booked_by.channel.as_str().to_owned()),
        vapi_call_id: Set(new.booked_by.vapi_call_id.clone()),
        tool_call_id: Set(new.booked_by.tool_call_id.clone()),
        idempotency_key: Set(new.idempotency_key.clone()),
        created_at: Set(new.created_at),
        updated_at: Set(new.created_at),
        cancelled_at: Set(None),
        cancel_reason: Set(None),
    }
}

pub(crate) fn stored_reply(row: tool_replies::Model) -> StoredReply {
    StoredReply {
        fingerprint: row.fingerprint,
        body: row.body,
    }
}
