pub mod health;
pub mod vapi;

use crate::ApiError;

/// Any route we do not serve.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound("there is no such route".to_owned()))
}
