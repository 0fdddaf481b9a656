//! `/api/v1/appointments` (and the original service's `GET /appointments`):
//! list, read, book on behalf of a caller, cancel, move.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use voice_scheduler_domain::ServiceId;
use voice_scheduler_domain::desk::{AppointmentFilter, DeskError, StaffBooking};
use voice_scheduler_domain::ports::StoredReply;
use voice_scheduler_domain::service::{BookError, BookStatus, CancelError, RescheduleError};
use voice_scheduler_domain::{
    Appointment, AppointmentId, AppointmentStatus, CalendarId, Email, PersonName, PhoneNumber,
    SlotRejection, TimeRange, TimeZoneId,
};

use crate::auth::Authenticated;
use crate::errors::FieldProblem;
use crate::listing::{LOCAL_EXAMPLE, ListParams, uuid_id};
use crate::openapi::{ErrorBody, UnavailableBody};
use crate::routes::calendars::{local, not_found};
use crate::{ApiError, AppState};

/// How the idempotency replies of this API are filed in the reply store.
const IDEMPOTENCY_SCOPE: &str = "api-idempotency";
/// Longest `Idempotency-Key` accepted.
const MAX_KEY_CHARS: usize = 200;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppointmentBody {
    pub id: uuid::Uuid,
    pub calendar_id: uuid::Uuid,
    /// Six characters, read to the caller.
    pub confirmation_code: String,
    /// `confirmed` or `cancelled`.
    pub status: String,
    /// RFC 3339 in the appointment's time zone.
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
    pub time_zone: String,
    pub customer_name: String,
    /// E.164.
    pub customer_phone: String,
    pub customer_email: Option<String>,
    pub purpose: Option<String>,
    /// `voice` or `api`.
    pub channel: String,
    pub vapi_call_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    /// The service booked (its name at booking time); `null` for
    /// appointments booked without one.
    pub service: Option<BookedServiceBody>,
}

/// The service an appointment was booked for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BookedServiceBody {
    pub id: uuid::Uuid,
    pub name: String,
}

