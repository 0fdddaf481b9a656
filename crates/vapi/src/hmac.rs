//! Verifying VAPI's HMAC credential.
//!
//! VAPI signs `{timestamp}.{body}` (the timestamp header's value exactly as
//! sent, a dot, the raw request body) with a shared secret, and sends the
//! signature and the timestamp in two headers (`x-signature` and
//! `x-timestamp` by default). The algorithm (`sha256`, `sha512`, `sha1`), the
//! encoding of the signature (hex or base64), an optional prefix such as
//! `sha256=` and the header names are configured on both sides.
//!
//! Verification is split in two so that a request is refused before its body
//! is read when its headers already tell it is no good:
//! [`HmacVerifier::check_headers`] reads the headers and checks the
//! timestamp against the window; [`SignedRequest::verify`] then checks the
//! signature over the raw body, in constant time (`subtle`). The result, a
//! [`SignatureId`], is what the caller remembers to refuse replays (this
//! module keeps no state).
//!
//! The timestamp's unit is not documented by VAPI: epoch seconds and epoch
//! milliseconds are both accepted, told apart by magnitude (from
//! [`MILLISECONDS_FROM`] on, a value is read as milliseconds).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Timestamps at or above this are epoch milliseconds, below it epoch
/// seconds: 10^11 seconds is the year 5138, 10^11 milliseconds is 1973.
pub const MILLISECONDS_FROM: u64 = 100_000_000_000;

/// The default window, in seconds, either side of the server's clock.
pub const DEFAULT_WINDOW_SECONDS: u32 = 300;

/// The hash of the HMAC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HmacAlgorithm {
    #[default]
    Sha256,
    Sha512,
    Sha1,
}

impl HmacAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
            Self::Sha1 => "sha1",
        }
    }
}

impl fmt::Display for HmacAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HmacAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "").as_str() {
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            "sha1" => Ok(Self::Sha1),
            _ => Err("sha256, sha512 or sha1".to_owned()),
        }
    }
}

/// How the signature is written in its header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

impl SignatureEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Base64 => "base64",
        }
    }
}

impl fmt::Display for SignatureEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignatureEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hex" => Ok(Self::Hex),
            "base64" => Ok(Self::Base64),
            _ => Err("hex or base64".to_owned()),
        }
    }
}

/// Checks an HTTP header name (a token, RFC 9110) and lowers its case.
pub fn header_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err("an HTTP header name such as x-signature".to_owned());
    }
    Ok(name.to_ascii_lowercase())
}

/// The HMAC credential as configured (`VAPI_HMAC_*`).
#[derive(Clone, PartialEq, Eq)]
pub struct HmacConfig {
    pub secret: String,
    pub algorithm: HmacAlgorithm,
    /// Lower-case header names.
    pub signature_header: String,
    pub timestamp_header: String,
    /// Text the signature header starts with (such as `sha256=`); empty: none.
    pub prefix: String,
    pub encoding: SignatureEncoding,
    /// How far, in seconds, the timestamp may be from the server's clock
    /// (either way).
    pub window_seconds: u32,
}

impl HmacConfig {
    /// VAPI's defaults: sha256, `x-signature`, `x-timestamp`, hex, no
    /// prefix, 300 seconds.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            algorithm: HmacAlgorithm::Sha256,
            signature_header: "x-signature".to_owned(),
            timestamp_header: "x-timestamp".to_owned(),
            prefix: String::new(),
            encoding: SignatureEncoding::Hex,
            window_seconds: DEFAULT_WINDOW_SECONDS,
        }
    }
}

impl fmt::Debug for HmacConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacConfig")
            .field("secret", &"***")
            .field("algorithm", &self.algorithm)
            .field("signature_header", &self.signature_header)
            .field("timestamp_header", &self.timestamp_header)
            .field("prefix", &self.prefix)
            .field("encoding", &self.encoding)
            .field("window_seconds", &self.window_seconds)
            .finish()
    }
}

