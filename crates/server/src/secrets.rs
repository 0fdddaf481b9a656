//! Secrets the embedded default can do without configuring (the VAPI shared
//! secret, the access-token signing key): configured, or generated once and
//! kept in the database so that the embedded default starts with one command
//! and every instance sharing the database uses the same secret.
//!
//! With `ENCRYPTION_KEY` set, a generated secret is stored sealed with it
//! (XChaCha20-Poly1305, the [`KeyRing`] that seals Google refresh tokens,
//! bound to the secret's name): `sealed:<hex of key id, nonce, ciphertext>`.
//! A value stored in plain text before the key was set, or sealed with an
//! older key, is re-sealed with the current key when read. Without a key the
//! value is stored in plain text, and the application warns at start.

use anyhow::{Context, bail};
use voice_scheduler_domain::ports::{ReplayStore, StoredReply};
use voice_scheduler_google::KeyRing;
use voice_scheduler_store::Store;

const SCOPE: &str = "generated-secret";
/// What a sealed stored value starts with; generated secrets are hex or
/// base64url, so a plain one never does.
const SEALED_PREFIX: &str = "sealed:";

/// Where the secret in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Configured,
    Generated,
}

/// The secret to require on `/vapi/*`: `configured` when set; otherwise the
/// generated one stored in the database (created now if there is none yet),
/// sealed with `keys` when given.
pub async fn vapi_secret(
    configured: Option<&str>,
    store: &Store,
    keys: Option<&KeyRing>,
) -> anyhow::Result<(String, SecretSource)> {
    configured_or_generated("VAPI_WEBHOOK_SECRET", configured, store, keys, || {
        use rand::RngCore;
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        hex(&bytes)
    })
    .await
}

/// The key that signs access tokens: `JWT_SECRET` when set, otherwise 32
/// random bytes generated once and kept in the database (sealed with `keys`
/// when given).
pub async fn jwt_secret(
    configured: Option<&str>,
    store: &Store,
    keys: Option<&KeyRing>,
) -> anyhow::Result<(String, SecretSource)> {
    configured_or_generated(
        "JWT_SECRET",
        configured,
        store,
        keys,
        voice_scheduler_auth::generate_secret,
    )
    .await
}

/// The warning logged at start when generated secrets are in use and no
/// `ENCRYPTION_KEY` seals them (on every backend).
pub fn warn_if_unsealed(generated: &[&str], keys: Option<&KeyRing>) {
    if keys.is_none() && !generated.is_empty() {
        tracing::warn!(
            secrets = generated.join(", "),
            "generated secrets are stored unencrypted in the database: set ENCRYPTION_KEY to store them sealed, or set the secrets yourself"
        );
    }
}

