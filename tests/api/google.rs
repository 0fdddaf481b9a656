//! Google Calendar, end to end: the real application (its OAuth client and
//! its `google-calendar3` client) against a local fake Google
//! (`voice-scheduler-fake-google`) over 127.0.0.1, on SQLite and PostgreSQL.
//!
//! The connect flow (consent address, single-use state, the callback), the
//! sealed refresh tokens, Google's busy times in availability and booking,
//! one event per booking through retries and crashes, cancel and
//! reschedule, a revoked grant, disconnecting, and Google being unreachable.
//!
//! The application's clock stands still (the helpers' `FixedClock`); the
//! sync worker schedules retries on it, so [`eventually`] moves it a second
//! every round: backoffs of seconds come due at once, without real waiting.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use voice_scheduler_domain::sync::ConnectionRepository;
use voice_scheduler_domain::{AppointmentId, CalendarId};
use voice_scheduler_fake_google::{CLIENT_ID, CLIENT_SECRET, FakeEvent, FakeGoogle};
use voice_scheduler_google::{EVENTS_SCOPE, FREEBUSY_SCOPE, KeyRing, event_id, token_binding};
use voice_scheduler_store::Store;

use crate::helpers::{Db, NOW, TestApp, is_error, spawn, text};

const DEFAULT_CALENDAR: &str = "00000000-0000-7000-8000-000000000001";
/// Registered with the fake; the test itself carries the code and state
/// from the fake's redirect to the server's real port.
const REDIRECT_URI: &str = "http://127.0.0.1:1/integrations/google/callback";
/// 32 bytes ("0123456789abcdef0123456789abcdef"), base64.
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const INSERT: &str = "POST /calendar/v3/calendars/primary/events";

/// Runs an async test body (given the app and its fake Google) on SQLite and
/// on PostgreSQL, each on a fresh database with a fresh fake.
macro_rules! google_test {
    ($name:ident, $extra:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, google) = start(Db::Sqlite, stringify!($name), $extra)
                    .await
                    .expect("sqlite");
                ($body)(&app, &google).await;
                app.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((app, google)) = start(Db::Postgres, stringify!($name), $extra).await
                else {
                    return;
                };
                ($body)(&app, &google).await;
                app.cleanup().await;
            }
        }
    };
}

/// A fake Google, and the app configured to use it.
async fn start(db: Db, name: &str, extra: &[(&str, &str)]) -> Option<(TestApp, FakeGoogle)> {
    let google = FakeGoogle::start().await.expect("fake google");
    google.set_redirect_uri(REDIRECT_URI);
    let endpoints = google.endpoints();
    let mut vars: Vec<(&str, &str)> = vec![
        ("GOOGLE_CLIENT_ID", CLIENT_ID),
        ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET),
        ("GOOGLE_REDIRECT_URI", REDIRECT_URI),
        ("GOOGLE_AUTH_URL", &endpoints.auth_url),
        ("GOOGLE_TOKEN_URL", &endpoints.token_url),
        ("GOOGLE_REVOKE_URL", &endpoints.revoke_url),
        ("GOOGLE_API_BASE_URL", &endpoints.api_base_url),
        ("ENCRYPTION_KEY", KEY),
    ];
    vars.extend_from_slice(extra);
    let app = spawn(db, name, &vars).await?;
    Some((app, google))
}

// ---------------------------------------------------------------------------
// helpers

/// Polls `check` until it gives a value, moving the app's clock one second
/// per round (200 ms); panics after `limit`.
async fn eventually<T>(
    app: &TestApp,
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        app.clock.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const WAIT: Duration = Duration::from_secs(15);

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn at(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
        .with_timezone(&Utc)
}

fn event_id_of(appointment: &str) -> String {
    event_id(AppointmentId::from_uuid(appointment.parse().unwrap()))
}

fn calendar_id(id: &str) -> CalendarId {
    CalendarId::from_uuid(id.parse().unwrap())
}

/// Requests the fake received whose method is `method` and whose path
/// contains `path`.
fn count(google: &FakeGoogle, method: &str, path: &str) -> usize {
    google
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path))
        .count()
}

