//! `POST /vapi/tools`, `POST /vapi/tool/book-appointment`, `POST /vapi/webhook`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tracing::Instrument;
use voice_scheduler_vapi::wire::{
    self, CallContext, ServerMessage, ToolCall, ToolResult, WireError,
};

use voice_scheduler_domain::Calendar;
use voice_scheduler_domain::calendars::{RouteError, RouteHints};

use crate::openapi::{ErrorBody, VapiAnswer, VapiMessage};
use crate::{ApiError, AppState};

/// Any VAPI server message. The credential is checked first, over the raw
/// request; then the body is parsed; tool calls are answered in order.
#[utoipa::path(
    post,
    path = "/vapi/tools",
    tag = "vapi",
    description = "VAPI server messages. `tool-calls` (and the legacy `function-call`) are answered with one result per call, in order; other message types answer `{\"received\": true}`. See docs/vapi-setup.md.",
    request_body(content = VapiMessage, content_type = "application/json"),
    params(("calendar" = Option<String>, Query, description = "The slug of the calendar to book on (else the call's assistant or phone number decides, else the only calendar)")),
    security(("vapi_secret" = []), ("vapi_bearer" = [])),
    responses(
        (status = 200, description = "Answered", body = VapiAnswer),
        (status = 400, description = "Not JSON, or not a VAPI message", body = ErrorBody),
        (status = 401, description = "No or wrong VAPI credential", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
pub async fn message(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let headers = request.headers();
    state
        .vapi_secret
        .verify(
            headers.get("x-vapi-secret").map(|v| v.as_bytes()),
            headers.get("authorization").map(|v| v.as_bytes()),
        )
        .map_err(|failure| {
            tracing::warn!(path = %request.path(), reason = %failure, "rejected VAPI request");
            metrics::counter!("vapi_requests_rejected_total", "reason" => failure_label(failure))
                .increment(1);
            ApiError::Unauthorized(failure.to_string())
        })?;
    if let Some(content_type) = headers.get("content-type") {
        let value = content_type
            .to_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let essence = value.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(essence.to_owned()));
        }
    }
    let body = payload
        .to_bytes_limited(crate::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?
        .map_err(|e| ApiError::BadRequest {
            code: "unreadable_body",
            message: format!("the request body could not be read: {e}"),
        })?;
    let message = wire::parse_message(&body).map_err(|e| match e {
        WireError::MalformedJson(_) => ApiError::BadRequest {
            code: "malformed_json",
            message: e.to_string(),
        },
        WireError::NotVapiMessage(_) => ApiError::BadRequest {
            code: "not_a_vapi_message",
            message: e.to_string(),
        },
    })?;
    let slug = calendar_slug(request.query_string());
    match message {
        ServerMessage::ToolCalls { calls, context } => {
            let calendar = route(&state, slug.as_deref(), &context).await;
            let mut results = Vec::with_capacity(calls.len());
            for call in &calls {
                results.push(run(&state, &calendar, call, &context).await);
            }
            Ok(HttpResponse::Ok().json(wire::tool_calls_response(&results)))
        }
        ServerMessage::FunctionCall { call, context } => {
            let calendar = route(&state, slug.as_deref(), &context).await;
            let result = run(&state, &calendar, &call, &context).await;
            Ok(HttpResponse::Ok().json(wire::function_call_response(&result)))
        }
        ServerMessage::Other { kind, context, .. } => {
            tracing::debug!(message_type = %kind, vapi_call_id = context.call_id.as_deref().unwrap_or(""), "VAPI message received");
            Ok(HttpResponse::Ok().json(json!({"received": true})))
        }
    }
}

/// `?calendar=<slug>` on the tool URL, if given.
fn calendar_slug(query: &str) -> Option<String> {
    web::Query::<std::collections::HashMap<String, String>>::from_query(query)
        .ok()
        .and_then(|q| q.get("calendar").map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
}

/// Why the calendar of a message could not be found: what to say instead
/// of running the tools, and the `metadata.status` (`not_configured`, or
/// `error` when the lookup itself failed).
type Unrouted = (&'static str, &'static str);

/// The calendar a message is for (see `CalendarService::route`).
async fn route(
    state: &AppState,
    slug: Option<&str>,
    context: &CallContext,
) -> Result<Calendar, Unrouted> {
    let hints = RouteHints {
        slug,
        assistant_id: context.assistant_id.as_deref(),
        phone_number_id: context.phone_number_id.as_deref(),
    };
    state.calendars.route(&hints).await.map_err(|e| {
        match &e {
            RouteError::UnknownSlug(slug) => tracing::error!(
                %slug,
                "VAPI tool URL names an unknown calendar: fix ?calendar= in the assistant's tool server URL, or create a calendar with this slug"
            ),
            RouteError::NotConfigured { assistant, phone_number } => tracing::error!(
                assistant_id = assistant.as_deref().unwrap_or(""),
                phone_number_id = phone_number.as_deref().unwrap_or(""),
                "VAPI call cannot be routed to a calendar: add the assistant id or phone-number id to a calendar (PATCH /api/v1/calendars/{{id}}), or add ?calendar=<slug> to the tool URL"
            ),
            RouteError::Unknown(cause) => tracing::error!(error = format!("{cause:#}"), "could not look up the calendar of a VAPI request"),
        }
        match e {
            RouteError::Unknown(_) => ("Sorry, I can't reach the booking system right now. Please tell the caller to try again in a few minutes.", "error"),
            _ => ("This phone line is not set up for booking yet. Please apologise to the caller and offer to have someone call them back.", "not_configured"),
        }
    })
}

/// Runs one tool call inside a span carrying the VAPI call and tool-call ids.
async fn run(
    state: &AppState,
    calendar: &Result<Calendar, Unrouted>,
    call: &ToolCall,
    context: &CallContext,
) -> ToolResult {
    let calendar = match calendar {
        Ok(calendar) => calendar,
        Err((spoken, status)) => {
            metrics::counter!("vapi_tool_calls_total", "tool" => known_tool(&call.name), "outcome" => *status)
                .increment(1);
            return ToolResult::err(call, *spoken, json!({"status": status}));
        }
    };
    let span = tracing::info_span!(
        "tool_call",
        vapi_call_id = context.call_id.as_deref().unwrap_or(""),
        tool_call_id = %call.id,
        tool = %call.name,
    );
    let started = std::time::Instant::now();
    let result = state
        .runner
        .run(calendar, call, context)
        .instrument(span.clone())
        .await;
    let outcome = result
        .metadata
        .get("status")
        .and_then(|s| s.as_str())
        .unwrap_or(if result.is_error() { "error" } else { "ok" })
        .to_owned();
    let tool = known_tool(&call.name);
    metrics::counter!("vapi_tool_calls_total", "tool" => tool, "outcome" => outcome.clone())
        .increment(1);
    metrics::histogram!("vapi_tool_call_duration_seconds", "tool" => tool)
        .record(started.elapsed().as_secs_f64());
    if tool == "book_appointment" {
        metrics::counter!("bookings_total", "channel" => "voice", "outcome" => outcome.clone())
            .increment(1);
    }
    span.in_scope(|| tracing::info!(%outcome, elapsed_ms = started.elapsed().as_millis() as u64, "tool call answered"));
    result
}

/// A bounded label: unknown tool names are not echoed into metrics.
fn known_tool(name: &str) -> &'static str {
    voice_scheduler_vapi::tools::TOOL_NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("unknown")
}

fn failure_label(failure: voice_scheduler_vapi::auth::AuthFailure) -> &'static str {
    match failure {
        voice_scheduler_vapi::auth::AuthFailure::Missing => "missing",
        voice_scheduler_vapi::auth::AuthFailure::Wrong => "wrong",
    }
}

