//! `/api/v1/calendars/{id}/closures`: a calendar's closed dates, special
//! hours and time off, read and replaced as a whole.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use voice_scheduler_domain::closures::{ClosureFields, Closures, DayFields, TimeOffFields};
use voice_scheduler_domain::desk::{ClosuresRefused, DeskError};
use voice_scheduler_domain::{CalendarId, TimeZoneId};

use crate::auth::Authenticated;
use crate::errors::FieldProblem;
use crate::openapi::ErrorBody;
use crate::routes::appointments::AppointmentBody;
use crate::routes::calendars::{local, not_found};
use crate::{ApiError, AppState};

/// A date whose hours differ from the week's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureDay {
    /// `YYYY-MM-DD`, a date in the calendar's time zone (at most 366 days
    /// back and 731 days ahead).
    pub date: String,
    /// The date's only working hours (`HH:MM-HH:MM` each); absent or empty:
    /// closed all day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Vec<String>>,
    /// Spoken to callers, e.g. `Christmas Day` (1–80 characters).
    #[serde(default)]
    pub label: Option<String>,
}

/// A period away: busy whatever the working hours say.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeOffPeriod {
    /// RFC 3339 with its offset; in the answer, in the calendar's zone.
    pub from: String,
    /// After `from`, at most 366 days later.
    pub to: String,
    #[serde(default)]
    pub label: Option<String>,
}

/// A calendar's closures: the whole set (a PUT replaces it).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosuresInput {
    /// Closed dates and dates with special hours, one entry per date.
    #[serde(default)]
    pub days: Vec<ClosureDay>,
    #[serde(default)]
    pub time_off: Vec<TimeOffPeriod>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClosuresBody {
    pub calendar_id: uuid::Uuid,
    pub time_zone: String,
    /// By date.
    pub days: Vec<ClosureDay>,
    /// By start.
    pub time_off: Vec<TimeOffPeriod>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClosuresReplacedBody {
    #[serde(flatten)]
    pub closures: ClosuresBody,
    /// Active upcoming appointments that now fall on a closed date, outside
    /// special hours or into time off. They are NOT cancelled: move or
    /// cancel them (at most 1000 are listed).
    pub affected_appointments: Vec<AppointmentBody>,
}

fn body(calendar_id: CalendarId, zone: TimeZoneId, closures: &Closures) -> ClosuresBody {
    let at = |t: chrono::DateTime<chrono::Utc>| -> DateTime<FixedOffset> { local(t, zone) };
    ClosuresBody {
        calendar_id: calendar_id.as_uuid(),
        time_zone: zone.name().to_owned(),
        days: closures
            .days()
            .iter()
            .map(|d| ClosureDay {
                date: d.date().to_string(),
                hours: (!d.is_closed())
                    .then(|| d.hours().iter().map(ToString::to_string).collect()),
                label: d.label().map(|l| l.as_str().to_owned()),
            })
            .collect(),
        time_off: closures
            .time_off()
            .iter()
            .map(|t| TimeOffPeriod {
                from: at(t.range().start()).to_rfc3339(),
                to: at(t.range().end()).to_rfc3339(),
                label: t.label().map(|l| l.as_str().to_owned()),
            })
            .collect(),
    }
}

impl From<ClosuresInput> for ClosureFields {
    fn from(i: ClosuresInput) -> Self {
        Self {
            days: i
                .days
                .into_iter()
                .map(|d| DayFields {
                    date: d.date,
                    hours: d.hours,
                    label: d.label,
                })
                .collect(),
            time_off: i
                .time_off
                .into_iter()
                .map(|t| TimeOffFields {
                    from: t.from,
                    to: t.to,
                    label: t.label,
                })
                .collect(),
        }
    }
}

/// The calendar's closed dates, special hours and time off.
#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/closures", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The closures", body = ClosuresBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
    )
)]
pub async fn get_closures(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let calendar = state
        .desk
        .closures(&who.0, CalendarId::from_uuid(id.into_inner()))
        .await
        .map_err(|e| match e {
            DeskError::NotFound => not_found(),
            DeskError::Operation(never) => match never {},
            DeskError::Unknown(e) => ApiError::internal(e),
        })?;
    let s = &calendar.schedule;
    Ok(HttpResponse::Ok().json(body(calendar.id, s.time_zone(), s.closures())))
}

/// Replaces the calendar's closures with the whole set given. Appointments
/// that now fall into them are listed, not cancelled.
#[utoipa::path(
    put, path = "/api/v1/calendars/{id}/closures", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    request_body = ClosuresInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced; the appointments now affected", body = ClosuresReplacedBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 422, description = "Invalid entries (each field named, e.g. days[2].date)", body = ErrorBody),
    )
)]
pub async fn replace_closures(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    input: crate::json::Json<ClosuresInput>,
) -> Result<HttpResponse, ApiError> {
    let fields: ClosureFields = input.into_inner().into();
    let replaced = state
        .desk
        .replace_closures(&who.0, CalendarId::from_uuid(id.into_inner()), &fields)
        .await
        .map_err(|e| match e {
            DeskError::NotFound => not_found(),
            DeskError::Operation(ClosuresRefused::Invalid(problems)) => ApiError::invalid_fields(
                problems
                    .into_iter()
                    .map(|f| FieldProblem {
                        field: f.field,
                        message: f.message,
                    })
                    .collect(),
            ),
            DeskError::Unknown(e) => ApiError::internal(e),
        })?;
    let calendar = &replaced.calendar;
    let s = &calendar.schedule;
    Ok(HttpResponse::Ok().json(ClosuresReplacedBody {
        closures: body(calendar.id, s.time_zone(), s.closures()),
        affected_appointments: replaced
            .affected
            .iter()
            .map(AppointmentBody::from)
            .collect(),
    }))
}

/// What the availability answer says about a date with an override.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DateOverrideBody {
    pub date: NaiveDate,
    /// True when the calendar is closed all day.
    pub closed: bool,
    /// The date's special hours (empty when closed).
    pub hours: Vec<String>,
    pub label: Option<String>,
}

impl From<&voice_scheduler_domain::DateOverride> for DateOverrideBody {
    fn from(o: &voice_scheduler_domain::DateOverride) -> Self {
        Self {
            date: o.date(),
            closed: o.is_closed(),
            hours: o.hours().iter().map(ToString::to_string).collect(),
            label: o.label().map(|l| l.as_str().to_owned()),
        }
    }
}
