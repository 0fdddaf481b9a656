//! `/api/v1/calendars`: list, create, read, change, delete, and a day's free slots.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use voice_scheduler_domain::calendars::{
    CalendarDeleteError, CalendarFields, CalendarLookupError, CalendarWriteError,
};
use voice_scheduler_domain::desk::DeskError;
use voice_scheduler_domain::service::AvailabilityError;
use voice_scheduler_domain::{Calendar, CalendarId, TimeRange, TimeZoneId, UserId};

use crate::auth::Authenticated;
use crate::errors::FieldProblem;
use crate::openapi::ErrorBody;
use crate::{ApiError, AppState};

/// A calendar and its settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CalendarBody {
    pub id: uuid::Uuid,
    /// URL-safe and unique: `?calendar=<slug>` on the VAPI tool URL.
    pub slug: String,
    pub name: String,
    /// IANA time zone of the working hours.
    pub time_zone: String,
    /// For example `mon-fri 09:00-12:00,13:00-17:00; sat 10:00-14:00`.
    pub working_hours: String,
    pub slot_minutes: i64,
    pub default_duration_minutes: i64,
    pub min_notice_minutes: i64,
    pub horizon_days: i64,
    pub buffer_minutes: i64,
    /// VAPI assistant ids whose calls land on this calendar.
    pub vapi_assistant_ids: Vec<String>,
    /// VAPI phone-number ids whose calls land on this calendar.
    pub vapi_phone_number_ids: Vec<String>,
    pub owner_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<&Calendar> for CalendarBody {
    fn from(c: &Calendar) -> Self {
        let s = &c.schedule;
        Self {
            id: c.id.as_uuid(),
            slug: c.slug.to_string(),
            name: c.name.clone(),
            time_zone: s.time_zone().name().to_owned(),
            working_hours: s.hours().to_string(),
            slot_minutes: s.slot().num_minutes(),
            default_duration_minutes: s.default_duration().num_minutes(),
            min_notice_minutes: s.min_notice().num_minutes(),
            horizon_days: i64::from(s.horizon_days()),
            buffer_minutes: s.buffer().num_minutes(),
            vapi_assistant_ids: c
                .routes
                .assistant_ids
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect(),
            vapi_phone_number_ids: c
                .routes
                .phone_number_ids
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect(),
            owner_id: c.owner.map(|o| o.as_uuid()),
            created_at: c.created_at,
        }
    }
}

/// Settings to create a calendar with (name and time_zone required; the
/// rest default: `mon-fri 09:00-17:00`, 30-minute slots and appointments, 60
/// minutes' notice, 60 days ahead, no buffer; slug from the name), or to
/// change (only the fields given change).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub time_zone: Option<String>,
    pub working_hours: Option<String>,
    /// 5–240.
    pub slot_minutes: Option<i64>,
    /// 5–480.
    pub default_duration_minutes: Option<i64>,
    /// 0–43200.
    pub min_notice_minutes: Option<i64>,
    /// 1–730.
    pub horizon_days: Option<i64>,
    /// 0–240.
    pub buffer_minutes: Option<i64>,
    /// Administrators only (staff may send back the ids the calendar has).
    pub vapi_assistant_ids: Option<Vec<String>>,
    /// Administrators only (staff may send back the ids the calendar has).
    pub vapi_phone_number_ids: Option<Vec<String>>,
    /// Administrators only.
    pub owner_id: Option<uuid::Uuid>,
}

impl From<CalendarInput> for CalendarFields {
    fn from(i: CalendarInput) -> Self {
        Self {
            name: i.name,
            slug: i.slug,
            time_zone: i.time_zone,
            working_hours: i.working_hours,
            slot_minutes: i.slot_minutes,
            default_duration_minutes: i.default_duration_minutes,
            min_notice_minutes: i.min_notice_minutes,
            horizon_days: i.horizon_days,
            buffer_minutes: i.buffer_minutes,
            vapi_assistant_ids: i.vapi_assistant_ids,
            vapi_phone_number_ids: i.vapi_phone_number_ids,
            owner_id: i.owner_id.map(UserId::from_uuid),
        }
    }
}