/// The original service's path: the same handling as `/vapi/tools`.
#[utoipa::path(
    post,
    path = "/vapi/tool/book-appointment",
    tag = "vapi",
    description = "The original service's path for its `book_appointment` tool; handled exactly like /vapi/tools.",
    request_body(content = VapiMessage, content_type = "application/json"),
    params(("calendar" = Option<String>, Query, description = "The slug of the calendar to book on (else the call's assistant or phone number decides, else the only calendar)")),
    security(("vapi_secret" = []), ("vapi_bearer" = [])),
    responses(
        (status = 200, description = "Answered", body = VapiAnswer),
        (status = 400, description = "Not JSON, or not a VAPI message", body = ErrorBody),
        (status = 401, description = "No or wrong VAPI credential", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn doc_book_appointment() {}

/// The assistant's server URL for every other message.
#[utoipa::path(
    post,
    path = "/vapi/webhook",
    tag = "vapi",
    description = "Any VAPI server message (status updates, end-of-call reports, tool calls).",
    request_body(content = VapiMessage, content_type = "application/json"),
    params(("calendar" = Option<String>, Query, description = "The slug of the calendar to book on (else the call's assistant or phone number decides, else the only calendar)")),
    security(("vapi_secret" = []), ("vapi_bearer" = [])),
    responses(
        (status = 200, description = "Answered", body = VapiAnswer),
        (status = 400, description = "Not JSON, or not a VAPI message", body = ErrorBody),
        (status = 401, description = "No or wrong VAPI credential", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn doc_webhook() {}
