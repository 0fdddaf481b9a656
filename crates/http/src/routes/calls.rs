//! `/api/v1/calls`: the VAPI calls of the calendars the signed-in user may
//! see, with the appointments booked during each; and the retention purge.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use voice_scheduler_domain::calls::{CallFilter, CallLookupError, MAX_PAGE};
use voice_scheduler_domain::{Call, CallId};

use crate::auth::Authenticated;
use crate::listing::{LOCAL_EXAMPLE, ListParams, uuid_id};
use crate::openapi::ErrorBody;
use crate::routes::appointments::AppointmentBody;
use crate::{ApiError, AppState};

/// One call, as listed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallBody {
    pub id: uuid::Uuid,
    /// VAPI's call id (`message.call.id`).
    pub vapi_call_id: String,
    /// The calendar the call was routed to; `null` when none could be
    /// decided (such calls are shown to administrators only).
    pub calendar_id: Option<uuid::Uuid>,
    /// `inbound`, `outbound` or `web`.
    pub direction: Option<String>,
    /// The caller (inbound) or the number dialled (outbound), E.164.
    pub customer_phone: Option<String>,
    /// `scheduled`, `queued`, `ringing`, `in-progress`, `forwarding` or
    /// `ended`; it only moves forward.
    pub status: Option<String>,
    /// VAPI's `endedReason` (`customer-ended-call`, `hangup`, …).
    pub ended_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// From `started_at` to `ended_at`.
    pub duration_seconds: Option<i64>,
    /// As VAPI reports it (US dollars).
    pub cost: Option<f64>,
    pub summary: Option<String>,
    /// VAPI's `analysis.successEvaluation`, as text.
    pub success_evaluation: Option<String>,
    /// The recording; cleared `CALL_RETENTION_DAYS` after the call ended.
    pub recording_url: Option<String>,
    /// When retention cleared the transcript and the recording URL.
    pub transcript_purged_at: Option<DateTime<Utc>>,
    /// When the caller's data was erased from the call (an administrator's
    /// `erase-caller`); later messages of the call do not bring it back.
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Call> for CallBody {
    fn from(c: &Call) -> Self {
        Self {
            id: c.id.as_uuid(),
            vapi_call_id: c.vapi_call_id.clone(),
            calendar_id: c.calendar_id.map(|id| id.as_uuid()),
            direction: c.direction.map(|d| d.as_str().to_owned()),
            customer_phone: c.customer_phone.as_ref().map(ToString::to_string),
            status: c.status.map(|s| s.as_str().to_owned()),
            ended_reason: c.ended_reason.clone(),
            started_at: c.started_at,
            ended_at: c.ended_at,
            duration_seconds: c.duration().map(|d| d.num_seconds()),
            cost: c.cost,
            summary: c.summary.clone(),
            success_evaluation: c.success_evaluation.clone(),
            recording_url: c.recording_url.clone(),
            transcript_purged_at: c.transcript_purged_at,
            erased_at: c.erased_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// One call with its transcript and the appointments booked during it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallDetailBody {
    #[serde(flatten)]
    pub call: CallBody,
    /// Cleared `CALL_RETENTION_DAYS` after the call ended.
    pub transcript: Option<String>,
    /// Appointments whose `vapi_call_id` is this call's, earliest first.
    pub appointments: Vec<AppointmentBody>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CallPageBody {
    /// Newest first: by start (else by when the call was first heard of),
    /// then id. Transcripts are left out: read them with `GET /api/v1/calls/{id}`.
    pub items: Vec<CallBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallListQuery {
    /// Only this calendar.
    pub calendar_id: Option<String>,
    /// RFC 3339: calls that started (or, not started, were first heard of) at or after.
    pub from: Option<String>,
    /// RFC 3339: … before.
    pub to: Option<String>,
    /// The caller's number (any common spelling).
    pub phone: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Calls of the calendars the signed-in user may see (administrators: every
/// call, also those no calendar could be decided for), newest first.
#[utoipa::path(
    get, path = "/api/v1/calls", tag = "calls",
    params(CallListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = CallPageBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "calendar_id names no calendar of yours", body = ErrorBody),
        (status = 422, description = "Bad filter (named)", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<CallListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter(&state, &query)?;
    let page = state
        .calls
        .list(&who.0, filter)
        .await
        .map_err(lookup_error)?;
    Ok(HttpResponse::Ok().json(CallPageBody {
        items: page.items.iter().map(CallBody::from).collect(),
        next_cursor: page.next.map(|(at, id)| format!("{}_{id}", at.timestamp())),
    }))
}

/// One call with its transcript and the appointments booked during it.
#[utoipa::path(
    get, path = "/api/v1/calls/{id}", tag = "calls",
    params(("id" = uuid::Uuid, Path, description = "Call id (ours, not VAPI's)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The call", body = CallDetailBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such call (or not yours)", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (call, appointments) = state
        .calls
        .get(&who.0, CallId::from_uuid(id.into_inner()))
        .await
        .map_err(lookup_error)?;
    Ok(HttpResponse::Ok().json(CallDetailBody {
        call: CallBody::from(&call),
        transcript: call.transcript.clone(),
        appointments: appointments.iter().map(AppointmentBody::from).collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurgeBody {
    /// Calls whose transcript and recording URL were cleared.
    pub purged: u64,
    /// Calls that ended before this instant were cleared.
    pub before: DateTime<Utc>,
}

/// Applies the transcript retention now (it also runs every hour): clears
/// the transcripts and recording URLs of calls that ended more than
/// `CALL_RETENTION_DAYS` ago. Administrators only.
#[utoipa::path(
    post, path = "/api/v1/calls/purge-transcripts", tag = "calls",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done", body = PurgeBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    )
)]
pub async fn purge_transcripts(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    who.require_admin()?;
    let (purged, before) = state
        .calls
        .purge_expired()
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(PurgeBody { purged, before }))
}

fn lookup_error(e: CallLookupError) -> ApiError {
    match e {
        CallLookupError::NotFound => {
            ApiError::NotFound("there is no such call or calendar".to_owned())
        }
        CallLookupError::Unknown(e) => ApiError::internal(e),
    }
}

fn filter(state: &AppState, q: &CallListQuery) -> Result<CallFilter, ApiError> {
    let mut params = ListParams::default();
    let calendar_id = params.calendar_id(q.calendar_id.as_deref());
    let from = params.instant("from", q.from.as_deref(), LOCAL_EXAMPLE);
    let to = params.instant("to", q.to.as_deref(), LOCAL_EXAMPLE);
    let phone = params.phone(q.phone.as_deref(), state.phone_region);
    let limit = params.limit(q.limit.as_deref(), MAX_PAGE);
    let before = params.cursor(q.cursor.as_deref(), uuid_id(CallId::from_uuid));
    params.finish()?;
    Ok(CallFilter {
        calendar_id,
        from,
        to,
        phone,
        before,
        limit,
    })
}