async fn create_calendar(app: &TestApp, token: &str, name: &str) -> String {
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v1/calendars",
            Some(token),
            Some(&json!({"name": name, "time_zone": "America/Los_Angeles"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn google_status(app: &TestApp, token: &str, calendar: &str) -> Value {
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/api/v1/calendars/{calendar}/google"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `POST …/google/connect`: Google's consent address.
async fn start_connect(app: &TestApp, token: &str, calendar: &str, gcal: Option<&str>) -> Url {
    let body = gcal.map_or_else(|| json!({}), |g| json!({"google_calendar_id": g}));
    let (status, started) = app
        .api(
            Method::POST,
            &format!("/api/v1/calendars/{calendar}/google/connect"),
            Some(token),
            Some(&body),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    Url::parse(started["authorization_url"].as_str().unwrap()).unwrap()
}

/// Visits the consent address (the fake consents at once and redirects);
/// returns the redirect target moved onto our server, unfollowed.
async fn consent(app: &TestApp, url: &Url) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = browser.get(url.clone()).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let location = Url::parse(&location).unwrap();
    format!(
        "{}{}?{}",
        app.address,
        location.path(),
        location.query().unwrap()
    )
}

/// Calls our callback as the browser would: status and page.
async fn callback(app: &TestApp, url: &str) -> (StatusCode, String) {
    let response = app.client.get(url).send().await.unwrap();
    let status = response.status();
    if status != StatusCode::SERVICE_UNAVAILABLE {
        let kind = response.headers()["content-type"].to_str().unwrap();
        assert!(kind.starts_with("text/html"), "{kind}");
    }
    (status, response.text().await.unwrap())
}

/// The whole connect flow; the calendar ends up connected.
async fn connect(app: &TestApp, token: &str, calendar: &str, gcal: Option<&str>) {
    let url = start_connect(app, token, calendar, gcal).await;
    let back = consent(app, &url).await;
    let (status, page) = callback(app, &back).await;
    assert_eq!(status, 200, "{page}");
    let s = google_status(app, token, calendar).await;
    assert_eq!(s["status"], "connected", "{s}");
}

/// Books through the API; the new appointment's id.
async fn book(app: &TestApp, token: &str, calendar: &str, start: &str) -> String {
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v1/appointments",
            Some(token),
            Some(&json!({
                "calendar_id": calendar,
                "start": start,
                "customer_name": "Ann Lee",
                "customer_phone": "(415) 555-0177",
                "customer_email": "ann.lee@example.com",
                "purpose": "Checkup",
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn cancel(app: &TestApp, token: &str, appointment: &str) {
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v1/appointments/{appointment}/cancel"),
            Some(token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Waits until the fake has the appointment's event (any status).
async fn wait_for_event(
    app: &TestApp,
    google: &FakeGoogle,
    gcal: &str,
    appointment: &str,
) -> FakeEvent {
    let id = event_id_of(appointment);
    eventually(app, &format!("event {id} in {gcal}"), WAIT, async || {
        google.event(gcal, &id)
    })
    .await
}

/// Waits until the calendar has no pending sync job.
async fn wait_for_sync(app: &TestApp, token: &str, calendar: &str) -> Value {
    eventually(app, "the sync queue to drain", WAIT, async || {
        let s = google_status(app, token, calendar).await;
        (s["jobs_pending"] == 0).then_some(s)
    })
    .await
}

/// Audit entries with `action` (newest first), read by an administrator.
async fn audit(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let (status, page) = app
        .api(
            Method::GET,
            &format!("/api/v1/audit?limit=200&action={action}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn is_postgres(app: &TestApp) -> bool {
    app.database_url().starts_with("postgres")
}

/// Fails the test unless `condition` (SQL) holds in the app's database
/// (`TestApp::sql` only executes: the check is an insert that a NOT NULL
/// constraint refuses when the condition is false).
async fn assert_db(app: &TestApp, condition: &str) {
    app.sql("CREATE TABLE IF NOT EXISTS google_test_checks (ok INTEGER NOT NULL)")
        .await;
    app.sql(&format!(
        "INSERT INTO google_test_checks (ok) SELECT CASE WHEN {condition} THEN 1 END"
    ))
    .await;
}

/// SQL: the bytes of binary column `column` contain `needle` (ASCII).
fn blob_contains(app: &TestApp, column: &str, needle: &str) -> String {
    if is_postgres(app) {
        format!("position(convert_to('{needle}', 'UTF8') in {column}) > 0")
    } else {
        format!("instr({column}, CAST('{needle}' AS BLOB)) > 0")
    }
}

/// The sealed refresh token of a calendar, as the store reads it.
async fn sealed_token(app: &TestApp, calendar: &str) -> Vec<u8> {
    let store = Store::connect(app.database_url()).await.unwrap();
    store
        .connection(calendar_id(calendar))
        .await
        .unwrap()
        .expect("connected")
        .refresh_token
        .bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn slot_starts(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// 1. connecting

google_test!(
    the_connect_flow_uses_a_single_use_state_bound_to_its_calendar,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        let staff = app.staff_token(&admin, "sam@example.com").await;
        let other = app.staff_token(&admin, "olga@example.com").await;
        let calendar = create_calendar(app, &staff, "Sam's room").await;

        let before = google_status(app, &staff, &calendar).await;
        assert_eq!(before["configured"], true, "{before}");
        assert_eq!(before["status"], "not_connected");
        assert!(before["google_calendar_id"].is_null());
        assert_eq!(before["jobs_pending"], 0);

        // Google's consent address, asking for offline access to two scopes.
        let url = start_connect(app, &staff, &calendar, None).await;
        assert!(
            url.as_str().starts_with(&google.endpoints().auth_url),
            "{url}"
        );
        assert_eq!(param(&url, "client_id").as_deref(), Some(CLIENT_ID));
        assert_eq!(param(&url, "redirect_uri").as_deref(), Some(REDIRECT_URI));
        assert_eq!(param(&url, "response_type").as_deref(), Some("code"));
        let scope = param(&url, "scope").unwrap();
        let scopes: Vec<&str> = scope.split(' ').collect();
        assert!(
            scopes.contains(&EVENTS_SCOPE) && scopes.contains(&FREEBUSY_SCOPE),
            "{scope}"
        );
        assert!(scope.contains("calendar.events") && scope.contains("calendar.freebusy"));
        assert_eq!(param(&url, "access_type").as_deref(), Some("offline"));
        assert_eq!(param(&url, "prompt").as_deref(), Some("consent"));
        let state = param(&url, "state").unwrap();
        assert!(state.len() >= 32, "a long random state: {state}");

        // The state is stored only as a digest.
        assert_db(
            app,
            &format!(
                "(SELECT COUNT(*) FROM oauth_states) = 1 AND NOT EXISTS \
                 (SELECT 1 FROM oauth_states WHERE digest = '{state}' OR digest LIKE '%{state}%')"
            ),
        )
        .await;

        // Google sends the browser back with the same state and a code.
        let back = consent(app, &url).await;
        let back_url = Url::parse(&back).unwrap();
        assert_eq!(param(&back_url, "state").as_deref(), Some(state.as_str()));
        assert!(param(&back_url, "code").is_some());
        let (status, page) = callback(app, &back).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Google Calendar connected"), "{page}");
        assert_eq!(count(google, "POST", "/token"), 1, "one code exchange");

        let connected = google_status(app, &staff, &calendar).await;
        assert_eq!(connected["configured"], true);
        assert_eq!(connected["status"], "connected", "{connected}");
        assert_eq!(connected["google_calendar_id"], "primary");
        let granted = connected["scopes"].as_str().unwrap();
        assert!(
            granted.contains(EVENTS_SCOPE) && granted.contains(FREEBUSY_SCOPE),
            "{granted}"
        );
        assert_eq!(at(connected["connected_at"].as_str().unwrap()), at(NOW));
        assert!(connected["last_synced_at"].is_null());
        assert!(connected["last_error"].is_null());
        assert_eq!(connected["jobs_pending"], 0);
        assert_eq!(connected["jobs_failed"], 0);
        assert_db(app, "(SELECT COUNT(*) FROM oauth_states) = 0").await;

        // The same callback again: the state is used up; nothing changes.
        let (status, page) = callback(app, &back).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("already used or expired"), "{page}");
        assert_eq!(count(google, "POST", "/token"), 1, "no second exchange");
        assert_eq!(google_status(app, &staff, &calendar).await, connected);

        // A made-up state, even with a valid code: refused before Google.
        let code = google.issue_code();
        let forged = format!(
            "{}/integrations/google/callback?state=made-up-state-0123456789abcdefghijklmnop&code={}",
            app.address,
            url_encode(&code)
        );
        let (status, page) = callback(app, &forged).await;
        assert_eq!(status, 400, "{page}");
        // No state at all; the user refused.
        let (status, _) = callback(
            app,
            &format!("{}/integrations/google/callback?code=x", app.address),
        )
        .await;
        assert_eq!(status, 400);
        let (status, page) = callback(
            app,
            &format!(
                "{}/integrations/google/callback?error=access_denied&state={state}",
                app.address
            ),
        )
        .await;
        assert_eq!(status, 400);
        assert!(page.contains("not allowed"), "{page}");
        assert_eq!(count(google, "POST", "/token"), 1);
        assert_eq!(google_status(app, &staff, &calendar).await, connected);

        // Another user cannot see, start, retry or remove this connection.
        let google_path = format!("/api/v1/calendars/{calendar}/google");
        for (method, path) in [
            (Method::POST, format!("{google_path}/connect")),
            (Method::GET, google_path.clone()),
            (Method::DELETE, google_path.clone()),
            (Method::POST, format!("{google_path}/retry")),
        ] {
            let (status, body) = app
                .api(method.clone(), &path, Some(&other), Some(&json!({})))
                .await;
            assert_eq!(status, 404, "{method} {path}: {body}");
        }
        // Nor the administrator's calendar, for a staff member.
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/google/connect"),
                Some(&staff),
                Some(&json!({})),
            )
            .await;
        assert_eq!(status, 404, "{body}");
        // Not signed in.
        let (status, _) = app
            .api(
                Method::POST,
                &format!("{google_path}/connect"),
                None,
                Some(&json!({})),
            )
            .await;
        assert_eq!(status, 401);
        // A blank Google calendar id is named.
        let (status, body) = app
            .api(
                Method::POST,
                &format!("{google_path}/connect"),
                Some(&staff),
                Some(&json!({"google_calendar_id": "   "})),
            )
            .await;
        assert_eq!(status, 422, "{body}");

        // Connecting again to a chosen Google calendar replaces the connection.
        let team = "team@group.calendar.google.com";
        connect(app, &staff, &calendar, Some(team)).await;
        let reconnected = google_status(app, &staff, &calendar).await;
        assert_eq!(reconnected["google_calendar_id"], team);
        assert_eq!(count(google, "POST", "/token"), 2);

        // A state older than ten minutes is refused, and nothing changes.
        let url = start_connect(app, &staff, &calendar, None).await;
        let back = consent(app, &url).await;
        app.clock.advance(chrono::Duration::minutes(11));
        let (status, page) = callback(app, &back).await;
        assert_eq!(status, 400, "{page}");
        assert_eq!(count(google, "POST", "/token"), 2, "expired: no exchange");
        let staff = app
            .login("sam@example.com", crate::helpers::STAFF_PASSWORD)
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(google_status(app, &staff, &calendar).await, reconnected);

        // The refused callbacks are in the audit log.
        let admin = app
            .login("admin@example.com", crate::helpers::ADMIN_PASSWORD)
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let connects = audit(app, &admin, "google.connect").await;
        let outcomes: Vec<&str> = connects
            .iter()
            .map(|e| e["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(
            outcomes.iter().filter(|o| **o == "success").count(),
            2,
            "{connects:#?}"
        );
        assert!(outcomes.contains(&"denied"), "{connects:#?}");
    }
);

google_test!(
    a_code_completes_only_the_connection_whose_consent_gave_it,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        let sam = app.staff_token(&admin, "sam@example.com").await;
        let olga = app.staff_token(&admin, "olga@example.com").await;
        let sams = create_calendar(app, &sam, "Sam's room").await;
        let olgas = create_calendar(app, &olga, "Olga's room").await;

        // Sam's consent address carries a PKCE S256 challenge; the verifier
        // stays with the state, on the server.
        let url = start_connect(app, &sam, &sams, None).await;
        assert_eq!(
            param(&url, "code_challenge_method").as_deref(),
            Some("S256")
        );
        let challenge = param(&url, "code_challenge").unwrap();
        assert_eq!(challenge.len(), 43, "{challenge}");
        assert_db(
            app,
            &format!(
                "(SELECT COUNT(*) FROM oauth_states WHERE code_verifier IS NOT NULL \
                 AND length(code_verifier) >= 43 AND code_verifier <> '{challenge}') = 1"
            ),
        )
        .await;

        // Olga starts connecting her calendar; Sam's code (from Sam's
        // consent, in Sam's Google account) is put behind Olga's state.
        let olgas_url = start_connect(app, &olga, &olgas, None).await;
        let back = Url::parse(&consent(app, &url).await).unwrap();
        let code = param(&back, "code").unwrap();
        let injected = format!(
            "{}/integrations/google/callback?state={}&code={}",
            app.address,
            url_encode(&param(&olgas_url, "state").unwrap()),
            url_encode(&code)
        );
        let (status, page) = callback(app, &injected).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("invalid_grant"), "{page}");
        let exchange = google
            .requests()
            .into_iter()
            .filter(|r| r.path == "/token")
            .count();
        assert_eq!(exchange, 1, "Google was asked, and refused the verifier");
        assert_eq!(
            google_status(app, &olga, &olgas).await["status"],
            "not_connected"
        );
        assert_eq!(
            google_status(app, &sam, &sams).await["status"],
            "not_connected"
        );
        // Olga's state is used up.
        let (status, _) = callback(app, &injected).await;
        assert_eq!(status, 400);

        // Sam's own state completes Sam's calendar, and only it.
        let url = start_connect(app, &sam, &sams, None).await;
        let back = consent(app, &url).await;
        let (status, page) = callback(app, &back).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(google_status(app, &sam, &sams).await["status"], "connected");
        assert_eq!(
            google_status(app, &olga, &olgas).await["status"],
            "not_connected"
        );
        // Once.
        let (status, _) = callback(app, &back).await;
        assert_eq!(status, 400);
        // Left: only Sam's first state, whose code went elsewhere (it expires).
        assert_db(app, "(SELECT COUNT(*) FROM oauth_states) = 1").await;
    }
);

fn url_encode(raw: &str) -> String {
    let mut url = Url::parse("http://x/").unwrap();
    url.query_pairs_mut().append_pair("v", raw);
    url.query().unwrap().trim_start_matches("v=").to_owned()
}

// ---------------------------------------------------------------------------
// 2. tokens at rest

google_test!(
    refresh_tokens_are_sealed_and_bound_to_their_calendar,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        let second = create_calendar(app, &admin, "Second room").await;
        let team = "team@group.calendar.google.com";
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        connect(app, &admin, &second, Some(team)).await;

        // No token the fake issued appears anywhere in the rows, in clear.
        for marker in ["1//fake-", "ya29.fake-", "fake-"] {
            assert_db(
                app,
                &format!(
                    "(SELECT COUNT(*) FROM google_connections) = 2 AND NOT EXISTS (SELECT 1 FROM google_connections WHERE {} \
                     OR google_calendar_id LIKE '%{marker}%' OR status LIKE '%{marker}%' OR key_id LIKE '%{marker}%' \
                     OR COALESCE(scopes, '') LIKE '%{marker}%' OR COALESCE(last_error, '') LIKE '%{marker}%')",
                    blob_contains(app, "refresh_token", marker)
                ),
            )
            .await;
        }
        // The blob opens with the key, for its own calendar only.
        let keys = KeyRing::from_base64(KEY, &[]).unwrap();
        let first_blob = sealed_token(app, DEFAULT_CALENDAR).await;
        let second_blob = sealed_token(app, &second).await;
        let first_token = keys
            .open(&first_blob, &token_binding(calendar_id(DEFAULT_CALENDAR)))
            .expect("opens for its calendar");
        let first_token = String::from_utf8(first_token.to_vec()).unwrap();
        assert!(first_token.starts_with("1//fake-"), "a refresh token");
        assert!(!contains(&first_blob, first_token.as_bytes()));
        assert!(
            keys.open(&first_blob, &token_binding(calendar_id(&second)))
                .is_err(),
            "bound to its calendar"
        );
        assert_ne!(first_blob, second_blob);

        // Both calendars sync.
        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        let b = book(app, &admin, &second, "2030-03-12T11:00:00-07:00").await;
        wait_for_event(app, google, "primary", &a).await;
        wait_for_event(app, google, team, &b).await;
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        wait_for_sync(app, &admin, &second).await;

        // Swapping the two blobs in the database: neither opens any more.
        app.sql("DROP TABLE IF EXISTS google_test_swap").await;
        app.sql(
            "CREATE TABLE google_test_swap AS SELECT calendar_id, refresh_token FROM google_connections",
        )
        .await;
        app.sql(
            "UPDATE google_connections SET refresh_token = (SELECT s.refresh_token FROM google_test_swap s \
             WHERE s.calendar_id <> google_connections.calendar_id)",
        )
        .await;
        app.sql("DROP TABLE google_test_swap").await;
        assert_eq!(sealed_token(app, DEFAULT_CALENDAR).await, second_blob);
        assert_eq!(sealed_token(app, &second).await, first_blob);

        // A change that goes only through the sync worker (a cancellation
        // asks Google for nothing first): the token cannot be opened, the
        // connection needs reconnecting, and nothing reaches Google.
        let deletes_before = count(google, "DELETE", "/events/");
        let tokens_before = count(google, "POST", "/token");
        cancel(app, &admin, &a).await;
        let s = eventually(app, "needs_reconnect", WAIT, async || {
            let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
            (s["status"] == "needs_reconnect").then_some(s)
        })
        .await;
        assert!(
            s["last_error"]
                .as_str()
                .unwrap()
                .contains("cannot be opened"),
            "{s}"
        );
        assert_eq!(s["jobs_pending"], 1, "the job waits: {s}");
        assert_eq!(count(google, "DELETE", "/events/"), deletes_before);
        assert_eq!(count(google, "POST", "/token"), tokens_before);
        assert!(
            !google
                .event("primary", &event_id_of(&a))
                .unwrap()
                .is_cancelled()
        );
        // The entry is written in the same transaction as the status.
        let flagged = audit(app, &admin, "google.needs_reconnect").await;
        assert_eq!(flagged.len(), 1, "{flagged:#?}");
        assert_eq!(
            flagged[0]["resource"],
            format!("calendar:{DEFAULT_CALENDAR}")
        );
        assert_eq!(flagged[0]["actor_kind"], "system");

        // Booking on it now: Google cannot be asked, so nothing is confirmed.
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/appointments",
                Some(&admin),
                Some(&json!({
                    "calendar_id": DEFAULT_CALENDAR,
                    "start": "2030-03-13T11:00:00-07:00",
                    "customer_name": "Ann Lee",
                    "customer_phone": "(415) 555-0177",
                })),
            )
            .await;
        assert_eq!(status, 503, "{body}");

        // Reconnecting stores a fresh token; the waiting job then runs.
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let event = eventually(app, "the cancellation in Google", WAIT, async || {
            google
                .event("primary", &event_id_of(&a))
                .filter(FakeEvent::is_cancelled)
        })
        .await;
        assert!(event.is_cancelled());
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
    }
);

// ---------------------------------------------------------------------------
// 3. Google's busy times

google_test!(
    a_google_busy_time_is_not_offered_and_cannot_be_booked,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        // Tuesday 2030-03-12, 10:00–11:00 in Los Angeles (PDT).
        google.add_busy(
            "primary",
            at("2030-03-12T10:00:00-07:00"),
            at("2030-03-12T11:00:00-07:00"),
        );

        let answer = app
            .tool("avail", "check_availability", json!({"date": "2030-03-12"}))
            .await;
        assert!(!is_error(&answer), "{answer}");
        let slots = slot_starts(&answer["metadata"]["slots"]);
        for busy in ["2030-03-12T10:00:00-07:00", "2030-03-12T10:30:00-07:00"] {
            assert!(
                !slots.iter().any(|s| s == busy),
                "{busy} offered: {slots:?}"
            );
        }
        for free in [
            "2030-03-12T09:00:00-07:00",
            "2030-03-12T09:30:00-07:00",
            "2030-03-12T11:00:00-07:00",
            "2030-03-12T16:30:00-07:00",
        ] {
            assert!(slots.iter().any(|s| s == free), "{free} missing: {slots:?}");
        }
        assert!(count(google, "POST", "/freeBusy") >= 1);

        // The API's availability agrees.
        let (status, day) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/availability?date=2030-03-12"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{day}");
        let api_slots: Vec<DateTime<Utc>> =
            slot_starts(&day["slots"]).iter().map(|s| at(s)).collect();
        assert!(!api_slots.contains(&at("2030-03-12T10:00:00-07:00")));
        assert!(!api_slots.contains(&at("2030-03-12T10:30:00-07:00")));
        assert!(api_slots.contains(&at("2030-03-12T11:00:00-07:00")));

        // Booking the busy time is refused as taken, with free alternatives.
        let refused = app
            .tool(
                "b1",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "10:00", "purpose": "Consultation"}),
            )
            .await;
        assert!(is_error(&refused), "{refused}");
        assert_eq!(refused["metadata"]["status"], "unavailable", "{refused}");
        assert_eq!(refused["metadata"]["reason"], "taken", "{refused}");
        assert!(text(&refused).contains("already taken"), "{refused}");
        let alternatives = slot_starts(&refused["metadata"]["alternatives"]);
        assert!(!alternatives.is_empty());
        assert!(
            !alternatives.iter().any(|s| s.starts_with("2030-03-12T10:")),
            "{alternatives:?}"
        );
        // Through the API too.
        let (status, body) = app
            .api(
                Method::POST,
                "/api/v1/appointments",
                Some(&admin),
                Some(&json!({
                    "calendar_id": DEFAULT_CALENDAR,
                    "start": "2030-03-12T10:30:00-07:00",
                    "customer_name": "Ann Lee",
                    "customer_phone": "(415) 555-0177",
                })),
            )
            .await;
        assert_eq!(status, 409, "{body}");

        // Right after the busy time is free.
        let booked = app
            .tool(
                "b2",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "11:00", "purpose": "Consultation"}),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
    }
);

/// What the fake's free/busy says of `gcal` in [`from`, `to`).
async fn fake_free_busy(google: &FakeGoogle, gcal: &str, from: &str, to: &str) -> Vec<Value> {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/calendar/v3/freeBusy", google.address()))
        .bearer_auth(google.issue_access_token())
        .json(&json!({"timeMin": from, "timeMax": to, "items": [{"id": gcal}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["calendars"][gcal]["busy"]
        .as_array()
        .unwrap()
        .clone()
}

/// `POST /api/v1/appointments` for Ann Lee (one caller): status and body.
async fn book_as_ann(app: &TestApp, token: &str, start: &str, minutes: u32) -> (StatusCode, Value) {
    app.api(
        Method::POST,
        "/api/v1/appointments",
        Some(token),
        Some(&json!({
            "calendar_id": DEFAULT_CALENDAR,
            "start": start,
            "customer_name": "Ann Lee",
            "customer_phone": "(415) 555-0177",
            "duration_minutes": minutes,
        })),
    )
    .await
}

google_test!(
    a_caller_booking_again_by_voice_hears_already_booked_not_taken,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let args = json!({"name": "Ray Chan", "date": "2030-03-12", "time": "11:00", "purpose": "Consultation"});
        let first = app.tool("first", "book_appointment", args.clone()).await;
        assert_eq!(first["metadata"]["status"], "booked", "{first}");
        let ray = first["metadata"]["appointment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let event = wait_for_event(app, google, "primary", &ray).await;
        assert_eq!(event.start, at("2030-03-12T11:00:00-07:00"));
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        // Google counts our own event as busy, as the real one does.
        let busy = fake_free_busy(
            google,
            "primary",
            "2030-03-12T00:00:00Z",
            "2030-03-13T00:00:00Z",
        )
        .await;
        assert_eq!(
            busy,
            vec![json!({"start": "2030-03-12T18:00:00Z", "end": "2030-03-12T18:30:00Z"})]
        );
        // The same caller asks again with a fresh tool call: already booked,
        // not "taken" by their own event.
        let again = app.tool("second", "book_appointment", args).await;
        assert!(!is_error(&again), "{again}");
        assert_eq!(again["metadata"]["status"], "already_booked", "{again}");
        assert_eq!(again["metadata"]["appointment_id"], ray.as_str());
        // Someone else still finds the time taken.
        let other = app
            .tool_from(
                Some("+14155550002"),
                "third",
                "book_appointment",
                json!({"name": "Bo Park", "date": "2030-03-12", "time": "11:00"}),
            )
            .await;
        assert_ne!(other["metadata"]["status"], "booked", "{other}");
    }
);

google_test!(
    the_api_answers_200_to_a_caller_who_holds_the_time_already,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let (status, ann) = book_as_ann(app, &admin, "2030-03-13T10:00:00-07:00", 60).await;
        assert_eq!(status, 201, "{ann}");
        let ann = ann["id"].as_str().unwrap().to_owned();
        wait_for_event(app, google, "primary", &ann).await;
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        // The same caller, the same time: 200 with the existing appointment.
        let (status, same) = book_as_ann(app, &admin, "2030-03-13T10:00:00-07:00", 60).await;
        assert_eq!(status, 200, "{same}");
        assert_eq!(same["id"], ann.as_str());
    }
);

google_test!(
    an_appointment_moves_over_its_own_event_and_frees_its_old_time_at_once,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let (status, ann) = book_as_ann(app, &admin, "2030-03-13T10:00:00-07:00", 60).await;
        assert_eq!(status, 201, "{ann}");
        let ann = ann["id"].as_str().unwrap().to_owned();
        wait_for_event(app, google, "primary", &ann).await;
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;

        // Moved by 30 minutes, overlapping its own event. The event's update
        // fails once, so Google still has it at the old time for a while.
        google.fail_next(
            "PUT /calendar/v3/calendars/primary/events/",
            503,
            json!({"error": {"code": 503, "message": "Backend Error",
                "errors": [{"domain": "global", "reason": "backendError"}]}}),
            None,
        );
        let (status, moved) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{ann}/reschedule"),
                Some(&admin),
                Some(&json!({"start": "2030-03-13T10:30:00-07:00"})),
            )
            .await;
        assert_eq!(status, 200, "{moved}");
        // Wait (without moving the clock: the retry is not due) until the
        // worker tried and failed to move the event.
        let deadline = Instant::now() + WAIT;
        while count(google, "PUT", "/events/") == 0 {
            assert!(
                Instant::now() < deadline,
                "the event's update was not tried"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let stale = google.event("primary", &event_id_of(&ann)).unwrap();
        assert_eq!(stale.start, at("2030-03-13T10:00:00-07:00"));
        // The half hour it left is free for another caller, although its
        // event still covers it in Google.
        let (status, other) = app
            .api(
                Method::POST,
                "/api/v1/appointments",
                Some(&admin),
                Some(&json!({
                    "calendar_id": DEFAULT_CALENDAR,
                    "start": "2030-03-13T10:00:00-07:00",
                    "customer_name": "Bo Park",
                    "customer_phone": "(415) 555-0199",
                })),
            )
            .await;
        assert_eq!(status, 201, "{other}");
        // A meeting put straight into Google still blocks.
        google.add_busy(
            "primary",
            at("2030-03-13T13:00:00-07:00"),
            at("2030-03-13T14:00:00-07:00"),
        );
        let (status, body) = book_as_ann(app, &admin, "2030-03-13T13:00:00-07:00", 30).await;
        assert_eq!(status, 409, "{body}");
        // The retry moves the event.
        let event = eventually(app, "the move", WAIT, async || {
            google
                .event("primary", &event_id_of(&ann))
                .filter(|e| e.start == at("2030-03-13T10:30:00-07:00"))
        })
        .await;
        assert_eq!(event.end, at("2030-03-13T11:30:00-07:00"));
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
    }
);

// ---------------------------------------------------------------------------
// 4. one event per booking

google_test!(
    a_booking_creates_one_event_with_its_details,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let booked = app
            .tool_from(
                Some("+14155550123"),
                "book",
                "book_appointment",
                json!({
                    "name": "Ray Chan",
                    "date": "2030-03-12",
                    "time": "11:00",
                    "purpose": "Knee consultation",
                    "email": "ray.chan@example.com",
                }),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
        let appointment = booked["metadata"]["appointment_id"]
            .as_str()
            .unwrap()
            .to_owned();

        let event = wait_for_event(app, google, "primary", &appointment).await;
        let synced = wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        assert!(!synced["last_synced_at"].is_null(), "{synced}");
        assert_eq!(synced["jobs_failed"], 0);

        assert_eq!(event.id, event_id_of(&appointment));
        assert!(
            event.id.len() == 26
                && event
                    .id
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'v')),
            "base32hex: {}",
            event.id
        );
        assert!(
            event.summary.contains("Ray Chan") && event.summary.contains("Knee consultation"),
            "{event:?}"
        );
        assert!(event.description.contains("+14155550123"), "{event:?}");
        assert!(
            event.description.contains("ray.chan@example.com"),
            "{event:?}"
        );
        assert_eq!(event.attendees, ["ray.chan@example.com"]);
        assert_eq!(event.start, at("2030-03-12T11:00:00-07:00"));
        assert_eq!(event.end, at("2030-03-12T11:30:00-07:00"));
        assert_eq!(event.time_zone.as_deref(), Some("America/Los_Angeles"));
        assert_eq!(event.status, "confirmed");
        assert_eq!(event.last_send_updates(), Some("all"));
        assert_eq!(google.insert_count(&event.id), 1);
        assert_eq!(google.events("primary").len(), 1);
        assert_eq!(count(google, "POST", "/events"), 1);

        // Nothing more happens on later rounds.
        let requests = google.requests().len();
        for _ in 0..6 {
            app.clock.advance(chrono::Duration::seconds(5));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(google.requests().len(), requests, "{:?}", google.requests());
    }
);

google_test!(
    send_updates_follows_the_setting,
    &[("GOOGLE_SEND_UPDATES", "none")],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        let event = wait_for_event(app, google, "primary", &a).await;
        assert_eq!(event.last_send_updates(), Some("none"));
    }
);

// ---------------------------------------------------------------------------
// 5. and 6. retries converge on one event

google_test!(
    server_errors_and_rate_limits_are_retried_into_one_event,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let backend = json!({"error": {"code": 500, "message": "Backend Error",
            "errors": [{"domain": "global", "reason": "backendError", "message": "Backend Error"}]}});
        google.fail_next(INSERT, 500, backend.clone(), None);
        google.fail_next(INSERT, 500, backend, None);
        google.fail_next(
            INSERT,
            429,
            json!({"error": {"code": 429, "message": "Rate Limit Exceeded",
                "errors": [{"domain": "usageLimits", "reason": "rateLimitExceeded", "message": "Rate Limit Exceeded"}]}}),
            Some(1),
        );

        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        let id = event_id_of(&a);
        let event = eventually(
            app,
            "the event after retries",
            Duration::from_secs(30),
            async || google.event("primary", &id),
        )
        .await;
        assert_eq!(event.status, "confirmed");
        let synced = wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        assert_eq!(synced["jobs_failed"], 0, "{synced}");
        assert_eq!(google.events("primary").len(), 1);
        assert_eq!(
            count(google, "POST", "/events"),
            4,
            "three failures, one success"
        );
        assert_eq!(
            google.insert_count(&id),
            1,
            "canned failures never stored anything"
        );
        assert_eq!(synced["status"], "connected");
    }
);

google_test!(
    an_event_created_before_a_lost_answer_is_not_duplicated,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        // Google stores the event and the answer is lost (a 500).
        google.create_then_fail();
        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        let id = event_id_of(&a);
        eventually(
            app,
            "the retry (409, then update)",
            Duration::from_secs(30),
            async || {
                (google.insert_count(&id) >= 2 && count(google, "PUT", "/events/") >= 1)
                    .then_some(())
            },
        )
        .await;
        let synced = wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        assert_eq!(synced["jobs_failed"], 0, "{synced}");
        assert_eq!(synced["jobs_pending"], 0, "{synced}");
        let events = google.events("primary");
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].id, id);
        assert_eq!(events[0].status, "confirmed");
        assert_eq!(google.insert_count(&id), 2, "the retry's insert got 409");
        assert_eq!(events[0].sequence, 1, "then the event was updated once");
    }
);

google_test!(
    failed_jobs_are_kept_counted_and_can_be_retried,
    &[("GOOGLE_SYNC_MAX_ATTEMPTS", "2")],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let backend = json!({"error": {"code": 503, "message": "Service Unavailable"}});
        google.fail_next(INSERT, 503, backend.clone(), None);
        google.fail_next(INSERT, 503, backend, None);
        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        let s = eventually(
            app,
            "the job to fail",
            Duration::from_secs(30),
            async || {
                let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
                (s["jobs_failed"] == 1).then_some(s)
            },
        )
        .await;
        assert_eq!(s["jobs_pending"], 0, "{s}");
        assert!(
            s["last_job_error"]
                .as_str()
                .is_some_and(|e| e.contains("503")),
            "the failure is shown: {s}"
        );
        assert_eq!(
            s["status"], "connected",
            "a failed job is not a dead grant: {s}"
        );
        assert_eq!(count(google, "POST", "/events"), 2);
        assert!(google.event("primary", &event_id_of(&a)).is_none());

        // A refusal (400) fails at once, without retries.
        google.fail_next(
            INSERT,
            400,
            json!({"error": {"code": 400, "message": "Bad Request",
                "errors": [{"domain": "global", "reason": "invalid", "message": "Invalid"}]}}),
            None,
        );
        let b = book(app, &admin, DEFAULT_CALENDAR, "2030-03-13T11:00:00-07:00").await;
        let s = eventually(app, "the refusal", WAIT, async || {
            let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
            (s["jobs_failed"] == 2).then_some(s)
        })
        .await;
        assert!(
            s["last_job_error"]
                .as_str()
                .is_some_and(|e| e.contains("400")),
            "the latest failure is shown: {s}"
        );
        assert_eq!(count(google, "POST", "/events"), 3);

        // Retrying queues both again; Google takes them now.
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/google/retry"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"requeued": 2}));
        wait_for_event(app, google, "primary", &a).await;
        wait_for_event(app, google, "primary", &b).await;
        let s = wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        assert_eq!(s["jobs_failed"], 0, "{s}");
        assert_eq!(s["last_job_error"], Value::Null, "{s}");
        assert_eq!(google.events("primary").len(), 2);
    }
);