/// Why a signed request was refused. None of the messages carries the
/// secret, the signature or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HmacFailure {
    #[error("the request is not signed: the HMAC signature or timestamp header is missing")]
    Missing,
    #[error("the HMAC timestamp is not a whole number of epoch seconds or milliseconds")]
    MalformedTimestamp,
    #[error("the HMAC signature header is not in the configured format (prefix and encoding)")]
    MalformedSignature,
    #[error("the HMAC timestamp is too old: the request is stale")]
    Stale,
    #[error("the HMAC timestamp is too far in the future")]
    Future,
    #[error("the HMAC signature is wrong")]
    Wrong,
}

impl HmacFailure {
    /// A bounded label for metrics and the audit log: `missing`,
    /// `malformed`, `stale` or `wrong`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::MalformedTimestamp | Self::MalformedSignature => "malformed",
            Self::Stale | Self::Future => "stale",
            Self::Wrong => "wrong",
        }
    }
}

/// Identifies an accepted signature without revealing it: the hex SHA-256
/// of the decoded signature bytes (so the hex and base64 spellings of one
/// signature, or its upper- and lower-case hex, are the same).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignatureId(String);

impl SignatureId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SignatureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Verifies VAPI's HMAC credential. Holds no state besides its settings.
#[derive(Clone)]
pub struct HmacVerifier {
    key: Vec<u8>,
    algorithm: HmacAlgorithm,
    signature_header: String,
    timestamp_header: String,
    prefix: String,
    encoding: SignatureEncoding,
    window_ms: u64,
}

impl fmt::Debug for HmacVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacVerifier")
            .field("key", &"***")
            .field("algorithm", &self.algorithm)
            .field("signature_header", &self.signature_header)
            .field("timestamp_header", &self.timestamp_header)
            .field("prefix", &self.prefix)
            .field("encoding", &self.encoding)
            .field("window_ms", &self.window_ms)
            .finish()
    }
}

/// A request whose headers passed: a fresh timestamp and a well-formed
/// signature, not yet checked against the body.
pub struct SignedRequest<'a> {
    verifier: &'a HmacVerifier,
    timestamp: Vec<u8>,
    signature: Vec<u8>,
}

impl fmt::Debug for SignedRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("timestamp", &String::from_utf8_lossy(&self.timestamp))
            .field("signature", &"***")
            .finish()
    }
}

impl HmacVerifier {
    pub fn new(config: &HmacConfig) -> Self {
        Self {
            key: config.secret.as_bytes().to_vec(),
            algorithm: config.algorithm,
            signature_header: config.signature_header.to_ascii_lowercase(),
            timestamp_header: config.timestamp_header.to_ascii_lowercase(),
            prefix: config.prefix.clone(),
            encoding: config.encoding,
            window_ms: u64::from(config.window_seconds) * 1000,
        }
    }

    /// The (lower-case) name of the header carrying the signature.
    pub fn signature_header(&self) -> &str {
        &self.signature_header
    }

    /// The (lower-case) name of the header carrying the timestamp.
    pub fn timestamp_header(&self) -> &str {
        &self.timestamp_header
    }

