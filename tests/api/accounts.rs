//! Accounts and sign-in over HTTP: registration, login, access tokens,
//! refresh-token rotation, sign-out, password changes, throttling and roles.
//!
//! Access tokens are taken apart and put together here by hand (base64url,
//! HMAC-SHA-256): the root package has no JWT or crypto dev-dependency. The
//! signer is checked against RFC 4231 and against the server's own tokens
//! before any forged token is trusted to mean anything.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, NOW, STAFF_PASSWORD, TestApp};

/// The signing key of the tests that forge tokens (at least 32 bytes).
const JWT_SECRET: &str = "accounts-test-jwt-secret-0123456789abcdef";
const ADMIN: &str = "admin@example.com";
const STAFF: &str = "staff@example.com";

// ---------------------------------------------------------------------------
// requests

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, path, token, Some(&body)).await
}

/// `GET /auth/me` with `token`: the status and the body.
async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.api(Method::GET, "/auth/me", Some(token), None).await
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    me(app, token).await.0
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    post(
        app,
        "/auth/refresh",
        None,
        json!({"refresh_token": refresh_token}),
    )
    .await
}

/// A sign-in: its access and refresh tokens.
struct SignIn {
    access: String,
    refresh: String,
}

impl SignIn {
    fn from_body(body: &Value) -> Self {
        Self {
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        }
    }
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> SignIn {
    SignIn::from_body(&app.login(email, password).await)
}

async fn login_attempt(
    app: &TestApp,
    email: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    app.api_response(
        Method::POST,
        "/auth/login",
        None,
        Some(&json!({"email": email, "password": password})),
        headers,
    )
    .await
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> StatusCode {
    login_attempt(app, email, password, &[]).await.status()
}

/// Asserts a 429 with `Retry-After` in whole seconds, 1 to 900; returns it.
async fn assert_throttled(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), 429);
    let retry_after = response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .expect("text")
        .parse::<u64>()
        .expect("whole seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    retry_after
}

/// `count` failed sign-ins at once, each for its own unknown account
/// (`prefix-<i>@example.com`), the i-th with `X-Forwarded-For:
/// forwarded_for(i)` when that is `Some`; each must be a 401.
async fn fail_logins(
    app: &TestApp,
    prefix: &str,
    count: usize,
    forwarded_for: impl Fn(usize) -> Option<String>,
) {
    let statuses = futures::future::join_all((0..count).map(|i| {
        let email = format!("{prefix}-{i}@example.com");
        let forwarded = forwarded_for(i);
        async move {
            let headers: Vec<(&str, &str)> = forwarded
                .iter()
                .map(|f| ("X-Forwarded-For", f.as_str()))
                .collect();
            login_attempt(app, &email, "wrong password 1", &headers)
                .await
                .status()
        }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
}

/// The field names of a 422 body's `error.fields`.
fn fields(body: &Value) -> Vec<&str> {
    assert_eq!(body["error"]["code"], "invalid_fields", "{body}");
    body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().expect("field"))
        .collect()
}

fn now() -> DateTime<Utc> {
    NOW.parse().expect("now")
}

/// Fails the test unless `condition` (an SQL boolean expression) holds in the
/// app's database. `TestApp::sql` only executes, so the check is an insert
/// that a NOT NULL constraint refuses when the condition is false.
async fn assert_db(app: &TestApp, condition: &str) {
    app.sql("CREATE TABLE IF NOT EXISTS accounts_test_checks (ok INTEGER NOT NULL)")
        .await;
    app.sql(&format!(
        "INSERT INTO accounts_test_checks (ok) SELECT CASE WHEN {condition} THEN 1 END"
    ))
    .await;
}

// ---------------------------------------------------------------------------
// tokens by hand: base64url, SHA-256, HMAC

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn b64url_decode(text: &str) -> Vec<u8> {
    let (mut bits, mut count, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let value = B64.iter().position(|x| *x == c).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for (k, wi) in K.iter().zip(w) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(*k)
                .wrapping_add(wi);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            (hh, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (bytes, word) in out.chunks_exact_mut(4).zip(h) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block
        .iter()
        .map(|b| b ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let outer: Vec<u8> = block
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(sha256(&inner))
        .collect();
    sha256(&outer)
}

/// A token's header, payload (decoded) and signature (as sent).
fn jwt_parts(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&b64url_decode(part)).expect("a JSON part")
    };
    (decode(parts[0]), decode(parts[1]), parts[2].to_owned())
}

/// `header.payload.signature` with the given parts (no signing).
fn jwt_with(header: &Value, payload: &Value, signature: &str) -> String {
    jwt_with_raw_header(&b64url(header.to_string().as_bytes()), payload, signature)
}

/// Like [`jwt_with`], with the header part as sent (so only the payload changes).
fn jwt_with_raw_header(header: &str, payload: &Value, signature: &str) -> String {
    format!(
        "{header}.{}.{signature}",
        b64url(payload.to_string().as_bytes())
    )
}

/// An HS256 token of `payload` signed with `secret`.
fn jwt_signed(payload: &Value, secret: &[u8]) -> String {
    let unsigned = format!(
        "{}.{}",
        b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(payload.to_string().as_bytes())
    );
    let signature = b64url(&hmac_sha256(secret, unsigned.as_bytes()));
    format!("{unsigned}.{signature}")
}

#[test]
fn the_hand_made_signer_matches_rfc_4231_and_base64url() {
    // RFC 4231, test case 2.
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // A key longer than a block is hashed first (RFC 4231, test case 6).
    let mac = hmac_sha256(
        &[0xaa; 131],
        b"Test Using Larger Than Block-Size Key - Hash Key First",
    );
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
    for (raw, encoded) in [
        (&b""[..], ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"\xfb\xff", "-_8"),
    ] {
        assert_eq!(b64url(raw), encoded);
        assert_eq!(b64url_decode(encoded), raw);
    }
}

// ---------------------------------------------------------------------------
// 1. registration

on_both_backends!(
    the_first_account_is_an_administrator_then_only_administrators_create_accounts,
    &[],
    async |app: &TestApp| {
        let admin = app.register(None, ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(admin["role"], "admin", "{admin}");
        assert_eq!(admin["email"], ADMIN);
        assert_eq!(admin["name"], "Test User");
        assert!(uuid::Uuid::parse_str(admin["id"].as_str().unwrap()).is_ok());
        assert_eq!(
            admin["created_at"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap(),
            now()
        );
        assert!(admin.get("password").is_none() && admin.get("password_hash").is_none());

        // Registration is closed now: anonymously, with or without a role.
        let closed =
            json!({"email": "next@example.com", "password": "next password 1", "name": "Next"});
        let (status, body) = post(app, "/auth/register", None, closed.clone()).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let mut with_role = closed.clone();
        with_role["role"] = json!("admin");
        let (status, body) = post(app, "/auth/register", None, with_role).await;
        assert_eq!(status, 403, "{body}");
        // A bearer token that is not valid is refused, not taken as anonymous.
        let (status, _) = post(app, "/auth/register", Some("garbage"), closed.clone()).await;
        assert_eq!(status, 401);

        // An administrator creates staff (the default) and administrators.
        let admin_token = sign_in(app, ADMIN, ADMIN_PASSWORD).await.access;
        let staff = app
            .register(Some(&admin_token), STAFF, STAFF_PASSWORD)
            .await;
        assert_eq!(staff["role"], "staff", "{staff}");
        let (status, second_admin) = post(
            app,
            "/auth/register",
            Some(&admin_token),
            json!({"email": "boss@example.com", "password": "boss password 1", "name": "Boss", "role": "admin"}),
        )
        .await;
        assert_eq!(status, 201, "{second_admin}");
        assert_eq!(second_admin["role"], "admin");
        let (status, explicit_staff) = post(
            app,
            "/auth/register",
            Some(&admin_token),
            json!({"email": "clerk@example.com", "password": "clerk password 1", "name": "Clerk", "role": "staff"}),
        )
        .await;
        assert_eq!(status, 201, "{explicit_staff}");
        assert_eq!(explicit_staff["role"], "staff");
        let (status, body) = post(
            app,
            "/auth/register",
            Some(&admin_token),
            json!({"email": "odd@example.com", "password": "odd password 1", "name": "Odd", "role": "owner"}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(fields(&body), ["role"]);

        // Staff may not create accounts, with or without a role.
        let staff_token = sign_in(app, STAFF, STAFF_PASSWORD).await.access;
        let (status, body) = post(app, "/auth/register", Some(&staff_token), closed.clone()).await;
        assert_eq!(status, 403, "{body}");
        let mut staff_with_role = closed.clone();
        staff_with_role["role"] = json!("staff");
        let (status, _) = post(app, "/auth/register", Some(&staff_token), staff_with_role).await;
        assert_eq!(status, 403);

        // The same address in another case is taken.
        let (status, body) = post(
            app,
            "/auth/register",
            Some(&admin_token),
            json!({"email": "Admin@Example.COM", "password": "other password 1", "name": "Copy"}),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "email_taken");

        // Nothing refused above was created.
        let (status, users) = app
            .api(Method::GET, "/api/v1/users", Some(&admin_token), None)
            .await;
        assert_eq!(status, 200, "{users}");
        let emails: Vec<&str> = users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(
            emails,
            [ADMIN, STAFF, "boss@example.com", "clerk@example.com"]
        );
    }
);

on_both_backends!(
    open_registration_makes_staff_and_never_lets_anonymous_choose_a_role,
    &[("ALLOW_REGISTRATION", "true")],
    async |app: &TestApp| {
        // The first account is the administrator and is shown (bootstrap).
        let admin = app.register(None, ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(admin["role"], "admin");
        let (status, accepted) = post(
            app,
            "/auth/register",
            None,
            json!({"email": STAFF, "password": STAFF_PASSWORD, "name": "Sam Staff"}),
        )
        .await;
        assert_eq!(status, 202, "{accepted}");
        assert_eq!(accepted["status"], "accepted", "{accepted}");
        assert!(accepted.get("id").is_none(), "{accepted}");
        // It was created, as staff.
        let token = app.login(ADMIN, ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, users) = app
            .api(Method::GET, "/api/v1/users", Some(&token), None)
            .await;
        let roles: Vec<(&str, &str)> = users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["email"].as_str().unwrap(), u["role"].as_str().unwrap()))
            .collect();
        assert_eq!(roles, [(ADMIN, "admin"), (STAFF, "staff")]);
        assert_eq!(login_status(app, STAFF, STAFF_PASSWORD).await, 200);
        for role in ["admin", "staff"] {
            let (status, body) = post(
                app,
                "/auth/register",
                None,
                json!({"email": format!("{role}-wanted@example.com"), "password": "some password 1", "name": "Wanted", "role": role}),
            )
            .await;
            assert_eq!(status, 403, "{role}: {body}");
        }
        // A taken address (in another case, or the administrator's) gets
        // exactly the answer a free one gets: nothing tells them apart.
        for taken in ["STAFF@example.com", ADMIN] {
            let (status, body) = post(
                app,
                "/auth/register",
                None,
                json!({"email": taken, "password": "some password 1", "name": "Again"}),
            )
            .await;
            assert_eq!(status, 202, "{taken}: {body}");
            assert_eq!(body, accepted, "{taken}");
        }
        // ... but it reopens nothing: the passwords are unchanged, no account
        // was added, and each attempt is in the audit log.
        assert_eq!(login_status(app, STAFF, "some password 1").await, 401);
        assert_eq!(login_status(app, STAFF, STAFF_PASSWORD).await, 200);
        assert_eq!(login_status(app, ADMIN, ADMIN_PASSWORD).await, 200);
        assert_db(app, "(SELECT count(*) FROM users) = 2").await;
        assert_db(
            app,
            "(SELECT count(*) FROM audit_log WHERE action = 'user.register' \
             AND outcome = 'denied' AND detail LIKE '%already has an account%') = 2",
        )
        .await;
        // An administrator creating accounts is trusted with the truth.
        let (status, body) = post(
            app,
            "/auth/register",
            Some(&token),
            json!({"email": STAFF, "password": "some password 1", "name": "Again"}),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "email_taken");
    }
);

on_both_backends!(
    invalid_registrations_name_every_bad_field_and_passwords_are_limited_to_72_bytes,
    &[],
    async |app: &TestApp| {
        // All three bad at once (anonymous, first account: it would be created).
        let (status, body) = post(
            app,
            "/auth/register",
            None,
            json!({"email": "not-an-email", "password": "short", "name": "   "}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        let mut named = fields(&body);
        named.sort_unstable();
        assert_eq!(named, ["email", "name", "password"], "{body}");

        let register = |password: String| {
            post(
                app,
                "/auth/register",
                None,
                json!({"email": ADMIN, "password": password, "name": "Ann Admin"}),
            )
        };
        // 73 ASCII bytes; 25 three-byte characters (25 characters, 75 bytes).
        for password in ["a".repeat(73), "€".repeat(25)] {
            let (status, body) = register(password.clone()).await;
            assert_eq!(status, 422, "{} bytes: {body}", password.len());
            assert_eq!(fields(&body), ["password"], "{body}");
        }
        // A name with a forbidden character, and one too long.
        for name in ["<script>".to_owned(), "n".repeat(101)] {
            let (status, body) = post(
                app,
                "/auth/register",
                None,
                json!({"email": ADMIN, "password": ADMIN_PASSWORD, "name": name}),
            )
            .await;
            assert_eq!(status, 422, "{body}");
            assert_eq!(fields(&body), ["name"], "{body}");
        }

        // Exactly 72 bytes is fine, and it is the whole password that counts:
        // the same 72 bytes with one more is refused, not truncated to match.
        let password = format!("{}{}", "€".repeat(20), "b".repeat(12));
        assert_eq!(password.len(), 72);
        let (status, body) = register(password.clone()).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["role"], "admin");
        assert_eq!(login_status(app, ADMIN, &password).await, 200);
        assert_eq!(login_status(app, ADMIN, &format!("{password}!")).await, 401);
    }
);

on_both_backends!(
    of_concurrent_registrations_one_becomes_the_administrator_and_one_gets_the_address,
    &[],
    async |app: &TestApp| {
        let anonymous = |email: &'static str| {
            post(
                app,
                "/auth/register",
                None,
                json!({"email": email, "password": ADMIN_PASSWORD, "name": "Racer"}),
            )
        };
        let (a, b, c) = tokio::join!(
            anonymous("first@example.com"),
            anonymous("second@example.com"),
            anonymous("third@example.com")
        );
        let mut statuses = [a.0.as_u16(), b.0.as_u16(), c.0.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 403, 403], "{} / {} / {}", a.1, b.1, c.1);
        let admin = [a, b, c]
            .into_iter()
            .find(|(status, _)| *status == 201)
            .unwrap()
            .1;
        assert_eq!(admin["role"], "admin", "{admin}");

        let token = sign_in(app, admin["email"].as_str().unwrap(), ADMIN_PASSWORD)
            .await
            .access;
        let by_admin = |email: &'static str| {
            post(
                app,
                "/auth/register",
                Some(&token),
                json!({"email": email, "password": STAFF_PASSWORD, "name": "Twin"}),
            )
        };
        let (x, y) = tokio::join!(by_admin("twin@example.com"), by_admin("TWIN@Example.com"));
        let mut statuses = [x.0.as_u16(), y.0.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "{} / {}", x.1, y.1);
        let (status, users) = app
            .api(Method::GET, "/api/v1/users", Some(&token), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    }
);

// ---------------------------------------------------------------------------
// 2. login

on_both_backends!(
    login_hands_out_a_bearer_pair_for_the_user,
    &[],
    async |app: &TestApp| {
        let created = app.register(None, ADMIN, ADMIN_PASSWORD).await;
        // The address is matched whatever its case.
        let body = app.login("ADMIN@example.COM", ADMIN_PASSWORD).await;
        assert_eq!(body["token_type"], "Bearer", "{body}");
        assert_eq!(body["expires_in"], 900);
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["access_token", "expires_in", "refresh_token", "token_type"]
        );
        let pair = SignIn::from_body(&body);
        assert_ne!(pair.access, pair.refresh);

        let (status, user) = me(app, &pair.access).await;
        assert_eq!(status, 200, "{user}");
        assert_eq!(user, created);

        // The access token is the documented JWT.
        let (header, claims, _) = jwt_parts(&pair.access);
        assert_eq!(header["alg"], "HS256", "{header}");
        let mut names: Vec<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["aud", "exp", "iat", "iss", "jti", "nbf", "sid", "sub"]
        );
        assert_eq!(claims["iss"], "voice-scheduler");
        assert_eq!(claims["aud"], "voice-scheduler-api");
        assert_eq!(claims["sub"], created["id"]);
        assert_eq!(claims["iat"], now().timestamp());
        assert_eq!(claims["nbf"], claims["iat"]);
        assert_eq!(claims["exp"], now().timestamp() + 900);

        // Every sign-in is its own: new tokens, another session.
        let other = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        assert_ne!(other.refresh, pair.refresh);
        assert_ne!(jwt_parts(&other.access).1["sid"], claims["sid"]);
        assert_ne!(jwt_parts(&other.access).1["jti"], claims["jti"]);
    }
);

on_both_backends!(
    failed_logins_do_not_tell_whether_the_account_exists,
    &[],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        let attempt = |email: &'static str, password: &'static str| {
            post(
                app,
                "/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
        };
        let (unknown_status, unknown) = attempt("nobody@example.com", ADMIN_PASSWORD).await;
        let (wrong_status, wrong) = attempt(ADMIN, "wrong password 1").await;
        let (malformed_status, malformed) = attempt("not an email", ADMIN_PASSWORD).await;
        assert_eq!(unknown_status, 401, "{unknown}");
        assert_eq!(wrong_status, 401, "{wrong}");
        assert_eq!(malformed_status, 401, "{malformed}");
        assert_eq!(unknown, wrong);
        assert_eq!(malformed, wrong);
        assert_eq!(wrong["error"]["code"], "unauthorized");
        // And an empty password for a real account.
        let (status, empty) = attempt(ADMIN, "").await;
        assert_eq!(status, 401);
        assert_eq!(empty, wrong);
    }
);

// ---------------------------------------------------------------------------
// 3. access tokens

on_both_backends!(
    access_tokens_are_refused_unless_signed_with_our_key_for_us,
    &[("JWT_SECRET", JWT_SECRET)],
    async |app: &TestApp| {
        let staff_id = {
            let admin = app.admin_token().await;
            app.register(Some(&admin), STAFF, STAFF_PASSWORD).await["id"].clone()
        };
        let real = sign_in(app, ADMIN, ADMIN_PASSWORD).await.access;
        let (_, claims, signature) = jwt_parts(&real);
        let header = real.split('.').next().unwrap();
        assert_eq!(me_status(app, &real).await, 200);

        // The signer here computes the server's own signature: the key in
        // use is JWT_SECRET, and forged tokens below differ only as intended.
        let (signed_part, _) = real.rsplit_once('.').unwrap();
        assert_eq!(
            b64url(&hmac_sha256(JWT_SECRET.as_bytes(), signed_part.as_bytes())),
            signature
        );
        let with = |changes: &[(&str, Value)]| {
            let mut c = claims.clone();
            for (name, value) in changes {
                c[*name] = value.clone();
            }
            c
        };
        let fresh_jti = json!(uuid::Uuid::new_v4().to_string());
        let ours = jwt_signed(&with(&[("jti", fresh_jti.clone())]), JWT_SECRET.as_bytes());
        assert_eq!(
            me_status(app, &ours).await,
            200,
            "a token made here is accepted"
        );

        // No token, or not a bearer token.
        let (status, body) = app.api(Method::GET, "/auth/me", None, None).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        let response = app
            .api_response(
                Method::GET,
                "/auth/me",
                None,
                None,
                &[("Authorization", &format!("Basic {real}"))],
            )
            .await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");

        let mut refused: Vec<(&str, String)> = vec![
            ("garbage", "garbage".to_owned()),
            ("empty signature", format!("{signed_part}.")),
            ("no signature part", signed_part.to_owned()),
            ("truncated signature", real[..real.len() - 4].to_owned()),
        ];
        // alg none, with valid claims for the real user and sign-in.
        let none = json!({"alg": "none", "typ": "JWT"});
        refused.push(("alg none", jwt_with(&none, &claims, "")));
        refused.push((
            "alg none, real signature",
            jwt_with(&none, &claims, &signature),
        ));
        refused.push((
            "alg HS512 header, real signature",
            jwt_with(&json!({"alg": "HS512", "typ": "JWT"}), &claims, &signature),
        ));
        // The real signature over a changed payload.
        let later = with(&[("exp", json!(now().timestamp() + 86_400))]);
        refused.push((
            "exp changed",
            jwt_with_raw_header(header, &later, &signature),
        ));
        let staff = with(&[("sub", staff_id.clone())]);
        refused.push((
            "sub changed",
            jwt_with_raw_header(header, &staff, &signature),
        ));
        let elsewhere = with(&[("aud", json!("another-api"))]);
        refused.push((
            "aud changed",
            jwt_with_raw_header(header, &elsewhere, &signature),
        ));
        // Signed with another key.
        refused.push((
            "another key",
            jwt_signed(&claims, b"another secret, also at least 32 bytes long"),
        ));
        // Signed with our key, but wrong for us.
        let key = JWT_SECRET.as_bytes();
        refused.push(("wrong audience", jwt_signed(&elsewhere, key)));
        refused.push((
            "audience list without ours",
            jwt_signed(&with(&[("aud", json!(["another-api"]))]), key),
        ));
        refused.push((
            "wrong issuer",
            jwt_signed(&with(&[("iss", json!("someone-else"))]), key),
        ));
        refused.push((
            "another user's sub on this sign-in",
            jwt_signed(&staff, key),
        ));
        refused.push((
            "unknown session",
            jwt_signed(
                &with(&[("sid", json!(uuid::Uuid::new_v4().to_string()))]),
                key,
            ),
        ));
        refused.push((
            "expired 30 s ago",
            jwt_signed(&with(&[("exp", json!(now().timestamp() - 30))]), key),
        ));
        refused.push((
            "not valid for 2 minutes",
            jwt_signed(&with(&[("nbf", json!(now().timestamp() + 120))]), key),
        ));
        refused.push((
            "issued in 2 minutes",
            jwt_signed(&with(&[("iat", json!(now().timestamp() + 120))]), key),
        ));
        for claim in ["sub", "sid", "iat", "nbf", "exp", "iss", "aud", "jti"] {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove(claim);
            refused.push((claim, jwt_signed(&c, key)));
        }
        for (what, token) in &refused {
            let (status, body) = me(app, token).await;
            assert_eq!(status, 401, "{what}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized", "{what}");
        }
        // Within the leeway is fine (and the real token still is).
        let just_expired = jwt_signed(
            &with(&[("exp", json!(now().timestamp() - 29)), ("jti", fresh_jti)]),
            key,
        );
        assert_eq!(me_status(app, &just_expired).await, 200);
        assert_eq!(me_status(app, &real).await, 200);
    }
);

on_both_backends!(
    access_tokens_expire_after_15_minutes_with_30_seconds_of_leeway,
    &[],
    async |app: &TestApp| {
        let token = app.admin_token().await;
        app.clock
            .advance(Duration::minutes(15) + Duration::seconds(20));
        assert_eq!(me_status(app, &token).await, 200);
        app.clock.advance(Duration::seconds(9));
        assert_eq!(me_status(app, &token).await, 200, "29 s past exp");
        app.clock.advance(Duration::seconds(1));
        let (status, body) = me(app, &token).await;
        assert_eq!(status, 401, "30 s past exp: {body}");
        app.clock.advance(Duration::seconds(30));
        assert_eq!(me_status(app, &token).await, 401);
    }
);

on_both_backends!(
    a_shorter_access_token_lifetime_is_honoured,
    &[("ACCESS_TOKEN_MINUTES", "5")],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        let body = app.login(ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(body["expires_in"], 300, "{body}");
        let pair = SignIn::from_body(&body);
        assert_eq!(jwt_parts(&pair.access).1["exp"], now().timestamp() + 300);
        app.clock.advance(Duration::minutes(4));
        assert_eq!(me_status(app, &pair.access).await, 200);
        app.clock.advance(Duration::minutes(2));
        assert_eq!(me_status(app, &pair.access).await, 401);
        // The sign-in outlives its access token: a refresh gives a new one.
        let (status, body) = refresh(app, &pair.refresh).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["expires_in"], 300);
        assert_eq!(
            me_status(app, body["access_token"].as_str().unwrap()).await,
            200
        );
    }
);

/// Settings with the tests' required variables plus `extra`.
fn settings_with(
    extra: &[(&str, &str)],
) -> Result<voice_scheduler_server::Settings, Vec<(&'static str, String)>> {
    let vars: Vec<(&str, &str)> = [("DATABASE_URL", "sqlite://unused.db?mode=rwc")]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    voice_scheduler_server::Settings::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .map_err(|e| {
        e.0.iter()
            .map(|p| {
                (
                    p.variable,
                    format!("{}={:?}: {}", p.variable, p.value, p.expected),
                )
            })
            .collect()
    })
}

#[test]
fn start_up_refuses_a_short_token_key_and_long_token_lifetimes() {
    for short in ["short", &"k".repeat(31)] {
        let problems = settings_with(&[("JWT_SECRET", short)]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "JWT_SECRET");
        // The secret is not repeated in the message.
        assert!(!problems[0].1.contains(short), "{problems:?}");
    }
    let ok = settings_with(&[("JWT_SECRET", &"k".repeat(32))]).unwrap();
    assert_eq!(ok.jwt_secret.as_deref(), Some("k".repeat(32).as_str()));
    for minutes in ["16", "0", "-1", "60", "five"] {
        let problems = settings_with(&[("ACCESS_TOKEN_MINUTES", minutes)]).unwrap_err();
        assert_eq!(
            problems.iter().map(|p| p.0).collect::<Vec<_>>(),
            ["ACCESS_TOKEN_MINUTES"],
            "{minutes}"
        );
    }
    for (minutes, expected) in [("1", 1), ("15", 15)] {
        let settings = settings_with(&[("ACCESS_TOKEN_MINUTES", minutes)]).unwrap();
        assert_eq!(settings.access_token_minutes, expected);
    }
    for days in ["0", "366"] {
        let problems = settings_with(&[("REFRESH_TOKEN_DAYS", days)]).unwrap_err();
        assert_eq!(problems[0].0, "REFRESH_TOKEN_DAYS", "{days}");
    }
    let problems = settings_with(&[("ALLOW_REGISTRATION", "maybe")]).unwrap_err();
    assert_eq!(problems[0].0, "ALLOW_REGISTRATION");
    let problems = settings_with(&[("TRUSTED_PROXIES", "10.0.0.0/8, proxy.local")]).unwrap_err();
    assert_eq!(problems[0].0, "TRUSTED_PROXIES");
    assert!(problems[0].1.contains("proxy.local"), "{problems:?}");
    // The defaults: 15 minutes, 30 days, closed, no proxies, a generated key.
    let defaults = settings_with(&[]).unwrap();
    assert_eq!(defaults.access_token_minutes, 15);
    assert_eq!(defaults.refresh_token_days, 30);
    assert!(!defaults.allow_registration);
    assert!(defaults.trusted_proxies.is_empty());
    assert!(defaults.jwt_secret.is_none());
}

// ---------------------------------------------------------------------------
// 4. refresh tokens

on_both_backends!(
    refresh_tokens_rotate_and_a_reused_one_ends_the_whole_sign_in,
    &[],
    async |app: &TestApp| {
        let user = app.register(None, ADMIN, ADMIN_PASSWORD).await;
        let first = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        let other = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        let sid = jwt_parts(&first.access).1["sid"]
            .as_str()
            .unwrap()
            .to_owned();
        let reused = "action = 'auth.refresh_reused'";
        assert_db(
            app,
            &format!("(SELECT count(*) FROM audit_log WHERE {reused}) = 0"),
        )
        .await;

        let (status, body) = refresh(app, &first.refresh).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        let second = SignIn::from_body(&body);
        assert_ne!(second.refresh, first.refresh);
        assert_ne!(second.access, first.access);
        // The same sign-in goes on.
        assert_eq!(jwt_parts(&second.access).1["sid"], sid.as_str());
        let (status, me_body) = me(app, &second.access).await;
        assert_eq!(status, 200);
        assert_eq!(me_body["id"], user["id"]);

        // The used token again: refused, and the whole family ends with it.
        let (status, body) = refresh(app, &first.refresh).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, _) = refresh(app, &second.refresh).await;
        assert_eq!(status, 401, "the newest token of the family is revoked too");
        assert_eq!(me_status(app, &second.access).await, 401);
        assert_eq!(me_status(app, &first.access).await, 401);
        assert_db(
            app,
            &format!(
                "(SELECT count(*) FROM audit_log WHERE {reused} AND outcome = 'denied' \
                 AND actor_kind = 'user' AND actor_id = '{}' AND resource = 'session:{sid}') = 1",
                user["id"].as_str().unwrap()
            ),
        )
        .await;

        // Another sign-in of the same user is not part of that family.
        assert_eq!(me_status(app, &other.access).await, 200);
        let (status, body) = refresh(app, &other.refresh).await;
        assert_eq!(status, 200, "{body}");

        // Tokens that were never issued.
        for token in ["", "rt_0000", &"x".repeat(300)] {
            let (status, _) = refresh(app, token).await;
            assert_eq!(status, 401, "{token:?}");
        }
        // An access token is not a refresh token, nor the reverse.
        assert_eq!(refresh(app, &other.access).await.0, 401);
        assert_eq!(me_status(app, &other.refresh).await, 401);
    }
);

on_both_backends!(
    two_refreshes_at_once_with_one_token_let_exactly_one_through,
    &[],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        for round in 0..10 {
            let pair = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
            let (a, b) = tokio::join!(refresh(app, &pair.refresh), refresh(app, &pair.refresh));
            let mut statuses = [a.0.as_u16(), b.0.as_u16()];
            statuses.sort_unstable();
            assert_eq!(statuses, [200, 401], "round {round}: {} / {}", a.1, b.1);
        }
    }
);

on_both_backends!(
    a_sign_in_ends_after_its_absolute_lifetime_however_often_it_is_refreshed,
    &[("REFRESH_TOKEN_DAYS", "1")],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        let first = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        app.clock.advance(Duration::hours(23));
        let (status, body) = refresh(app, &first.refresh).await;
        assert_eq!(status, 200, "{body}");
        let second = SignIn::from_body(&body);
        app.clock.advance(Duration::hours(2));
        let (status, body) = refresh(app, &second.refresh).await;
        assert_eq!(status, 401, "rotation does not extend a sign-in: {body}");
        // Its last access token (issued 2 hours ago) is long expired; a new
        // sign-in works.
        assert_eq!(me_status(app, &second.access).await, 401);
        let fresh = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(me_status(app, &fresh.access).await, 200);
    }
);

