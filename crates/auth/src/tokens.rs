//! HS256 JWT access tokens, checked against the caller's clock.

use std::fmt;

use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use voice_scheduler_domain::ports::{AccessClaims, AccessTokens, TokenRejected};
use voice_scheduler_domain::user::{SessionId, UserId};

/// The shortest secret accepted: 256 bits, HMAC-SHA-256's output size.
pub const MIN_SECRET_BYTES: usize = 32;
/// How far `exp`, `nbf` and `iat` may be off the verifier's clock.
pub const LEEWAY_SECONDS: i64 = 30;
/// The longest lifetime [`JwtAccessTokens::issue`] signs (15 minutes).
pub const MAX_LIFETIME_SECONDS: i64 = 15 * 60;

/// Longer tokens are refused before any decoding (ours are about 400 bytes).
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The only algorithm, as it appears in the header.
const ALGORITHM: Algorithm = Algorithm::HS256;
const ALGORITHM_NAME: &str = "HS256";
/// Every claim a token must carry. jsonwebtoken checks the presence of the
/// registered ones it knows (`exp`, `nbf`, `iss`, `aud`, `sub`); the others
/// are checked here.
const REQUIRED_CLAIMS: [&str; 8] = ["sub", "sid", "iat", "nbf", "exp", "iss", "aud", "jti"];

/// The production [`AccessTokens`]: JWTs signed with HMAC-SHA-256.
pub struct JwtAccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl JwtAccessTokens {
    /// Signs and verifies with `secret` (at least [`MIN_SECRET_BYTES`]
    /// bytes), naming `issuer` and `audience` in the tokens it issues and
    /// accepting only tokens that name them.
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> anyhow::Result<Self> {
        if secret.len() < MIN_SECRET_BYTES {
            bail!(
                "the access-token secret must be at least {MIN_SECRET_BYTES} bytes (256 bits) \
                 from a CSPRNG, got {} bytes",
                secret.len()
            );
        }
        ensure!(
            !issuer.is_empty(),
            "the access-token issuer must not be empty"
        );
        ensure!(
            !audience.is_empty(),
            "the access-token audience must not be empty"
        );
        // jsonwebtoken has no crypto backend of its own here (no RSA in the
        // graph): ours is HMAC only.
        crate::jwt_crypto::install();

        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.set_required_spec_claims(&REQUIRED_CLAIMS);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_aud = true;
        // Time is checked in `verify` against the caller's `now`: these read
        // the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.reject_tokens_expiring_in_less_than = 0;

        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Refuses, before jsonwebtoken parses anything, a token that is too
    /// long, not three parts, or whose header asks for anything but plain
    /// HS256.
    fn check_header(token: &str) -> Result<(), TokenRejected> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(rejected("malformed"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(rejected("malformed"));
        };
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| rejected("malformed"))?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|_| rejected("malformed"))?;
        match header.get("alg") {
            Some(serde_json::Value::String(alg)) if alg == ALGORITHM_NAME => {}
            Some(_) => return Err(rejected("algorithm not allowed")),
            None => return Err(rejected("malformed")),
        }
        // Critical extensions must be understood; we understand none.
        if header.contains_key("crit") {
            return Err(rejected("unsupported header"));
        }
        match header.get("typ") {
            None => {}
            Some(serde_json::Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
            Some(_) => return Err(rejected("wrong type")),
        }
        Ok(())
    }
}

impl fmt::Debug for JwtAccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAccessTokens")
            .field("algorithm", &ALGORITHM)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// What `issue` signs.
#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: &'a str,
    aud: &'a str,
    jti: Uuid,
}

/// What `verify` reads once the signature, algorithm, issuer and audience
/// are right. Optional here so a missing claim gets its own reason.
#[derive(Deserialize)]
struct PresentedClaims {
    sub: Option<String>,
    sid: Option<String>,
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
    jti: Option<String>,
}

fn rejected(reason: &str) -> TokenRejected {
    TokenRejected(reason.to_owned())
}

