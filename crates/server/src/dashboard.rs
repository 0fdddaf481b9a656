//! Wiring of the staff dashboard (`voice_scheduler_web`), kept out of
//! `app.rs`: the same services as the JSON API, and the cookie key.

use anyhow::Context;
use voice_scheduler_store::Store;
use voice_scheduler_web::{CookieKeys, WebState};

use crate::app::Services;
use crate::config::Settings;
use crate::secrets;

/// The dashboard's state. Its cookie key is derived from the access-token
/// signing key (`JWT_SECRET`, or the one generated and kept in the database),
/// so every instance signs cookies alike and a restart keeps sign-ins.
pub async fn state(
    settings: &Settings,
    store: &Store,
    services: &Services,
    clock: std::sync::Arc<dyn voice_scheduler_domain::ports::Clock>,
) -> anyhow::Result<WebState> {
    let (secret, _) = secrets::jwt_secret(
        settings.jwt_secret.as_deref(),
        store,
        settings.encryption.as_deref(),
    )
    .await
    .context("reading the key the dashboard's cookies are derived from")?;
    Ok(WebState {
        accounts: services.accounts.clone(),
        calendars: services.calendars.clone(),
        desk: services.desk.clone(),
        calls: services.calls.clone(),
        audit: services.audit_trail.clone(),
        google: services.google.clone(),
        clock,
        phone_region: settings.phone_region,
        proxies: settings.trusted_proxies.clone(),
        keys: CookieKeys::derive(secret.as_bytes(), settings.web_cookie_secure),
    })
}