// ---------------------------------------------------------------------------
// 5. sign-out and password changes

on_both_backends!(
    logout_ends_the_sign_in_of_its_refresh_token,
    &[],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        let pair = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        let other = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        let (status, body) = post(
            app,
            "/auth/logout",
            None,
            json!({"refresh_token": pair.refresh}),
        )
        .await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(body, Value::Null);
        assert_eq!(me_status(app, &pair.access).await, 401);
        assert_eq!(refresh(app, &pair.refresh).await.0, 401);
        // Only that sign-in.
        assert_eq!(me_status(app, &other.access).await, 200);
        // Unknown, repeated and empty tokens get the same answer.
        for token in ["rt_unknown", pair.refresh.as_str(), ""] {
            let (status, _) =
                post(app, "/auth/logout", None, json!({"refresh_token": token})).await;
            assert_eq!(status, 204, "{token:?}");
        }
        assert_eq!(me_status(app, &other.access).await, 200);
    }
);

on_both_backends!(
    logout_all_ends_every_sign_in_of_the_user,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        app.register(Some(&admin), STAFF, STAFF_PASSWORD).await;
        let one = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        let two = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        let staff = sign_in(app, STAFF, STAFF_PASSWORD).await;
        let (status, _) = post(app, "/auth/logout-all", None, json!({})).await;
        assert_eq!(status, 401);

        let (status, body) = post(app, "/auth/logout-all", Some(&one.access), json!({})).await;
        assert_eq!(status, 204, "{body}");
        for token in [&admin, &one.access, &two.access] {
            assert_eq!(me_status(app, token).await, 401);
        }
        for token in [&one.refresh, &two.refresh] {
            assert_eq!(refresh(app, token).await.0, 401);
        }
        // Another user's sign-ins are untouched; the user may sign in again.
        assert_eq!(me_status(app, &staff.access).await, 200);
        assert_eq!(refresh(app, &staff.refresh).await.0, 200);
        let again = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        assert_eq!(me_status(app, &again.access).await, 200);
    }
);

