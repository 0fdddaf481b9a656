//! VAPI's HMAC credential: signed requests without the shared secret,
//! refusals (wrong, stale, from the future, malformed, replayed), their
//! audit entries and metrics.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Sha256, Sha512};

use crate::helpers::{NOW, SECRET, TestApp};

const HMAC_SECRET: &str = "hmac-e2e-secret-0123456789";
const METRICS_TOKEN: &str = "metrics-token-for-hmac-tests-01";

/// A booking request, as the exact bytes that are signed and sent.
const BOOK_BODY: &str = r#"{"message":{"type":"tool-calls","call":{"id":"c-hmac","customer":{"number":"+14155550122"}},"toolCallList":[{"id":"t-hmac-book","function":{"name":"book_appointment","arguments":{"name":"Hana Mac","date":"2030-03-12","time":"10:00"}}}]}}"#;

/// HMAC-SHA256 of `1898615652.` + BOOK_BODY with HMAC_SECRET, computed
/// independently of the server's code:
///
/// ```text
/// python3 -c 'import hmac,hashlib,datetime
/// ts=int(datetime.datetime(2030,3,1,17,14,12,tzinfo=datetime.timezone.utc).timestamp()); print(ts)
/// key=b"hmac-e2e-secret-0123456789"
/// body=b"<BOOK_BODY>"
/// print(hmac.new(key, str(ts).encode()+b"."+body, hashlib.sha256).hexdigest())'
/// ```
const BOOK_SIGNATURE: &str = "c751676238511470c23eb85c9832d4bbb0b19ca9310795de2094b625bc134133";

