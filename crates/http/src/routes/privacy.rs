//! Privacy: `GET /api/v1/me/export` (everything about the signed-in user),
//! `DELETE /api/v1/me` (delete the account) and
//! `POST /api/v1/admin/privacy/erase-caller` (erase a caller's personal data,
//! administrators).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use voice_scheduler_domain::PhoneNumber;
use voice_scheduler_domain::privacy::{DeleteAccountError, EraseCallerError};

use crate::auth::{Authenticated, origin};
use crate::openapi::ErrorBody;
use crate::routes::appointments::AppointmentBody;
use crate::routes::audit::AuditEntryBody;
use crate::routes::auth::UserBody;
use crate::routes::calendars::CalendarBody;
use crate::routes::calls::CallBody;
use crate::{ApiError, AppState};

/// Everything the application holds about the signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportBody {
    pub exported_at: DateTime<Utc>,
    /// The account (never its password hash).
    pub user: UserBody,
    /// The calendars the user owns (for an administrator too: only their own).
    pub calendars: Vec<CalendarBody>,
    /// Every appointment of those calendars, by start time.
    pub appointments: Vec<AppointmentBody>,
    /// Every call of those calendars, newest first.
    pub calls: Vec<CallBody>,
    /// The audit entries whose actor is the user, newest first.
    pub audit: Vec<AuditEntryBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EraseCallerBody {
    /// The caller's number (any common spelling; read in `DEFAULT_PHONE_REGION`).
    pub phone: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErasedBody {
    /// Appointments anonymised (kept, with the name `Erased`).
    pub appointments: u64,
    /// Calls anonymised (kept, without number, summary, transcript or recording).
    pub calls: u64,
    /// Kept replay copies of tool and API answers that repeated the caller's
    /// details (deleted; a late retry gets a fresh answer).
    pub replies: u64,
}

/// All of the signed-in user's data, as JSON: the profile, the calendars
/// they own, those calendars' appointments and calls, and the audit entries
/// of what they did.
#[utoipa::path(
    get, path = "/api/v1/me/export", tag = "privacy",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The export", body = ExportBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
pub async fn export(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let data = state
        .privacy
        .export(&who.0)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(ExportBody {
            exported_at: data.exported_at,
            user: UserBody::from(&data.user),
            calendars: data.calendars.iter().map(CalendarBody::from).collect(),
            appointments: data
                .appointments
                .iter()
                .map(AppointmentBody::from)
                .collect(),
            calls: data.calls.iter().map(CallBody::from).collect(),
            audit: data.audit.into_iter().map(AuditEntryBody::from).collect(),
        }))
}

/// Deletes the signed-in user's account: every sign-in ends, the account
/// cannot sign in again, their calendars (and appointments) stay, without an
/// owner, for administrators; audit entries about them are anonymised. The
/// last administrator cannot delete their account.
#[utoipa::path(
    delete, path = "/api/v1/me", tag = "privacy",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "The last administrator (`last_administrator`)", body = ErrorBody),
    )
)]
pub async fn delete_me(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    // Read first: deleting the account forgets who made a connection.
    let grants = match &state.google {
        Some(google) => google
            .made_by(who.0.user.id)
            .await
            .map_err(ApiError::internal)?,
        None => Vec::new(),
    };
    state
        .privacy
        .delete_account(&who.0)
        .await
        .map_err(|e| match e {
            DeleteAccountError::LastAdministrator => ApiError::Conflict {
                code: "last_administrator",
                message: "you are the last administrator: make someone else an administrator first"
                    .to_owned(),
            },
            DeleteAccountError::Unknown(e) => ApiError::internal(e),
        })?;
    // The Google grants the user gave are revoked and their tokens deleted
    // (the calendars stay, unconnected).
    if let Some(google) = &state.google
        && let Err(e) = google.revoke_all(&grants).await
    {
        tracing::error!(error = %e, "could not remove the Google connections of a deleted account");
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Erases a caller's personal data: their appointments keep their time and
/// status with the name `Erased`, a placeholder number and no email address
/// or purpose; their calls lose the number, summary, transcript and
/// recording. Rows are kept, so counts stay right. Administrators only.
#[utoipa::path(
    post, path = "/api/v1/admin/privacy/erase-caller", tag = "privacy",
    request_body = EraseCallerBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Erased: how many rows changed", body = ErasedBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 422, description = "Not a phone number (`phone` named)", body = ErrorBody),
    )
)]
pub async fn erase_caller(
    state: web::Data<AppState>,
    request: HttpRequest,
    who: Authenticated,
    body: crate::json::Json<EraseCallerBody>,
) -> Result<HttpResponse, ApiError> {
    let principal = who.require_admin()?;
    let phone = PhoneNumber::parse(&body.phone, state.phone_region)
        .map_err(|e| ApiError::invalid_field("phone", e.to_string()))?;
    let origin = origin(&request, &state.proxies);
    let done = state
        .privacy
        .erase_caller(principal, &phone, &origin)
        .await
        .map_err(|e| match e {
            EraseCallerError::Forbidden => ApiError::Forbidden(e.to_string()),
            EraseCallerError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(ErasedBody {
        appointments: done.appointments,
        calls: done.calls,
        replies: done.replies,
    }))
}