/// A short reason for a jsonwebtoken error; never echoes the token.
fn reason(kind: &ErrorKind) -> TokenRejected {
    match kind {
        ErrorKind::InvalidSignature => rejected("wrong signature"),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => rejected("algorithm not allowed"),
        ErrorKind::InvalidIssuer => rejected("wrong issuer"),
        ErrorKind::InvalidAudience => rejected("wrong audience"),
        ErrorKind::InvalidSubject => rejected("wrong subject"),
        ErrorKind::ExpiredSignature => rejected("expired"),
        ErrorKind::ImmatureSignature => rejected("not yet valid"),
        // The name is one of REQUIRED_CLAIMS, not from the token.
        ErrorKind::MissingRequiredClaim(claim) => TokenRejected(format!("missing claim: {claim}")),
        _ => rejected("malformed"),
    }
}

fn required<T>(name: &str, value: Option<T>) -> Result<T, TokenRejected> {
    value.ok_or_else(|| TokenRejected(format!("missing claim: {name}")))
}

fn uuid_claim(name: &str, value: Option<String>) -> Result<Uuid, TokenRejected> {
    Uuid::parse_str(&required(name, value)?)
        .map_err(|_| TokenRejected(format!("malformed claim: {name}")))
}

impl AccessTokens for JwtAccessTokens {
    /// Signs `claims`, rounded down to whole seconds, with a fresh `jti`.
    /// Refuses a lifetime that is not positive or longer than
    /// [`MAX_LIFETIME_SECONDS`].
    fn issue(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        let lifetime = claims.expires_at - claims.issued_at;
        ensure!(
            lifetime > Duration::zero(),
            "an access token must expire after it is issued"
        );
        ensure!(
            lifetime <= Duration::seconds(MAX_LIFETIME_SECONDS),
            "an access token may live at most {MAX_LIFETIME_SECONDS} s, asked for {} s",
            lifetime.num_seconds()
        );
        let iat = claims.issued_at.timestamp();
        ensure!(iat >= 0, "an access token cannot be issued before 1970");
        let body = IssuedClaims {
            sub: claims.user.as_uuid(),
            sid: claims.session.as_uuid(),
            iat,
            nbf: iat,
            exp: claims.expires_at.timestamp(),
            iss: &self.issuer,
            aud: &self.audience,
            jti: Uuid::new_v4(),
        };
        jsonwebtoken::encode(&Header::new(ALGORITHM), &body, &self.encoding)
            .context("could not sign the access token")
    }

    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenRejected> {
        Self::check_header(token)?;
        // Signature first, then issuer, audience and the presence of the
        // registered claims; no time checks (see `new`).
        let claims =
            jsonwebtoken::decode::<PresentedClaims>(token, &self.decoding, &self.validation)
                .map_err(|e| reason(e.kind()))?
                .claims;

        let user = uuid_claim("sub", claims.sub)?;
        let session = uuid_claim("sid", claims.sid)?;
        uuid_claim("jti", claims.jti)?;
        let iat = required("iat", claims.iat)?;
        let nbf = required("nbf", claims.nbf)?;
        let exp = required("exp", claims.exp)?;

        let now = now.timestamp();
        if exp.saturating_add(LEEWAY_SECONDS) <= now {
            return Err(rejected("expired"));
        }
        if nbf.saturating_sub(LEEWAY_SECONDS) > now {
            return Err(rejected("not yet valid"));
        }
        if iat.saturating_sub(LEEWAY_SECONDS) > now {
            return Err(rejected("issued in the future"));
        }
        let issued_at = DateTime::from_timestamp(iat, 0).ok_or_else(|| rejected("malformed"))?;
        let expires_at = DateTime::from_timestamp(exp, 0).ok_or_else(|| rejected("malformed"))?;
        Ok(AccessClaims {
            user: UserId::from_uuid(user),
            session: SessionId::from_uuid(session),
            issued_at,
            expires_at,
        })
    }
}