on_both_backends!(
    changing_the_password_ends_every_sign_in_and_signs_this_client_in_again,
    &[],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        let this = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        let other = sign_in(app, ADMIN, ADMIN_PASSWORD).await;
        let new_password = "a brand new password";
        let change = |token: Option<String>, current: &str, new: &str| {
            let body = json!({"current_password": current, "new_password": new});
            async move { post(app, "/auth/password", token.as_deref(), body).await }
        };
        let (status, _) = change(None, ADMIN_PASSWORD, new_password).await;
        assert_eq!(status, 401);
        let (status, body) =
            change(Some(this.access.clone()), "wrong password 1", new_password).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(fields(&body), ["current_password"]);
        for bad in ["a".repeat(73), "€".repeat(25), "short".to_owned()] {
            let (status, body) = change(Some(this.access.clone()), ADMIN_PASSWORD, &bad).await;
            assert_eq!(status, 422, "{body}");
            assert_eq!(fields(&body), ["new_password"]);
        }
        // Nothing above changed anything.
        assert_eq!(me_status(app, &other.access).await, 200);
        assert_eq!(me_status(app, &this.access).await, 200);

        let (status, body) = change(Some(this.access.clone()), ADMIN_PASSWORD, new_password).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "Bearer", "{body}");
        let fresh = SignIn::from_body(&body);
        // Every sign-in ended, the one that made the change included: its
        // access token (issued before the change) and refresh token too.
        for old in [&this, &other] {
            assert_eq!(me_status(app, &old.access).await, 401);
            assert_eq!(refresh(app, &old.refresh).await.0, 401);
        }
        // The new pair is a new sign-in that works and rotates.
        assert_ne!(
            jwt_parts(&fresh.access).1["sid"],
            jwt_parts(&this.access).1["sid"]
        );
        let (status, me_body) = me(app, &fresh.access).await;
        assert_eq!(status, 200, "{me_body}");
        assert_eq!(me_body["email"], ADMIN);
        let (status, body) = refresh(app, &fresh.refresh).await;
        assert_eq!(
            status, 200,
            "the client that changed it stays signed in: {body}"
        );
        assert_eq!(login_status(app, ADMIN, ADMIN_PASSWORD).await, 401);
        assert_eq!(login_status(app, ADMIN, new_password).await, 200);
    }
);

