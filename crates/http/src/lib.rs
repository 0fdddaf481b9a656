//! actix-web routes of voice-scheduler: turn HTTP into service calls.
//!
//! Handlers are thin: read the request, call one service, write the answer.
//! The VAPI routes verify the shared secret over the raw request before
//! anything is parsed.

mod errors;
mod routes;

use std::sync::Arc;

use actix_web::web;
use async_trait::async_trait;
use voice_scheduler_domain::Calendar;
use voice_scheduler_vapi::ToolRunner;
use voice_scheduler_vapi::auth::SharedSecret;

pub use errors::ApiError;

/// Largest request body accepted on any route (VAPI messages with long
/// transcripts included).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Tells whether the service can do its work (the database answers).
#[async_trait]
pub trait Readiness: Send + Sync {
    async fn check(&self) -> Result<(), String>;
}

/// Everything the handlers need.
#[derive(Clone)]
pub struct AppState {
    pub runner: ToolRunner,
    pub calendar: Arc<Calendar>,
    pub vapi_secret: SharedSecret,
    pub readiness: Arc<dyn Readiness>,
}

/// Registers every route on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .service(web::resource("/health").route(web::get().to(routes::health::live)))
            .service(web::resource("/health/ready").route(web::get().to(routes::health::ready)))
            .service(web::resource("/vapi/tools").route(web::post().to(routes::vapi::message)))
            .service(
                web::resource("/vapi/tool/book-appointment")
                    .route(web::post().to(routes::vapi::message)),
            )
            .service(web::resource("/vapi/webhook").route(web::post().to(routes::vapi::message)))
            .default_service(web::to(routes::not_found));
    }
}