/// A fresh signing secret: 32 bytes from a CSPRNG (`ThreadRng`, ChaCha12
/// seeded by the operating system), base64url without padding — 43
/// characters, whose bytes are the secret to pass to [`JwtAccessTokens::new`].
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";
    const ISSUER: &str = "voice-scheduler";
    const AUDIENCE: &str = "voice-scheduler-staff";

    fn tokens() -> JwtAccessTokens {
        JwtAccessTokens::new(SECRET, ISSUER, AUDIENCE).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 5, 17, 9, 30, 0).unwrap()
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            user: UserId::new(),
            session: SessionId::new(),
            issued_at: t0(),
            expires_at: t0() + Duration::minutes(15),
        }
    }

    /// Valid claims as JSON, for tokens built by hand.
    fn payload(claims: &AccessClaims) -> Value {
        json!({
            "sub": claims.user.as_uuid().to_string(),
            "sid": claims.session.as_uuid().to_string(),
            "iat": claims.issued_at.timestamp(),
            "nbf": claims.issued_at.timestamp(),
            "exp": claims.expires_at.timestamp(),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": Uuid::new_v4().to_string(),
        })
    }

    fn sign(payload: &Value, secret: &[u8], alg: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            payload,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    fn reason_of(result: Result<AccessClaims, TokenRejected>) -> String {
        result.unwrap_err().0
    }

    #[test]
    fn an_issued_token_verifies_to_its_claims() {
        let tokens = tokens();
        let claims = claims();
        let token = tokens.issue(&claims).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(
            tokens.verify(&token, t0() + Duration::minutes(1)).unwrap(),
            claims
        );
        // Valid from its first second to its last.
        assert_eq!(tokens.verify(&token, t0()).unwrap(), claims);
        assert_eq!(
            tokens
                .verify(&token, claims.expires_at - Duration::seconds(1))
                .unwrap(),
            claims
        );
    }

    #[test]
    fn the_header_and_claims_are_as_documented() {
        let token = tokens().issue(&claims()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let body: Value = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        let object = body.as_object().unwrap();
        let mut names: Vec<&str> = object.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["aud", "exp", "iat", "iss", "jti", "nbf", "sid", "sub"]
        );
        assert_eq!(body["nbf"], body["iat"]);
        assert_eq!(body["iss"], ISSUER);
        assert_eq!(body["aud"], AUDIENCE);
        let jti = Uuid::parse_str(body["jti"].as_str().unwrap()).unwrap();
        assert_eq!(jti.get_version_num(), 4);
    }

    #[test]
    fn every_token_gets_its_own_jti() {
        let tokens = tokens();
        let claims = claims();
        let a = tokens.issue(&claims).unwrap();
        let b = tokens.issue(&claims).unwrap();
        assert_ne!(a, b);
        let jti = |t: &str| {
            jsonwebtoken::dangerous::insecure_decode_claims::<Value>(t).unwrap()["jti"].clone()
        };
        assert_ne!(jti(&a), jti(&b));
    }

    #[test]
    fn times_are_rounded_down_to_the_second() {
        let tokens = tokens();
        let mut claims = claims();
        claims.issued_at += Duration::milliseconds(700);
        claims.expires_at += Duration::milliseconds(700);
        let token = tokens.issue(&claims).unwrap();
        let verified = tokens.verify(&token, t0() + Duration::minutes(1)).unwrap();
        assert_eq!(verified.issued_at, t0());
        assert_eq!(verified.expires_at, t0() + Duration::minutes(15));
    }

    #[test]
    fn issuing_refuses_a_lifetime_that_is_too_long_or_not_positive() {
        let tokens = tokens();
        let mut claims = claims();
        claims.expires_at = claims.issued_at + Duration::minutes(15) + Duration::seconds(1);
        assert!(tokens.issue(&claims).is_err());
        claims.expires_at = claims.issued_at;
        assert!(tokens.issue(&claims).is_err());
        claims.expires_at = claims.issued_at - Duration::minutes(1);
        assert!(tokens.issue(&claims).is_err());
        claims.expires_at = claims.issued_at + Duration::seconds(1);
        assert!(tokens.issue(&claims).is_ok());
    }

    #[test]
    fn alg_none_is_refused() {
        let tokens = tokens();
        let body = b64(&payload(&claims()));
        for alg in ["none", "None", "NONE", "nOnE", ""] {
            let header = b64(&json!({ "alg": alg, "typ": "JWT" }));
            for token in [
                format!("{header}.{body}."),
                format!("{header}.{body}"),
                // With a real HS256 signature of the same parts.
                {
                    let real = tokens.issue(&claims()).unwrap();
                    let signature = real.rsplit('.').next().unwrap().to_owned();
                    format!("{header}.{body}.{signature}")
                },
            ] {
                let result = tokens.verify(&token, t0());
                assert!(result.is_err(), "{alg}: {token}");
            }
            let token = format!("{header}.{body}.");
            assert_eq!(
                reason_of(tokens.verify(&token, t0())),
                "algorithm not allowed",
                "{alg}"
            );
        }
        // And the same payload with HS256 and the right key is fine: the
        // refusals above are about the algorithm.
        assert!(
            tokens
                .verify(&sign(&payload(&claims()), SECRET, Algorithm::HS256), t0())
                .is_ok()
        );
    }

    #[test]
    fn other_hmac_algorithms_with_the_same_secret_are_refused() {
        let tokens = tokens();
        let payload = payload(&claims());
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = sign(&payload, SECRET, alg);
            assert_eq!(
                reason_of(tokens.verify(&token, t0())),
                "algorithm not allowed",
                "{alg:?}"
            );
        }
        assert!(
            tokens
                .verify(&sign(&payload, SECRET, Algorithm::HS256), t0())
                .is_ok()
        );
    }

    #[test]
    fn a_header_with_crit_or_another_type_is_refused() {
        let tokens = tokens();
        let signed = tokens.issue(&claims()).unwrap();
        let mut parts = signed.split('.');
        let (_, body, signature) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let crit = b64(&json!({ "alg": "HS256", "typ": "JWT", "crit": ["exp"], "exp": 1 }));
        assert_eq!(
            reason_of(tokens.verify(&format!("{crit}.{body}.{signature}"), t0())),
            "unsupported header"
        );
        let typ = b64(&json!({ "alg": "HS256", "typ": "at+jwt+refresh" }));
        assert_eq!(
            reason_of(tokens.verify(&format!("{typ}.{body}.{signature}"), t0())),
            "wrong type"
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let tokens = tokens();
        let payload = payload(&claims());
        let token = sign(
            &payload,
            b"another secret that is long enough, 32+ bytes",
            Algorithm::HS256,
        );
        assert_eq!(reason_of(tokens.verify(&token, t0())), "wrong signature");
        let other = JwtAccessTokens::new(&[7u8; 32], ISSUER, AUDIENCE).unwrap();
        let token = other.issue(&claims()).unwrap();
        assert_eq!(reason_of(tokens.verify(&token, t0())), "wrong signature");
        assert!(other.verify(&token, t0()).is_ok());
    }

    #[test]
    fn a_changed_payload_breaks_the_signature() {
        let tokens = tokens();
        let mine = tokens.issue(&claims()).unwrap();
        let mut forged = payload(&claims());
        forged["sub"] = json!(UserId::new().as_uuid().to_string());
        let mut parts: Vec<&str> = mine.split('.').collect();
        let forged = b64(&forged);
        parts[1] = &forged;
        assert_eq!(
            reason_of(tokens.verify(&parts.join("."), t0())),
            "wrong signature"
        );
        // An empty or truncated signature too.
        let (message, _) = mine.rsplit_once('.').unwrap();
        assert!(tokens.verify(&format!("{message}."), t0()).is_err());
        assert!(tokens.verify(&mine[..mine.len() - 2], t0()).is_err());
    }

    #[test]
    fn expiry_allows_30_seconds_of_leeway_and_no_more() {
        let tokens = tokens();
        let claims = claims();
        let token = tokens.issue(&claims).unwrap();
        let exp = claims.expires_at;
        assert!(tokens.verify(&token, exp).is_ok());
        assert!(tokens.verify(&token, exp + Duration::seconds(29)).is_ok());
        assert_eq!(
            reason_of(tokens.verify(&token, exp + Duration::seconds(30))),
            "expired"
        );
        assert_eq!(
            reason_of(tokens.verify(&token, exp + Duration::days(365))),
            "expired"
        );
    }

    #[test]
    fn the_verifier_clock_decides_not_the_system_clock() {
        // Issued and checked in 2030: by the system clock it is not yet
        // valid. A token issued by the system clock is expired in 2030.
        let tokens = tokens();
        let token = tokens.issue(&claims()).unwrap();
        assert!(tokens.verify(&token, t0()).is_ok());
        let now = Utc::now();
        let current = AccessClaims {
            issued_at: now,
            expires_at: now + Duration::minutes(15),
            ..claims()
        };
        let token = tokens.issue(&current).unwrap();
        assert_eq!(reason_of(tokens.verify(&token, t0())), "expired");
    }

    #[test]
    fn a_token_from_the_future_is_refused_beyond_the_leeway() {
        let tokens = tokens();
        let claims = claims();
        let token = tokens.issue(&claims).unwrap();
        assert!(tokens.verify(&token, t0() - Duration::seconds(30)).is_ok());
        assert_eq!(
            reason_of(tokens.verify(&token, t0() - Duration::seconds(31))),
            "not yet valid"
        );
        assert_eq!(
            reason_of(tokens.verify(&token, t0() - Duration::hours(2))),
            "not yet valid"
        );
        // nbf in the future with iat now.
        let mut body = payload(&claims);
        body["nbf"] = json!(t0().timestamp() + 120);
        let token = sign(&body, SECRET, Algorithm::HS256);
        assert_eq!(reason_of(tokens.verify(&token, t0())), "not yet valid");
        // iat in the future with nbf now.
        let mut body = payload(&claims);
        body["iat"] = json!(t0().timestamp() + 120);
        let token = sign(&body, SECRET, Algorithm::HS256);
        assert_eq!(
            reason_of(tokens.verify(&token, t0())),
            "issued in the future"
        );
    }

    #[test]
    fn the_wrong_audience_or_issuer_is_refused() {
        let tokens = tokens();
        let for_others = JwtAccessTokens::new(SECRET, ISSUER, "another-audience").unwrap();
        let token = for_others.issue(&claims()).unwrap();
        assert_eq!(reason_of(tokens.verify(&token, t0())), "wrong audience");
        let from_others = JwtAccessTokens::new(SECRET, "another-issuer", AUDIENCE).unwrap();
        let token = from_others.issue(&claims()).unwrap();
        assert_eq!(reason_of(tokens.verify(&token, t0())), "wrong issuer");
        // Each accepts its own.
        assert!(
            for_others
                .verify(&for_others.issue(&claims()).unwrap(), t0())
                .is_ok()
        );
        // An audience list without ours.
        let mut body = payload(&claims());
        body["aud"] = json!(["another-audience", "a-third"]);
        let token = sign(&body, SECRET, Algorithm::HS256);
        assert_eq!(reason_of(tokens.verify(&token, t0())), "wrong audience");
    }

    #[test]
    fn every_claim_is_required() {
        let tokens = tokens();
        for claim in REQUIRED_CLAIMS {
            let mut body = payload(&claims());
            body.as_object_mut().unwrap().remove(claim);
            let token = sign(&body, SECRET, Algorithm::HS256);
            assert_eq!(
                reason_of(tokens.verify(&token, t0())),
                format!("missing claim: {claim}"),
            );
            // null counts as missing.
            let mut body = payload(&claims());
            body[claim] = Value::Null;
            let token = sign(&body, SECRET, Algorithm::HS256);
            assert!(tokens.verify(&token, t0()).is_err(), "{claim}: null");
        }
    }

    #[test]
    fn claims_of_the_wrong_shape_are_refused() {
        let tokens = tokens();
        let cases = [
            ("sub", json!("not-a-uuid")),
            ("sid", json!(42)),
            ("jti", json!("")),
            ("exp", json!("tomorrow")),
            ("iat", json!(1.5e9)),
            ("nbf", json!(-5)),
            ("exp", json!(u64::MAX)),
            ("iss", json!(7)),
        ];
        for (claim, value) in cases {
            let mut body = payload(&claims());
            body[claim] = value.clone();
            let token = sign(&body, SECRET, Algorithm::HS256);
            assert!(tokens.verify(&token, t0()).is_err(), "{claim} = {value}");
        }
        // A payload that is not an object.
        for body in [json!([1, 2]), json!("text"), json!(null)] {
            let token = sign(&body, SECRET, Algorithm::HS256);
            assert!(tokens.verify(&token, t0()).is_err(), "{body}");
        }
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let tokens = tokens();
        let header = b64(&json!({ "alg": "HS256", "typ": "JWT" }));
        let fixed = [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "a.b.c".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "Bearer".into(),
            " ".repeat(10),
            "\u{0}".into(),
            "é.é.é".into(),
            format!("{header}.."),
            format!("{header}.e30."),
            format!("{header}.e30.AAAA"),
            format!("{header}.!!!.AAAA"),
            format!("{header}.{}.x", "A".repeat(MAX_TOKEN_BYTES)),
            "eyJhbGciOiJIUzI1NiJ9.eyJ9.sig".into(),
            "e30.e30.e30".into(),
            "bnVsbA.bnVsbA.bnVsbA".into(),
        ];
        for token in &fixed {
            assert!(tokens.verify(token, t0()).is_err(), "{token:?}");
        }

        let mut rng = rand::rng();
        let alphabet: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u{e9}\u{0}"
                .chars()
                .collect();
        for _ in 0..2000 {
            let len = (rng.next_u32() % 200) as usize;
            let token: String = (0..len)
                .map(|_| alphabet[(rng.next_u32() as usize) % alphabet.len()])
                .collect();
            assert!(tokens.verify(&token, t0()).is_err(), "{token:?}");
            // Random bytes, lossily made text.
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            let token = String::from_utf8_lossy(&bytes);
            assert!(tokens.verify(&token, t0()).is_err());
            // A valid header with random parts after it.
            let token = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(tokens.verify(&token, t0()).is_err());
        }
        // A real token with any one character changed never verifies. (The
        // last character of a part is skipped: base64 may decode a change
        // there to the same bytes, its low bits being unused.)
        let real = tokens.issue(&claims()).unwrap();
        let bytes = real.as_bytes();
        let mut changed_count = 0;
        for i in 0..bytes.len() {
            if i + 1 == bytes.len() || bytes[i + 1] == b'.' {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(changed).unwrap();
            assert!(tokens.verify(&changed, t0()).is_err(), "{i}: {changed}");
            changed_count += 1;
        }
        assert!(changed_count > 300);
        assert!(tokens.verify(&real, t0()).is_ok());
    }

    #[test]
    fn a_secret_shorter_than_32_bytes_is_refused() {
        let error = JwtAccessTokens::new(&[1u8; 31], ISSUER, AUDIENCE).unwrap_err();
        assert!(error.to_string().contains("at least 32 bytes"), "{error}");
        assert!(JwtAccessTokens::new(b"", ISSUER, AUDIENCE).is_err());
        assert!(JwtAccessTokens::new(b"secret", ISSUER, AUDIENCE).is_err());
        assert!(JwtAccessTokens::new(&[1u8; 32], ISSUER, AUDIENCE).is_ok());
        assert!(JwtAccessTokens::new(&[1u8; 32], "", AUDIENCE).is_err());
        assert!(JwtAccessTokens::new(&[1u8; 32], ISSUER, "").is_err());
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let shown = format!("{:?}", tokens());
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("HS256"), "{shown}");
    }

    #[test]
    fn generated_secrets_are_long_random_and_usable() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let tokens = JwtAccessTokens::new(a.as_bytes(), ISSUER, AUDIENCE).unwrap();
        let token = tokens.issue(&claims()).unwrap();
        assert!(tokens.verify(&token, t0()).is_ok());
    }
}