impl From<&Appointment> for AppointmentBody {
    fn from(a: &Appointment) -> Self {
        let zone = a.time_zone();
        Self {
            id: a.id().as_uuid(),
            calendar_id: a.calendar_id().as_uuid(),
            confirmation_code: a.confirmation_code().to_string(),
            status: a.status().as_str().to_owned(),
            start: local(a.range().start(), zone),
            end: local(a.range().end(), zone),
            time_zone: zone.name().to_owned(),
            customer_name: a.customer_name().to_string(),
            customer_phone: a.customer_phone().to_string(),
            customer_email: a.customer_email().map(ToString::to_string),
            purpose: a.purpose().map(str::to_owned),
            channel: a.booked_by().channel.as_str().to_owned(),
            vapi_call_id: a.booked_by().vapi_call_id.clone(),
            created_at: a.created_at(),
            updated_at: a.updated_at(),
            cancelled_at: a.cancelled_at(),
            cancel_reason: a.cancel_reason().map(str::to_owned),
            service: a.service().map(|s| BookedServiceBody {
                id: s.id.as_uuid(),
                name: s.name.clone(),
            }),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this calendar.
    pub calendar_id: Option<String>,
    /// RFC 3339: appointments starting at or after.
    pub from: Option<String>,
    /// RFC 3339: appointments starting before.
    pub to: Option<String>,
    /// `confirmed` or `cancelled`.
    pub status: Option<String>,
    /// The caller's number (any common spelling).
    pub phone: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppointmentPage {
    /// By start time, then id.
    pub items: Vec<AppointmentBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Appointments of the calendars the signed-in user may see.
#[utoipa::path(
    get, path = "/api/v1/appointments", tag = "appointments",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = AppointmentPage),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "calendar_id names no calendar of yours", body = ErrorBody),
        (status = 422, description = "Bad filter (named)", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter(&state, &query)?;
    let page = state.desk.list(&who.0, filter).await.map_err(|e| match e {
        DeskError::NotFound => not_found(),
        DeskError::Operation(never) => match never {},
        DeskError::Unknown(e) => ApiError::internal(e),
    })?;
    Ok(HttpResponse::Ok().json(AppointmentPage {
        items: page.items.iter().map(AppointmentBody::from).collect(),
        next_cursor: page.next.map(|(at, id)| format!("{}_{id}", at.timestamp())),
    }))
}

/// The original service's listing, for the signed-in user: the same as
/// `GET /api/v1/appointments`.
#[utoipa::path(
    get, path = "/appointments", tag = "appointments",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = AppointmentPage),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "calendar_id names no calendar of yours", body = ErrorBody),
        (status = 422, description = "Bad filter (named)", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn doc_legacy_list() {}

fn filter(state: &AppState, q: &ListQuery) -> Result<AppointmentFilter, ApiError> {
    let mut params = ListParams::default();
    let calendar_id = params.calendar_id(q.calendar_id.as_deref());
    let from = params.instant("from", q.from.as_deref(), LOCAL_EXAMPLE);
    let to = params.instant("to", q.to.as_deref(), LOCAL_EXAMPLE);
    let status = q.status.as_deref().and_then(|raw| {
        let status = AppointmentStatus::parse(raw.trim());
        if status.is_none() {
            params.bad(
                "status",
                format!("'{raw}' is not a status (confirmed or cancelled)"),
            );
        }
        status
    });
    let phone = params.phone(q.phone.as_deref(), state.phone_region);
    let limit = params.limit(q.limit.as_deref(), voice_scheduler_domain::desk::MAX_PAGE);
    let after = params.cursor(q.cursor.as_deref(), uuid_id(AppointmentId::from_uuid));
    params.finish()?;
    Ok(AppointmentFilter {
        calendar_id,
        from,
        to,
        status,
        phone,
        after,
        limit,
    })
}

#[utoipa::path(
    get, path = "/api/v1/appointments/{id}", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Appointment id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The appointment", body = AppointmentBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such appointment (or not yours)", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (appointment, _) = state
        .desk
        .get(&who.0, AppointmentId::from_uuid(id.into_inner()))
        .await
        .map_err(|e| match e {
            DeskError::NotFound => not_found(),
            DeskError::Operation(never) => match never {},
            DeskError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(AppointmentBody::from(&appointment)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookBody {
    pub calendar_id: uuid::Uuid,
    /// RFC 3339 with an offset, e.g. `2030-03-04T10:00:00-08:00`.
    pub start: String,
    /// The calendar's own length when given without `service_id`; ignored
    /// with one.
    pub duration_minutes: Option<i64>,
    /// One of the calendar's services: its length and buffers apply. When
    /// absent (and no `duration_minutes`), the calendar's default service,
    /// if it offers any.
    #[serde(default)]
    pub service_id: Option<uuid::Uuid>,
    pub customer_name: String,
    pub customer_phone: String,
    pub customer_email: Option<String>,
    pub purpose: Option<String>,
    /// The caller's IANA zone (the calendar's when absent).
    pub time_zone: Option<String>,
}

/// Books on behalf of a caller, by the same rules as the voice tool. With an
/// `Idempotency-Key` header, a retry gets the first response again (marked
/// `Idempotent-Replayed: true`); the same key with a different body → 422.
#[utoipa::path(
    post, path = "/api/v1/appointments", tag = "appointments",
    request_body = BookBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Up to 200 characters; retries with the same key and body get the first response")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Booked", body = AppointmentBody),
        (status = 200, description = "This caller already holds exactly this time", body = AppointmentBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 409, description = "The time cannot be booked; nearest free times", body = UnavailableBody),
        (status = 422, description = "Invalid fields (named), or an Idempotency-Key reused with another body", body = ErrorBody),
        (status = 503, description = "The calendar cannot be checked right now", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    who: Authenticated,
    body: crate::json::Json<BookBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let key = match request.headers().get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str().map(str::trim) {
            Ok(k) if !k.is_empty() && k.chars().count() <= MAX_KEY_CHARS => Some(k.to_owned()),
            _ => {
                return Err(ApiError::invalid_field(
                    "Idempotency-Key",
                    "must be 1 to 200 visible characters",
                ));
            }
        },
    };
    let Some(key) = key else {
        return book(&state, &who, body, None)
            .await
            .map(|(s, b)| respond(s, &b, false));
    };
    let replay_key = format!("{}:{key}", who.0.user.id);
    let fingerprint = fingerprint(&body);
    if let Some(stored) = state
        .replies
        .find_reply(IDEMPOTENCY_SCOPE, &replay_key)
        .await
        .map_err(ApiError::internal)?
    {
        return replay(&stored, &fingerprint);
    }
    let (status, answer) = match book(&state, &who, body, Some(key)).await {
        Ok(done) => done,
        // A refusal that the same request would get again is the first
        // response too; failures on our side are not kept.
        Err(e) if e.status_code().is_client_error() => (e.status_code(), error_body(&e)),
        Err(e) => return Err(e),
    };
    let stored = state
        .replies
        .save_reply(
            IDEMPOTENCY_SCOPE,
            &replay_key,
            StoredReply {
                fingerprint: fingerprint.clone(),
                body: json!({"status": status.as_u16(), "body": answer}).to_string(),
            },
        )
        .await
        .map_err(ApiError::internal)?;
    // Another request with the same key may have finished first: its answer wins.
    replay(&stored, &fingerprint).map(|mut r| {
        r.headers_mut().remove("idempotent-replayed");
        r
    })
}

/// The stored first response, or 422 when the key came with another body.
fn replay(stored: &StoredReply, fingerprint: &str) -> Result<HttpResponse, ApiError> {
    if stored.fingerprint != fingerprint {
        return Err(ApiError::Unprocessable {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used with a different request body".to_owned(),
            fields: vec![FieldProblem {
                field: "Idempotency-Key".to_owned(),
                message: "already used with a different body".to_owned(),
            }],
        });
    }
    let saved: Value = serde_json::from_str(&stored.body).map_err(|e| {
        ApiError::internal(anyhow::Error::new(e).context("a stored reply is not JSON"))
    })?;
    let status = saved["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a stored reply has no status")))?;
    Ok(HttpResponse::build(status)
        .insert_header(("Idempotent-Replayed", "true"))
        .json(&saved["body"]))
}