// ---------------------------------------------------------------------------
// 7. cancel and reschedule

google_test!(
    cancelling_and_rescheduling_follow_in_google,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        let b = book(app, &admin, DEFAULT_CALENDAR, "2030-03-13T14:00:00-07:00").await;
        wait_for_event(app, google, "primary", &a).await;
        wait_for_event(app, google, "primary", &b).await;
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;

        // Access tokens expire meanwhile: refreshed on the 401.
        let refreshes = count(google, "POST", "/token");
        google.expire_access_tokens();
        cancel(app, &admin, &a).await;
        let cancelled = eventually(app, "the cancellation", WAIT, async || {
            google
                .event("primary", &event_id_of(&a))
                .filter(FakeEvent::is_cancelled)
        })
        .await;
        assert_eq!(cancelled.last_send_updates(), Some("all"));
        assert_eq!(count(google, "POST", "/token"), refreshes + 1);

        let (status, moved) = app
            .api(
                Method::POST,
                &format!("/api/v1/appointments/{b}/reschedule"),
                Some(&admin),
                Some(&json!({"start": "2030-03-14T15:00:00-07:00"})),
            )
            .await;
        assert_eq!(status, 200, "{moved}");
        let event = eventually(app, "the move", WAIT, async || {
            google
                .event("primary", &event_id_of(&b))
                .filter(|e| e.start == at("2030-03-14T15:00:00-07:00"))
        })
        .await;
        assert_eq!(event.end, at("2030-03-14T15:30:00-07:00"));
        assert_eq!(event.status, "confirmed");
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;

        let events = google.events("primary");
        assert_eq!(events.len(), 2, "{events:?}");
        let live: Vec<&FakeEvent> = events.iter().filter(|e| !e.is_cancelled()).collect();
        assert_eq!(live.len(), 1, "{events:?}");
        assert_eq!(live[0].id, event_id_of(&b));

        // The freed time is free in Google too: booking it makes a new event.
        let c = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        assert_ne!(event_id_of(&c), event_id_of(&a));
        wait_for_event(app, google, "primary", &c).await;
    }
);

