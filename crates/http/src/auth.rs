//! Who is asking: the bearer-token extractor for signed-in routes, and the
//! client address (trusting `X-Forwarded-For` only from configured proxies).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use voice_scheduler_domain::accounts::{AuthError, Origin, Principal};

use crate::{ApiError, AppState};

/// The signed-in user of a request (`Authorization: Bearer <access token>`).
/// Extracting it answers 401 when the token is missing, invalid, expired, or
/// its sign-in has ended.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl Authenticated {
    /// 403 unless the user is an administrator.
    pub fn require_admin(&self) -> Result<&Principal, ApiError> {
        if self.0.user.is_admin() {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(
                "this needs an administrator's account".to_owned(),
            ))
        }
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let origin = state.as_ref().map(|s| origin(req, &s.proxies));
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("the application state is missing"))
            })?;
            let token = token?;
            state
                .accounts
                .authenticate(&token, &origin.unwrap_or_default())
                .await
                .map(Authenticated)
                .map_err(|e| match e {
                    AuthError::Invalid(reason) => ApiError::Unauthorized(reason),
                    AuthError::Unknown(e) => ApiError::internal(e),
                })
        })
    }
}

/// The signed-in user when the request carries a token; `None` without one.
/// A token that is present but not valid is still refused (401).
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Principal>);

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.headers().get("authorization").is_none() {
            return Box::pin(async { Ok(MaybeAuthenticated(None)) });
        }
        let inner = Authenticated::from_request(req, payload);
        Box::pin(async move { inner.await.map(|a| MaybeAuthenticated(Some(a.0))) })
    }
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .ok_or_else(|| ApiError::Unauthorized("sign in first: no bearer token".to_owned()))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not text".to_owned()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::Unauthorized(
            "expected Authorization: Bearer <access token>".to_owned(),
        )),
    }
}

/// Networks whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u8,
}

impl TrustedProxies {
    /// Reads a comma-separated list of addresses and CIDR networks
    /// (`10.0.0.0/8, 192.168.1.7, fd00::/8`); `Err` names the bad entry.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, prefix) = match entry.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (entry, None),
            };
            let address: IpAddr = addr
                .parse()
                .map_err(|_| format!("'{entry}' is not an IP address or CIDR network"))?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("'{entry}' has a bad prefix length"))?,
                None => max,
            };
            networks.push(Network { address, prefix });
        }
        Ok(Self(networks))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy;
    /// then the right-most `X-Forwarded-For` entry that is not a trusted proxy.
    pub fn client_address(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<IpAddr> {
        let peer = peer?;
        if !self.contains(peer) {
            return Some(peer);
        }
        let Some(list) = forwarded_for else {
            return Some(peer);
        };
        let mut last = peer;
        for entry in list.rsplit(',').map(str::trim) {
            let Ok(ip) = entry.parse::<IpAddr>() else {
                // Garbage in the chain: stop at the last address we trust.
                return Some(last);
            };
            if !self.contains(ip) {
                return Some(ip);
            }
            last = ip;
        }
        Some(last)
    }
}

impl std::fmt::Display for TrustedProxies {
    /// The list as [`TrustedProxies::parse`] reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries: Vec<String> = self
            .0
            .iter()
            .map(|n| format!("{}/{}", n.address, n.prefix))
            .collect();
        f.write_str(&entries.join(","))
    }
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Where a request came from, for throttling and the audit log.
pub fn origin(req: &HttpRequest, proxies: &TrustedProxies) -> Origin {
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    Origin {
        address: proxies
            .client_address(peer, forwarded)
            .map(|ip| ip.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7").unwrap();
        // An untrusted peer: its header is ignored.
        assert_eq!(
            proxies.client_address(Some(ip("203.0.113.9")), Some("1.2.3.4")),
            Some(ip("203.0.113.9"))
        );
        // A trusted peer: the right-most untrusted entry.
        assert_eq!(
            proxies.client_address(
                Some(ip("10.1.2.3")),
                Some("6.6.6.6, 198.51.100.4, 10.9.9.9")
            ),
            Some(ip("198.51.100.4"))
        );
        assert_eq!(
            proxies.client_address(Some(ip("192.168.1.7")), None),
            Some(ip("192.168.1.7"))
        );
        assert_eq!(
            proxies.client_address(Some(ip("10.1.2.3")), Some("junk, 10.2.2.2")),
            Some(ip("10.2.2.2"))
        );
        assert!(!proxies.contains(ip("192.168.1.8")));
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_address(Some(ip("10.1.2.3")), Some("1.1.1.1")),
            Some(ip("10.1.2.3"))
        );
    }

    #[test]
    fn proxy_lists_name_bad_entries() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(
            TrustedProxies::parse("fd00::/8")
                .unwrap()
                .contains(ip("fd12::1"))
        );
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(
            TrustedProxies::parse("10.0.0.0/33")
                .unwrap_err()
                .contains("10.0.0.0/33")
        );
        assert!(
            TrustedProxies::parse("proxy.local")
                .unwrap_err()
                .contains("proxy.local")
        );
    }
}