    /// Reads the two header values (either may be absent): the timestamp
    /// must be a whole number within the window around `now`, the signature
    /// must carry the prefix and decode. Does not look at the body.
    pub fn check_headers(
        &self,
        signature: Option<&[u8]>,
        timestamp: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> Result<SignedRequest<'_>, HmacFailure> {
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(HmacFailure::Missing);
        };
        let timestamp = timestamp.trim_ascii();
        let at_ms = epoch_millis(timestamp).ok_or(HmacFailure::MalformedTimestamp)?;
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        if at_ms.saturating_add(self.window_ms) < now_ms {
            return Err(HmacFailure::Stale);
        }
        if at_ms > now_ms.saturating_add(self.window_ms) {
            return Err(HmacFailure::Future);
        }
        let signature = self
            .decode_signature(signature.trim_ascii())
            .ok_or(HmacFailure::MalformedSignature)?;
        Ok(SignedRequest {
            verifier: self,
            timestamp: timestamp.to_vec(),
            signature,
        })
    }

    /// Both steps at once: the headers, then the signature over `body`.
    pub fn verify(
        &self,
        signature: Option<&[u8]>,
        timestamp: Option<&[u8]>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<SignatureId, HmacFailure> {
        self.check_headers(signature, timestamp, now)?.verify(body)
    }

    fn decode_signature(&self, value: &[u8]) -> Option<Vec<u8>> {
        let prefix = self.prefix.as_bytes();
        let value = if prefix.is_empty() {
            value
        } else if value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix)
        {
            value[prefix.len()..].trim_ascii()
        } else {
            return None;
        };
        if value.is_empty() {
            return None;
        }
        match self.encoding {
            SignatureEncoding::Hex => decode_hex(value),
            SignatureEncoding::Base64 => {
                let lenient = GeneralPurposeConfig::new()
                    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
                GeneralPurpose::new(&alphabet::STANDARD, lenient)
                    .decode(value)
                    .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, lenient).decode(value))
                    .ok()
            }
        }
    }

    /// The HMAC of `{timestamp}.{body}`.
    fn tag(&self, timestamp: &[u8], body: &[u8]) -> Vec<u8> {
        let parts: [&[u8]; 3] = [timestamp, b".", body];
        match self.algorithm {
            HmacAlgorithm::Sha256 => mac::<Hmac<Sha256>>(&self.key, &parts),
            HmacAlgorithm::Sha512 => mac::<Hmac<Sha512>>(&self.key, &parts),
            HmacAlgorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(&self.key, &parts),
        }
    }
}

