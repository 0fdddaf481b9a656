//! Per-client request limits on the routes worth abusing: sign-in,
//! registration, token refresh and the VAPI routes. Over the limit: `429`
//! with `Retry-After`. The counters are in Redis when `REDIS_URL` is set (one
//! limit across every instance), in memory otherwise.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use voice_scheduler_ratelimit::{Decision, RateLimiter};

use crate::ApiError;
use crate::auth::TrustedProxies;

/// Requests per minute per client address for each group of routes; 0 turns
/// a group's limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    pub login: u32,
    pub register: u32,
    pub refresh: u32,
    pub vapi: u32,
}

/// What the middleware needs; install with `App::app_data(web::Data::new(..))`.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Arc<dyn RateLimiter>,
    settings: LimitSettings,
    proxies: TrustedProxies,
}

impl RateLimits {
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        settings: LimitSettings,
        proxies: TrustedProxies,
    ) -> Self {
        Self {
            limiter,
            settings,
            proxies,
        }
    }

    /// The group a request belongs to and its limit, if it is limited.
    fn bucket(&self, method: &Method, path: &str) -> Option<(&'static str, u32)> {
        let s = &self.settings;
        let (name, limit) = match (method, path) {
            // The dashboard's sign-in form shares the API's sign-in bucket.
            (&Method::POST, "/auth/login" | "/sign-in") => ("login", s.login),
            (&Method::POST, "/auth/register") => ("register", s.register),
            (&Method::POST, "/auth/refresh") => ("refresh", s.refresh),
            (&Method::POST, p) if p.starts_with("/vapi/") => ("vapi", s.vapi),
            _ => return None,
        };
        (limit > 0).then_some((name, limit))
    }
}

/// The middleware; install with `actix_web::middleware::from_fn(limit)`.
/// Without [`RateLimits`] in the app data it lets everything through.
pub async fn limit(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, Error> {
    let Some(limits) = request.app_data::<web::Data<RateLimits>>().cloned() else {
        return next.call(request).await.map(|r| r.map_into_left_body());
    };
    // The path as the router sees it (percent-encoded letters decoded), so
    // that `/auth/%6Cogin` counts as `/auth/login`.
    let routed_path = request.match_info().as_str();
    let Some((bucket, per_minute)) = limits.bucket(request.method(), routed_path) else {
        return next.call(request).await.map(|r| r.map_into_left_body());
    };
    let client = limits
        .proxies
        .client_address(
            request.peer_addr().map(|a| a.ip()),
            request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok()),
        )
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    match limits
        .limiter
        .hit(&format!("{bucket}:{client}"), per_minute)
        .await
    {
        Ok(Decision::Allowed) => {}
        Ok(Decision::Limited { retry_after_secs }) => {
            metrics::counter!("rate_limited_total", "bucket" => bucket).increment(1);
            tracing::warn!(bucket, client = %client, "rate limit reached");
            let error = ApiError::TooManyRequests {
                message: format!(
                    "too many requests from this address; try again in {retry_after_secs} seconds"
                ),
                retry_after_secs,
            };
            let response = error.error_response().map_into_right_body();
            return Ok(request.into_response(response));
        }
        // The limiter's store is down: serve rather than refuse everyone
        // (the sign-in throttle in the database still guards passwords).
        Err(e) => {
            metrics::counter!("rate_limit_errors_total").increment(1);
            tracing::warn!(
                error = format!("{e:#}"),
                bucket,
                "rate limiter unavailable; request let through"
            );
        }
    }
    next.call(request).await.map(|r| r.map_into_left_body())
}
