//! The dashboard's cookies and CSRF tokens.
//!
//! * The session cookie holds `<sign-in id>.<HMAC-SHA256(key, id)>`. The id
//!   names a server-side sign-in of the account service (the same records as
//!   the API's refresh-token families), so signing out, "sign out
//!   everywhere", a password change and deleting the account end it. The MAC
//!   means knowing an id (the audit log shows them) is not enough.
//! * The CSRF token of a signed-in page is `HMAC(key, "csrf" ‖ id)`, sent in a
//!   hidden field and checked on every POST (on top of `SameSite=Strict`).
//! * Before signing in, the sign-in form gets a random pre-session cookie and
//!   a token `HMAC(key, "pre" ‖ nonce)` in its hidden field.
//!
//! Cookies are `HttpOnly; SameSite=Strict; Path=/`, and `Secure` with the
//! `__Host-` prefix unless `WEB_COOKIE_SECURE=false`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;
use voice_scheduler_domain::SessionId;
use voice_scheduler_domain::accounts::{AuthError, Origin, Principal};

use crate::{WebError, WebState};

type HmacSha256 = Hmac<Sha256>;

/// What the cookie MAC and the CSRF tokens are computed with.
#[derive(Clone)]
pub struct CookieKeys {
    key: Arc<[u8]>,
    secure: bool,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieKeys")
            .field("key", &"***")
            .field("secure", &self.secure)
            .finish()
    }
}

impl CookieKeys {
    /// Derives the cookie key from a server secret (the access-token
    /// signing key): `HMAC-SHA256(secret, "voice-scheduler web cookies v1")`,
    /// so the two keys are never the same bytes.
    pub fn derive(secret: &[u8], secure: bool) -> Self {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"voice-scheduler web cookies v1");
        let key: Vec<u8> = mac.finalize().into_bytes().to_vec();
        Self {
            key: key.into(),
            secure,
        }
    }

    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The session cookie's name.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-vs_session"
        } else {
            "vs_session"
        }
    }

    /// The sign-in form's pre-session cookie's name.
    pub fn pre_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-vs_pre"
        } else {
            "vs_pre"
        }
    }

    fn mac(&self, purpose: &str, value: &str) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac
    }

    fn sign(&self, purpose: &str, value: &str) -> String {
        hex(&self.mac(purpose, value).finalize().into_bytes())
    }

    /// Constant-time check of a presented MAC.
    fn verify(&self, purpose: &str, value: &str, presented: &str) -> bool {
        match unhex(presented) {
            Some(bytes) => self.mac(purpose, value).verify_slice(&bytes).is_ok(),
            None => false,
        }
    }

    /// The session cookie's value for a sign-in.
    pub fn session_value(&self, session: SessionId) -> String {
        let id = session.to_string();
        let mac = self.sign("session", &id);
        format!("{id}.{mac}")
    }

    /// The sign-in a session cookie names, when its MAC is right.
    pub fn read_session(&self, value: &str) -> Option<SessionId> {
        let (id, mac) = value.split_once('.')?;
        let uuid = Uuid::parse_str(id).ok()?;
        // The canonical form only: one id, one cookie value.
        (uuid.to_string() == id && self.verify("session", id, mac))
            .then(|| SessionId::from_uuid(uuid))
    }

    /// The CSRF token of a signed-in page.
    pub fn csrf(&self, session: SessionId) -> String {
        self.sign("csrf", &session.to_string())
    }

    pub fn check_csrf(&self, session: SessionId, presented: &str) -> bool {
        self.verify("csrf", &session.to_string(), presented)
    }

    /// The sign-in form's token for a pre-session nonce.
    pub fn pre_csrf(&self, nonce: &str) -> String {
        self.sign("pre", nonce)
    }

    pub fn check_pre_csrf(&self, nonce: &str, presented: &str) -> bool {
        self.verify("pre", nonce, presented)
    }

    /// A `Set-Cookie` value.
    pub fn set_cookie(&self, name: &str, value: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}")
    }

    /// A `Set-Cookie` value that removes the cookie.
    pub fn clear_cookie(&self, name: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }
}

