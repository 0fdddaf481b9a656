//! `POST /vapi/tools`, `POST /vapi/tool/book-appointment`, `POST /vapi/webhook`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tracing::Instrument;
use voice_scheduler_vapi::wire::{self, ServerMessage, WireError};

use crate::{ApiError, AppState};

/// Any VAPI server message: the credential is checked first, over the raw
/// request, then the body is parsed; tool calls are answered in order.
pub async fn message(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
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
            ApiError::Unauthorized(failure.to_string())
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
    match message {
        ServerMessage::ToolCalls { calls, context } => {
            let mut results = Vec::with_capacity(calls.len());
            for call in &calls {
                let span = tracing::info_span!(
                    "tool_call",
                    vapi_call_id = context.call_id.as_deref().unwrap_or(""),
                    tool_call_id = %call.id,
                    tool = %call.name,
                );
                let result = state
                    .runner
                    .run(&state.calendar, call, &context)
                    .instrument(span.clone())
                    .await;
                span.in_scope(|| {
                    tracing::info!(
                        outcome = if result.is_error() { "error" } else { "ok" },
                        "tool call answered"
                    );
                });
                results.push(result);
            }
            Ok(HttpResponse::Ok().json(wire::tool_calls_response(&results)))
        }
        ServerMessage::FunctionCall { call, context } => {
            let span = tracing::info_span!(
                "function_call",
                vapi_call_id = context.call_id.as_deref().unwrap_or(""),
                tool = %call.name,
            );
            let result = state
                .runner
                .run(&state.calendar, &call, &context)
                .instrument(span)
                .await;
            Ok(HttpResponse::Ok().json(wire::function_call_response(&result)))
        }
        ServerMessage::Other { kind, context, .. } => {
            tracing::debug!(message_type = %kind, vapi_call_id = context.call_id.as_deref().unwrap_or(""), "VAPI message received");
            Ok(HttpResponse::Ok().json(json!({"received": true})))
        }
    }
}
