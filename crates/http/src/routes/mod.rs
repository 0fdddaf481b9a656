pub mod appointments;
pub mod audit;
pub mod auth;
pub mod calendars;
pub mod calls;
pub mod closures;
pub mod dial;
pub mod google;
pub mod health;
pub mod metrics;
pub mod privacy;
pub mod services;
pub mod vapi;
pub mod webhooks;

use actix_web::HttpResponse;

use crate::ApiError;

/// Any route we do not serve.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("there is no such route".to_owned()))
}

/// A route we serve, with a method it does not accept.
pub async fn method_not_allowed(allowed: &'static str) -> Result<HttpResponse, ApiError> {
    let list = allowed
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect::<Vec<_>>()
        .join(", ");
    Err(ApiError::MethodNotAllowed(list))
}