/// The fixtures' clock in epoch seconds (2030-03-01T17:14:12Z).
fn now_secs() -> i64 {
    let now: DateTime<Utc> = NOW.parse().unwrap();
    now.timestamp()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sign256(timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn sign512(timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(HMAC_SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A tool-call request (one call), as text.
fn tool_body(id: &str, name: &str, args: Value) -> String {
    json!({"message": {"type": "tool-calls",
        "call": {"id": "c-hmac", "customer": {"number": "+14155550122"}},
        "toolCallList": [{"id": id, "function": {"name": name, "arguments": args}}]}})
    .to_string()
}

/// POSTs `body` to /vapi/tools with the given headers and no shared secret.
async fn post(app: &TestApp, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/vapi/tools", app.address))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn signed(app: &TestApp, body: &str, timestamp: &str, signature: &str) -> reqwest::Response {
    post(
        app,
        body,
        &[("x-timestamp", timestamp), ("x-signature", signature)],
    )
    .await
}

/// Asserts a 401 `unauthorized` whose message contains `words`.
async fn assert_refused(response: reqwest::Response, words: &str) {
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(words), "{words:?} in {message:?}");
    assert!(!message.contains(HMAC_SECRET));
}

/// Fails unless `condition` (SQL) holds on the app's database.
async fn assert_db(app: &TestApp, condition: &str) {
    app.sql("CREATE TABLE IF NOT EXISTS vapi_hmac_checks (ok INTEGER NOT NULL)")
        .await;
    app.sql(&format!(
        "INSERT INTO vapi_hmac_checks (ok) SELECT CASE WHEN {condition} THEN 1 END"
    ))
    .await;
}

on_both_backends!(
    a_signed_request_books_once_and_its_replay_is_refused,
    &[("VAPI_HMAC_SECRET", HMAC_SECRET)],
    async |app: &TestApp| {
        let ts = now_secs().to_string();
        assert_eq!(ts, "1898615652");
        // The test's own signing agrees with the independent vector.
        assert_eq!(sign256(&ts, BOOK_BODY), BOOK_SIGNATURE);

        let r = signed(app, BOOK_BODY, &ts, BOOK_SIGNATURE).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["results"][0]["toolCallId"], "t-hmac-book", "{body}");
        assert_eq!(body["results"][0]["metadata"]["status"], "booked", "{body}");

        // The very same request again: refused, nothing happens.
        let again = signed(app, BOOK_BODY, &ts, BOOK_SIGNATURE).await;
        assert_refused(again, "replayed").await;
        assert_db(
            app,
            "(SELECT count(*) FROM appointments WHERE customer_name = 'Hana Mac') = 1",
        )
        .await;
        assert_db(
            app,
            "(SELECT count(*) FROM audit_log WHERE action = 'vapi.request_rejected' AND detail = 'replayed' AND outcome = 'denied' AND actor_kind = 'anonymous') = 1",
        )
        .await;

        // A new signature (a later timestamp, in milliseconds) is a new
        // request: accepted.
        let ms = (now_secs() * 1000 + 1234).to_string();
        let find = tool_body("t-hmac-find", "find_appointments", json!({}));
        let r = signed(app, &find, &ms, &sign256(&ms, &find)).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["results"][0]["toolCallId"], "t-hmac-find", "{body}");
        assert_eq!(body["results"][0]["metadata"]["status"], "found", "{body}");

        // The shared secret still works alongside.
        let r = app
            .client
            .post(format!("{}/vapi/tools", app.address))
            .header("X-Vapi-Secret", SECRET)
            .header("content-type", "application/json")
            .body(tool_body("t-shared", "find_appointments", json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
);

on_both_backends!(
    bad_signatures_are_refused_counted_and_audited,
    &[
        ("VAPI_HMAC_SECRET", HMAC_SECRET),
        ("METRICS_TOKEN", METRICS_TOKEN)
    ],
    async |app: &TestApp| {
        let ts = now_secs().to_string();
        // One bit flipped (the last hex digit 3 -> 2).
        let flipped = format!("{}2", &BOOK_SIGNATURE[..63]);
        assert_refused(
            signed(app, BOOK_BODY, &ts, &flipped).await,
            "signature is wrong",
        )
        .await;
        // The body changed after signing.
        let tampered = BOOK_BODY.replace("10:00", "11:00");
        assert_refused(
            signed(app, &tampered, &ts, BOOK_SIGNATURE).await,
            "signature is wrong",
        )
        .await;
        // Signed by someone with another secret.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"not-the-secret-0123456789").unwrap();
        mac.update(format!("{ts}.{BOOK_BODY}").as_bytes());
        let foreign = hex(&mac.finalize().into_bytes());
        assert_refused(
            signed(app, BOOK_BODY, &ts, &foreign).await,
            "signature is wrong",
        )
        .await;
        // Stale: 301 seconds old, correctly signed.
        let old = (now_secs() - 301).to_string();
        assert_refused(
            signed(app, BOOK_BODY, &old, &sign256(&old, BOOK_BODY)).await,
            "stale",
        )
        .await;
        // From the future beyond the window (in milliseconds).
        let future = ((now_secs() + 301) * 1000).to_string();
        assert_refused(
            signed(app, BOOK_BODY, &future, &sign256(&future, BOOK_BODY)).await,
            "future",
        )
        .await;
        // Malformed: a date instead of epoch seconds; not hex.
        let date = "2030-03-01T17:14:12Z";
        assert_refused(
            signed(app, BOOK_BODY, date, &sign256(date, BOOK_BODY)).await,
            "timestamp",
        )
        .await;
        assert_refused(
            signed(app, BOOK_BODY, &ts, &format!("sha256={BOOK_SIGNATURE}")).await,
            "format",
        )
        .await;
        // Only one of the two headers.
        assert_refused(
            post(app, BOOK_BODY, &[("x-signature", BOOK_SIGNATURE)]).await,
            "missing",
        )
        .await;
        // No credential at all.
        assert_refused(post(app, BOOK_BODY, &[]).await, "no VAPI credential").await;

        // Nothing was booked; every refusal is in the audit log, with its
        // reason and never the signature.
        assert_db(
            app,
            "(SELECT count(*) FROM appointments WHERE customer_name = 'Hana Mac') = 0",
        )
        .await;
        assert_db(
            app,
            "(SELECT count(*) FROM audit_log WHERE action = 'vapi.request_rejected' AND outcome = 'denied') = 9",
        )
        .await;
        for (reason, count) in [("wrong", 3), ("stale", 2), ("malformed", 2), ("missing", 2)] {
            assert_db(
                app,
                &format!("(SELECT count(*) FROM audit_log WHERE action = 'vapi.request_rejected' AND detail = '{reason}' AND resource = '/vapi/tools' AND address = '127.0.0.1') = {count}"),
            )
            .await;
        }
        assert_db(
            app,
            &format!(
                "NOT EXISTS (SELECT 1 FROM audit_log WHERE detail LIKE '%{}%')",
                &BOOK_SIGNATURE[..16]
            ),
        )
        .await;

        let r = app
            .client
            .get(format!("{}/metrics", app.address))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        for reason in ["wrong", "stale", "malformed", "missing"] {
            let needle = format!("vapi_requests_rejected_total{{reason=\"{reason}\"}}");
            assert!(text.contains(&needle), "{needle} in\n{text}");
        }
    }
);

on_both_backends!(
    custom_headers_prefix_and_sha512,
    &[
        ("VAPI_HMAC_SECRET", HMAC_SECRET),
        ("VAPI_HMAC_ALGORITHM", "sha512"),
        ("VAPI_HMAC_SIGNATURE_HEADER", "X-Vapi-Signature"),
        ("VAPI_HMAC_TIMESTAMP_HEADER", "X-Vapi-Timestamp"),
        ("VAPI_HMAC_PREFIX", "sha512="),
        ("VAPI_HMAC_WINDOW_SECONDS", "60"),
    ],
    async |app: &TestApp| {
        let body = tool_body("t-512", "find_appointments", json!({}));
        let ts = (now_secs() - 30).to_string();
        let signature = format!("sha512={}", sign512(&ts, &body));
        let r = post(
            app,
            &body,
            &[("X-Vapi-Timestamp", &ts), ("X-Vapi-Signature", &signature)],
        )
        .await;
        assert_eq!(r.status(), 200);
        // The default header names mean nothing here.
        let ts = now_secs().to_string();
        let signature = format!("sha512={}", sign512(&ts, &body));
        assert_refused(
            signed(app, &body, &ts, &signature).await,
            "no VAPI credential",
        )
        .await;
        // Without the prefix, or signed with sha256: refused.
        let bare = sign512(&ts, &body);
        assert_refused(
            post(
                app,
                &body,
                &[("X-Vapi-Timestamp", &ts), ("X-Vapi-Signature", &bare)],
            )
            .await,
            "format",
        )
        .await;
        let sha256 = format!("sha512={}", sign256(&ts, &body));
        assert_refused(
            post(
                app,
                &body,
                &[("X-Vapi-Timestamp", &ts), ("X-Vapi-Signature", &sha256)],
            )
            .await,
            "wrong",
        )
        .await;
        // 61 seconds old: outside this narrower window.
        let old = (now_secs() - 61).to_string();
        let signature = format!("sha512={}", sign512(&old, &body));
        assert_refused(
            post(
                app,
                &body,
                &[("X-Vapi-Timestamp", &old), ("X-Vapi-Signature", &signature)],
            )
            .await,
            "stale",
        )
        .await;
    }
);

on_both_backends!(
    signatures_mean_nothing_when_hmac_is_off,
    &[],
    async |app: &TestApp| {
        let ts = now_secs().to_string();
        assert_refused(
            signed(app, BOOK_BODY, &ts, &sign256(&ts, BOOK_BODY)).await,
            "no VAPI credential",
        )
        .await;
        assert_db(
            app,
            "(SELECT count(*) FROM audit_log WHERE action = 'vapi.request_rejected' AND detail = 'missing') = 1",
        )
        .await;
    }
);