// ---------------------------------------------------------------------------
// 8. a revoked grant

google_test!(
    a_grant_revoked_before_a_booking_pauses_sync_until_reconnected,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        // An answer for the day is known (offering slots asked Google).
        let answer = app
            .tool("avail", "check_availability", json!({"date": "2030-03-12"}))
            .await;
        assert!(!is_error(&answer), "{answer}");

        // The user removes our access in their Google account.
        google.revoke_all();
        let booked = app
            .tool(
                "book",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "11:00", "purpose": "Consultation"}),
            )
            .await;
        // Booked on the recent answer (Google could not be asked again).
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");
        let appointment = booked["metadata"]["appointment_id"]
            .as_str()
            .unwrap()
            .to_owned();

        let s = eventually(app, "needs_reconnect", WAIT, async || {
            let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
            (s["status"] == "needs_reconnect").then_some(s)
        })
        .await;
        assert!(s["jobs_pending"].as_u64().unwrap() >= 1, "paused: {s}");
        assert!(
            s["last_error"].as_str().unwrap().contains("invalid_grant"),
            "{s}"
        );
        // The job waits; nothing reaches Google.
        for _ in 0..5 {
            app.clock.advance(chrono::Duration::seconds(5));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(
            google
                .event("primary", &event_id_of(&appointment))
                .is_none()
        );
        let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
        assert_eq!(s["status"], "needs_reconnect", "{s}");
        assert!(s["jobs_pending"].as_u64().unwrap() >= 1, "{s}");

        // Found by free/busy rather than by the worker: audited all the same.
        let flagged = audit(app, &admin, "google.needs_reconnect").await;
        assert_eq!(flagged.len(), 1, "{flagged:#?}");
        assert_eq!(
            flagged[0]["resource"],
            format!("calendar:{DEFAULT_CALENDAR}")
        );
        assert_eq!(flagged[0]["outcome"], "failure");
        assert_eq!(flagged[0]["actor_kind"], "system");

        // Connecting again lets the job run.
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let event = wait_for_event(app, google, "primary", &appointment).await;
        assert_eq!(event.status, "confirmed");
        let s = wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        assert_eq!(s["status"], "connected", "{s}");
        assert!(s["last_error"].is_null(), "{s}");
    }
);

