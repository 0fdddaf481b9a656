//! Google's OAuth 2.0 web-server flow, done by hand: one form POST each for
//! the code exchange, the refresh and the revocation.
//!
//! yup-oauth2's authenticators have Google's token URL built in (tests could
//! not point them at a fake) and fall back to an interactive flow on failure;
//! a web service stores the refresh token itself and needs to tell "the grant
//! is dead, ask for consent again" apart from "Google is unreachable".

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

/// Lets `calendar.events` write the events we book and nothing else.
pub const EVENTS_SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";
/// Lets us read free/busy without reading event details.
pub const FREEBUSY_SCOPE: &str = "https://www.googleapis.com/auth/calendar.freebusy";
/// The least-privilege scopes booking needs, asked for at consent.
pub const SCOPES: [&str; 2] = [EVENTS_SCOPE, FREEBUSY_SCOPE];

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Every Google address we call, configurable so tests (and a proxy, if an
/// operator needs one) can stand in for Google.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleEndpoints {
    pub auth_url: String,
    pub token_url: String,
    pub revoke_url: String,
    /// The Calendar API base, with its trailing slash.
    pub api_base_url: String,
}

impl Default for GoogleEndpoints {
    fn default() -> Self {
        Self {
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".to_owned(),
            token_url: "https://oauth2.googleapis.com/token".to_owned(),
            revoke_url: "https://oauth2.googleapis.com/revoke".to_owned(),
            api_base_url: "https://www.googleapis.com/calendar/v3/".to_owned(),
        }
    }
}

/// Why a call to Google's OAuth endpoints failed. The messages never contain
/// tokens, authorization codes or the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The refresh token is dead (revoked, expired, unused for 6 months):
    /// the connection needs a new consent; retrying will not help.
    #[error(
        "Google no longer accepts this grant (invalid_grant): the user must connect the calendar again"
    )]
    InvalidGrant,
    /// Google could not be reached or is struggling (network, timeout, 5xx,
    /// 429): try again later.
    #[error("Google's OAuth endpoint is unavailable: {0}")]
    Unavailable(String),
    /// Google refused the request for another reason (for example a used or
    /// expired authorization code, or a wrong client secret).
    #[error("Google refused the OAuth request: {0}")]
    Rejected(String),
}

/// What a code exchange grants.
#[derive(Clone, PartialEq, Eq)]
pub struct GrantedTokens {
    pub access_token: String,
    /// Seconds the access token stays valid.
    pub expires_in: i64,
    /// Present when the user consented with `access_type=offline` and
    /// `prompt=consent`; encrypt it before storing it.
    pub refresh_token: Option<String>,
    /// The scopes actually granted, space-separated: the user may untick some.
    pub scope: Option<String>,
}

impl fmt::Debug for GrantedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantedTokens")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

/// A fresh access token from a refresh.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    /// Seconds the token stays valid.
    pub expires_in: i64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The PKCE `S256` code challenge of `code_verifier` (RFC 7636 §4.2):