impl SignedRequest<'_> {
    /// Checks the signature over the raw `body`, in constant time.
    pub fn verify(self, body: &[u8]) -> Result<SignatureId, HmacFailure> {
        let expected = self.verifier.tag(&self.timestamp, body);
        // `ct_eq` on slices of different lengths is false (lengths are public).
        if bool::from(expected.as_slice().ct_eq(self.signature.as_slice())) {
            Ok(SignatureId(hex(&Sha256::digest(&self.signature))))
        } else {
            Err(HmacFailure::Wrong)
        }
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length; an error cannot happen, and would only
    // make every signature wrong.
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Epoch milliseconds from 1 to 16 ASCII digits (seconds below
/// [`MILLISECONDS_FROM`], milliseconds from it on).
fn epoch_millis(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 16 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if number >= MILLISECONDS_FROM {
        Some(number)
    } else {
        Some(number * 1000)
    }
}

fn decode_hex(value: &[u8]) -> Option<Vec<u8>> {
    if !value.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    value
        .chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    //! Every expected signature below was computed with Python's standard
    //! library, independently of this code:
    //!
    //! ```text
    //! python3 -c 'import hmac,hashlib,base64
    //! key=b"vapi-hmac-test-secret-0123"; body=b"{\"message\":{\"type\":\"tool-calls\"}}"
    //! for ts in [b"1700000000", b"1700000000123"]:
    //!   for alg in ["sha256","sha512","sha1"]:
    //!     d=hmac.new(key, ts+b"."+body, getattr(hashlib,alg)).digest()
    //!     print(ts.decode(), alg, d.hex(), base64.b64encode(d).decode())
    //! d=hmac.new(key, b"1700000000."+body, hashlib.sha256).digest()
    //! print("replay key", hashlib.sha256(d).hexdigest())'
    //! ```

    use super::*;

    const SECRET: &str = "vapi-hmac-test-secret-0123";
    const BODY: &[u8] = br#"{"message":{"type":"tool-calls"}}"#;
    const TS: &[u8] = b"1700000000";
    const TS_MS: &[u8] = b"1700000000123";

    const SHA256_HEX: &str = "570543a4729907a484a72317dd2e5905be8ba47da5c46ec6803fcd74fe27e446";
    const SHA256_B64: &str = "VwVDpHKZB6SEpyMX3S5ZBb6LpH2lxG7GgD/NdP4n5EY=";
    const SHA512_HEX: &str = "e35af6165ddf79cfd0154003d5c5101ed2ed3e54fa01632f5953d19d3ff23697cfedcbd98a83bd9d5786f06354ed87d26edba37b6ae809249c2bee61314b981e";
    const SHA512_B64: &str =
        "41r2Fl3fec/QFUAD1cUQHtLtPlT6AWMvWVPRnT/yNpfP7cvZioO9nVeG8GNU7YfSbtuje2roCSScK+5hMUuYHg==";
    const SHA1_HEX: &str = "a92884b39d2901ef6c2714701b7b1b1b22ddedb5";
    const SHA1_B64: &str = "qSiEs50pAe9sJxRwG3sbGyLd7bU=";
    const MS_SHA256_HEX: &str = "51014161d25018c5b63f700ba5ef411b74e689caa388e73c5a107f1c4f2c0807";
    const MS_SHA512_HEX: &str = "64a5c64b0cd35347b316a25acf745b5eec7b999a6b85b91b51d64b0af8a5e5d090695ca449914e7eea584fb83b849e7a34b36ba9e4b85a4a499605391ccf1a06";
    const MS_SHA1_HEX: &str = "6c89ecb6c66f2216a8e776b529c3253e35850ca5";
    /// SHA-256 of the decoded SHA256_HEX signature bytes.
    const SHA256_ID: &str = "3e59f5746537bb3fb45448de0c73aa96511db029b52eb973c0baef403016cab3";

    /// 42 seconds after the signing time.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_042, 0).unwrap()
    }

    fn verifier(configure: impl FnOnce(&mut HmacConfig)) -> HmacVerifier {
        let mut config = HmacConfig::new(SECRET);
        configure(&mut config);
        HmacVerifier::new(&config)
    }

    fn check(
        v: &HmacVerifier,
        signature: &str,
        timestamp: &[u8],
    ) -> Result<SignatureId, HmacFailure> {
        v.verify(Some(signature.as_bytes()), Some(timestamp), BODY, now())
    }

    #[test]
    fn a_good_sha256_hex_signature_passes_and_is_identified_by_its_digest() {
        let v = verifier(|_| {});
        let id = check(&v, SHA256_HEX, TS).unwrap();
        assert_eq!(id.as_str(), SHA256_ID);
        // Upper-case hex and surrounding spaces are the same signature.
        let upper = format!("  {}  ", SHA256_HEX.to_ascii_uppercase());
        assert_eq!(check(&v, &upper, TS).unwrap(), id);
    }

    #[test]
    fn one_flipped_bit_in_the_signature_the_body_or_the_timestamp_fails() {
        let v = verifier(|_| {});
        // ...e446 -> ...e447: the lowest bit of the last byte.
        let flipped = format!("{}7", &SHA256_HEX[..63]);
        assert_eq!(check(&v, &flipped, TS), Err(HmacFailure::Wrong));
        let mut body = BODY.to_vec();
        body[3] ^= 1;
        assert_eq!(
            v.verify(Some(SHA256_HEX.as_bytes()), Some(TS), &body, now()),
            Err(HmacFailure::Wrong)
        );
        assert_eq!(
            check(&v, SHA256_HEX, b"1700000001"),
            Err(HmacFailure::Wrong)
        );
        // Another secret, a truncated signature, another algorithm's signature.
        let other = HmacVerifier::new(&HmacConfig::new("another-secret-0123456"));
        assert_eq!(check(&other, SHA256_HEX, TS), Err(HmacFailure::Wrong));
        assert_eq!(check(&v, &SHA256_HEX[..62], TS), Err(HmacFailure::Wrong));
        assert_eq!(check(&v, SHA1_HEX, TS), Err(HmacFailure::Wrong));
    }

    #[test]
    fn the_window_is_inclusive_and_applies_both_ways() {
        let v = verifier(|_| {});
        let at = |secs: i64| DateTime::from_timestamp(secs, 0).unwrap();
        let sig = Some(SHA256_HEX.as_bytes());
        // Exactly 300 s old or early: accepted.
        assert!(v.verify(sig, Some(TS), BODY, at(1_700_000_300)).is_ok());
        assert!(v.verify(sig, Some(TS), BODY, at(1_699_999_700)).is_ok());
        // Stale: 301 s old.
        assert_eq!(
            v.verify(sig, Some(TS), BODY, at(1_700_000_301)),
            Err(HmacFailure::Stale)
        );
        // From the future beyond the window: 301 s ahead.
        assert_eq!(
            v.verify(sig, Some(TS), BODY, at(1_699_999_699)),
            Err(HmacFailure::Future)
        );
        assert_eq!(HmacFailure::Future.reason(), "stale");
        // A narrower window.
        let narrow = verifier(|c| c.window_seconds = 30);
        assert_eq!(check(&narrow, SHA256_HEX, TS), Err(HmacFailure::Stale));
        // The window is checked before the signature: a stale request with a
        // wrong signature is stale.
        assert_eq!(
            v.verify(Some(b"00"), Some(TS), BODY, at(1_800_000_000)),
            Err(HmacFailure::Stale)
        );
    }

    #[test]
    fn timestamps_in_seconds_and_in_milliseconds() {
        let v = verifier(|_| {});
        assert!(check(&v, MS_SHA256_HEX, TS_MS).is_ok());
        // The timestamp is signed as sent: the seconds signature does not
        // match the milliseconds timestamp.
        assert_eq!(check(&v, SHA256_HEX, TS_MS), Err(HmacFailure::Wrong));
        // Milliseconds are compared as milliseconds: 1700000000123 ms is
        // 0.123 s after 1700000000 s, well within the window; read as
        // seconds it would be tens of thousands of years ahead.
        let stale_ms = DateTime::from_timestamp(1_700_000_300, 124_000_000).unwrap();
        assert_eq!(
            v.verify(Some(MS_SHA256_HEX.as_bytes()), Some(TS_MS), BODY, stale_ms),
            Err(HmacFailure::Stale)
        );
        let fresh_ms = DateTime::from_timestamp(1_700_000_300, 123_000_000).unwrap();
        assert!(
            v.verify(Some(MS_SHA256_HEX.as_bytes()), Some(TS_MS), BODY, fresh_ms)
                .is_ok()
        );
        assert_eq!(epoch_millis(b"99999999999"), Some(99_999_999_999_000));
        assert_eq!(epoch_millis(b"100000000000"), Some(100_000_000_000));
    }

    #[test]
    fn a_prefix_is_required_when_configured_and_refused_otherwise() {
        let prefixed = verifier(|c| c.prefix = "sha256=".to_owned());
        assert!(check(&prefixed, &format!("sha256={SHA256_HEX}"), TS).is_ok());
        assert!(check(&prefixed, &format!("SHA256={SHA256_HEX}"), TS).is_ok());
        assert_eq!(
            check(&prefixed, SHA256_HEX, TS),
            Err(HmacFailure::MalformedSignature)
        );
        assert_eq!(
            check(&prefixed, "sha256=", TS),
            Err(HmacFailure::MalformedSignature)
        );
        let plain = verifier(|_| {});
        assert_eq!(
            check(&plain, &format!("sha256={SHA256_HEX}"), TS),
            Err(HmacFailure::MalformedSignature)
        );
    }

    #[test]
    fn base64_signatures() {
        let v = verifier(|c| c.encoding = SignatureEncoding::Base64);
        let id = check(&v, SHA256_B64, TS).unwrap();
        // The same signature bytes as the hex spelling: the same id.
        assert_eq!(id.as_str(), SHA256_ID);
        // Without padding too.
        assert!(check(&v, SHA256_B64.trim_end_matches('='), TS).is_ok());
        // Hex is not base64 of the right length; garbage does not decode.
        assert_eq!(check(&v, SHA256_HEX, TS), Err(HmacFailure::Wrong));
        assert_eq!(
            check(&v, "not base64!", TS),
            Err(HmacFailure::MalformedSignature)
        );
        let sha512 = verifier(|c| {
            c.encoding = SignatureEncoding::Base64;
            c.algorithm = HmacAlgorithm::Sha512;
        });
        assert!(check(&sha512, SHA512_B64, TS).is_ok());
        let sha1 = verifier(|c| {
            c.encoding = SignatureEncoding::Base64;
            c.algorithm = HmacAlgorithm::Sha1;
            c.prefix = "sha1=".to_owned();
        });
        assert!(check(&sha1, &format!("sha1={SHA1_B64}"), TS).is_ok());
    }

    #[test]
    fn sha512_and_sha1() {
        let sha512 = verifier(|c| c.algorithm = HmacAlgorithm::Sha512);
        assert!(check(&sha512, SHA512_HEX, TS).is_ok());
        assert!(check(&sha512, MS_SHA512_HEX, TS_MS).is_ok());
        assert_eq!(check(&sha512, SHA256_HEX, TS), Err(HmacFailure::Wrong));
        let sha1 = verifier(|c| c.algorithm = HmacAlgorithm::Sha1);
        assert!(check(&sha1, SHA1_HEX, TS).is_ok());
        assert!(check(&sha1, MS_SHA1_HEX, TS_MS).is_ok());
        assert_eq!(check(&sha1, SHA512_HEX, TS), Err(HmacFailure::Wrong));
    }

    #[test]
    fn missing_headers() {
        let v = verifier(|_| {});
        let sig = Some(SHA256_HEX.as_bytes());
        assert_eq!(
            v.verify(None, Some(TS), BODY, now()),
            Err(HmacFailure::Missing)
        );
        assert_eq!(v.verify(sig, None, BODY, now()), Err(HmacFailure::Missing));
        assert_eq!(v.verify(None, None, BODY, now()), Err(HmacFailure::Missing));
        assert_eq!(
            v.verify(Some(b""), Some(TS), BODY, now()),
            Err(HmacFailure::MalformedSignature)
        );
    }

    #[test]
    fn non_numeric_timestamps_are_malformed() {
        let v = verifier(|_| {});
        for ts in [
            &b""[..],
            b"abc",
            b"1700000000.5",
            b"-1700000000",
            b"+1700000000",
            b"1.7e9",
            b"2023-11-14T22:13:20Z",
            b"99999999999999999999",
        ] {
            assert_eq!(
                v.verify(Some(SHA256_HEX.as_bytes()), Some(ts), BODY, now()),
                Err(HmacFailure::MalformedTimestamp),
                "{}",
                String::from_utf8_lossy(ts)
            );
        }
        assert_eq!(HmacFailure::MalformedTimestamp.reason(), "malformed");
    }

    #[test]
    fn malformed_hex_is_refused() {
        let v = verifier(|_| {});
        assert_eq!(
            check(&v, &SHA256_HEX[..63], TS),
            Err(HmacFailure::MalformedSignature)
        );
        assert_eq!(
            check(&v, &format!("{}zz", &SHA256_HEX[..62]), TS),
            Err(HmacFailure::MalformedSignature)
        );
    }

    #[test]
    fn settings_parse_and_the_secret_is_never_shown() {
        assert_eq!("SHA256".parse(), Ok(HmacAlgorithm::Sha256));
        assert_eq!("sha-512".parse(), Ok(HmacAlgorithm::Sha512));
        assert_eq!("sha1".parse(), Ok(HmacAlgorithm::Sha1));
        assert!("md5".parse::<HmacAlgorithm>().is_err());
        assert_eq!("Base64".parse(), Ok(SignatureEncoding::Base64));
        assert!("base32".parse::<SignatureEncoding>().is_err());
        assert_eq!(header_name(" X-Signature ").unwrap(), "x-signature");
        assert!(header_name("x signature").is_err());
        assert!(header_name("").is_err());
        let config = HmacConfig::new(SECRET);
        assert!(!format!("{config:?}").contains(SECRET));
        assert!(!format!("{:?}", HmacVerifier::new(&config)).contains(SECRET));
        let headers = verifier(|c| {
            c.signature_header = "X-Vapi-Signature".to_owned();
            c.timestamp_header = "X-Vapi-Timestamp".to_owned();
        });
        assert_eq!(headers.signature_header(), "x-vapi-signature");
        assert_eq!(headers.timestamp_header(), "x-vapi-timestamp");
    }
}
