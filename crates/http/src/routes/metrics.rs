//! `GET /metrics`: Prometheus text format.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::{ApiError, AppState, MetricsAccess};

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    description = "Prometheus metrics. Served on the main listener only when METRICS_TOKEN is set (then as a bearer token); METRICS_ADDR serves it on a separate private listener instead.",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String),
        (status = 401, description = "Missing or wrong token", body = crate::openapi::ErrorBody),
        (status = 404, description = "Metrics are not served on this listener", body = crate::openapi::ErrorBody),
    )
)]
pub async fn render(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    match &state.metrics_access {
        MetricsAccess::Hidden => {
            return Err(ApiError::NotFound("there is no such route".to_owned()));
        }
        MetricsAccess::Token(token) => {
            token
                .verify(
                    None,
                    request.headers().get("authorization").map(|v| v.as_bytes()),
                )
                .map_err(|_| {
                    ApiError::Unauthorized("a valid metrics bearer token is required".to_owned())
                })?;
        }
        MetricsAccess::Open => {}
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render()))
}