/// `BASE64URL-NOPAD(SHA-256(verifier))`.
pub fn code_challenge(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

/// Talks to Google's OAuth endpoints for one OAuth client (our app).
#[derive(Clone)]
pub struct OAuthClient {
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    auth_url: Url,
    token_url: Url,
    revoke_url: Url,
    http: reqwest::Client,
    timeout: Duration,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uri", &self.redirect_uri)
            .field("auth_url", &self.auth_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("revoke_url", &self.revoke_url.as_str())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Google's token answer; unknown fields (`token_type`, `id_token`) ignored.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Google's OAuth error body: `{"error": "...", "error_description": "..."}`.
#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// What a token request is for: an invalid_grant means different things.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// A bad code is a failed connection attempt, not a dead grant.
    Code,
    Refresh,
}

impl OAuthClient {
    /// An OAuth client for our app's Google credentials. Fails when an
    /// endpoint is not a URL.
    pub fn new(
        client_id: String,
        client_secret: String,
        redirect_uri: String,
        endpoints: GoogleEndpoints,
    ) -> anyhow::Result<Self> {
        let parse = |name: &str, raw: &str| {
            Url::parse(raw)
                .map_err(|e| anyhow::anyhow!("the Google {name} '{raw}' is not a URL: {e}"))
        };
        let auth_url = parse("auth URL", &endpoints.auth_url)?;
        let token_url = parse("token URL", &endpoints.token_url)?;
        let revoke_url = parse("revoke URL", &endpoints.revoke_url)?;
        parse("redirect URI", &redirect_uri)?;
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            // Never follow a redirect with credentials in the body.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client_id,
            client_secret,
            redirect_uri,
            auth_url,
            token_url,
            revoke_url,
            http,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Changes how long one call may take (10 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The address to send the user to for consent. `state` must be bound to
    /// the user's session and expire (it is the CSRF defence of the callback).
    /// `access_type=offline` with `prompt=consent` makes Google return a
    /// refresh token even on a re-consent. The address carries the `S256`
    /// challenge of `code_verifier` (PKCE); the verifier itself goes only to
    /// the token endpoint, with the code ([`Self::exchange_code`]).
    pub fn consent_url(&self, state: &str, code_verifier: &str) -> String {
        let mut url = self.auth_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &SCOPES.join(" "))
            .append_pair("state", state)
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent")
            .append_pair("include_granted_scopes", "true")
            .append_pair("code_challenge", &code_challenge(code_verifier))
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    /// Exchanges the `code` of the consent callback for tokens, with the
    /// PKCE `code_verifier` the consent address was made with (`None` when
    /// it carried no challenge). A used or expired code, or a verifier that
    /// does not match, is [`OAuthError::Rejected`] (the user tries again),
    /// not [`OAuthError::InvalidGrant`].
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: Option<&str>,
    ) -> Result<GrantedTokens, OAuthError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("redirect_uri", &self.redirect_uri),
        ];
        if let Some(verifier) = code_verifier {
            form.push(("code_verifier", verifier));
        }
        let answer = self.token_request(&form, Grant::Code).await?;
        Ok(GrantedTokens {
            access_token: answer.access_token,
            expires_in: answer.expires_in.unwrap_or(3600),
            refresh_token: answer.refresh_token.filter(|t| !t.is_empty()),
            scope: answer.scope,
        })
    }

    /// A new access token from a stored refresh token. [`OAuthError::InvalidGrant`]
    /// means the connection needs a new consent.
    pub async fn refresh(&self, refresh_token: &str) -> Result<AccessToken, OAuthError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ];
        let answer = self.token_request(&form, Grant::Refresh).await?;
        Ok(AccessToken {
            token: answer.access_token,
            expires_in: answer.expires_in.unwrap_or(3600),
        })
    }

    /// Revokes a refresh token (and with it its access tokens), as when a
    /// user disconnects a calendar or deletes their account. A token Google
    /// no longer knows (already revoked) counts as revoked.
    ///
    /// The token travels in the form body, not the query string, so no
    /// access log on the way prints it.
    pub async fn revoke(&self, token: &str) -> Result<(), OAuthError> {
        let response = self
            .http
            .post(self.revoke_url.clone())
            .timeout(self.timeout)
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| unreachable_error("revoke", e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let error = read_error(response).await;
        if status == StatusCode::BAD_REQUEST && error.error == "invalid_token" {
            tracing::debug!("token was already revoked");
            return Ok(());
        }
        Err(classify("revoke", status, &error))
    }

    async fn token_request(
        &self,
        form: &[(&str, &str)],
        grant: Grant,
    ) -> Result<TokenAnswer, OAuthError> {
        let response = self
            .http
            .post(self.token_url.clone())
            .timeout(self.timeout)
            .form(form)
            .send()
            .await
            .map_err(|e| unreachable_error("token", e))?;
        let status = response.status();
        if status.is_success() {
            return response.json::<TokenAnswer>().await.map_err(|_| {
                OAuthError::Unavailable(format!(
                    "the token endpoint answered {status} with a body that is not a token answer"
                ))
            });
        }
        let error = read_error(response).await;
        // RFC 6749 says 400, Google answers 400; some servers (and proxies
        // in front of them) answer a dead grant with 401. Either way the
        // grant is dead, and retrying will not revive it.
        if matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED)
            && error.error == "invalid_grant"
        {
            return Err(match grant {
                Grant::Refresh => OAuthError::InvalidGrant,
                Grant::Code => OAuthError::Rejected(describe(status, &error)),
            });
        }
        Err(classify("token", status, &error))
    }
}

