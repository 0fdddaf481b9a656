//! `GET /api/v1/audit`: the audit log, for administrators.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use voice_scheduler_domain::audit::{AuditFilter, AuditReadError, MAX_AUDIT_PAGE};
use voice_scheduler_domain::ports::AuditRecord;

use crate::auth::Authenticated;
use crate::listing::{ListParams, UTC_EXAMPLE};
use crate::openapi::ErrorBody;
use crate::{ApiError, AppState};

/// Longest value of a text filter.
const MAX_FILTER_CHARS: usize = 200;
/// The outcomes an entry can have.
const OUTCOMES: [&str; 3] = ["success", "failure", "denied"];

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryBody {
    /// Grows with every entry.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `user`, `anonymous`, `system` or `vapi_call`.
    pub actor_kind: String,
    /// The user id (`user`) or the VAPI call id (`vapi_call`).
    pub actor_id: Option<String>,
    /// What happened, e.g. `auth.login`, `appointment.book`, `calendar.update`.
    pub action: String,
    /// What it happened to, e.g. `appointment:<id>`, `calendar:<id>`, `user:<id>`.
    pub resource: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The client address, when the action came over HTTP and it is known.
    pub address: Option<String>,
    /// Extra facts; phone numbers and email addresses appear only masked.
    pub detail: Option<String>,
}

impl From<AuditRecord> for AuditEntryBody {
    fn from(e: AuditRecord) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            action: e.action,
            resource: e.resource,
            outcome: e.outcome,
            address: e.address,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPageBody {
    /// Newest first (by time, then id).
    pub items: Vec<AuditEntryBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQueryParams {
    /// Only entries of this actor (a user id or a VAPI call id).
    pub actor_id: Option<String>,
    /// Only this action, e.g. `appointment.cancel`.
    pub action: Option<String>,
    /// Only this resource, e.g. `calendar:<id>`.
    pub resource: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: Option<String>,
    /// RFC 3339: entries at or after.
    pub from: Option<String>,
    /// RFC 3339: entries before.
    pub to: Option<String>,
    /// 1–200 (default 50).
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The audit log, newest first: sign-ins and their failures, refresh-token
/// reuse, account changes, bookings made, moved and cancelled, calendar
/// changes, rejected VAPI requests and retention purges. Administrators only.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditQueryParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = AuditPageBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 422, description = "Bad filter (each one named)", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<AuditQueryParams>,
) -> Result<HttpResponse, ApiError> {
    let principal = who.require_admin()?;
    let filter = filter(&query)?;
    let page = state
        .audit_trail
        .list(principal, filter)
        .await
        .map_err(|e| match e {
            AuditReadError::Forbidden => ApiError::Forbidden(e.to_string()),
            AuditReadError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(AuditPageBody {
        items: page.items.into_iter().map(AuditEntryBody::from).collect(),
        next_cursor: page.next.map(|(at, id)| format!("{}_{id}", at.timestamp())),
    }))
}

/// Reads the filters, naming every refused one.
fn filter(q: &AuditQueryParams) -> Result<AuditFilter, ApiError> {
    let mut params = ListParams::default();
    let text = |params: &mut ListParams, field: &str, raw: Option<&str>| {
        let value = raw?.trim();
        if value.is_empty() || value.chars().count() > MAX_FILTER_CHARS || value.contains('\0') {
            params.bad(field, format!("must be 1 to {MAX_FILTER_CHARS} characters"));
            return None;
        }
        Some(value.to_owned())
    };
    let actor_id = text(&mut params, "actor_id", q.actor_id.as_deref());
    let action = text(&mut params, "action", q.action.as_deref());
    let resource = text(&mut params, "resource", q.resource.as_deref());
    let outcome = match text(&mut params, "outcome", q.outcome.as_deref()) {
        Some(o) if !OUTCOMES.contains(&o.as_str()) => {
            params.bad(
                "outcome",
                format!("'{o}' is not an outcome (success, failure or denied)"),
            );
            None
        }
        other => other,
    };
    let from = params.instant("from", q.from.as_deref(), UTC_EXAMPLE);
    let to = params.instant("to", q.to.as_deref(), UTC_EXAMPLE);
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        params.bad("to", "must be after 'from'".to_owned());
    }
    let limit = params.limit(q.limit.as_deref(), MAX_AUDIT_PAGE);
    let before = params.cursor(q.cursor.as_deref(), |id| id.parse::<i64>().ok());
    params.finish()?;
    Ok(AuditFilter {
        actor_id,
        action,
        resource,
        outcome,
        from,
        to,
        before,
        limit,
    })
}
