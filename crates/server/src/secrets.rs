//! Secrets the embedded default can do without configuring (the VAPI shared
//! secret, the access-token signing key): configured, or generated once and
//! kept in the database so that the embedded default starts with one command
//! and every instance sharing the database uses the same secret.

use rand::RngCore;
use voice_scheduler_domain::ports::{ReplayStore, StoredReply};

const SCOPE: &str = "generated-secret";

/// Where the secret in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Configured,
    Generated,
}

/// The secret to require on `/vapi/*`: `configured` when set; otherwise the
/// generated one stored in the database (created now if there is none yet).
pub async fn vapi_secret(
    configured: Option<&str>,
    store: &dyn ReplayStore,
) -> anyhow::Result<(String, SecretSource)> {
    configured_or_generated("VAPI_WEBHOOK_SECRET", configured, store, || {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
    .await
}

/// The key that signs access tokens: `JWT_SECRET` when set, otherwise 32
/// random bytes generated once and kept in the database.
pub async fn jwt_secret(
    configured: Option<&str>,
    store: &dyn ReplayStore,
) -> anyhow::Result<(String, SecretSource)> {
    configured_or_generated(
        "JWT_SECRET",
        configured,
        store,
        voice_scheduler_auth::generate_secret,
    )
    .await
}

async fn configured_or_generated(
    name: &'static str,
    configured: Option<&str>,
    store: &dyn ReplayStore,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<(String, SecretSource)> {
    if let Some(secret) = configured {
        return Ok((secret.to_owned(), SecretSource::Configured));
    }
    if let Some(stored) = store.find_reply(SCOPE, name).await? {
        return Ok((stored.body, SecretSource::Generated));
    }
    let fresh = generate();
    // First writer wins, so concurrent first starts agree on one secret.
    let stored = store
        .save_reply(
            SCOPE,
            name,
            StoredReply {
                fingerprint: String::new(),
                body: fresh,
            },
        )
        .await?;
    Ok((stored.body, SecretSource::Generated))
}