on_both_backends!(
    the_1000_most_common_passwords_are_refused_whatever_their_case,
    &[],
    async |app: &TestApp| {
        for common in [
            "password",
            "Password1",
            "12345678",
            "QWERTYUIOP",
            "iloveyou",
        ] {
            let (status, body) = post(
                app,
                "/auth/register",
                None,
                json!({"email": ADMIN, "password": common, "name": "Ann Admin"}),
            )
            .await;
            assert_eq!(status, 422, "{common}: {body}");
            assert_eq!(fields(&body), ["password"], "{body}");
            assert!(
                body["error"]["fields"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("common"),
                "{body}"
            );
        }
        let token = app.admin_token().await;
        let (status, body) = post(
            app,
            "/auth/password",
            Some(&token),
            json!({"current_password": ADMIN_PASSWORD, "new_password": "Baseball"}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(fields(&body), ["new_password"], "{body}");
        // Refused, so nothing changed.
        assert_eq!(me_status(app, &token).await, 200);
        let (status, body) = post(
            app,
            "/auth/register",
            Some(&token),
            json!({"email": STAFF, "password": "football", "name": "Sam Staff"}),
        )
        .await;
        assert_eq!(status, 422, "by an administrator too: {body}");
    }
);

// ---------------------------------------------------------------------------
// 6. throttling

on_both_backends!(
    five_failures_lock_an_account_for_15_minutes,
    &[],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        for _ in 0..5 {
            assert_eq!(login_status(app, ADMIN, "wrong password 1").await, 401);
        }
        // Even the right password, and in another case of the address.
        let retry_after =
            assert_throttled(login_attempt(app, ADMIN, ADMIN_PASSWORD, &[]).await).await;
        assert_eq!(retry_after, 900);
        assert_throttled(login_attempt(app, "ADMIN@EXAMPLE.COM", ADMIN_PASSWORD, &[]).await).await;
        // Other accounts from the same address are not locked.
        assert_eq!(
            login_status(app, "other@example.com", ADMIN_PASSWORD).await,
            401
        );

        app.clock.advance(Duration::minutes(10));
        let retry_after =
            assert_throttled(login_attempt(app, ADMIN, ADMIN_PASSWORD, &[]).await).await;
        assert_eq!(retry_after, 300);
        app.clock.advance(Duration::minutes(6));
        assert_eq!(login_status(app, ADMIN, ADMIN_PASSWORD).await, 200);
    }
);

on_both_backends!(
    failures_from_one_address_lock_only_that_address_out_of_the_account,
    &[("TRUSTED_PROXIES", "127.0.0.1")],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        let a = [("X-Forwarded-For", "198.51.100.1")];
        let b = [("X-Forwarded-For", "203.0.113.2")];
        for _ in 0..5 {
            let response = login_attempt(app, ADMIN, "wrong password 1", &a).await;
            assert_eq!(response.status(), 401);
        }
        // A is locked out of the account, even with the right password.
        assert_throttled(login_attempt(app, ADMIN, ADMIN_PASSWORD, &a).await).await;
        // From B the right password works, after the account's backoff (five
        // recent failures: the longest wait, 2 s, before the check).
        let started = std::time::Instant::now();
        let response = login_attempt(app, ADMIN, ADMIN_PASSWORD, &b).await;
        let took = started.elapsed();
        assert_eq!(response.status(), 200);
        assert!(
            took >= std::time::Duration::from_millis(2000),
            "the backoff was not applied: {took:?}"
        );
        // A is still locked; B signs in at once now that it got in.
        assert_throttled(login_attempt(app, ADMIN, ADMIN_PASSWORD, &a).await).await;
        let started = std::time::Instant::now();
        let response = login_attempt(app, ADMIN, ADMIN_PASSWORD, &b).await;
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < std::time::Duration::from_millis(2000));
        // The lock is in the database, per account and address.
        assert_db(
            app,
            "(SELECT count(*) FROM login_failures \
              WHERE key = 'account:admin@example.com|address:198.51.100.1') = 5",
        )
        .await;
        // A wrong password from B is one failure for B, not a lock.
        let response = login_attempt(app, ADMIN, "wrong password 1", &b).await;
        assert_eq!(response.status(), 401);
        app.clock.advance(Duration::minutes(16));
        let response = login_attempt(app, ADMIN, ADMIN_PASSWORD, &a).await;
        assert_eq!(response.status(), 200, "A's lock ends with the window");
    }
);

