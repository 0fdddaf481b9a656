//! Google Calendar connections: start (`POST …/google/connect`, answers
//! Google's consent address), Google's callback
//! (`GET /integrations/google/callback`, public: the browser arrives from
//! Google, the single-use `state` is the credential), status, disconnect,
//! and retrying failed sync jobs. The callback's query carries the OAuth
//! `code` and `state`: the request log writes the path only.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use voice_scheduler_domain::CalendarId;
use voice_scheduler_domain::sync::{
    ConnectFinishError, ConnectStartError, ConnectionError, Connections, GrantError,
};

use crate::auth::Authenticated;
use crate::openapi::ErrorBody;
use crate::{ApiError, AppState};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    /// The Google calendar to use (`primary`, the account's main calendar,
    /// when absent), e.g. `team@group.calendar.google.com`.
    pub google_calendar_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectStarted {
    /// Send the user's browser here: Google's consent page. The link works
    /// once, for 10 minutes.
    pub authorization_url: String,
}

/// A calendar's Google connection and its sync jobs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GoogleStatusBody {
    /// Whether this server has Google Calendar configured at all.
    pub configured: bool,
    /// `connected`, `needs_reconnect` (Google refused the grant: connect
    /// again; sync jobs wait) or `not_connected`.
    pub status: String,
    pub google_calendar_id: Option<String>,
    pub scopes: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Why it needs reconnecting.
    pub last_error: Option<String>,
    /// Changes not yet in Google Calendar.
    pub jobs_pending: u64,
    /// Changes Google refused or that failed every attempt (retry them with
    /// `POST …/google/retry`).
    pub jobs_failed: u64,
    /// Why the most recent of those jobs failed (the last attempt's error).
    pub last_job_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisconnectedBody {
    /// Whether Google confirmed revoking the grant (the tokens are deleted
    /// either way).
    pub revoked: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequeuedBody {
    /// Failed jobs queued again.
    pub requeued: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code (absent when the user refused).
    pub code: Option<String>,
    /// The state handed out when the connection was started.
    pub state: Option<String>,
    /// Google's error, e.g. `access_denied`.
    pub error: Option<String>,
}

/// The connections service, or 404: without `GOOGLE_CLIENT_ID` this server
/// has no Google integration (a setting, not a passing outage).
fn google(state: &AppState) -> Result<&Connections, ApiError> {
    state.google.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "Google Calendar is not configured on this server (GOOGLE_CLIENT_ID)".to_owned(),
        )
    })
}

fn connection_error(e: ConnectionError) -> ApiError {
    match e {
        ConnectionError::NotFound => ApiError::NotFound("no such calendar".to_owned()),
        ConnectionError::NotConnected => {
            ApiError::NotFound("this calendar is not connected to Google Calendar".to_owned())
        }
        ConnectionError::Unknown(e) => ApiError::internal(e),
    }
}

/// Starts connecting a calendar to Google Calendar: answers Google's
/// consent address for the user's browser.
#[utoipa::path(
    post, path = "/api/v1/calendars/{id}/google/connect", tag = "google",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    request_body = ConnectInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Google's consent address", body = ConnectStarted),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours), or Google Calendar is not configured", body = ErrorBody),
        (status = 422, description = "Invalid Google calendar id", body = ErrorBody),
    )
)]
pub async fn connect(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    body: crate::json::Json<ConnectInput>,
) -> Result<HttpResponse, ApiError> {
    let google = google(&state)?;
    let url = google
        .start(
            &who.0,
            CalendarId::from_uuid(id.into_inner()),
            body.google_calendar_id.as_deref(),
        )
        .await
        .map_err(|e| match e {
            ConnectStartError::NotFound => ApiError::NotFound("no such calendar".to_owned()),
            ConnectStartError::BadGoogleCalendarId => {
                ApiError::invalid_field("google_calendar_id", e.to_string())
            }
            ConnectStartError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(ConnectStarted {
        authorization_url: url,
    }))
}

/// A small page for the browser that came back from Google.
fn page(status: actix_web::http::StatusCode, title: &str, text: &str) -> HttpResponse {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{}</h1><p>{}</p></body></html>",
            escape(title),
            escape(title),
            escape(text)
        ))
}

