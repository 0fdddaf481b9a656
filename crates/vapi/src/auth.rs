//! Verifying that a request comes from VAPI.
//!
//! VAPI sends the shared secret either as `X-Vapi-Secret: <secret>` or as
//! `Authorization: Bearer <secret>`. Both are compared in constant time: the
//! digests of the presented and the expected secret are compared with
//! `subtle`, so neither the content nor the length leaks through timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The secret VAPI must present (`VAPI_WEBHOOK_SECRET`).
#[derive(Clone)]
pub struct SharedSecret {
    digest: [u8; 32],
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret(***)")
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no VAPI credential was presented (expected X-Vapi-Secret or Authorization: Bearer)")]
    Missing,
    #[error("the VAPI credential is wrong")]
    Wrong,
}

impl SharedSecret {
    pub fn new(secret: &str) -> Self {
        Self {
            digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        bool::from(digest.ct_eq(&self.digest))
    }

    /// Checks the `X-Vapi-Secret` header value and the `Authorization` header
    /// value (either may be absent). A request passes when either carries the
    /// secret.
    pub fn verify(
        &self,
        x_vapi_secret: Option<&[u8]>,
        authorization: Option<&[u8]>,
    ) -> Result<(), AuthFailure> {
        let bearer = authorization.and_then(|value| {
            let prefix = b"bearer ";
            (value.len() > prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix))
                .then(|| value[prefix.len()..].trim_ascii())
        });
        if x_vapi_secret.is_none() && bearer.is_none() {
            return Err(AuthFailure::Missing);
        }
        // Evaluate both, so timing does not tell which header was right.
        let by_header = x_vapi_secret.is_some_and(|v| self.matches(v.trim_ascii()));
        let by_bearer = bearer.is_some_and(|v| self.matches(v));
        if by_header | by_bearer {
            Ok(())
        } else {
            Err(AuthFailure::Wrong)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_either_header_and_nothing_else() {
        let s = SharedSecret::new("s3cret-value");
        assert_eq!(s.verify(Some(b"s3cret-value"), None), Ok(()));
        assert_eq!(s.verify(None, Some(b"Bearer s3cret-value")), Ok(()));
        assert_eq!(s.verify(None, Some(b"bearer s3cret-value")), Ok(()));
        assert_eq!(
            s.verify(Some(b"wrong"), Some(b"Bearer s3cret-value")),
            Ok(())
        );
        assert_eq!(s.verify(None, None), Err(AuthFailure::Missing));
        assert_eq!(
            s.verify(None, Some(b"Basic czNjcmV0")),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            s.verify(Some(b"s3cret-valu"), None),
            Err(AuthFailure::Wrong)
        );
        assert_eq!(
            s.verify(Some(b"s3cret-value2"), None),
            Err(AuthFailure::Wrong)
        );
        assert_eq!(s.verify(Some(b""), None), Err(AuthFailure::Wrong));
        assert_eq!(
            s.verify(None, Some(b"Bearer wrong")),
            Err(AuthFailure::Wrong)
        );
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