on_both_backends!(
    twenty_failures_lock_an_address_for_15_minutes_whatever_it_claims_to_forward,
    &[],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        // Without TRUSTED_PROXIES, X-Forwarded-For is ignored: these 20
        // failures, each claiming another address, all come from 127.0.0.1.
        fail_logins(app, "nobody", 20, |i| Some(format!("198.51.100.{i}"))).await;
        let fresh = [("X-Forwarded-For", "203.0.113.99")];
        assert_throttled(login_attempt(app, "someone@example.com", "pw password 1", &fresh).await)
            .await;
        assert_throttled(login_attempt(app, "someone@example.com", "pw password 1", &[]).await)
            .await;
        // Every account from that address, the real one with its password too.
        assert_throttled(login_attempt(app, ADMIN, ADMIN_PASSWORD, &[]).await).await;
        app.clock.advance(Duration::minutes(16));
        assert_eq!(login_status(app, ADMIN, ADMIN_PASSWORD).await, 200);
    }
);

on_both_backends!(
    forwarded_addresses_count_only_from_trusted_proxies,
    &[("TRUSTED_PROXIES", "127.0.0.1")],
    async |app: &TestApp| {
        let seven = [("X-Forwarded-For", "198.51.100.7")];
        fail_logins(app, "from-seven", 20, |_| Some("198.51.100.7".to_owned())).await;
        assert_throttled(
            login_attempt(app, "seven-more@example.com", "pw password 1", &seven).await,
        )
        .await;
        // The right-most entry that is not a trusted proxy is the client.
        for chain in ["198.51.100.8, 198.51.100.7", "198.51.100.7, 127.0.0.1"] {
            let headers = [("X-Forwarded-For", chain)];
            assert_throttled(
                login_attempt(app, "chain@example.com", "pw password 1", &headers).await,
            )
            .await;
        }
        // Another client behind the same proxy, and the proxy itself, are not.
        let eight = [("X-Forwarded-For", "198.51.100.8")];
        let response = login_attempt(app, "eight@example.com", "pw password 1", &eight).await;
        assert_eq!(response.status(), 401);
        let response = login_attempt(app, "proxy@example.com", "pw password 1", &[]).await;
        assert_eq!(response.status(), 401);
    }
);

