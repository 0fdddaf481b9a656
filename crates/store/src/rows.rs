//! Turning stored rows into domain values, and domain values into rows.

use anyhow::{Context, anyhow};
use chrono::{DateTime, SubsecRound, Utc};
use voice_scheduler_domain::appointment::AppointmentParts;
use voice_scheduler_domain::ports::{Session, StoredReply};
use voice_scheduler_domain::schedule::ScheduleSettings;
use voice_scheduler_domain::{
    Appointment, AppointmentId, AppointmentStatus, BookedBy, Calendar, CalendarId, Channel,
    ConfirmationCode, Email, PersonName, PhoneNumber, Role, Schedule, SessionId, Slug, TimeRange,
    TimeZoneId, User, UserId, VapiId, VapiRoutes, WeeklyHours,
};
use voice_scheduler_domain::{
    BookedService, Padding, Service, ServiceDescription, ServiceId, ServiceName, ServiceSettings,
};

use crate::entities::{
    appointments, calendar_routes, calendars, services, sessions, tool_replies, users,
};

/// `calendar_routes.kind` of a VAPI assistant id.
pub(crate) const ROUTE_ASSISTANT: &str = "assistant";
/// `calendar_routes.kind` of a VAPI phone-number id.
pub(crate) const ROUTE_PHONE_NUMBER: &str = "phone_number";

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
        service: row.service_id.map(|sid| BookedService {
            id: ServiceId::from_uuid(sid),
            name: row.service_name.unwrap_or_default(),
            padding: Padding {
                before: row
                    .blocked_from
                    .map_or(chrono::Duration::zero(), |from| row.starts_at - from),
                after: row.blocked_until - row.ends_at,
            },
        }),
    }))
}

pub(crate) fn stored_reply(row: tool_replies::Model) -> StoredReply {
    StoredReply {
        fingerprint: row.fingerprint,
        body: row.body,
    }
}

/// Rebuilds a calendar from its row and its routes. A row that no longer
/// validates (a schedule edited by hand, a rule that became stricter) is an
/// error naming the calendar and the column.
pub(crate) fn calendar(
    row: calendars::Model,
    routes: Vec<calendar_routes::Model>,
) -> anyhow::Result<Calendar> {
    let id = row.id;
    let which = || format!("calendar {id} ('{}')", row.slug);
    let schedule = Schedule::new(ScheduleSettings {
        time_zone: TimeZoneId::parse(&row.time_zone)
            .with_context(|| format!("{}: the stored time_zone", which()))?,
        hours: WeeklyHours::parse(&row.working_hours)
            .with_context(|| format!("{}: the stored working_hours", which()))?,
        slot_minutes: i64::from(row.slot_minutes),
        default_duration_minutes: i64::from(row.default_duration_minutes),
        min_notice_minutes: i64::from(row.min_notice_minutes),
        horizon_days: i64::from(row.horizon_days),
        buffer_minutes: i64::from(row.buffer_minutes),
    })
    .with_context(|| format!("{}: the stored schedule", which()))?
    .with_closures(std::sync::Arc::new(
        crate::closures::decode(row.closures.as_deref())
            .with_context(|| format!("{}: the stored closures", which()))?,
    ));
    let mut assistant_ids = Vec::new();
    let mut phone_number_ids = Vec::new();
    for route in routes {
        let vapi_id = VapiId::parse(&route.external_id)
            .with_context(|| format!("{}: a stored route", which()))?;
        match route.kind.as_str() {
            ROUTE_ASSISTANT => assistant_ids.push(vapi_id),
            ROUTE_PHONE_NUMBER => phone_number_ids.push(vapi_id),
            other => anyhow::bail!("{}: a route of unknown kind '{other}'", which()),
        }
    }
    assistant_ids.sort();
    phone_number_ids.sort();
    Ok(Calendar {
        id: CalendarId::from_uuid(id),
        slug: Slug::parse(&row.slug).with_context(|| format!("{}: the stored slug", which()))?,
        name: row.name,
        schedule,
        owner: row.owner_id.map(UserId::from_uuid),
        routes: VapiRoutes {
            assistant_ids,
            phone_number_ids,
        },
        created_at: row.created_at,
    })
}

/// Rebuilds a user from its row (without the password hash). A row that
/// does not parse is an error naming the user and the column (never the
/// personal value).
pub(crate) fn user(row: users::Model) -> anyhow::Result<User> {
    let id = row.id;
    Ok(User {
        id: UserId::from_uuid(id),
        email: Email::parse(&row.email)
            .map_err(|_| anyhow!("user {id}: the stored email is not valid"))?,
        name: PersonName::parse(&row.name)
            .map_err(|_| anyhow!("user {id}: the stored name is not valid"))?,
        role: Role::parse(&row.role)
            .ok_or_else(|| anyhow!("user {id}: the stored role is not valid"))?,
        created_at: row.created_at,
    })
}

pub(crate) fn session(row: sessions::Model) -> Session {
    Session {
        id: SessionId::from_uuid(row.id),
        user: UserId::from_uuid(row.user_id),
        created_at: row.created_at,
        expires_at: row.expires_at,
        ended_at: row.ended_at,
    }
}

/// Rebuilds a service from its row; a row that no longer validates is an
/// error naming the service and the column.
pub(crate) fn service(row: services::Model) -> anyhow::Result<Service> {
    let id = row.id;
    let which = || format!("service {id}");
    Service::new(
        ServiceId::from_uuid(id),
        CalendarId::from_uuid(row.calendar_id),
        ServiceSettings {
            name: ServiceName::parse(&row.name)
                .with_context(|| format!("{}: the stored name", which()))?,
            description: match row.description.as_deref() {
                Some(d) => ServiceDescription::parse(d)
                    .with_context(|| format!("{}: the stored description", which()))?,
                None => None,
            },
            duration_minutes: i64::from(row.duration_minutes),
            buffer_before_minutes: i64::from(row.buffer_before_minutes),
            buffer_after_minutes: i64::from(row.buffer_after_minutes),
            daily_limit: row.daily_limit.map(i64::from),
        },
        row.is_default,
        row.created_at,
    )
    .with_context(|| format!("{}: the stored settings", which()))
}
