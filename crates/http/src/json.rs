//! How JSON bodies and query strings that cannot be read are answered:
//! 415 for another content type, 413 for too large, 400 for JSON that does
//! not parse, 422 naming the field for JSON of the wrong shape.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

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
/// wrong shape (a missing or unknown field, a wrong type, a number out of
/// range).
pub fn body_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => wrong_shape("", &e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => malformed(&e),
    }
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        code: "malformed_json",
        message: format!("the request body is not valid JSON: {e}"),
    }
}

/// A 422 naming the field at `path` (serde_path_to_error's notation:
/// `business_hours[0].start`; empty or `.` for the body itself). serde names
/// a missing or unknown field only in its message: that name is used then.
fn wrong_shape(path: &str, message: &str) -> ApiError {
    let path = path.trim_start_matches('.');
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (path.is_empty(), named) {
        (true, Some(name)) => name.to_owned(),
        (false, Some(name)) => format!("{path}.{name}"),
        (false, None) => path.to_owned(),
        (true, None) => "body".to_owned(),
    };
    // serde's messages end with " at line 1 column 9" from the reader; the
    // field name says where.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    ApiError::invalid_field(
        field,
        format!("the request body has the wrong shape: {message}"),
    )
}

/// Reads a JSON body: 400 `malformed_json` unless the whole body is JSON
/// (nothing after it), else 422 `invalid_fields` naming the field that does
/// not fit `T`. Every body of this API is an object (serde would otherwise
/// read a struct from an array, field by position).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return Err(malformed(&syntax));
        }
        return Err(ApiError::invalid_field(
            "body",
            "the request body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) => deserializer
            .end()
            .map(|()| value)
            .map_err(|e| malformed(&e)),
        Err(e) => {
            // A value that does not fit may sit in text that is not JSON at
            // all (`[1,2`): that is reported as such.
            if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                return Err(malformed(&syntax));
            }
            Err(wrong_shape(&e.path().to_string(), &e.inner().to_string()))
        }
    }
}

/// The JSON body extractor of every route: like `web::Json` (content type
/// and size as [`json_config`] sets), with errors that tell text that is not
/// JSON (400) from JSON of the wrong shape (422 naming the field).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Syntax, content type and size are checked while reading the body
        // as raw JSON (the `JsonConfig` error handler answers those).
        let raw = web::Json::<Box<RawValue>>::from_request(req, payload);
        Box::pin(async move {
            let raw = raw.await?.into_inner();
            parse_body(raw.get().as_bytes())
                .map(Json)
                .map_err(Into::into)
        })
    }
}