/// SHA-256 of the body's canonical JSON (keys sorted), hex.
fn fingerprint(body: &BookBody) -> String {
    let canonical = json!({
        "calendar_id": body.calendar_id,
        "start": body.start,
        "duration_minutes": body.duration_minutes,
        "service_id": body.service_id,
        "customer_name": body.customer_name,
        "customer_phone": body.customer_phone,
        "customer_email": body.customer_email,
        "purpose": body.purpose,
        "time_zone": body.time_zone,
    });
    Sha256::digest(canonical.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn respond(status: StatusCode, body: &Value, replayed: bool) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    if replayed {
        r.insert_header(("Idempotent-Replayed", "true"));
    }
    r.json(body)
}

fn error_body(e: &ApiError) -> Value {
    match e {
        ApiError::Unavailable {
            reason,
            alternatives,
            ..
        } => json!({"error": {
            "code": e.code(),
            "message": e.to_string(),
            "reason": reason,
            "alternatives": alternatives,
        }}),
        ApiError::Unprocessable { fields, .. } => json!({"error": {
            "code": e.code(),
            "message": e.to_string(),
            "fields": fields,
        }}),
        _ => json!({"error": {"code": e.code(), "message": e.to_string()}}),
    }
}

/// Validates and books; the status and body of the answer.
async fn book(
    state: &AppState,
    who: &Authenticated,
    body: BookBody,
    key: Option<String>,
) -> Result<(StatusCode, Value), ApiError> {
    let mut problems = Vec::new();
    let mut bad = |field: &str, message: String| {
        problems.push(FieldProblem {
            field: field.to_owned(),
            message,
        })
    };
    let start = DateTime::parse_from_rfc3339(body.start.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad(
                "start",
                format!(
                    "'{}' is not an RFC 3339 time with an offset (for example 2030-03-04T10:00:00-08:00)",
                    body.start
                ),
            )
        })
        .ok();
    let name = PersonName::parse(&body.customer_name)
        .map_err(|e| bad("customer_name", e.to_string()))
        .ok();
    let phone = PhoneNumber::parse(&body.customer_phone, state.phone_region)
        .map_err(|e| bad("customer_phone", e.to_string()))
        .ok();
    let email = match body.customer_email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Email::parse(raw)
            .map_err(|e| bad("customer_email", e.to_string()))
            .ok(),
    };
    let time_zone = body.time_zone.as_deref().and_then(|raw| {
        TimeZoneId::parse(raw)
            .map_err(|e| bad("time_zone", e.to_string()))
            .ok()
    });
    let purpose = body
        .purpose
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    if purpose.as_ref().is_some_and(|p| p.chars().count() > 500) {
        bad("purpose", "must be at most 500 characters".to_owned());
    }
    let (Some(start), Some(name), Some(phone)) = (start, name, phone) else {
        return Err(ApiError::invalid_fields(problems));
    };
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    let (booking, _) = state
        .desk
        .book(
            &who.0,
            CalendarId::from_uuid(body.calendar_id),
            StaffBooking {
                name,
                phone,
                email,
                purpose,
                start,
                duration_minutes: body.duration_minutes,
                time_zone,
                idempotency_key: key,
                service_id: body.service_id.map(ServiceId::from_uuid),
            },
        )
        .await
        .map_err(|e| match e {
            DeskError::NotFound => not_found(),
            DeskError::Operation(e) => book_error(e),
            DeskError::Unknown(e) => ApiError::internal(e),
        })?;
    let status = match booking.status {
        BookStatus::Booked => StatusCode::CREATED,
        BookStatus::AlreadyBooked => StatusCode::OK,
    };
    let body = serde_json::to_value(AppointmentBody::from(&booking.appointment))
        .map_err(|e| ApiError::internal(e.into()))?;
    Ok((status, body))
}