/// Google's redirect after consent: exchanges the code and stores the
/// connection. Public (the browser comes from Google); the single-use,
/// short-lived `state` bound to the user and calendar is the credential.
#[utoipa::path(
    get, path = "/integrations/google/callback", tag = "google",
    params(CallbackQuery),
    responses(
        (status = 200, description = "Connected (an HTML page)", content_type = "text/html", body = String),
        (status = 400, description = "Refused, or a bad, used or expired state: nothing stored (an HTML page)", content_type = "text/html", body = String),
        (status = 404, description = "Google Calendar is not configured", body = ErrorBody),
        (status = 502, description = "Google could not be reached (an HTML page)", content_type = "text/html", body = String),
    )
)]
pub async fn callback(
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    use actix_web::http::StatusCode;
    let google = google(&state)?;
    let query = query.into_inner();
    if let Some(error) = query.error {
        let why = if error == "access_denied" {
            "Access was not allowed in Google, so nothing was connected.".to_owned()
        } else {
            format!("Google answered '{error}', so nothing was connected.")
        };
        return Ok(page(StatusCode::BAD_REQUEST, "Not connected", &why));
    }
    let (Some(code), Some(state_value)) = (query.code, query.state) else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "This address needs the code and state Google adds to it; start the connection again.",
        ));
    };
    match google.finish(&code, &state_value).await {
        Ok(connection) => Ok(page(
            StatusCode::OK,
            "Google Calendar connected",
            &format!(
                "Bookings will appear in the Google calendar '{}', and its busy times are respected. You can close this window.",
                connection.google_calendar_id
            ),
        )),
        Err(ConnectFinishError::BadState) => Ok(page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "This connection link is invalid, already used or expired. Start the connection again.",
        )),
        Err(ConnectFinishError::Grant(GrantError::Unavailable(_))) => Ok(page(
            StatusCode::BAD_GATEWAY,
            "Not connected",
            "Google could not be reached. Start the connection again in a moment.",
        )),
        Err(ConnectFinishError::Grant(e)) => Ok(page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            &e.to_string(),
        )),
        Err(ConnectFinishError::Unknown(e)) => Err(ApiError::internal(e)),
    }
}

/// The calendar's Google connection and its sync jobs.
#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/google", tag = "google",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Connection status", body = GoogleStatusBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
    )
)]
pub async fn status(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let calendar = CalendarId::from_uuid(id.into_inner());
    let Some(google) = state.google.as_ref() else {
        // Still only for calendars the user may see.
        state
            .calendars
            .get(&who.0, calendar)
            .await
            .map_err(|_| ApiError::NotFound("no such calendar".to_owned()))?;
        return Ok(HttpResponse::Ok().json(GoogleStatusBody {
            configured: false,
            status: "not_connected".to_owned(),
            google_calendar_id: None,
            scopes: None,
            connected_at: None,
            last_synced_at: None,
            last_error: None,
            jobs_pending: 0,
            jobs_failed: 0,
            last_job_error: None,
        }));
    };
    let view = google
        .status(&who.0, calendar)
        .await
        .map_err(connection_error)?;
    let c = view.connection.as_ref();
    Ok(HttpResponse::Ok().json(GoogleStatusBody {
        configured: true,
        status: c.map_or("not_connected", |c| c.status.as_str()).to_owned(),
        google_calendar_id: c.map(|c| c.google_calendar_id.clone()),
        scopes: c.and_then(|c| c.scopes.clone()),
        connected_at: c.map(|c| c.connected_at),
        last_synced_at: c.and_then(|c| c.last_synced_at),
        last_error: c.and_then(|c| c.last_error.clone()),
        jobs_pending: view.jobs.pending,
        jobs_failed: view.jobs.failed,
        last_job_error: view.jobs.last_error.clone(),
    }))
}

/// Disconnects the calendar: revokes the grant at Google and deletes the
/// tokens. Changes not yet synced wait, and run if it is connected again.
#[utoipa::path(
    delete, path = "/api/v1/calendars/{id}/google", tag = "google",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Disconnected", body = DisconnectedBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar, not connected, or Google Calendar is not configured", body = ErrorBody),
    )
)]
pub async fn disconnect(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let done = google(&state)?
        .disconnect(&who.0, CalendarId::from_uuid(id.into_inner()))
        .await
        .map_err(connection_error)?;
    Ok(HttpResponse::Ok().json(DisconnectedBody {
        revoked: done.revoked,
    }))
}

/// Queues the calendar's failed sync jobs again.
#[utoipa::path(
    post, path = "/api/v1/calendars/{id}/google/retry", tag = "google",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Queued again", body = RequeuedBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours), or Google Calendar is not configured", body = ErrorBody),
    )
)]
pub async fn retry(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let requeued = google(&state)?
        .retry_failed(&who.0, CalendarId::from_uuid(id.into_inner()))
        .await
        .map_err(connection_error)?;
    Ok(HttpResponse::Ok().json(RequeuedBody { requeued }))
}