// ---------------------------------------------------------------------------
// 7. roles

on_both_backends!(
    only_administrators_list_accounts_and_signed_in_routes_need_a_token,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let staff = app.staff_token(&admin, STAFF).await;
        let (status, body) = app
            .api(Method::GET, "/api/v1/users", Some(&staff), None)
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let (status, body) = app.api(Method::GET, "/api/v1/users", None, None).await;
        assert_eq!(status, 401, "{body}");
        let (status, users) = app
            .api(Method::GET, "/api/v1/users", Some(&admin), None)
            .await;
        assert_eq!(status, 200, "{users}");
        let listed: Vec<(&str, &str)> = users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["email"].as_str().unwrap(), u["role"].as_str().unwrap()))
            .collect();
        assert_eq!(listed, [(ADMIN, "admin"), (STAFF, "staff")]);
        assert!(
            users
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u.get("password_hash").is_none()),
            "{users}"
        );

        for path in ["/appointments", "/api/v1/appointments"] {
            let (status, body) = app.api(Method::GET, path, None, None).await;
            assert_eq!(status, 401, "{path}: {body}");
            let (status, body) = app.api(Method::GET, path, Some(&staff), None).await;
            assert_eq!(status, 200, "{path}: {body}");
        }

        // The role is read at each request, not trusted from the token.
        app.sql("UPDATE users SET role = 'staff' WHERE email = 'admin@example.com'")
            .await;
        let (status, _) = app
            .api(Method::GET, "/api/v1/users", Some(&admin), None)
            .await;
        assert_eq!(status, 403);
        // A deleted account's tokens stop working.
        assert_eq!(me_status(app, &staff).await, 200);
        app.sql("DELETE FROM users WHERE email = 'staff@example.com'")
            .await;
        assert_eq!(me_status(app, &staff).await, 401);
    }
);