/// Network errors, without the URL (ours carry no secret, but an operator's
/// proxy URL might).
fn unreachable_error(endpoint: &str, error: reqwest::Error) -> OAuthError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    OAuthError::Unavailable(format!(
        "{endpoint} endpoint: {kind}: {}",
        error.without_url()
    ))
}

async fn read_error(response: reqwest::Response) -> ErrorAnswer {
    response.json::<ErrorAnswer>().await.unwrap_or_default()
}

fn describe(status: StatusCode, error: &ErrorAnswer) -> String {
    let mut text = status.to_string();
    if !error.error.is_empty() {
        text.push_str(": ");
        text.push_str(&error.error);
    }
    if let Some(description) = error.error_description.as_deref().filter(|d| !d.is_empty()) {
        text.push_str(" (");
        text.push_str(description);
        text.push(')');
    }
    text
}

fn classify(endpoint: &str, status: StatusCode, error: &ErrorAnswer) -> OAuthError {
    let text = format!("{endpoint} endpoint answered {}", describe(status, error));
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        OAuthError::Unavailable(text)
    } else {
        OAuthError::Rejected(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn client() -> OAuthClient {
        OAuthClient::new(
            "client-1.apps.googleusercontent.com".into(),
            "very-secret".into(),
            "https://scheduler.example/oauth/google/callback".into(),
            GoogleEndpoints::default(),
        )
        .unwrap()
    }

    #[test]
    fn consent_url_carries_every_parameter_encoded() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let url = Url::parse(&client().consent_url("st&ate=1", verifier)).unwrap();
        assert_eq!(url.host_str(), Some("accounts.google.com"));
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["client_id"], "client-1.apps.googleusercontent.com");
        assert_eq!(
            pairs["redirect_uri"],
            "https://scheduler.example/oauth/google/callback"
        );
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["scope"], SCOPES.join(" "));
        assert_eq!(pairs["state"], "st&ate=1");
        assert_eq!(pairs["access_type"], "offline");
        assert_eq!(pairs["prompt"], "consent");
        assert_eq!(pairs["include_granted_scopes"], "true");
        // RFC 7636, appendix B: this verifier's S256 challenge.
        assert_eq!(
            pairs["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert!(!url.as_str().contains(verifier));
        assert!(!url.as_str().contains("very-secret"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        assert!(!format!("{:?}", client()).contains("very-secret"));
        let granted = GrantedTokens {
            access_token: "ya29.access".into(),
            expires_in: 3600,
            refresh_token: Some("1//refresh".into()),
            scope: None,
        };
        let debug = format!("{granted:?}");
        assert!(!debug.contains("ya29") && !debug.contains("1//"), "{debug}");
        let access = AccessToken {
            token: "ya29.access".into(),
            expires_in: 1,
        };
        assert!(!format!("{access:?}").contains("ya29"));
    }

    #[test]
    fn bad_endpoints_are_refused() {
        let endpoints = GoogleEndpoints {
            token_url: "not a url".into(),
            ..GoogleEndpoints::default()
        };
        let err = OAuthClient::new("id".into(), "s".into(), "https://x/cb".into(), endpoints)
            .unwrap_err();
        assert!(err.to_string().contains("token URL"), "{err}");
    }
}