/// The calendars the signed-in user may see (all, for administrators).
#[utoipa::path(
    get, path = "/api/v1/calendars", tag = "calendars",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest first", body = [CalendarBody]),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let calendars = state.calendars.list(&who.0).await.map_err(lookup_error)?;
    Ok(HttpResponse::Ok().json(calendars.iter().map(CalendarBody::from).collect::<Vec<_>>()))
}

#[utoipa::path(
    post, path = "/api/v1/calendars", tag = "calendars",
    request_body = CalendarInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CalendarBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Only administrators may create calendars for others or set their VAPI ids (the field is named)", body = ErrorBody),
        (status = 409, description = "Slug or VAPI id in use", body = ErrorBody),
        (status = 422, description = "Invalid settings (each field named)", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    who: Authenticated,
    body: crate::json::Json<CalendarInput>,
) -> Result<HttpResponse, ApiError> {
    let calendar = state
        .calendars
        .create(&who.0, body.into_inner().into())
        .await
        .map_err(write_error)?;
    Ok(HttpResponse::Created().json(CalendarBody::from(&calendar)))
}

#[utoipa::path(
    get, path = "/api/v1/calendars/{id}", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The calendar", body = CalendarBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let calendar = state
        .calendars
        .get(&who.0, CalendarId::from_uuid(id.into_inner()))
        .await
        .map_err(lookup_error)?;
    Ok(HttpResponse::Ok().json(CalendarBody::from(&calendar)))
}

#[utoipa::path(
    patch, path = "/api/v1/calendars/{id}", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    request_body = CalendarInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = CalendarBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Only administrators may change the owner or the VAPI ids (the field is named)", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 409, description = "Slug or VAPI id in use", body = ErrorBody),
        (status = 422, description = "Invalid settings (each field named)", body = ErrorBody),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    body: crate::json::Json<CalendarInput>,
) -> Result<HttpResponse, ApiError> {
    let calendar = state
        .calendars
        .update(
            &who.0,
            CalendarId::from_uuid(id.into_inner()),
            body.into_inner().into(),
        )
        .await
        .map_err(write_error)?;
    Ok(HttpResponse::Ok().json(CalendarBody::from(&calendar)))
}

/// Deletes a calendar that has no upcoming appointments (its past and
/// cancelled appointments go with it).
#[utoipa::path(
    delete, path = "/api/v1/calendars/{id}", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 409, description = "It still has upcoming appointments", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .calendars
        .delete(&who.0, CalendarId::from_uuid(id.into_inner()))
        .await
        .map_err(|e| match e {
            CalendarDeleteError::NotFound => not_found(),
            CalendarDeleteError::HasUpcoming(_) => ApiError::Conflict {
                code: "calendar_has_appointments",
                message: e.to_string(),
            },
            CalendarDeleteError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// `YYYY-MM-DD`, a day in `timezone`.
    pub date: String,
    /// IANA zone the day and the answer are in (default: the calendar's).
    pub timezone: Option<String>,
    /// Appointment length (default: the calendar's).
    pub duration_minutes: Option<i64>,
    /// One of the calendar's services: its length and buffers apply
    /// (default: the calendar's default service, when it offers any and no
    /// `duration_minutes` is given).
    pub service_id: Option<uuid::Uuid>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SlotBody {
    /// RFC 3339 with the offset of `time_zone`.
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityBody {
    pub calendar_id: uuid::Uuid,
    pub date: NaiveDate,
    pub time_zone: String,
    pub duration_minutes: i64,
    pub slots: Vec<SlotBody>,
    /// Set when the date is closed (`closed: true`, with its label) or has
    /// special hours.
    pub date_override: Option<crate::routes::closures::DateOverrideBody>,
}

/// The free slots of one day.
#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/availability", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id"), AvailabilityQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Free slots, earliest first", body = AvailabilityBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 422, description = "Bad date, zone or duration (named)", body = ErrorBody),
        (status = 503, description = "The calendar cannot be checked right now", body = ErrorBody),
    )
)]
pub async fn availability(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    query: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut problems = Vec::new();
    let date = NaiveDate::parse_from_str(query.date.trim(), "%Y-%m-%d")
        .map_err(|_| {
            problems.push(FieldProblem {
                field: "date".to_owned(),
                message: format!("'{}' is not a date (expected YYYY-MM-DD)", query.date),
            })
        })
        .ok();
    let zone = match query.timezone.as_deref() {
        None => None,
        Some(raw) => TimeZoneId::parse(raw)
            .map_err(|e| {
                problems.push(FieldProblem {
                    field: "timezone".to_owned(),
                    message: e.to_string(),
                })
            })
            .ok(),
    };
    let Some(date) = date.filter(|_| problems.is_empty()) else {
        return Err(ApiError::invalid_fields(problems));
    };
    let calendar_id = CalendarId::from_uuid(id.into_inner());
    let day = state
        .desk
        .availability(
            &who.0,
            calendar_id,
            date,
            zone,
            query.duration_minutes,
            query
                .service_id
                .map(voice_scheduler_domain::ServiceId::from_uuid),
        )
        .await
        .map_err(|e| match e {
            DeskError::NotFound => not_found(),
            DeskError::Operation(e) => availability_error(e),
            DeskError::Unknown(e) => ApiError::internal(e),
        })?;
    let zone = day.zone;
    Ok(HttpResponse::Ok().json(AvailabilityBody {
        calendar_id: calendar_id.as_uuid(),
        date: day.date,
        time_zone: zone.name().to_owned(),
        duration_minutes: day.duration.num_minutes(),
        slots: day.slots.iter().map(|r| slot(r, zone)).collect(),
        date_override: day.date_override.as_ref().map(Into::into),
    }))
}

