//! The OpenAPI 3 document served at `/openapi.json` (and rendered at `/docs/`).
//!
//! Schemas here describe the wire; they are documentation types, separate
//! from the domain. A test checks that every route in [`crate::routes()`] is
//! in the document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Route paths are written once, in OpenAPI's `{param}` notation, which
/// actix reads the same way.
pub const fn actix_path(path: &'static str) -> &'static str {
    path
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "voice-scheduler",
        description = "A VAPI voice-assistant backend that checks availability, books, finds, moves and cancels appointments. See docs/ in the repository.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        crate::routes::health::live,
        crate::routes::health::ready,
        crate::routes::metrics::render,
        crate::routes::vapi::message,
        crate::routes::vapi::doc_book_appointment,
        crate::routes::vapi::doc_webhook,
        crate::routes::auth::register,
        crate::routes::auth::login,
        crate::routes::auth::refresh,
        crate::routes::auth::logout,
        crate::routes::auth::logout_all,
        crate::routes::auth::me,
        crate::routes::auth::change_password,
        crate::routes::auth::list_users,
        crate::routes::calendars::list,
        crate::routes::calendars::create,
        crate::routes::calendars::get,
        crate::routes::calendars::update,
        crate::routes::calendars::delete,
        crate::routes::calendars::availability,
        crate::routes::closures::get_closures,
        crate::routes::closures::replace_closures,
        crate::routes::services::list_services,
        crate::routes::services::create_service,
        crate::routes::services::get_service,
        crate::routes::services::update_service,
        crate::routes::services::delete_service,
        crate::routes::appointments::list,
        crate::routes::appointments::doc_legacy_list,
        crate::routes::appointments::get,
        crate::routes::appointments::create,
        crate::routes::appointments::cancel,
        crate::routes::appointments::reschedule,
        crate::routes::dial::place,
        crate::routes::dial::web_call,
        crate::routes::dial::tools,
        crate::routes::calls::list,
        crate::routes::calls::get,
        crate::routes::calls::purge_transcripts,
        crate::routes::audit::list,
        crate::routes::privacy::export,
        crate::routes::privacy::delete_me,
        crate::routes::privacy::erase_caller,
        crate::routes::google::connect,
        crate::routes::google::callback,
        crate::routes::google::status,
        crate::routes::google::disconnect,
        crate::routes::google::retry,
        crate::routes::webhooks::list,
        crate::routes::webhooks::create,
        crate::routes::webhooks::get,
        crate::routes::webhooks::delete,
        crate::routes::webhooks::deliveries,
        crate::routes::webhooks::redeliver,
    ),
    components(schemas(ErrorBody, ErrorDetail, Health, Ready, NotReady, VapiMessage, VapiMessageBody, VapiAnswer, ToolResultBody)),
    modifiers(&SecuritySchemes, &CommonResponses, &OperationIds),
    tags(
        (name = "vapi", description = "Server messages from VAPI assistants"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "auth", description = "Accounts and sign-in (JWT access tokens, rotating refresh tokens)"),
        (name = "calendars", description = "Calendars, their working hours and VAPI routing"),
        (name = "appointments", description = "Appointments of your calendars"),
        (name = "calls", description = "VAPI calls of your calendars, with what was booked during each"),
        (name = "audit", description = "The audit log (administrators)"),
        (name = "webhooks", description = "Signed webhooks to your other systems: endpoints, delivery logs, redelivery"),
        (name = "privacy", description = "Your data (export, account deletion) and callers' erasure (administrators)"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "vapi_secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Vapi-Secret",
                "The VAPI shared secret (VAPI_WEBHOOK_SECRET)",
            ))),
        );
        components.add_security_scheme(
            "vapi_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The VAPI shared secret as a bearer token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from POST /auth/login or /auth/refresh",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("METRICS_TOKEN"))
                    .build(),
            ),
        );
    }
}