fn binding(name: &str) -> String {
    format!("{SCOPE}:{name}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// How `secret` is stored: sealed with `keys`, or plain without.
fn stored_form(name: &str, secret: &str, keys: Option<&KeyRing>) -> String {
    match keys {
        Some(keys) => format!(
            "{SEALED_PREFIX}{}",
            hex(&keys.seal(secret.as_bytes(), &binding(name)))
        ),
        None => secret.to_owned(),
    }
}

/// The secret a stored value holds, and the value it should be stored as
/// instead (when it is plain or sealed with an older key and a key is set).
fn reveal(
    name: &str,
    stored: &str,
    keys: Option<&KeyRing>,
) -> anyhow::Result<(String, Option<String>)> {
    let Some(sealed) = stored.strip_prefix(SEALED_PREFIX) else {
        // Plain (stored before ENCRYPTION_KEY was set): seal it now if we can.
        let again = keys.map(|_| stored_form(name, stored, keys));
        return Ok((stored.to_owned(), again));
    };
    let Some(keys) = keys else {
        bail!(
            "the generated {name} is stored encrypted, but ENCRYPTION_KEY is not set: set the key it was sealed with (or set {name} yourself)"
        );
    };
    let sealed = unhex(sealed)
        .with_context(|| format!("the stored generated {name} is not a sealed value"))?;
    let secret = keys.open(&sealed, &binding(name)).with_context(|| {
        format!(
            "the stored generated {name} does not open with ENCRYPTION_KEY or ENCRYPTION_OLD_KEYS"
        )
    })?;
    let secret = String::from_utf8(secret.to_vec())
        .with_context(|| format!("the stored generated {name} is not text"))?;
    let again = (!keys.is_current(&sealed)).then(|| stored_form(name, &secret, Some(keys)));
    Ok((secret, again))
}

async fn configured_or_generated(
    name: &'static str,
    configured: Option<&str>,
    store: &Store,
    keys: Option<&KeyRing>,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<(String, SecretSource)> {
    if let Some(secret) = configured {
        return Ok((secret.to_owned(), SecretSource::Configured));
    }
    let stored = match store.find_reply(SCOPE, name).await? {
        Some(stored) => stored.body,
        None => {
            // First writer wins, so concurrent first starts agree on one
            // secret (read from whatever was stored).
            store
                .save_reply(
                    SCOPE,
                    name,
                    StoredReply {
                        fingerprint: String::new(),
                        body: stored_form(name, &generate(), keys),
                    },
                )
                .await?
                .body
        }
    };
    let (secret, again) = reveal(name, &stored, keys)?;
    if let Some(again) = again {
        // Compare-and-swap: another instance may be re-sealing it too.
        if store
            .replace_reply_body(SCOPE, name, &stored, &again)
            .await?
        {
            tracing::info!(
                secret = name,
                "the generated secret is now stored sealed with the current ENCRYPTION_KEY"
            );
        }
    }
    Ok((secret, SecretSource::Generated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(byte: u8) -> KeyRing {
        KeyRing::new([byte; 32], vec![])
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_name_and_keys() {
        let keys = ring(1);
        let stored = stored_form("JWT_SECRET", "s3cret-value", Some(&keys));
        assert!(stored.starts_with(SEALED_PREFIX));
        assert!(!stored.contains("s3cret-value"));
        let (secret, again) = reveal("JWT_SECRET", &stored, Some(&keys)).unwrap();
        assert_eq!(secret, "s3cret-value");
        assert!(again.is_none(), "already sealed with the current key");
        // Another name, another key, no key: refused.
        assert!(reveal("VAPI_WEBHOOK_SECRET", &stored, Some(&keys)).is_err());
        assert!(reveal("JWT_SECRET", &stored, Some(&ring(2))).is_err());
        let no_key = reveal("JWT_SECRET", &stored, None).unwrap_err();
        assert!(no_key.to_string().contains("ENCRYPTION_KEY"), "{no_key}");
        // An older key still opens it, and it is due for re-sealing.
        let rotated = KeyRing::new([2; 32], vec![[1; 32]]);
        let (secret, again) = reveal("JWT_SECRET", &stored, Some(&rotated)).unwrap();
        assert_eq!(secret, "s3cret-value");
        let again = again.unwrap();
        assert_eq!(
            reveal("JWT_SECRET", &again, Some(&ring(2))).unwrap().0,
            "s3cret-value"
        );
    }

    #[test]
    fn a_plain_value_is_read_and_sealed_when_a_key_is_set() {
        let (secret, again) = reveal("JWT_SECRET", "plain-old", None).unwrap();
        assert_eq!((secret.as_str(), again), ("plain-old", None));
        let keys = ring(3);
        let (secret, again) = reveal("JWT_SECRET", "plain-old", Some(&keys)).unwrap();
        assert_eq!(secret, "plain-old");
        let again = again.unwrap();
        assert!(again.starts_with(SEALED_PREFIX));
        assert_eq!(
            reveal("JWT_SECRET", &again, Some(&keys)).unwrap().0,
            "plain-old"
        );
    }
}
