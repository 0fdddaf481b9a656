//! actix-web routes of voice-scheduler: turn HTTP into service calls.
//!
//! Handlers are thin: read the request, call one service, write the answer.
//! The VAPI routes verify the shared secret over the raw request before
//! anything is parsed. Every route is declared once in [`configure`]'s table,
//! which also yields [`routes()`], the list the OpenAPI test checks against
//! the document.

pub mod auth;
mod errors;
mod json;
mod limits;
mod listing;
mod middleware;
pub mod openapi;
mod routes;

use std::sync::Arc;

use actix_web::web;
use async_trait::async_trait;
use voice_scheduler_domain::PhoneRegion;
use voice_scheduler_domain::accounts::AccountService;
use voice_scheduler_domain::audit::AuditTrail;
use voice_scheduler_domain::calendars::CalendarService;
use voice_scheduler_domain::calls::CallLog;
use voice_scheduler_domain::catalog::ServiceCatalog;
use voice_scheduler_domain::desk::FrontDesk;
use voice_scheduler_domain::dialer::Dialer;
use voice_scheduler_domain::ports::ReplayStore;
use voice_scheduler_domain::ports::{AuditLog, Clock};
use voice_scheduler_domain::privacy::PrivacyService;
use voice_scheduler_domain::sync::Connections;
use voice_scheduler_domain::webhooks::Webhooks;
use voice_scheduler_vapi::ToolRunner;
use voice_scheduler_vapi::auth::SharedSecret;
use voice_scheduler_vapi::hmac::HmacVerifier;

pub use auth::TrustedProxies;
pub use errors::{ApiError, FieldProblem};
pub use limits::{LimitSettings, RateLimits, limit};
pub use middleware::{CorsPolicy, observe};

/// Largest request body accepted on any route (VAPI messages with long
/// transcripts included).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Tells whether the service can do its work.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Err` names what is missing (database unreachable, migrations pending).
    async fn check(&self) -> Result<(), String>;

    /// Whether a failure is the database being out of reach (a pool
    /// timeout, a refused connection) rather than a bug: such requests are
    /// answered `503 service_unavailable` with `Retry-After`, not `500`.
    fn is_outage(&self, error: &anyhow::Error) -> bool {
        let _ = error;
        false
    }
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
    pub accounts: AccountService,
    pub calendars: CalendarService,
    pub desk: FrontDesk,
    /// The services (appointment types) of calendars.
    pub services: ServiceCatalog,
    /// VAPI calls: recorded from server messages, listed for staff.
    pub calls: CallLog,
    /// Outbound calls through VAPI.
    pub dialer: Dialer,
    /// Reads the audit log (`GET /api/v1/audit`, administrators).
    pub audit_trail: AuditTrail,
    /// Data export, account deletion and caller erasure.
    pub privacy: PrivacyService,
    /// Google Calendar connections; `None` when Google is not configured.
    pub google: Option<Connections>,
    /// Webhook endpoints and their delivery logs.
    pub webhooks: Webhooks,
    /// Kept first answers of `Idempotency-Key` requests.
    pub replies: Arc<dyn ReplayStore>,
    /// The region national phone numbers are read in.
    pub phone_region: PhoneRegion,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub proxies: TrustedProxies,
    pub vapi_secret: SharedSecret,
    /// VAPI's HMAC credential, accepted besides the shared secret when set.
    pub vapi_hmac: Option<HmacVerifier>,
    /// The time HMAC timestamps are checked against.
    pub clock: Arc<dyn Clock>,
    /// The append-only audit log (rejected VAPI requests).
    pub audit: Arc<dyn AuditLog>,
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
    "/auth/register" => { post: routes::auth::register },
    "/auth/login" => { post: routes::auth::login },
    "/auth/refresh" => { post: routes::auth::refresh },
    "/auth/logout" => { post: routes::auth::logout },
    "/auth/logout-all" => { post: routes::auth::logout_all },
    "/auth/me" => { get: routes::auth::me },
    "/auth/password" => { post: routes::auth::change_password },
    "/api/v1/users" => { get: routes::auth::list_users },
    "/api/v1/calendars" => { get: routes::calendars::list, post: routes::calendars::create },
    "/api/v1/calendars/{id}" => {
        get: routes::calendars::get,
        patch: routes::calendars::update,
        delete: routes::calendars::delete,
    },
    "/api/v1/calendars/{id}/availability" => { get: routes::calendars::availability },
    "/api/v1/calendars/{id}/closures" => {
        get: routes::closures::get_closures,
        put: routes::closures::replace_closures,
    },
    "/api/v1/calendars/{id}/services" => {
        get: routes::services::list_services,
        post: routes::services::create_service,
    },
    "/api/v1/calendars/{id}/services/{service_id}" => {
        get: routes::services::get_service,
        patch: routes::services::update_service,
        delete: routes::services::delete_service,
    },
    "/api/v1/appointments" => { get: routes::appointments::list, post: routes::appointments::create },
    "/api/v1/appointments/{id}" => { get: routes::appointments::get },
    "/api/v1/appointments/{id}/cancel" => { post: routes::appointments::cancel },
    "/api/v1/appointments/{id}/reschedule" => { post: routes::appointments::reschedule },
    "/appointments" => { get: routes::appointments::list },
    "/api/v1/calls" => { get: routes::calls::list, post: routes::dial::place },
    "/call/start" => { post: routes::dial::web_call },
    "/api/v1/calendars/{id}/vapi-tools" => { get: routes::dial::tools },
    "/api/v1/calls/purge-transcripts" => { post: routes::calls::purge_transcripts },
    "/api/v1/calls/{id}" => { get: routes::calls::get },
    "/api/v1/audit" => { get: routes::audit::list },
    "/api/v1/me/export" => { get: routes::privacy::export },
    "/api/v1/me" => { delete: routes::privacy::delete_me },
    "/api/v1/admin/privacy/erase-caller" => { post: routes::privacy::erase_caller },
    "/api/v1/calendars/{id}/google" => {
        get: routes::google::status,
        delete: routes::google::disconnect,
    },
    "/api/v1/calendars/{id}/google/connect" => { post: routes::google::connect },
    "/api/v1/calendars/{id}/google/retry" => { post: routes::google::retry },
    "/integrations/google/callback" => { get: routes::google::callback },
    "/api/v1/webhooks" => { get: routes::webhooks::list, post: routes::webhooks::create },
    "/api/v1/webhooks/{id}" => { get: routes::webhooks::get, delete: routes::webhooks::delete },
    "/api/v1/webhooks/{id}/deliveries" => { get: routes::webhooks::deliveries },
    "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver" => { post: routes::webhooks::redeliver },
}

/// Registers every route, the OpenAPI document (`/openapi.json`) and the
/// interactive reference (`/docs/`), on an actix `App`.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state))
            .app_data(json::json_config())
            .app_data(json::query_config())
            .app_data(json::path_config());
        register(cfg);
        cfg.service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", openapi::document()),
        )
        .default_service(web::to(routes::not_found));
    }
}