/// HMAC takes keys of any length: `new_from_slice` cannot fail.
#[allow(clippy::panic)]
fn unreachable_hmac() -> HmacSha256 {
    panic!("HMAC accepts keys of any length")
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A cookie of the request, by name.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The pre-session nonce of a form shown before signing in (the browser's,
/// when it has a well-formed one; otherwise a new one) and the `Set-Cookie`
/// value that keeps it.
pub fn pre_session(state: &WebState, req: &HttpRequest) -> (String, String) {
    let nonce = cookie(req, state.keys.pre_cookie())
        .filter(|n| Uuid::parse_str(n).is_ok())
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let set = state.keys.set_cookie(state.keys.pre_cookie(), &nonce);
    (nonce, set)
}

/// Where a request came from (for the sign-in throttle and the audit log).
pub fn origin(req: &HttpRequest, state: &WebState) -> Origin {
    voice_scheduler_http::auth::origin(req, &state.proxies)
}

/// A signed-in browser: the principal its sign-in speaks for, and the CSRF
/// token its forms carry. Signed-out requests are sent to sign in (a GET
/// comes back to its page afterwards).
pub struct Browser {
    pub principal: Principal,
    pub csrf: String,
}

impl Browser {
    /// Refuses a form whose CSRF token is not this sign-in's.
    pub fn check_csrf(&self, state: &WebState, presented: &str) -> Result<(), WebError> {
        if state.keys.check_csrf(self.principal.session, presented) {
            Ok(())
        } else {
            tracing::warn!(user = %self.principal.user.id, "dashboard form refused: wrong CSRF token");
            Err(WebError::Csrf)
        }
    }
}

impl FromRequest for Browser {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<WebState>>()
                .cloned()
                .ok_or_else(|| WebError::Internal(anyhow::anyhow!("the dashboard has no state")))?;
            let next = (req.method() == Method::GET)
                .then(|| {
                    req.uri()
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| "/".to_owned())
                })
                .filter(|p| p != "/");
            let Some(session) =
                cookie(&req, state.keys.session_cookie()).and_then(|v| state.keys.read_session(&v))
            else {
                return Err(WebError::SignIn { next });
            };
            match state
                .accounts
                .authenticate_session(session, &origin(&req, &state))
                .await
            {
                Ok(principal) => Ok(Browser {
                    csrf: state.keys.csrf(session),
                    principal,
                }),
                Err(AuthError::Invalid(_)) => Err(WebError::SignIn { next }),
                Err(AuthError::Unknown(e)) => Err(WebError::Internal(e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> CookieKeys {
        CookieKeys::derive(b"a test secret of at least 32 bytes!!", true)
    }

    #[test]
    fn a_session_cookie_reads_back_and_a_forged_one_does_not() {
        let k = keys();
        let id = SessionId::new();
        let value = k.session_value(id);
        assert_eq!(k.read_session(&value), Some(id));
        let other = CookieKeys::derive(b"another secret of at least 32 bytes!", true);
        assert_eq!(other.read_session(&value), None);
        let (_, mac) = value.split_once('.').unwrap();
        assert_eq!(k.read_session(&format!("{}.{mac}", SessionId::new())), None);
        assert_eq!(k.read_session(&id.to_string()), None);
        assert_eq!(k.read_session(&format!("{id}.")), None);
        assert_eq!(
            k.read_session(&format!("{}.{mac}", id.to_string().to_uppercase())),
            None
        );
    }

    #[test]
    fn csrf_tokens_are_per_sign_in() {
        let k = keys();
        let (a, b) = (SessionId::new(), SessionId::new());
        assert!(k.check_csrf(a, &k.csrf(a)));
        assert!(!k.check_csrf(b, &k.csrf(a)));
        assert!(!k.check_csrf(a, ""));
        assert!(!k.check_csrf(a, "zz"));
        assert!(k.check_pre_csrf("n1", &k.pre_csrf("n1")));
        assert!(!k.check_pre_csrf("n2", &k.pre_csrf("n1")));
        // A session's CSRF token is not its cookie MAC.
        assert_ne!(k.csrf(a), k.session_value(a).split_once('.').unwrap().1);
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_unless_configured() {
        let k = keys();
        assert_eq!(
            k.set_cookie(k.session_cookie(), "v"),
            "__Host-vs_session=v; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let dev = CookieKeys::derive(b"x", false);
        assert_eq!(
            dev.set_cookie(dev.session_cookie(), "v"),
            "vs_session=v; Path=/; HttpOnly; SameSite=Strict"
        );
    }
}