google_test!(
    a_grant_found_revoked_by_the_worker_is_flagged_and_audited,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        wait_for_event(app, google, "primary", &a).await;
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;

        google.revoke_all();
        google.expire_access_tokens();
        cancel(app, &admin, &a).await;
        let s = eventually(app, "needs_reconnect", WAIT, async || {
            let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
            (s["status"] == "needs_reconnect").then_some(s)
        })
        .await;
        assert_eq!(s["jobs_pending"], 1, "paused: {s}");
        // The entry is written in the same transaction as the status.
        let flagged = audit(app, &admin, "google.needs_reconnect").await;
        assert_eq!(flagged.len(), 1, "{flagged:#?}");
        assert_eq!(
            flagged[0]["resource"],
            format!("calendar:{DEFAULT_CALENDAR}")
        );
        assert_eq!(flagged[0]["outcome"], "failure");
        assert_eq!(flagged[0]["actor_kind"], "system");
        assert!(
            !google
                .event("primary", &event_id_of(&a))
                .unwrap()
                .is_cancelled()
        );

        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        eventually(
            app,
            "the cancellation after reconnecting",
            WAIT,
            async || {
                google
                    .event("primary", &event_id_of(&a))
                    .filter(FakeEvent::is_cancelled)
            },
        )
        .await;
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
    }
);

