//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::AppState;
use crate::openapi::{Health, NotReady, Ready};

/// The process is up (as the original service answered).
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "The process is running", body = Health))
)]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "healthy",
        "timestamp": chrono::Utc::now().to_rfc3339(),
    }))
}

/// The database answers and every migration is applied.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "Not ready; retry after the given seconds", body = NotReady,
         headers(("Retry-After" = u32, description = "Seconds to wait"))),
    )
)]
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
