//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;

/// `GET /health`: the process is up (as the original service answered).
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "healthy",
        "timestamp": chrono::Utc::now().to_rfc3339(),
    }))
}

/// `GET /health/ready`: the database answers.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.readiness.check().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({"status": "not_ready", "reason": reason}))
        }
    }
}