google_test!(
    a_dead_grant_answered_with_401_needs_reconnect_and_is_not_retried,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        wait_for_event(app, google, "primary", &a).await;
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;

        // This token endpoint answers a dead grant with 401, not 400.
        google.answer_invalid_grant_with(401);
        google.revoke_all();
        google.expire_access_tokens();
        cancel(app, &admin, &a).await;
        let s = eventually(app, "needs_reconnect", WAIT, async || {
            let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
            (s["status"] == "needs_reconnect").then_some(s)
        })
        .await;
        assert_eq!(s["jobs_pending"], 1, "paused: {s}");
        assert_eq!(s["jobs_failed"], 0, "{s}");
        assert!(
            s["last_error"].as_str().unwrap().contains("invalid_grant"),
            "{s}"
        );
        // Paused, not retried: the token endpoint is not asked again.
        let asked = google.token_requests();
        for _ in 0..5 {
            app.clock.advance(chrono::Duration::minutes(1));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(google.token_requests(), asked);
        let flagged = audit(app, &admin, "google.needs_reconnect").await;
        assert_eq!(flagged.len(), 1, "{flagged:#?}");
    }
);

// ---------------------------------------------------------------------------
// 8b. access tokens

google_test!(
    concurrent_bookings_on_a_fresh_instance_share_one_token_refresh,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        // The code exchange; no access token is cached yet.
        let before = google.token_requests();
        // A slow Google, so that the ten bookings need a token at once.
        google.set_delay(Duration::from_millis(300));
        let starts: Vec<String> = (0..10)
            .map(|i| format!("2030-03-12T{:02}:{:02}:00-07:00", 9 + i / 2, (i % 2) * 30))
            .collect();
        let bookings = starts
            .iter()
            .map(|start| book(app, &admin, DEFAULT_CALENDAR, start));
        let booked = futures::future::join_all(bookings).await;
        assert_eq!(booked.len(), 10);
        google.set_delay(Duration::ZERO);
        for appointment in &booked {
            wait_for_event(app, google, "primary", appointment).await;
        }
        wait_for_sync(app, &admin, DEFAULT_CALENDAR).await;
        // One refresh served the ten free/busy checks and the ten events.
        assert_eq!(
            google.token_requests(),
            before + 1,
            "{:#?}",
            google.requests()
        );
    }
);