/// The answers every route with a JSON body can give before its handler
/// runs (see `json.rs`): 400 for text that is not JSON, 413, 415, and 422 for
/// JSON of the wrong shape. Added to each such operation that does not
/// document them itself.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let limited = matches!(
                path.as_str(),
                "/auth/login" | "/auth/register" | "/auth/refresh"
            ) || path.starts_with("/vapi/");
            if limited && let Some(post) = item.post.as_mut() {
                post.responses
                    .responses
                    .entry("429".to_owned())
                    .or_insert_with(|| {
                        error("Too many requests from this address; see Retry-After").into()
                    });
            }
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                if operation.request_body.is_none() {
                    continue;
                }
                let responses = &mut operation.responses.responses;
                for (status, description) in [
                    ("400", "The body is not valid JSON"),
                    ("413", "Body too large"),
                    ("415", "Body is not JSON"),
                    (
                        "422",
                        "The JSON has the wrong shape (a missing or unknown field, a wrong type)",
                    ),
                ] {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

/// utoipa names an operation after its handler (`list`, `get`, `create`),
/// which repeats across modules; OpenAPI wants each `operationId` unique.
/// Each becomes `<tag>_<handler>` (`calendars_list`, `appointments_get`).
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.options,
                &mut item.head,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let tag = operation
                    .tags
                    .as_ref()
                    .and_then(|tags| tags.first())
                    .cloned();
                if let (Some(tag), Some(id)) = (tag, operation.operation_id.as_mut())
                    && !id.starts_with(&format!("{tag}_"))
                {
                    *id = format!("{tag}_{id}");
                }
            }
        }
    }
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `malformed_json`, `not_a_vapi_message`,
    /// `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `payload_too_large`, `unsupported_media_type`, `invalid_fields`,
    /// `invalid_query`, `email_taken`, `slug_taken`, `vapi_id_taken`,
    /// `calendar_has_appointments`, `already_cancelled`, `already_started`,
    /// `idempotency_key_reused`, `too_many_requests`, `service_unavailable`,
    /// `internal_error`.
    pub code: String,
    /// For people.
    pub message: String,
    /// `invalid_fields`: each refused field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldBody>>,
}

/// One refused field.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FieldBody {
    /// The field's name (`customer_phone`, `vapi_assistant_ids[1]`, `Idempotency-Key`).
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `healthy`.
    pub status: String,
    /// RFC 3339.
    pub timestamp: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotReady {
    /// `not_ready`.
    pub status: String,
    /// What is missing.
    pub reason: String,
}

/// A VAPI server message: `{"message": {"type": ..., ...}}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VapiMessage {
    pub message: VapiMessageBody,
}

/// The message itself. Only `type` is required; everything else VAPI sends is
/// read leniently (see docs/vapi-setup.md).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VapiMessageBody {
    /// `tool-calls`, `function-call`, `status-update`, `end-of-call-report`,
    /// `assistant-request`, ... (unknown types are accepted).
    #[serde(rename = "type")]
    pub kind: String,
    /// `tool-calls`: `[{id, type: "function", function: {name, arguments}}]`,
    /// `arguments` an object or a JSON string; flat `{id, name, parameters}` items too.
    #[serde(rename = "toolCallList", skip_serializing_if = "Option::is_none")]
    pub tool_call_list: Option<Value>,
    /// The legacy `function-call`: `{name, parameters}`.
    #[serde(rename = "functionCall", skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Value>,
    /// The call: `id`, `customer.number`, `assistantId`, `phoneNumberId`, `type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<Value>,
}

/// The answer to a server message: `results` for `tool-calls`; `result`
/// (and `error`, `metadata`) for the legacy `function-call`; `assistantId`
/// (or a spoken `error`) for `assistant-request`; `received` for other types.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VapiAnswer {
    #[serde(rename = "assistantId", skip_serializing_if = "Option::is_none")]
    pub assistant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<ToolResultBody>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<bool>,
}

/// One tool call's answer: `result` on success or `error` on failure (a
/// single line to speak), plus structured `metadata` (`metadata.status`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ToolResultBody {
    #[serde(rename = "toolCallId")]
    pub tool_call_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// A refused time, with the nearest free ones.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnavailableBody {
    pub error: UnavailableDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnavailableDetail {
    /// `slot_unavailable`.
    pub code: String,
    pub message: String,
    /// `in_past`, `too_soon`, `too_far_ahead`, `outside_hours`, `not_on_grid`, `taken`.
    pub reason: String,
    /// The nearest free times (UTC).
    pub alternatives: Vec<crate::routes::calendars::SlotBody>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document() {
        let doc = serde_json::to_value(document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in crate::routes() {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{} {path} is served but missing from the OpenAPI document",
                method.to_uppercase()
            );
        }
        // and nothing is documented that is not served
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    crate::routes()
                        .iter()
                        .any(|(m, p)| m == method && p == path),
                    "{method} {path} is documented but not served"
                );
            }
        }
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    }

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                all.push((method.clone(), path.clone(), operation.clone()));
            }
        }
        all
    }

    #[test]
    fn operation_ids_are_present_and_unique() {
        let doc = serde_json::to_value(document()).unwrap();
        let mut seen = std::collections::HashMap::new();
        for (method, path, operation) in operations(&doc) {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_owned();
            if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {other} and {method} {path}");
            }
        }
    }

    /// Path parameters are exactly the `{names}` of the path template; every
    /// other parameter is declared elsewhere (query, header).
    #[test]
    fn path_parameters_match_the_path_template() {
        let doc = serde_json::to_value(document()).unwrap();
        for (method, path, operation) in operations(&doc) {
            let mut in_template: Vec<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect();
            let mut declared: Vec<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            in_template.sort();
            declared.sort();
            assert_eq!(declared, in_template, "{method} {path}");
        }
    }
}