// ---------------------------------------------------------------------------
// 8. password storage

on_both_backends!(
    passwords_are_stored_as_bcrypt_hashes_of_cost_12,
    &[],
    async |app: &TestApp| {
        app.register(None, ADMIN, ADMIN_PASSWORD).await;
        assert_db(
            app,
            "(SELECT count(*) FROM users WHERE substr(password_hash, 1, 7) = '$2b$12$' \
             AND length(password_hash) = 60) = 1",
        )
        .await;
        assert_db(
            app,
            &format!(
                "(SELECT count(*) FROM users WHERE password_hash LIKE '%{ADMIN_PASSWORD}%') = 0"
            ),
        )
        .await;
        // Each hash has its own salt: the same password hashes differently.
        let admin = app.login(ADMIN, ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        app.register(Some(&admin), STAFF, ADMIN_PASSWORD).await;
        assert_db(
            app,
            "(SELECT count(DISTINCT password_hash) FROM users) = 2 \
             AND (SELECT count(*) FROM users WHERE substr(password_hash, 1, 7) = '$2b$12$') = 2",
        )
        .await;
    }
);

// ---------------------------------------------------------------------------
// 9. generated secrets at rest

/// 32 bytes, standard base64 (`ENCRYPTION_KEY`).
const ENCRYPTION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Starts another instance on `app`'s database with `extra` settings.
async fn another_instance(
    app: &TestApp,
    extra: &[(&str, &str)],
) -> Result<(String, voice_scheduler_server::Settings), String> {
    let url = app.database_url().to_owned();
    let vars: Vec<(&str, &str)> = [
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("DATABASE_URL", url.as_str()),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .collect();
    let settings = voice_scheduler_server::Settings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .map_err(|e| e.to_string())?;
    let clock = std::sync::Arc::new(voice_scheduler_domain::ports::FixedClock::new(now()));
    let built = voice_scheduler_server::Application::build(settings.clone(), clock)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let address = format!("http://127.0.0.1:{}", built.port());
    tokio::spawn(built.run_until_stopped());
    Ok((address, settings))
}

on_both_backends!(
    generated_secrets_are_sealed_with_the_encryption_key_and_old_plain_ones_resealed,
    &[("VAPI_WEBHOOK_SECRET", "")],
    async |app: &TestApp| {
        // Started without ENCRYPTION_KEY: both generated secrets are plain.
        assert_db(
            app,
            "(SELECT count(*) FROM tool_replies WHERE scope = 'generated-secret') = 2 \
             AND (SELECT count(*) FROM tool_replies WHERE body LIKE 'sealed:%') = 0",
        )
        .await;
        let token = app.admin_token().await;
        let store = voice_scheduler_store::Store::connect(app.database_url())
            .await
            .unwrap();
        let (vapi_plain, _) = voice_scheduler_server::secrets::vapi_secret(None, &store, None)
            .await
            .unwrap();

        // Another instance with ENCRYPTION_KEY re-seals them, and they are
        // the same secrets: a token of the first instance works there.
        let (second, settings) = another_instance(
            app,
            &[
                ("ENCRYPTION_KEY", ENCRYPTION_KEY),
                ("VAPI_WEBHOOK_SECRET", ""),
            ],
        )
        .await
        .unwrap();
        assert_db(
            app,
            "(SELECT count(*) FROM tool_replies WHERE scope = 'generated-secret' \
              AND body LIKE 'sealed:%') = 2",
        )
        .await;
        assert_db(
            app,
            &format!("(SELECT count(*) FROM tool_replies WHERE body LIKE '%{vapi_plain}%') = 0"),
        )
        .await;
        let response = app
            .client
            .get(format!("{second}/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the same signing key");
        let (vapi_opened, _) = voice_scheduler_server::secrets::vapi_secret(
            None,
            &store,
            settings.encryption.as_deref(),
        )
        .await
        .unwrap();
        assert_eq!(vapi_opened, vapi_plain);

        // Without the key they cannot be read: the start-up says why.
        let error = another_instance(app, &[("VAPI_WEBHOOK_SECRET", "")])
            .await
            .unwrap_err();
        assert!(error.contains("ENCRYPTION_KEY"), "{error}");
    }
);