// ---------------------------------------------------------------------------
// 9. disconnecting

google_test!(
    disconnecting_revokes_the_grant_and_deletes_the_tokens,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;
        let a = book(app, &admin, DEFAULT_CALENDAR, "2030-03-12T11:00:00-07:00").await;
        wait_for_event(app, google, "primary", &a).await;
        let keys = KeyRing::from_base64(KEY, &[]).unwrap();
        let sealed = sealed_token(app, DEFAULT_CALENDAR).await;
        let refresh_token = keys
            .open(&sealed, &token_binding(calendar_id(DEFAULT_CALENDAR)))
            .unwrap();
        let refresh_token = String::from_utf8(refresh_token.to_vec()).unwrap();

        let path = format!("/api/v1/calendars/{DEFAULT_CALENDAR}/google");
        let (status, body) = app.api(Method::DELETE, &path, Some(&admin), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"revoked": true}));
        assert_eq!(google.revoked(), [refresh_token]);

        let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
        assert_eq!(s["configured"], true);
        assert_eq!(s["status"], "not_connected", "{s}");
        assert!(s["google_calendar_id"].is_null());
        assert_db(app, "NOT EXISTS (SELECT 1 FROM google_connections)").await;
        let (status, body) = app.api(Method::DELETE, &path, Some(&admin), None).await;
        assert_eq!(status, 404, "{body}");

        // Bookings go on without Google: not asked, nothing queued.
        let free_busy = count(google, "POST", "/freeBusy");
        book(app, &admin, DEFAULT_CALENDAR, "2030-03-13T11:00:00-07:00").await;
        assert_eq!(count(google, "POST", "/freeBusy"), free_busy);
        let s = google_status(app, &admin, DEFAULT_CALENDAR).await;
        assert_eq!(s["jobs_pending"], 0, "{s}");

        // Deleting an account revokes the grants it gave.
        let staff = app.staff_token(&admin, "sam@example.com").await;
        let room = create_calendar(app, &staff, "Sam's room").await;
        connect(app, &staff, &room, None).await;
        let (status, body) = app
            .api(Method::DELETE, "/api/v1/me", Some(&staff), None)
            .await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(google.revoked().len(), 2, "{:?}", google.revoked());
        let s = google_status(app, &admin, &room).await;
        assert_eq!(s["status"], "not_connected", "{s}");
        assert_db(app, "NOT EXISTS (SELECT 1 FROM google_connections)").await;
    }
);

// ---------------------------------------------------------------------------
// 10. Google unreachable

google_test!(
    an_unreachable_google_offers_nothing_and_says_so,
    &[],
    async |app: &TestApp, google: &FakeGoogle| {
        let admin = app.admin_token().await;
        connect(app, &admin, DEFAULT_CALENDAR, None).await;

        // Google answers, but cannot read the calendar.
        google.set_calendar_error("primary", "notFound");
        let answer = app
            .tool("a1", "check_availability", json!({"date": "2030-03-12"}))
            .await;
        assert!(is_error(&answer), "{answer}");
        assert_eq!(
            answer["metadata"]["status"], "calendar_unavailable",
            "{answer}"
        );
        assert!(answer["metadata"].get("slots").is_none(), "{answer}");
        let said = text(&answer);
        assert!(said.contains("cannot be checked right now"), "{said}");
        assert!(
            !said.contains("AM") && !said.contains("PM"),
            "no times offered: {said}"
        );
        let refused = app
            .tool(
                "b1",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-12", "time": "11:00"}),
            )
            .await;
        assert_eq!(
            refused["metadata"]["status"], "calendar_unavailable",
            "{refused}"
        );
        let (status, body) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/availability?date=2030-03-12"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 503, "{body}");
        google.clear_calendar_error("primary");

        // Google fails (500) and no answer for that day is known.
        google.fail_next(
            "freeBusy",
            500,
            json!({"error": {"code": 500, "message": "Backend Error"}}),
            None,
        );
        let answer = app
            .tool("a2", "check_availability", json!({"date": "2030-03-13"}))
            .await;
        assert_eq!(
            answer["metadata"]["status"], "calendar_unavailable",
            "{answer}"
        );
        assert!(text(&answer).contains("cannot be checked right now"));

        // Google answers again: slots are offered.
        let answer = app
            .tool("a3", "check_availability", json!({"date": "2030-03-13"}))
            .await;
        assert!(!is_error(&answer), "{answer}");
        assert!(!slot_starts(&answer["metadata"]["slots"]).is_empty());
        // A failure now falls back on that recent answer.
        google.fail_next(
            "freeBusy",
            500,
            json!({"error": {"code": 500, "message": "Backend Error"}}),
            None,
        );
        let booked = app
            .tool(
                "b2",
                "book_appointment",
                json!({"name": "Ray Chan", "date": "2030-03-13", "time": "11:00"}),
            )
            .await;
        assert_eq!(booked["metadata"]["status"], "booked", "{booked}");

        // Google slower than the voice turn allows: no answer, no slots.
        google.set_delay(Duration::from_secs(4));
        let started = Instant::now();
        let answer = app
            .tool("a4", "check_availability", json!({"date": "2030-03-14"}))
            .await;
        assert_eq!(
            answer["metadata"]["status"], "calendar_unavailable",
            "{answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        google.set_delay(Duration::ZERO);
    }
);

on_both_backends!(
    without_google_settings_the_routes_say_it_is_not_configured,
    &[],
    async |app: &TestApp| {
        let admin = app.admin_token().await;
        let (status, body) = app
            .api(
                Method::GET,
                &format!("/api/v1/calendars/{DEFAULT_CALENDAR}/google"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["configured"], false, "{body}");
        assert_eq!(body["status"], "not_connected", "{body}");
        for (method, path, payload) in [
            (
                Method::POST,
                format!("/api/v1/calendars/{DEFAULT_CALENDAR}/google/connect"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/api/v1/calendars/{DEFAULT_CALENDAR}/google/retry"),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/v1/calendars/{DEFAULT_CALENDAR}/google"),
                None,
            ),
        ] {
            let (status, body) = app.api(method, &path, Some(&admin), payload.as_ref()).await;
            assert_eq!(status, 404, "{path}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not configured")),
                "{path}: {body}"
            );
        }
        let response = app
            .client
            .get(format!(
                "{}/integrations/google/callback?code=x&state=y",
                app.address
            ))
            .send()
            .await
            .expect("callback");
        assert_eq!(response.status(), 404);
    }
);

