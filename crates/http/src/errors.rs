//! JSON errors with a stable machine-readable `code` and a human `message`:
//! `{"error": {"code": "...", "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not accept that method (allowed: {0})")]
    MethodNotAllowed(String),
    #[error("the request body is larger than {} bytes", crate::MAX_BODY_BYTES)]
    PayloadTooLarge,
    #[error("the request body must be JSON (Content-Type: application/json), not {0}")]
    UnsupportedMediaType(String),
    /// A dependency (the database) is down; the client may retry.
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The request is well-formed but its values are not acceptable; `fields`
    /// names each refused field.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        fields: Vec<FieldProblem>,
    },
    /// A time that cannot be booked (409), with the nearest free ones.
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
        alternatives: Vec<serde_json::Value>,
    },
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// A service we depend on (VAPI) failed or did not answer.
    #[error("{0}")]
    BadGateway(String),
    /// A failure that is not the client's: logged in full here, answered with
    /// a generic message.
    #[error("something went wrong on our side; please try again")]
    Internal(#[source] anyhow::Error),
}

/// One refused field of a request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl ApiError {
    /// A 422 about one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let problem = FieldProblem {
            field: field.into(),
            message: message.into(),
        };
        Self::Unprocessable {
            code: "invalid_fields",
            message: format!("{}: {}", problem.field, problem.message),
            fields: vec![problem],
        }
    }

    /// A 422 about several fields.
    pub fn invalid_fields(problems: Vec<FieldProblem>) -> Self {
        let message = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::Unprocessable {
            code: "invalid_fields",
            message,
            fields: problems,
        }
    }

    /// Logs `error` with its whole cause chain and answers 500.
    pub fn internal(error: anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "request failed");
        Self::Internal(error)
    }
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::ServiceUnavailable(_) => "service_unavailable",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict { code, .. } => code,
            Self::Unprocessable { code, .. } => code,
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Unavailable { .. } => "slot_unavailable",
            Self::Internal(_) => "internal_error",
            Self::BadGateway(_) => "upstream_unavailable",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            Self::ServiceUnavailable(_) => {
                response.insert_header(("Retry-After", "5"));
            }
            Self::MethodNotAllowed(allowed) => {
                response.insert_header(("Allow", allowed.as_str()));
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                response.insert_header(("Retry-After", retry_after_secs.to_string()));
            }
            _ => {}
        }
        match self {
            Self::Unprocessable { fields, .. } => response.json(json!({"error": {
                "code": self.code(),
                "message": self.to_string(),
                "fields": fields,
            }})),
            Self::Unavailable {
                reason,
                alternatives,
                ..
            } => response.json(json!({"error": {
                "code": self.code(),
                "message": self.to_string(),
                "reason": reason,
                "alternatives": alternatives,
            }})),
            _ => {
                response.json(json!({"error": {"code": self.code(), "message": self.to_string()}}))
            }
        }
    }
}
