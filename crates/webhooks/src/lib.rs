//! The HTTP side of webhooks ([`WebhookTransport`]): signing deliveries,
//! sealing signing secrets, and reaching only public addresses.
//!
//! - Signature: `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//!   "<t>.<body>" keyed with the endpoint's secret>` ([`signature`]).
//! - Secrets are sealed with the `ENCRYPTION_KEY` [`KeyRing`] (bound to the
//!   endpoint) when one is configured, stored as given otherwise.
//! - SSRF: unless private targets are allowed, every address a host name
//!   resolves to is checked *by the resolver the client connects with*
//!   ([`PublicOnly`]), so a name that resolves to a public address when
//!   registered and to an internal one at delivery time (DNS rebinding) is
//!   refused too; IP literals are checked before sending. Redirects are not
//!   followed (a 3xx is a failed attempt). Requests time out after
//!   [`TIMEOUT`]; response bodies are never read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::Sha256;
use voice_scheduler_domain::sync::SealedToken;
use voice_scheduler_domain::webhooks::{
    OutgoingDelivery, SendError, TargetError, WebhookId, WebhookTransport, WebhookUrl, forbidden_ip,
};
use voice_scheduler_google::KeyRing;

/// The whole request, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The `key_id` of a secret stored unsealed (no `ENCRYPTION_KEY`).
const PLAIN: &str = "plain";

/// The signature header value for `body` sent at unix time `t`.
pub fn signature(secret: &[u8], t: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// A resolver that answers only public addresses.
#[derive(Debug, Clone, Copy)]
struct PublicOnly;

/// The resolver's refusal, found again in the error chain.
#[derive(Debug)]
struct ForbiddenAddress(String);

impl std::fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves to an internal address (set WEBHOOK_ALLOW_PRIVATE_TARGETS to allow it)",
            self.0
        )
    }
}

impl std::error::Error for ForbiddenAddress {}

async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| TargetError::Unresolvable)?
        .collect();
    if addrs.is_empty() {
        return Err(TargetError::Unresolvable);
    }
    if addrs.iter().any(|a| forbidden_ip(a.ip())) {
        return Err(TargetError::Forbidden);
    }
    Ok(addrs)
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            match resolve_public(&host, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(TargetError::Forbidden) => Err(Box::new(ForbiddenAddress(host)) as _),
                Err(e) => Err(Box::new(std::io::Error::other(format!("{host}: {e}"))) as _),
            }
        })
    }
}

/// Delivers webhooks over HTTPS.
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    keys: Option<KeyRing>,
    allow_private: bool,
}

fn binding(id: WebhookId) -> String {
    format!("webhook-secret:{id}")
}

impl HttpTransport {
    /// `keys` seal secrets when given; `allow_private` lets deliveries reach
    /// private and loopback addresses and `http` URLs (tests, internal
    /// receivers).
    pub fn new(keys: Option<KeyRing>, allow_private: bool) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent("voice-scheduler-webhooks/1")
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            keys,
            allow_private,
        })
    }

    fn open(&self, id: WebhookId, sealed: &SealedToken) -> Result<Vec<u8>, SendError> {
        if sealed.key_id == PLAIN {
            return Ok(sealed.bytes.clone());
        }
        let keys = self.keys.as_ref().ok_or_else(|| {
            SendError::Network(
                "the signing secret is sealed and ENCRYPTION_KEY is not set".to_owned(),
            )
        })?;
        keys.open(&sealed.bytes, &binding(id))
            .map(|secret| secret.to_vec())
            .map_err(|e| SendError::Network(format!("the signing secret does not open: {e}")))
    }
}

#[async_trait]
impl WebhookTransport for HttpTransport {
    fn allow_private(&self) -> bool {
        self.allow_private
    }

    async fn vet(&self, url: &WebhookUrl) -> Result<(), TargetError> {
        if self.allow_private {
            return Ok(());
        }
        let parsed = url.url();
        let Some(host) = parsed.host_str() else {
            return Err(TargetError::Malformed);
        };
        if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
            // An IP literal, already checked by `WebhookUrl::parse`.
            return Ok(());
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        resolve_public(host, port).await.map(|_| ())
    }

    fn seal(&self, id: WebhookId, secret: &str) -> anyhow::Result<SealedToken> {
        Ok(match &self.keys {
            Some(keys) => SealedToken {
                bytes: keys.seal(secret.as_bytes(), &binding(id)),
                key_id: keys
                    .current_key_id()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            },
            None => SealedToken {
                bytes: secret.as_bytes().to_vec(),
                key_id: PLAIN.to_owned(),
            },
        })
    }

    async fn send(&self, d: &OutgoingDelivery, at: DateTime<Utc>) -> Result<u16, SendError> {
        // IP literals never reach the resolver: check them here, with the
        // rules of registration.
        WebhookUrl::parse(&d.url, self.allow_private)
            .map_err(|e| SendError::Refused(e.to_string()))?;
        let secret = self.open(d.webhook_id, &d.secret)?;
        let body = d.body();
        let signed = signature(&secret, at.timestamp(), &body);
        let sent = self
            .client
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Webhook-Id", d.event_id.to_string())
            .header("Webhook-Signature", signed)
            .body(body)
            .send()
            .await;
        match sent {
            // The body is not read: dropping the response closes it.
            Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
            Ok(response) => Err(SendError::Status(response.status().as_u16())),
            Err(e) => {
                let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(c) = cause {
                    if let Some(forbidden) = c.downcast_ref::<ForbiddenAddress>() {
                        return Err(SendError::Refused(forbidden.to_string()));
                    }
                    cause = c.source();
                }
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                Err(SendError::Network(format!("{kind}: {}", without_url(&e))))
            }
        }
    }
}

/// The error's text without the URL (it may carry a token in its path).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signature_is_hmac_of_t_dot_body() {
        // Computed with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let s = signature(b"whsec_test", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            s,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[tokio::test]
    async fn localhost_is_refused_after_resolution() {
        assert_eq!(
            resolve_public("localhost", 443).await,
            Err(TargetError::Forbidden)
        );
    }

    #[tokio::test]
    async fn the_client_resolver_refuses_internal_addresses() {
        let name: Name = "localhost".parse().unwrap();
        let refused = PublicOnly.resolve(name).await.err().unwrap();
        assert!(
            refused.downcast_ref::<ForbiddenAddress>().is_some(),
            "{refused}"
        );
    }

    #[test]
    fn secrets_seal_and_open_for_their_endpoint_only() {
        let transport = HttpTransport::new(Some(KeyRing::new([7; 32], vec![])), false).unwrap();
        let id = WebhookId::new();
        let sealed = transport.seal(id, "whsec_x").unwrap();
        assert_ne!(sealed.bytes, b"whsec_x");
        assert_eq!(transport.open(id, &sealed).unwrap(), b"whsec_x");
        assert!(transport.open(WebhookId::new(), &sealed).is_err());
    }
}