/// Two server instances on one PostgreSQL, both running sync workers, both
/// taking bookings: every booking reaches Google exactly once (no job is
/// run by both; a second run would show as a second insert of the event).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_mirror_each_booking_once() {
    let name = "two_instances_on_one_postgres_mirror_each_booking_once";
    let Some((a, google)) = start(Db::Postgres, name, &[]).await else {
        return;
    };
    let endpoints = google.endpoints();
    let shared = a.database_url().to_owned();
    let b = spawn(
        Db::Postgres,
        &format!("{name}_b"),
        &[
            ("DATABASE_URL", shared.as_str()),
            ("GOOGLE_CLIENT_ID", CLIENT_ID),
            ("GOOGLE_CLIENT_SECRET", CLIENT_SECRET),
            ("GOOGLE_REDIRECT_URI", REDIRECT_URI),
            ("GOOGLE_AUTH_URL", &endpoints.auth_url),
            ("GOOGLE_TOKEN_URL", &endpoints.token_url),
            ("GOOGLE_REVOKE_URL", &endpoints.revoke_url),
            ("GOOGLE_API_BASE_URL", &endpoints.api_base_url),
            ("ENCRYPTION_KEY", KEY),
        ],
    )
    .await
    .expect("the second instance");
    let admin = a.admin_token().await;
    connect(&a, &admin, DEFAULT_CALENDAR, None).await;

    // 24 bookings, alternately through each instance, concurrently.
    let starts: Vec<String> = ["2030-03-04", "2030-03-05"]
        .iter()
        .flat_map(|day| {
            (0..12).map(move |half_hours| {
                format!(
                    "{day}T{:02}:{:02}:00-08:00",
                    9 + half_hours / 2,
                    (half_hours % 2) * 30
                )
            })
        })
        .collect();
    let booked = futures::future::join_all(starts.iter().enumerate().map(|(i, start)| {
        let app = if i % 2 == 0 { &a } else { &b };
        let admin = admin.as_str();
        async move { book(app, admin, DEFAULT_CALENDAR, start).await }
    }))
    .await;
    assert_eq!(booked.len(), 24);

    let all_there = eventually(
        &a,
        "24 events in Google",
        Duration::from_secs(30),
        async || {
            b.clock.advance(chrono::Duration::seconds(1));
            let events = google.events("primary");
            (events.len() == 24).then_some(events)
        },
    )
    .await;
    for appointment in &booked {
        let id = event_id_of(appointment);
        assert!(all_there.iter().any(|e| e.id == id), "{id} mirrored");
        assert_eq!(google.insert_count(&id), 1, "{id} inserted once");
    }
    assert_eq!(count(&google, "POST", "/events"), 24, "no second insert");
    let s = wait_for_sync(&a, &admin, DEFAULT_CALENDAR).await;
    assert_eq!(s["jobs_failed"], 0, "{s}");
    b.cleanup().await;
    a.cleanup().await;
}

google_test!(
    the_dashboards_settings_page_shows_the_connection,
    &[],
    async |app: &TestApp, _google: &FakeGoogle| {
        let admin = app.admin_token().await;
        let calendar = app.first_calendar_id(&admin).await;
        let mut browser = crate::web::Browser::new(app);
        browser
            .sign_in("admin@example.com", crate::helpers::ADMIN_PASSWORD)
            .await;
        let page = browser.get(&format!("/calendar/{calendar}/settings")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("No Google Calendar is connected to this calendar yet"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Connect Google Calendar</button>"));
        assert!(!page.body.contains("Disconnect</button>"));
        let csrf = page.field("csrf");
        let settings = format!("/calendar/{calendar}/settings");
        // Without the token: refused.
        let refused = browser
            .post(
                &format!("{settings}/google/connect"),
                &[("google_calendar_id", "")],
            )
            .await;
        assert_eq!(refused.status, 403);
        // Connect: a page with the link to Google's consent screen.
        let page = browser
            .post(
                &format!("{settings}/google/connect"),
                &[("csrf", &csrf), ("google_calendar_id", "")],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let marker = "<a class=\"button\" href=\"";
        let start = page.body.find(marker).unwrap() + marker.len();
        let end = page.body[start..].find('"').unwrap() + start;
        let url = Url::parse(&page.body[start..end].replace("&#38;", "&")).unwrap();
        let back = consent(app, &url).await;
        let (status, done) = callback(app, &back).await;
        assert_eq!(status, 200, "{done}");
        let page = browser.get(&settings).await;
        assert!(
            page.body.contains(
                "<span class=\"tag ok\">Connected</span> Connected to Google Calendar “primary”"
            ),
            "{}",
            page.body
        );
        assert!(page.body.contains("Disconnect</button>"));
        assert!(!page.body.contains("Connect Google Calendar</button>"));
        // Retry (nothing failed: still fine) and disconnect, each with its token.
        let page = browser
            .post(&format!("{settings}/google/retry"), &[("csrf", &csrf)])
            .await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location(), format!("{settings}?done=google-retried"));
        assert_eq!(
            browser
                .post(&format!("{settings}/google/disconnect"), &[])
                .await
                .status,
            403
        );
        let page = browser
            .post(&format!("{settings}/google/disconnect"), &[("csrf", &csrf)])
            .await;
        assert_eq!(page.status, 303);
        let page = browser.get(page.location()).await;
        assert!(page.body.contains("Google Calendar is disconnected."));
        assert!(
            page.body
                .contains("No Google Calendar is connected to this calendar yet")
        );
        let s = google_status(app, &admin, &calendar).await;
        assert_eq!(s["status"], "not_connected", "{s}");
    }
);
