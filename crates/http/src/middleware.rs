//! One middleware for what every request needs: a request id (accepted from
//! `X-Request-Id` or made, and returned), a span and one log line per request
//! (method, path without the query string, route, status, latency), HTTP
//! metrics by route pattern, security headers, and CORS for the configured
//! origins (never on the VAPI routes).

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError, web};
use tracing::Instrument;

/// Which browser origins may call the API (`CORS_ORIGINS`).
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    origins: Arc<Vec<String>>,
}

impl CorsPolicy {
    /// `origins` are exact `scheme://host[:port]` values; `*` is refused by
    /// configuration (credentials are allowed, so a wildcard would be unsafe).
    pub fn new(origins: Vec<String>) -> Self {
        Self {
            origins: Arc::new(origins),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }
}

const REQUEST_ID: &str = "x-request-id";

fn valid_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn is_vapi(path: &str) -> bool {
    path == "/vapi" || path.starts_with("/vapi/")
}

fn is_page(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/")
}

/// The middleware; install with `actix_web::middleware::from_fn(observe)`.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = request.method().clone();
    // Policies (no CORS on /vapi, page headers) and the log see the path as
    // the router does: `/%76api/tools` is `/vapi/tools`.
    let path = request.match_info().as_str().to_owned();
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let cors = request
        .app_data::<web::Data<CorsPolicy>>()
        .map(|p| p.get_ref().clone())
        .unwrap_or_default();
    let cors_origin = origin.filter(|o| !is_vapi(&path) && cors.allows(o));

    let span = tracing::info_span!("http_request", request_id = %request_id, method = %method, path = %path);
    let started = Instant::now();

    // A CORS preflight from an allowed origin is answered here.
    if method == Method::OPTIONS
        && cors_origin.is_some()
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let response = HttpResponse::NoContent().finish();
        let mut response = request.into_response(response).map_into_right_body();
        finish(
            &mut response,
            &request_id,
            &path,
            cors_origin.as_deref(),
            true,
        );
        return Ok(response);
    }

    let outcome = next.call(request).instrument(span.clone()).await;
    let mut response = match outcome {
        Ok(r) if is_outage(&r) => {
            let answer = crate::ApiError::ServiceUnavailable(
                "the database cannot be reached right now; try again shortly".to_owned(),
            )
            .error_response();
            ServiceResponse::new(r.request().clone(), answer).map_into_right_body()
        }
        Ok(r) => r.map_into_left_body(),
        Err(error) => {
            // Errors that escaped handlers still become responses here.
            let response = error.error_response();
            span.in_scope(
                || tracing::warn!(error = %error, "request failed before a handler answered"),
            );
            return Err(actix_web::error::InternalError::from_response(error, response).into());
        }
    };
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status();
    let elapsed = started.elapsed();
    finish(
        &mut response,
        &request_id,
        &path,
        cors_origin.as_deref(),
        false,
    );
    metrics::counter!(
        "http_requests_total",
        "route" => route.clone(),
        "method" => method.to_string(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route.clone(), "method" => method.to_string())
        .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::error!(%route, status = status.as_u16(), elapsed_ms = ms, "request answered");
        } else {
            tracing::info!(%route, status = status.as_u16(), elapsed_ms = ms, "request answered");
        }
    });
    Ok(response)
}

/// A `500` whose cause is the database being out of reach (as the
/// application's [`Readiness`](crate::Readiness) judges it): every route
/// answers those `503` with `Retry-After`, whichever handler hit it.
fn is_outage<B>(response: &ServiceResponse<B>) -> bool {
    if response.status() != actix_web::http::StatusCode::INTERNAL_SERVER_ERROR {
        return false;
    }
    let Some(crate::ApiError::Internal(error)) = response
        .response()
        .error()
        .and_then(|e| e.as_error::<crate::ApiError>())
    else {
        return false;
    };
    response
        .request()
        .app_data::<web::Data<crate::AppState>>()
        .is_some_and(|state| state.readiness.is_outage(error))
}

fn set(headers: &mut actix_web::http::header::HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn finish<B>(
    response: &mut ServiceResponse<B>,
    request_id: &str,
    path: &str,
    cors_origin: Option<&str>,
    preflight: bool,
) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static(REQUEST_ID), value);
    }
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=31536000; includeSubDomains",
    );
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if is_page(path) {
        set(
            headers,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'",
        );
    } else {
        set(
            headers,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        );
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    if let Some(origin) = cors_origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "authorization, content-type, idempotency-key, x-request-id",
                ),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        } else {
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("x-request-id, retry-after"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_bounded_and_plain() {
        assert!(valid_request_id("abc-123_x.y:z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("has space"));
        assert!(!valid_request_id("new\nline"));
        assert!(!valid_request_id(&"a".repeat(129)));
    }
}