fn book_error(e: BookError) -> ApiError {
    match e {
        BookError::Unavailable {
            reason,
            alternatives,
        } => unavailable(reason, &alternatives),
        BookError::BadDuration(inner) => {
            ApiError::invalid_field("duration_minutes", inner.to_string())
        }
        BookError::IdempotencyConflict => ApiError::Unprocessable {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for a different booking".to_owned(),
            fields: vec![FieldProblem {
                field: "Idempotency-Key".to_owned(),
                message: "already used for a different booking".to_owned(),
            }],
        },
        BookError::CalendarUnavailable(m) => {
            ApiError::ServiceUnavailable(format!("the calendar cannot be checked right now: {m}"))
        }
        BookError::UnknownService => {
            ApiError::invalid_field("service_id", "the calendar offers no such service")
        }
        BookError::Unknown(e) => ApiError::internal(e),
    }
}

/// ` (Christmas Day)`, or nothing.
fn labelled(label: Option<&voice_scheduler_domain::ClosureLabel>) -> String {
    label.map(|l| format!(" ({l})")).unwrap_or_default()
}

fn unavailable(reason: SlotRejection, alternatives: &[TimeRange]) -> ApiError {
    let (code, message) = match reason {
        SlotRejection::InPast { today } => (
            "in_past",
            format!("that time is in the past (today is {today})"),
        ),
        SlotRejection::TooSoon { earliest } => (
            "too_soon",
            format!(
                "that is sooner than the calendar's notice allows (earliest {})",
                earliest.to_rfc3339()
            ),
        ),
        SlotRejection::TooFarAhead { last_date } => (
            "too_far_ahead",
            format!("that is too far ahead (last bookable date {last_date})"),
        ),
        SlotRejection::OutsideHours => (
            "outside_hours",
            "that time is outside working hours".to_owned(),
        ),
        SlotRejection::NotOnGrid => (
            "not_on_grid",
            "appointments start on the calendar's slot grid".to_owned(),
        ),
        SlotRejection::Taken => ("taken", "that time is already taken".to_owned()),
        SlotRejection::DailyLimit { date } => (
            "service_full",
            format!("the service is fully booked on {date} (its daily limit)"),
        ),
        SlotRejection::Closed { date, label } => (
            "closed",
            format!(
                "the calendar is closed on {date}{}",
                labelled(label.as_ref())
            ),
        ),
        SlotRejection::OutsideSpecialHours { date, label } => (
            "outside_special_hours",
            format!(
                "that time is outside the special hours of {date}{}",
                labelled(label.as_ref())
            ),
        ),
        SlotRejection::TimeOff { until, label } => (
            "time_off",
            format!(
                "that time falls into time off{} until {}",
                labelled(label.as_ref()),
                until.to_rfc3339()
            ),
        ),
    };
    let alternatives = alternatives
        .iter()
        .map(|r| json!({"start": r.start(), "end": r.end()}))
        .collect();
    ApiError::Unavailable {
        reason: code,
        message,
        alternatives,
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub reason: Option<String>,
}

/// Cancels an upcoming appointment, freeing its time. The body is optional.
#[utoipa::path(
    post, path = "/api/v1/appointments/{id}/cancel", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Appointment id")),
    request_body(content = Option<CancelBody>),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = AppointmentBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such appointment (or not yours)", body = ErrorBody),
        (status = 409, description = "Already cancelled, or already started", body = ErrorBody),
    )
)]
pub async fn cancel(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: CancelBody = if body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        crate::json::parse_body(&body)?
    };
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid_field(
            "reason",
            "must be at most 500 characters",
        ));
    }
    let appointment = state
        .desk
        .cancel(&who.0, AppointmentId::from_uuid(id.into_inner()), reason)
        .await
        .map_err(|e| match e {
            DeskError::NotFound => not_found(),
            DeskError::Operation(CancelError::NotFound | CancelError::Ambiguous(_)) => not_found(),
            DeskError::Operation(e @ CancelError::AlreadyCancelled(_)) => ApiError::Conflict {
                code: "already_cancelled",
                message: e.to_string(),
            },
            DeskError::Operation(e @ CancelError::AlreadyPast(_)) => ApiError::Conflict {
                code: "already_started",
                message: e.to_string(),
            },
            DeskError::Operation(CancelError::Unknown(e)) | DeskError::Unknown(e) => {
                ApiError::internal(e)
            }
        })?;
    Ok(HttpResponse::Ok().json(AppointmentBody::from(&appointment)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    /// RFC 3339 with an offset; the appointment keeps its length.
    pub start: String,
}

/// Moves an upcoming appointment to a new start, atomically.
#[utoipa::path(
    post, path = "/api/v1/appointments/{id}/reschedule", tag = "appointments",
    params(("id" = uuid::Uuid, Path, description = "Appointment id")),
    request_body = RescheduleBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Moved", body = AppointmentBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such appointment (or not yours)", body = ErrorBody),
        (status = 409, description = "Cancelled, already started, or the new time cannot be booked (with alternatives)", body = UnavailableBody),
        (status = 422, description = "Bad start (named)", body = ErrorBody),
        (status = 503, description = "The calendar cannot be checked right now", body = ErrorBody),
    )
)]
pub async fn reschedule(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    body: crate::json::Json<RescheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let start = DateTime::parse_from_rfc3339(body.start.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid_field(
                "start",
                format!("'{}' is not an RFC 3339 time with an offset", body.start),
            )
        })?;
    let moved = state
        .desk
        .reschedule(&who.0, AppointmentId::from_uuid(id.into_inner()), start)
        .await
        .map_err(|e| match e {
            DeskError::NotFound => not_found(),
            DeskError::Operation(e) => match e {
                RescheduleError::NotFound | RescheduleError::Ambiguous(_) => not_found(),
                RescheduleError::Cancelled(_) => ApiError::Conflict {
                    code: "already_cancelled",
                    message: e.to_string(),
                },
                RescheduleError::AlreadyPast(_) => ApiError::Conflict {
                    code: "already_started",
                    message: e.to_string(),
                },
                RescheduleError::Unavailable {
                    reason,
                    alternatives,
                } => unavailable(reason, &alternatives),
                RescheduleError::CalendarUnavailable(m) => ApiError::ServiceUnavailable(format!(
                    "the calendar cannot be checked right now: {m}"
                )),
                RescheduleError::Unknown(e) => ApiError::internal(e),
            },
            DeskError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(AppointmentBody::from(&moved.appointment)))
}
