//! `POST /vapi/tools`, `POST /vapi/tool/book-appointment`, `POST /vapi/webhook`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tracing::Instrument;
use voice_scheduler_vapi::wire::{
    self, CallContext, ServerMessage, ToolCall, ToolResult, WireError,
};

use voice_scheduler_domain::calendars::{RouteError, RouteHints};
use voice_scheduler_domain::ports::{Actor, AuditEntry, StoredReply};
use voice_scheduler_domain::{Calendar, CallSource};
use voice_scheduler_vapi::auth::AuthFailure;
use voice_scheduler_vapi::hmac::{HmacFailure, SignatureId};

use crate::openapi::{ErrorBody, VapiAnswer, VapiMessage};
use crate::{ApiError, AppState};

/// Any VAPI server message. The credential is checked first, over the raw
/// request; then the body is parsed; tool calls are answered in order.
#[utoipa::path(
    post,
    path = "/vapi/tools",
    tag = "vapi",
    description = "VAPI server messages. `tool-calls` (and the legacy `function-call`) are answered with one result per call, in order; `assistant-request` answers `{\"assistantId\": ...}` (or a spoken `{\"error\": ...}`); `status-update` and `end-of-call-report` are recorded on the call (503 when they cannot be stored, so they can be sent again); other message types answer `{\"received\": true}`. See docs/vapi-setup.md.",
    request_body(content = VapiMessage, content_type = "application/json"),
    params(("calendar" = Option<String>, Query, description = "The slug of the calendar to book on (else the call's assistant or phone number decides, else the only calendar)")),
    security(("vapi_secret" = []), ("vapi_bearer" = [])),
    responses(
        (status = 200, description = "Answered", body = VapiAnswer),
        (status = 400, description = "Not JSON, not a VAPI message (or a `tool-calls` message without tool calls: `not_a_vapi_message`), or more than 20 tool calls in one message (`too_many_tool_calls`; none is run)", body = ErrorBody),
        (status = 401, description = "No, wrong, malformed, stale or replayed VAPI credential (shared secret, bearer token or HMAC signature)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 503, description = "A status update or end-of-call report could not be stored; send it again", body = ErrorBody),
    )
)]
pub async fn message(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let headers = request.headers();
    let shared = state.vapi_secret.verify(
        headers.get("x-vapi-secret").map(|v| v.as_bytes()),
        headers.get("authorization").map(|v| v.as_bytes()),
    );
    // A valid shared secret or bearer token is enough. Otherwise, when the
    // HMAC credential is configured and the request carries its headers,
    // the signature decides; else the shared secret's failure is answered.
    let signed = match (shared, state.vapi_hmac.as_ref()) {
        (Ok(()), _) => None,
        (Err(failure), Some(hmac))
            if headers.contains_key(hmac.signature_header())
                || headers.contains_key(hmac.timestamp_header()) =>
        {
            match hmac.check_headers(
                headers.get(hmac.signature_header()).map(|v| v.as_bytes()),
                headers.get(hmac.timestamp_header()).map(|v| v.as_bytes()),
                state.clock.now(),
            ) {
                Ok(signed) => Some(signed),
                Err(hmac_failure) => {
                    tracing::debug!(shared_secret = %failure, "the shared secret did not pass either");
                    return Err(reject(&state, &request, Rejection::Hmac(hmac_failure)).await);
                }
            }
        }
        (Err(failure), _) => {
            return Err(reject(&state, &request, Rejection::Shared(failure)).await);
        }
    };
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
    let body = read_body(payload).await?;
    if let Some(signed) = signed {
        let id = match signed.verify(&body) {
            Ok(id) => id,
            Err(failure) => {
                return Err(reject(&state, &request, Rejection::Hmac(failure)).await);
            }
        };
        if !first_use(&state, &id).await? {
            return Err(reject(&state, &request, Rejection::Replayed).await);
        }
    }
    let message = wire::parse_message(&body).map_err(|e| match e {
        WireError::MalformedJson(_) => ApiError::BadRequest {
            code: "malformed_json",
            message: e.to_string(),
        },
        WireError::NotVapiMessage(_) => ApiError::BadRequest {
            code: "not_a_vapi_message",
            message: e.to_string(),
        },
        WireError::TooManyToolCalls { .. } => ApiError::BadRequest {
            code: "too_many_tool_calls",
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
        ServerMessage::Other {
            kind,
            context,
            message,
        } => other_message(&state, slug.as_deref(), &kind, &context, &message).await,
    }
}

/// Spoken when an `assistant-request` comes for a line without an assistant.
const LINE_NOT_SET_UP: &str = "Sorry, this number is not set up yet. Please try again later.";
/// Spoken when the assistant cannot be looked up (the database is down).
const LINE_UNAVAILABLE: &str =
    "Sorry, we can't take your call right now. Please try again in a few minutes.";

/// Every message but tool calls: `assistant-request` is answered with the
/// routed calendar's assistant; `status-update` and `end-of-call-report`
/// are recorded on the call (200 `{"received": true}` once stored, 503 when
/// the database cannot store it, so that a retry can); anything else is
/// acknowledged.
async fn other_message(
    state: &AppState,
    slug: Option<&str>,
    kind: &str,
    context: &CallContext,
    message: &serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let vapi_call_id = context.call_id.as_deref().unwrap_or("");
    if kind == "assistant-request" {
        return Ok(HttpResponse::Ok().json(assistant_for(state, slug, context).await));
    }
    let received = HttpResponse::Ok().json(json!({"received": true}));
    let Some(mut update) =
        voice_scheduler_vapi::calls::call_update(kind, message, state.phone_region)
    else {
        tracing::debug!(message_type = %kind, vapi_call_id, "VAPI message received");
        return Ok(received);
    };
    // A call no calendar can be decided for is still recorded, without one.
    update.calendar_id = route(state, slug, context).await.ok().map(|c| c.id);
    let label = if update.source == CallSource::EndOfCallReport {
        "end-of-call-report"
    } else {
        "status-update"
    };
    match state.calls.record(&update).await {
        Ok(call) => {
            metrics::counter!("vapi_call_messages_total", "type" => label, "outcome" => "recorded")
                .increment(1);
            tracing::info!(
                message_type = label,
                vapi_call_id,
                call = %call.id,
                status = call.status.map(|s| s.as_str()).unwrap_or(""),
                "VAPI call recorded"
            );
            Ok(received)
        }
        Err(e) => {
            metrics::counter!("vapi_call_messages_total", "type" => label, "outcome" => "failed")
                .increment(1);
            tracing::error!(
                error = format!("{e:#}"),
                message_type = label,
                vapi_call_id,
                "could not record a VAPI call message"
            );
            Err(ApiError::ServiceUnavailable(
                "the call could not be recorded right now; send the message again".to_owned(),
            ))
        }
    }
}

/// The answer to `assistant-request`: the first assistant of the calendar
/// the call routes to (`?calendar=`, the phone number, or the only
/// calendar), else a sentence VAPI speaks to the caller.
async fn assistant_for(
    state: &AppState,
    slug: Option<&str>,
    context: &CallContext,
) -> serde_json::Value {
    match route(state, slug, context).await {
        Ok(calendar) => match calendar.routes.assistant_ids.first() {
            Some(assistant) => json!({"assistantId": assistant.as_str()}),
            None => {
                tracing::error!(
                    calendar = %calendar.slug,
                    phone_number_id = context.phone_number_id.as_deref().unwrap_or(""),
                    "VAPI asked for the assistant of a calendar that has none: add its assistant id (PATCH /api/v1/calendars/{{id}} with vapi_assistant_ids)"
                );
                json!({"error": LINE_NOT_SET_UP})
            }
        },
        Err((_, "error")) => json!({"error": LINE_UNAVAILABLE}),
        Err(_) => json!({"error": LINE_NOT_SET_UP}),
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
        call_id: context.call_id.as_deref(),
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
            RouteError::OwnerMismatch { assistant, phone_number } => tracing::error!(
                assistant_id = %assistant,
                phone_number_id = %phone_number,
                vapi_call_id = context.call_id.as_deref().unwrap_or(""),
                "VAPI call refused: its assistant id and phone-number id route to calendars of different owners (an administrator must fix the calendars' VAPI ids)"
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

/// The raw body, at most [`crate::MAX_BODY_BYTES`].
async fn read_body(payload: web::Payload) -> Result<web::Bytes, ApiError> {
    payload
        .to_bytes_limited(crate::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?
        .map_err(|e| ApiError::BadRequest {
            code: "unreadable_body",
            message: format!("the request body could not be read: {e}"),
        })
}

/// The scope of accepted HMAC signatures in the replay store.
const SIGNATURE_SCOPE: &str = "vapi-signature";

/// Remembers an accepted signature in the database (shared by every
/// instance): `true` the first time it is seen, `false` for a replay. A
/// signature older than the window is refused as stale before it gets here,
/// so remembering it beyond the window changes nothing.
async fn first_use(state: &AppState, id: &SignatureId) -> Result<bool, ApiError> {
    // A value only this request stores: if the stored one differs, another
    // request stored it first (a retried insert returns our own).
    let nonce = uuid::Uuid::new_v4().to_string();
    let reply = StoredReply {
        fingerprint: id.to_string(),
        body: json!({"nonce": nonce, "at": state.clock.now().to_rfc3339()}).to_string(),
    };
    let stored = state
        .replies
        .save_reply(SIGNATURE_SCOPE, id.as_str(), reply.clone())
        .await
        .map_err(|e| {
            tracing::error!(
                error = format!("{e:#}"),
                "could not remember a VAPI signature"
            );
            ApiError::ServiceUnavailable(
                "the request could not be checked for replays; try again".to_owned(),
            )
        })?;
    Ok(stored.body == reply.body)
}

/// Why a VAPI request was refused.
#[derive(Debug, Clone, Copy)]
enum Rejection {
    Shared(AuthFailure),
    Hmac(HmacFailure),
    Replayed,
}

impl Rejection {
    /// The `reason` label: `missing`, `wrong`, `malformed`, `stale`, `replayed`.
    fn reason(self) -> &'static str {
        match self {
            Self::Shared(AuthFailure::Missing) => "missing",
            Self::Shared(AuthFailure::Wrong) => "wrong",
            Self::Hmac(failure) => failure.reason(),
            Self::Replayed => "replayed",
        }
    }

    fn credential(self) -> &'static str {
        match self {
            Self::Shared(_) => "shared secret",
            Self::Hmac(_) | Self::Replayed => "hmac signature",
        }
    }

    fn message(self) -> String {
        match self {
            Self::Shared(failure) => failure.to_string(),
            Self::Hmac(failure) => failure.to_string(),
            Self::Replayed => "this signed request was already received: it was replayed (VAPI signs every request anew)".to_owned(),
        }
    }
}

/// Counts, audits and logs a refused VAPI request (never the secret or the
/// signature) and returns the 401 to answer.
async fn reject(state: &AppState, request: &HttpRequest, rejection: Rejection) -> ApiError {
    let reason = rejection.reason();
    let address = crate::auth::origin(request, &state.proxies).address;
    tracing::warn!(
        path = %request.path(),
        reason,
        credential = rejection.credential(),
        client = address.as_deref().unwrap_or(""),
        "rejected VAPI request: {}",
        rejection.message()
    );
    metrics::counter!("vapi_requests_rejected_total", "reason" => reason).increment(1);
    let entry = AuditEntry {
        at: state.clock.now(),
        actor: Actor::Anonymous,
        action: "vapi.request_rejected",
        resource: Some(request.path().to_owned()),
        outcome: "denied",
        address,
        detail: Some(reason.to_owned()),
    };
    if let Err(e) = state.audit.record(entry).await {
        tracing::error!(
            error = format!("{e:#}"),
            "could not audit a rejected VAPI request"
        );
    }
    ApiError::Unauthorized(rejection.message())
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
        (status = 400, description = "Not JSON, not a VAPI message (or a `tool-calls` message without tool calls: `not_a_vapi_message`), or more than 20 tool calls in one message (`too_many_tool_calls`; none is run)", body = ErrorBody),
        (status = 401, description = "No, wrong, malformed, stale or replayed VAPI credential (shared secret, bearer token or HMAC signature)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 503, description = "A status update or end-of-call report could not be stored; send it again", body = ErrorBody),
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
        (status = 400, description = "Not JSON, not a VAPI message (or a `tool-calls` message without tool calls: `not_a_vapi_message`), or more than 20 tool calls in one message (`too_many_tool_calls`; none is run)", body = ErrorBody),
        (status = 401, description = "No, wrong, malformed, stale or replayed VAPI credential (shared secret, bearer token or HMAC signature)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 503, description = "A status update or end-of-call report could not be stored; send it again", body = ErrorBody),
    )
)]
#[allow(dead_code)]
pub fn doc_webhook() {}
