//! The staff dashboard: HTML pages rendered on the server (askama templates
//! compiled with the crate, in `templates/`), plain forms and redirects, no
//! script. Every page goes through the same domain services and the same
//! owner/administrator scoping as the JSON API (`voice_scheduler_http`):
//! this crate has no SQL, no business rule and no tenancy check of its own.
//!
//! Signing in uses the account service's server-side sign-ins; the browser
//! holds only `<sign-in id>.<HMAC>` in an `HttpOnly`, `SameSite=Strict`
//! cookie (see [`session`]). Every POST carries a per-sign-in CSRF token.

mod errors;
mod next;
mod pages;
pub mod session;
mod view;

use std::sync::Arc;

use actix_web::web;
use voice_scheduler_domain::PhoneRegion;
use voice_scheduler_domain::accounts::AccountService;
use voice_scheduler_domain::audit::AuditTrail;
use voice_scheduler_domain::calendars::CalendarService;
use voice_scheduler_domain::calls::CallLog;
use voice_scheduler_domain::desk::FrontDesk;
use voice_scheduler_domain::ports::Clock;
use voice_scheduler_domain::sync::Connections;
use voice_scheduler_http::TrustedProxies;

pub use errors::WebError;
pub use next::safe_next;
pub use session::CookieKeys;

/// Everything the pages need: the services the JSON API uses too.
#[derive(Clone)]
pub struct WebState {
    pub accounts: AccountService,
    pub calendars: CalendarService,
    pub desk: FrontDesk,
    pub calls: CallLog,
    /// The audit log (administrators read it).
    pub audit: AuditTrail,
    /// Google Calendar connections, when the server has Google configured.
    pub google: Option<Connections>,
    pub clock: Arc<dyn Clock>,
    /// The region national phone numbers typed into forms are read in.
    pub phone_region: PhoneRegion,
    /// Proxies whose `X-Forwarded-For` is believed (throttling, audit).
    pub proxies: TrustedProxies,
    /// Signs the session cookie and the CSRF tokens.
    pub keys: CookieKeys,
}

/// The dashboard's paths (besides `/`): kept away from the JSON API's.
pub const PATHS: &[&str] = &[
    "/",
    "/sign-in",
    "/first-run",
    "/sign-out",
    "/book",
    "/appointment/{id}",
    "/appointment/{id}/cancel",
    "/appointment/{id}/reschedule",
    "/calls",
    "/settings",
    "/audit",
    "/calendar/{id}/settings",
    "/calendar/{id}/settings/google/connect",
    "/calendar/{id}/settings/google/retry",
    "/calendar/{id}/settings/google/disconnect",
    "/call/{id}",
    "/static/style.css",
];

/// Registers the dashboard's routes on an actix `App` (next to the JSON API).
pub fn configure(state: WebState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let data = web::Data::new(state);
        let form = web::FormConfig::default()
            .limit(64 * 1024)
            .error_handler(|e, _| WebError::BadRequest(e.to_string()).into());
        let query = web::QueryConfig::default()
            .error_handler(|e, _| WebError::BadRequest(e.to_string()).into());
        let resource = |path: &str| {
            web::resource(path)
                .app_data(data.clone())
                .app_data(form.clone())
                .app_data(query.clone())
                .default_service(web::to(pages::method_not_allowed))
        };
        cfg.service(resource("/").route(web::get().to(pages::agenda::show)))
            .service(
                resource("/sign-in")
                    .route(web::get().to(pages::sign_in::form))
                    .route(web::post().to(pages::sign_in::submit)),
            )
            .service(
                resource("/first-run")
                    .route(web::get().to(pages::first_run::form))
                    .route(web::post().to(pages::first_run::submit)),
            )
            .service(resource("/sign-out").route(web::post().to(pages::sign_in::sign_out)))
            .service(
                resource("/book")
                    .route(web::get().to(pages::book::form))
                    .route(web::post().to(pages::book::submit)),
            )
            .service(resource("/appointment/{id}").route(web::get().to(pages::appointment::show)))
            .service(
                resource("/appointment/{id}/cancel")
                    .route(web::get().to(pages::appointment::confirm_cancel))
                    .route(web::post().to(pages::appointment::cancel)),
            )
            .service(
                resource("/appointment/{id}/reschedule")
                    .route(web::post().to(pages::appointment::reschedule)),
            )
            .service(resource("/calls").route(web::get().to(pages::calls::list)))
            .service(resource("/call/{id}").route(web::get().to(pages::calls::show)))
            .service(resource("/audit").route(web::get().to(pages::audit::list)))
            .service(resource("/settings").route(web::get().to(pages::settings::first)))
            .service(
                resource("/calendar/{id}/settings")
                    .route(web::get().to(pages::settings::form))
                    .route(web::post().to(pages::settings::submit)),
            )
            .service(
                resource("/calendar/{id}/settings/google/connect")
                    .route(web::post().to(pages::settings::google_connect)),
            )
            .service(
                resource("/calendar/{id}/settings/google/retry")
                    .route(web::post().to(pages::settings::google_retry)),
            )
            .service(
                resource("/calendar/{id}/settings/google/disconnect")
                    .route(web::post().to(pages::settings::google_disconnect)),
            )
            .service(resource("/static/style.css").route(web::get().to(pages::stylesheet)));
    }
}
