//! actix-web routes of voice-scheduler: turn HTTP into service calls.
//!
//! Handlers are thin: read the request, call one service, write the answer.
//! The VAPI routes verify the shared secret over the raw request before
//! anything is parsed. Every route is declared once in [`configure`]'s table,
//! which also yields [`routes()`], the list the OpenAPI test checks against
//! the document.

mod errors;
mod middleware;
pub mod openapi;
mod routes;

use std::sync::Arc;

use actix_web::web;
use async_trait::async_trait;
use voice_scheduler_domain::Calendar;
use voice_scheduler_vapi::ToolRunner;
use voice_scheduler_vapi::auth::SharedSecret;

pub use errors::ApiError;
pub use middleware::{CorsPolicy, observe};

/// Largest request body accepted on any route (VAPI messages with long
/// transcripts included).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Tells whether the service can do its work.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Err` names what is missing (database unreachable, migrations pending).
    async fn check(&self) -> Result<(), String>;
}

/// Renders the Prometheus text exposition of every metric.
pub trait MetricsRender: Send + Sync {
    fn render(&self) -> String;
}

/// Who may read `GET /metrics` on the main listener.
#[derive(Clone)]
pub enum MetricsAccess {
    /// Not served on the main listener (404): a separate listener or nothing.
    Hidden,
    /// Served to requests with `Authorization: Bearer <token>`.
    Token(SharedSecret),
    /// Served to anyone (only for a separate, private listener).
    Open,
}

/// Everything the handlers need.
#[derive(Clone)]
pub struct AppState {
    pub runner: ToolRunner,
    pub calendar: Arc<Calendar>,
    pub vapi_secret: SharedSecret,
    pub readiness: Arc<dyn Readiness>,
    pub metrics: Arc<dyn MetricsRender>,
    pub metrics_access: MetricsAccess,
}

/// Declares the routes once: registers them (with a JSON 405 listing the
/// allowed methods for any other method) and lists them for [`routes()`].
macro_rules! route_table {
    ($( $path:literal => { $( $method:ident : $handler:path ),+ $(,)? } ),* $(,)?) => {
        /// Every `(method, path)` this crate serves, in OpenAPI's notation.
        pub fn routes() -> Vec<(&'static str, &'static str)> {
            vec![ $( $( (stringify!($method), $path) ),+ ),* ]
        }

        fn register(cfg: &mut web::ServiceConfig) {
            $(
                let allowed: &'static str = concat!($( stringify!($method), " " ),+);
                cfg.service(
                    web::resource(openapi::actix_path($path))
                        $( .route(web::$method().to($handler)) )+
                        .default_service(web::to(move || routes::method_not_allowed(allowed))),
                );
            )*
        }
    };
}

route_table! {
    "/health" => { get: routes::health::live },
    "/health/ready" => { get: routes::health::ready },
    "/metrics" => { get: routes::metrics::render },
    "/vapi/tools" => { post: routes::vapi::message },
    "/vapi/tool/book-appointment" => { post: routes::vapi::message },
    "/vapi/webhook" => { post: routes::vapi::message },
}

/// Registers every route, the OpenAPI document (`/openapi.json`) and the
/// interactive reference (`/docs/`), on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state));
        register(cfg);
        cfg.service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", openapi::document()),
        )
        .default_service(web::to(routes::not_found));
    }
}
