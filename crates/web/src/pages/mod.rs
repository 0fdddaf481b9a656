//! One module per page, each handler: read the request, call one service,
//! render a template or redirect.

pub mod agenda;
pub mod appointment;
pub mod audit;
pub mod book;
pub mod calls;
pub mod first_run;
pub mod settings;
pub mod sign_in;

use actix_web::HttpResponse;
use actix_web::http::header;

use crate::WebError;

/// Our one stylesheet, compiled into the binary.
const STYLESHEET: &str = include_str!("../../static/style.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

pub async fn method_not_allowed() -> Result<HttpResponse, WebError> {
    Err(WebError::MethodNotAllowed)
}

/// A hidden form field's value as the form sent it (missing: empty).
pub fn field(value: &Option<String>) -> &str {
    value.as_deref().map(str::trim).unwrap_or_default()
}

/// The id in the path, when it is one.
pub fn uuid_in_path(raw: &str) -> Result<uuid::Uuid, WebError> {
    uuid::Uuid::parse_str(raw).map_err(|_| WebError::NotFound)
}
