//! How JSON bodies and query strings that cannot be read are answered:
//! 415 for another content type, 413 for too large, 400 for JSON that does
//! not parse, 422 naming the field for JSON of the wrong shape.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::web;

use crate::ApiError;

/// The `JsonConfig` of every JSON route.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(crate::MAX_BODY_BYTES)
        .content_type_required(true)
        .content_type(|mime| mime.suffix() == Some(mime::JSON))
        .error_handler(|err, _| payload_error(err).into())
}

/// The `QueryConfig` of every route with query parameters.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        let QueryPayloadError::Deserialize(e) = &err else {
            return ApiError::BadRequest {
                code: "invalid_query",
                message: err.to_string(),
            }
            .into();
        };
        ApiError::Unprocessable {
            code: "invalid_query",
            message: format!("the query string cannot be read: {e}"),
            fields: Vec::new(),
        }
        .into()
    })
}

/// The `PathConfig`: a path parameter of the wrong form names nothing we have.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|_, _| ApiError::NotFound("there is no such resource".to_owned()).into())
}

fn payload_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("another content type".to_owned())
        }
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::Deserialize(e) => body_error(e),
        other => ApiError::BadRequest {
            code: "unreadable_body",
            message: format!("the request body could not be read: {other}"),
        },
    }
}

/// 400 for text that is not JSON; 422 (naming the field) for JSON of the
/// wrong shape (a missing or unknown field, a wrong type).
pub fn body_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => ApiError::Unprocessable {
            code: "invalid_fields",
            message: format!("the request body has the wrong shape: {e}"),
            fields: Vec::new(),
        },
        Category::Syntax | Category::Eof | Category::Io => ApiError::BadRequest {
            code: "malformed_json",
            message: format!("the request body is not valid JSON: {e}"),
        },
    }
}
