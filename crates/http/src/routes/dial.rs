//! Calling out through VAPI: `POST /api/v1/calls` (a phone call to a caller),
//! `POST /call/start` (the original service's browser test call), and the
//! tool definitions to paste into VAPI, per calendar.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use voice_scheduler_domain::dialer::{DialError, PlatformError};
use voice_scheduler_domain::{CalendarId, PersonName, PhoneNumber};

use crate::auth::Authenticated;
use crate::errors::FieldProblem;
use crate::openapi::ErrorBody;
use crate::routes::calendars::not_found;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceCallBody {
    pub calendar_id: uuid::Uuid,
    /// The number to call (any common spelling).
    pub customer_number: String,
    pub customer_name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlacedCallBody {
    /// VAPI's call id (the call record's `vapi_call_id`).
    pub vapi_call_id: String,
    /// As VAPI reported it, usually `queued`.
    pub status: String,
    pub calendar_id: uuid::Uuid,
    /// E.164.
    pub customer_number: String,
}

/// Places an outbound phone call through VAPI with the calendar's assistant
/// and VAPI phone number, and records it.
#[utoipa::path(
    post, path = "/api/v1/calls", tag = "calls",
    request_body = PlaceCallBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "VAPI queued the call", body = PlacedCallBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 422, description = "Bad number, the calendar has no assistant or phone number, or VAPI refused the call (its message)", body = ErrorBody),
        (status = 502, description = "VAPI failed or did not answer", body = ErrorBody),
        (status = 503, description = "Calling out is not configured (VAPI_API_KEY)", body = ErrorBody),
    )
)]
pub async fn place(
    state: web::Data<AppState>,
    who: Authenticated,
    body: crate::json::Json<PlaceCallBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut problems = Vec::new();
    let number = PhoneNumber::parse(&body.customer_number, state.phone_region)
        .map_err(|e| {
            problems.push(FieldProblem {
                field: "customer_number".to_owned(),
                message: e.to_string(),
            })
        })
        .ok();
    let name = match body.customer_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => PersonName::parse(raw)
            .map_err(|e| {
                problems.push(FieldProblem {
                    field: "customer_name".to_owned(),
                    message: e.to_string(),
                })
            })
            .ok(),
    };
    let Some(number) = number.filter(|_| problems.is_empty()) else {
        return Err(ApiError::invalid_fields(problems));
    };
    let (placed, calendar) = state
        .dialer
        .call(
            &who.0,
            CalendarId::from_uuid(body.calendar_id),
            number.clone(),
            name,
        )
        .await
        .map_err(dial_error)?;
    Ok(HttpResponse::Created().json(PlacedCallBody {
        vapi_call_id: placed.id,
        status: placed.status,
        calendar_id: calendar.id.as_uuid(),
        customer_number: number.to_string(),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebCallBody {
    /// The calendar whose assistant answers (default: your first calendar
    /// with an assistant).
    pub calendar_id: Option<uuid::Uuid>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebCallAnswer {
    pub call_id: String,
    pub assistant_id: String,
    /// Open in a browser to talk to the assistant.
    pub web_call_url: String,
}

/// The original service's browser test call: VAPI creates a web call with the
/// calendar's assistant. Signed-in staff only. The body is optional.
#[utoipa::path(
    post, path = "/call/start", tag = "calls",
    request_body(content = Option<WebCallBody>),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Created", body = WebCallAnswer),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 422, description = "No calendar with an assistant, or VAPI refused", body = ErrorBody),
        (status = 502, description = "VAPI failed or did not answer", body = ErrorBody),
        (status = 503, description = "Calling out is not configured (VAPI_API_KEY)", body = ErrorBody),
    )
)]
pub async fn web_call(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: WebCallBody = if body.iter().all(u8::is_ascii_whitespace) {
        WebCallBody::default()
    } else {
        crate::json::parse_body(&body)?
    };
    let call = state
        .dialer
        .web_call(&who.0, body.calendar_id.map(CalendarId::from_uuid))
        .await
        .map_err(dial_error)?;
    Ok(HttpResponse::Ok().json(WebCallAnswer {
        call_id: call.id,
        assistant_id: call.assistant_id,
        web_call_url: call.web_call_url,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ToolsQuery {
    /// This server's public address as VAPI reaches it (default: the address
    /// this request came to).
    pub base_url: Option<String>,
}

/// The VAPI tool definitions for this calendar, ready to paste: every tool,
/// its JSON-schema parameters, and the server URL with `?calendar=<slug>`.
/// The secret is a placeholder (`<VAPI_WEBHOOK_SECRET>`).
#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/vapi-tools", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id"), ToolsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tool definitions", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 422, description = "base_url is not an http(s) URL", body = ErrorBody),
    )
)]
pub async fn tools(
    state: web::Data<AppState>,
    request: HttpRequest,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    query: web::Query<ToolsQuery>,
) -> Result<HttpResponse, ApiError> {
    let base = match query.base_url.as_deref() {
        Some(b) if b.starts_with("https://") || b.starts_with("http://") => b.to_owned(),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "base_url",
                "must start with https:// (or http://)",
            ));
        }
        None => {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    let calendar = state
        .calendars
        .get(&who.0, CalendarId::from_uuid(id.into_inner()))
        .await
        .map_err(|e| match e {
            voice_scheduler_domain::calendars::CalendarLookupError::NotFound => not_found(),
            voice_scheduler_domain::calendars::CalendarLookupError::Unknown(e) => {
                ApiError::internal(e)
            }
        })?;
    // The calendar's services become the `service` argument's enum.
    let services: Vec<String> = state
        .services
        .offered(calendar.id)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|s| s.name.as_str().to_owned())
        .collect();
    Ok(
        HttpResponse::Ok().json(voice_scheduler_vapi::definitions::tool_definitions_for(
            &base,
            Some(calendar.slug.as_str()),
            None,
            &services,
        )),
    )
}

fn dial_error(e: DialError) -> ApiError {
    match e {
        DialError::NotFound => not_found(),
        DialError::NotSetUp(_) => ApiError::invalid_field("calendar_id", e.to_string()),
        DialError::Platform(PlatformError::Rejected(message)) => ApiError::Unprocessable {
            code: "vapi_rejected",
            message: format!("VAPI refused the call: {message}"),
            fields: Vec::new(),
        },
        DialError::Platform(PlatformError::Unavailable(m)) => {
            ApiError::BadGateway(format!("VAPI could not place the call: {m}; try again"))
        }
        DialError::Platform(PlatformError::NotConfigured) => ApiError::ServiceUnavailable(
            "calling out is not configured on this server (VAPI_API_KEY)".to_owned(),
        ),
        DialError::Unknown(e) => ApiError::internal(e),
    }
}