pub(crate) fn slot(range: &TimeRange, zone: TimeZoneId) -> SlotBody {
    SlotBody {
        start: local(range.start(), zone),
        end: local(range.end(), zone),
    }
}

pub(crate) fn local(at: DateTime<Utc>, zone: TimeZoneId) -> DateTime<FixedOffset> {
    at.with_timezone(&zone.tz()).fixed_offset()
}

fn availability_error(e: AvailabilityError) -> ApiError {
    match e {
        AvailabilityError::DateInPast { .. } | AvailabilityError::BeyondHorizon { .. } => {
            ApiError::invalid_field("date", e.to_string())
        }
        AvailabilityError::BadDuration(inner) => {
            ApiError::invalid_field("duration_minutes", inner.to_string())
        }
        AvailabilityError::CalendarUnavailable(m) => {
            ApiError::ServiceUnavailable(format!("the calendar cannot be checked right now: {m}"))
        }
        AvailabilityError::UnknownService => {
            ApiError::invalid_field("service_id", "the calendar offers no such service")
        }
        AvailabilityError::Unknown(e) => ApiError::internal(e),
    }
}

pub(crate) fn not_found() -> ApiError {
    ApiError::NotFound("there is no such calendar or appointment".to_owned())
}

fn lookup_error(e: CalendarLookupError) -> ApiError {
    match e {
        CalendarLookupError::NotFound => not_found(),
        CalendarLookupError::Unknown(e) => ApiError::internal(e),
    }
}

fn write_error(e: CalendarWriteError) -> ApiError {
    match e {
        CalendarWriteError::NotFound => not_found(),
        CalendarWriteError::Invalid(fields) => ApiError::invalid_fields(
            fields
                .into_iter()
                .map(|f| FieldProblem {
                    field: f.field,
                    message: f.message,
                })
                .collect(),
        ),
        CalendarWriteError::SlugTaken(_) => ApiError::Conflict {
            code: "slug_taken",
            message: e.to_string(),
        },
        CalendarWriteError::RouteTaken(_) => ApiError::Conflict {
            code: "vapi_id_taken",
            message: e.to_string(),
        },
        CalendarWriteError::Forbidden | CalendarWriteError::AdminOnly(_) => {
            ApiError::Forbidden(e.to_string())
        }
        CalendarWriteError::Unknown(e) => ApiError::internal(e),
    }
}
