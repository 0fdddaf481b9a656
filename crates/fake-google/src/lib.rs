//! A local fake of Google's OAuth and Calendar endpoints, for tests.
//!
//! It listens on `127.0.0.1:0` and answers with the same status codes and
//! JSON shapes as Google for what voice-scheduler uses: the consent redirect,
//! the token endpoint (code exchange, refresh), revocation, `freeBusy.query`
//! (which counts every event in the calendar as busy, ours included, as
//! Google does) and `events` insert/get/list/update/patch/delete (`list`
//! honours `timeMin`, `timeMax`, `showDeleted` and
//! `privateExtendedProperty`). A consent with a PKCE `code_challenge` makes
//! a code that the token endpoint exchanges only with its `code_verifier`.
//! Our real clients (reqwest for OAuth, `google-calendar3` for the API) talk
//! to it over HTTP, so tests exercise the real wire format.
//!
//! Tests steer it: register codes and tokens, add busy times, make a calendar
//! unreadable, queue canned failures ([`FakeGoogle::fail_next`]), slow it
//! down, or make the next insert store the event and still fail
//! ([`FakeGoogle::create_then_fail`]). They inspect it: stored events,
//! received requests, revoked tokens.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let google = voice_scheduler_fake_google::FakeGoogle::start().await?;
//! let endpoints = google.endpoints(); // hand these to the code under test
//! google.fail_next("/events", 500, serde_json::json!({"error": {"code": 500}}), None);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use voice_scheduler_google::{GoogleEndpoints, SCOPES};

/// The OAuth client id the fake accepts.
pub const CLIENT_ID: &str = "fake-client-id.apps.googleusercontent.com";
/// The OAuth client secret the fake accepts.
pub const CLIENT_SECRET: &str = "fake-client-secret";
/// How long the access tokens it issues say they live.
pub const ACCESS_TOKEN_LIFETIME: i64 = 3600;

/// An event as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeEvent {
    pub id: String,
    pub summary: String,
    pub description: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The `timeZone` of the event's start.
    pub time_zone: Option<String>,
    /// The attendees' email addresses.
    pub attendees: Vec<String>,
    /// `confirmed`, `tentative` or `cancelled` (deleted events are kept as
    /// `cancelled`, as Google does).
    pub status: String,
    /// The `sendUpdates` parameter of every write to this event (insert,
    /// update, patch, delete), in order; `None` when it was absent.
    pub send_updates: Vec<Option<String>>,
    /// Bumped by each update, patch and delete.
    pub sequence: u32,
    /// `extendedProperties.private`.
    pub private_properties: HashMap<String, String>,
}

impl FakeEvent {
    /// The `sendUpdates` of the latest write.
    pub fn last_send_updates(&self) -> Option<&str> {
        self.send_updates.last().and_then(|s| s.as_deref())
    }

    pub fn is_cancelled(&self) -> bool {
        self.status == "cancelled"
    }

    fn to_json(&self, calendar_id: &str) -> Value {
        let at = |instant: &DateTime<Utc>| {
            let mut value = json!({"dateTime": rfc3339(instant)});
            if let Some(zone) = &self.time_zone {
                value["timeZone"] = json!(zone);
            }
            value
        };
        json!({
            "kind": "calendar#event",
            "etag": format!("\"{}\"", self.sequence),
            "id": self.id,
            "status": self.status,
            "htmlLink": format!("https://www.google.com/calendar/event?eid={}", self.id),
            "summary": self.summary,
            "description": self.description,
            "organizer": {"email": calendar_id, "self": true},
            "start": at(&self.start),
            "end": at(&self.end),
            "attendees": self.attendees.iter()
                .map(|email| json!({"email": email, "responseStatus": "needsAction"}))
                .collect::<Vec<_>>(),
            "sequence": self.sequence,
            "extendedProperties": {"private": self.private_properties},
        })
    }
}

/// A request the fake received (everything but headers and body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// As sent, still percent-encoded: `/calendar/v3/calendars/primary/events`.
    pub path: String,
    /// The raw query string, empty when there was none.
    pub query: String,
}

impl RecordedRequest {
    /// The value of one query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// A canned answer queued by [`FakeGoogle::fail_next`].
#[derive(Debug, Clone)]
struct Canned {
    matches: String,
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

/// A busy period: start (inclusive), end (exclusive).
type Period = (DateTime<Utc>, DateTime<Utc>);

/// Which refresh token an access token came from.
#[derive(Debug, Clone)]
struct AccessGrant {
    refresh_token: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    redirect_uri: Option<String>,
    granted_scopes: Option<String>,
    codes: HashSet<String>,
    /// The PKCE `S256` challenge a code was issued with at consent.
    challenges: HashMap<String, String>,
    refresh_tokens: HashSet<String>,
    access_tokens: HashMap<String, AccessGrant>,
    /// Tokens that once were valid and no longer are.
    dead_tokens: HashSet<String>,
    revoked: Vec<String>,
    /// calendar id → events in insertion order.
    calendars: HashMap<String, Vec<FakeEvent>>,
    busy: HashMap<String, Vec<Period>>,
    calendar_errors: HashMap<String, String>,
    requests: Vec<RecordedRequest>,
    canned: VecDeque<Canned>,
    delay: Duration,
    create_then_fail: bool,
    inserts: HashMap<String, usize>,
    /// The status of a dead-grant answer (`invalid_grant`): 400 as Google,
    /// unless a test chose 401 as some OAuth servers answer.
    invalid_grant_status: Option<u16>,
}

impl State {
    fn new_access_token(&mut self, refresh_token: Option<String>) -> String {
        let token = format!("ya29.fake-{}", random_token());
        self.access_tokens
            .insert(token.clone(), AccessGrant { refresh_token });
        token
    }

    fn new_refresh_token(&mut self) -> String {
        let token = format!("1//fake-{}", random_token());
        self.refresh_tokens.insert(token.clone());
        token
    }

    /// Kills a refresh token and every access token it issued.
    fn kill_refresh_token(&mut self, refresh_token: &str) {
        if self.refresh_tokens.remove(refresh_token) {
            self.dead_tokens.insert(refresh_token.to_owned());
        }
        let issued: Vec<String> = self
            .access_tokens
            .iter()
            .filter(|(_, grant)| grant.refresh_token.as_deref() == Some(refresh_token))
            .map(|(token, _)| token.clone())
            .collect();
        for token in issued {
            self.access_tokens.remove(&token);
            self.dead_tokens.insert(token);
        }
    }

    fn scope(&self) -> String {
        self.granted_scopes
            .clone()
            .unwrap_or_else(|| SCOPES.join(" "))
    }

    fn event_mut(&mut self, calendar_id: &str, event_id: &str) -> Option<&mut FakeEvent> {
        self.calendars
            .get_mut(calendar_id)?
            .iter_mut()
            .find(|e| e.id == event_id)
    }
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// The state; a panic in another handler (poisoning) does not matter to
    /// a fake, so the lock is recovered rather than unwrapped.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake Google. Stops when dropped.
pub struct FakeGoogle {
    address: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl std::fmt::Debug for FakeGoogle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGoogle")
            .field("address", &self.address)
            .finish()
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        // `stop` sends the command at once; its future only waits for the end.
        let stopping = self.handle.stop(false);
        drop(stopping);
    }
}

impl FakeGoogle {
    /// Starts the fake on a free port of 127.0.0.1. Must be called inside a
    /// Tokio runtime (the server runs as a task of it).
    pub async fn start() -> anyhow::Result<FakeGoogle> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(FakeGoogle {
            address,
            shared,
            handle,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The addresses to give the code under test.
    pub fn endpoints(&self) -> GoogleEndpoints {
        GoogleEndpoints {
            auth_url: format!("{}/o/oauth2/v2/auth", self.address),
            token_url: format!("{}/token", self.address),
            revoke_url: format!("{}/revoke", self.address),
            api_base_url: format!("{}/calendar/v3/", self.address),
        }
    }

    /// The OAuth client id the fake accepts ([`CLIENT_ID`]).
    pub fn client_id(&self) -> &'static str {
        CLIENT_ID
    }

    /// The OAuth client secret the fake accepts ([`CLIENT_SECRET`]).
    pub fn client_secret(&self) -> &'static str {
        CLIENT_SECRET
    }

    // ----- OAuth -----

    /// Requires this `redirect_uri` at consent and code exchange (any is
    /// accepted until set).
    pub fn set_redirect_uri(&self, redirect_uri: &str) {
        self.shared.lock().redirect_uri = Some(redirect_uri.to_owned());
    }

    /// The `scope` the token endpoint reports as granted (default: all of
    /// [`SCOPES`]); to simulate a user who unticked a permission.
    pub fn set_granted_scopes(&self, scopes: &str) {
        self.shared.lock().granted_scopes = Some(scopes.to_owned());
    }

    /// A single-use authorization code, as if a user had just consented.
    pub fn issue_code(&self) -> String {
        let code = format!("4/fake-code-{}", random_token());
        self.shared.lock().codes.insert(code.clone());
        code
    }

    /// A valid refresh token, as if a code had been exchanged earlier.
    pub fn issue_refresh_token(&self) -> String {
        self.shared.lock().new_refresh_token()
    }

    /// A valid access token not tied to any refresh token.
    pub fn issue_access_token(&self) -> String {
        self.shared.lock().new_access_token(None)
    }

    /// Makes every access token issued so far invalid (401), as when they
    /// expire; refresh tokens still work.
    pub fn expire_access_tokens(&self) {
        let mut state = self.shared.lock();
        let tokens: Vec<String> = state.access_tokens.drain().map(|(t, _)| t).collect();
        state.dead_tokens.extend(tokens);
    }

    /// Revokes every token (the user removed our access in their Google
    /// account): refreshes answer `invalid_grant`, API calls 401. Does not
    /// add to [`FakeGoogle::revoked`], which lists what the revoke endpoint
    /// received.
    pub fn revoke_all(&self) {
        let mut state = self.shared.lock();
        let refresh: Vec<String> = state.refresh_tokens.iter().cloned().collect();
        for token in refresh {
            state.kill_refresh_token(&token);
        }
        let tokens: Vec<String> = state.access_tokens.drain().map(|(t, _)| t).collect();
        state.dead_tokens.extend(tokens);
    }

    /// Makes the token endpoint answer a dead refresh token with
    /// `401 {"error": "invalid_grant"}` (some OAuth servers do) instead of
    /// Google's 400.
    pub fn answer_invalid_grant_with(&self, status: u16) {
        self.shared.lock().invalid_grant_status = Some(status);
    }

    /// How many requests reached the token endpoint (code exchanges and
    /// refreshes, canned answers included).
    pub fn token_requests(&self) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/token")
            .count()
    }

    /// The tokens revoked through the revoke endpoint, in order.
    pub fn revoked(&self) -> Vec<String> {
        self.shared.lock().revoked.clone()
    }

    // ----- Calendar -----

    /// A busy time on a calendar that is not one of our events (as if
    /// someone put a meeting straight into Google Calendar).
    pub fn add_busy(&self, calendar_id: &str, start: DateTime<Utc>, end: DateTime<Utc>) {
        self.shared
            .lock()
            .busy
            .entry(calendar_id.to_owned())
            .or_default()
            .push((start, end));
    }

    /// Makes free/busy answer this calendar with `errors: [{reason}]` (for
    /// example `notFound`) while the call itself succeeds.
    pub fn set_calendar_error(&self, calendar_id: &str, reason: &str) {
        self.shared
            .lock()
            .calendar_errors
            .insert(calendar_id.to_owned(), reason.to_owned());
    }

    /// Undoes [`FakeGoogle::set_calendar_error`].
    pub fn clear_calendar_error(&self, calendar_id: &str) {
        self.shared.lock().calendar_errors.remove(calendar_id);
    }

    /// The events of a calendar (cancelled ones included), in creation order.
    pub fn events(&self, calendar_id: &str) -> Vec<FakeEvent> {
        self.shared
            .lock()
            .calendars
            .get(calendar_id)
            .cloned()
            .unwrap_or_default()
    }

    /// One event of a calendar.
    pub fn event(&self, calendar_id: &str, event_id: &str) -> Option<FakeEvent> {
        self.shared
            .lock()
            .event_mut(calendar_id, event_id)
            .map(|e| e.clone())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many insert requests carried this event id, however they were
    /// answered (created, 409 duplicate, failed).
    pub fn insert_count(&self, event_id: &str) -> usize {
        self.shared
            .lock()
            .inserts
            .get(event_id)
            .copied()
            .unwrap_or(0)
    }

    // ----- Faults -----

    /// Queues a canned answer for the next request whose `"METHOD /path"`
    /// contains `path_contains` (for example `"freeBusy"`, `"/token"`,
    /// `"POST /calendar/v3/calendars/primary/events"`). Queued answers are
    /// consumed in order, each once, before authentication or any other
    /// processing; `retry_after` adds a `Retry-After: <seconds>` header.
    pub fn fail_next(
        &self,
        path_contains: &str,
        status: u16,
        body: Value,
        retry_after: Option<u64>,
    ) {
        self.shared.lock().canned.push_back(Canned {
            matches: path_contains.to_owned(),
            status,
            body,
            retry_after,
        });
    }

    /// Makes every answer wait this long first (a slow Google).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// The next insert stores its event and still answers 500, as when Google
    /// created the event but the answer never reached us.
    pub fn create_then_fail(&self) {
        self.shared.lock().create_then_fail = true;
    }
}

// ----- the server -----

fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn random_event_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuv";
    let mut rng = rand::rng();
    (0..26)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn rfc3339(instant: &DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

const INVALID_CREDENTIALS: &str = "Request had invalid authentication credentials. \
    Expected OAuth 2 access token, login cookie or other valid authentication credential.";

/// Google's Calendar API error shape.
fn api_error(code: u16, reason: &str, message: &str) -> HttpResponse {
    let mut body = json!({
        "error": {
            "code": code,
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
        }
    });
    if code == 401 {
        body["error"]["status"] = json!("UNAUTHENTICATED");
        body["error"]["errors"][0]["location"] = json!("Authorization");
        body["error"]["errors"][0]["locationType"] = json!("header");
    }
    HttpResponse::build(status(code)).json(body)
}

/// Google's OAuth error shape.
fn oauth_error(code: u16, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status(code)).json(json!({
        "error": error,
        "error_description": description,
    }))
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

async fn handle(request: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let method = request.method().as_str().to_owned();
    let path = request.path().to_owned();
    let line = format!("{method} {path}");
    let (delay, canned) = {
        let mut state = shared.lock();
        state.requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: request.query_string().to_owned(),
        });
        let canned = state
            .canned
            .iter()
            .position(|c| line.contains(&c.matches))
            .and_then(|i| state.canned.remove(i));
        (state.delay, canned)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(canned) = canned {
        let mut response = HttpResponse::build(status(canned.status));
        if let Some(seconds) = canned.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        return response.json(canned.body);
    }

    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["o", "oauth2", "v2", "auth"]) => consent(&request, &shared),
        ("POST", ["token"]) => token(&body, &shared),
        ("POST", ["revoke"]) => revoke(&request, &body, &shared),
        (_, ["calendar", "v3", rest @ ..]) => {
            if !authorized(&request, &shared) {
                return api_error(401, "authError", INVALID_CREDENTIALS);
            }
            let send_updates = form(request.query_string().as_bytes()).remove("sendUpdates");
            match (method.as_str(), rest) {
                ("POST", ["freeBusy"]) => free_busy(&body, &shared),
                ("POST", ["calendars", calendar, "events"]) => {
                    insert(calendar, &body, send_updates, &shared)
                }
                ("GET", ["calendars", calendar, "events"]) => {
                    list(calendar, request.query_string(), &shared)
                }
                ("GET", ["calendars", calendar, "events", id]) => get(calendar, id, &shared),
                ("PUT", ["calendars", calendar, "events", id]) => {
                    update(calendar, id, &body, send_updates, false, &shared)
                }
                ("PATCH", ["calendars", calendar, "events", id]) => {
                    update(calendar, id, &body, send_updates, true, &shared)
                }
                ("DELETE", ["calendars", calendar, "events", id]) => {
                    delete(calendar, id, send_updates, &shared)
                }
                _ => api_error(404, "notFound", "Not Found"),
            }
        }
        _ => HttpResponse::NotFound().body("not found"),
    }
}

/// The consent screen, consented at once: redirects to `redirect_uri` with a
/// fresh code and the `state` it was given. A `code_challenge` (PKCE) is
/// kept with the code; only `S256` is accepted, as Google recommends.
fn consent(request: &HttpRequest, shared: &Shared) -> HttpResponse {
    let query = form(request.query_string().as_bytes());
    let get = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    if get("client_id") != CLIENT_ID {
        return HttpResponse::Unauthorized().body("Error 401: invalid_client");
    }
    if get("response_type") != "code" {
        return HttpResponse::BadRequest().body("Error 400: unsupported_response_type");
    }
    let redirect_uri = get("redirect_uri");
    let mut state = shared.lock();
    if redirect_uri.is_empty()
        || state
            .redirect_uri
            .as_deref()
            .is_some_and(|expected| expected != redirect_uri)
    {
        return HttpResponse::BadRequest().body("Error 400: redirect_uri_mismatch");
    }
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return HttpResponse::BadRequest().body("Error 400: invalid_request");
    };
    let challenge = get("code_challenge");
    if !challenge.is_empty() && get("code_challenge_method") != "S256" {
        return HttpResponse::BadRequest()
            .body("Error 400: invalid_request (code_challenge_method)");
    }
    let code = format!("4/fake-code-{}", random_token());
    state.codes.insert(code.clone());
    if !challenge.is_empty() {
        state.challenges.insert(code.clone(), challenge.to_owned());
    }
    target
        .query_pairs_mut()
        .append_pair("state", get("state"))
        .append_pair("code", &code)
        .append_pair("scope", &state.scope());
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.as_str()))
        .finish()
}

fn token(body: &[u8], shared: &Shared) -> HttpResponse {
    let form = form(body);
    let get = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        return oauth_error(401, "invalid_client", "Unauthorized");
    }
    let mut state = shared.lock();
    match get("grant_type") {
        "authorization_code" => {
            if let Some(expected) = &state.redirect_uri
                && expected != get("redirect_uri")
            {
                return oauth_error(400, "redirect_uri_mismatch", "Bad Request");
            }
            if !state.codes.remove(get("code")) {
                return oauth_error(400, "invalid_grant", "Malformed auth code.");
            }
            // PKCE: a code issued with a challenge needs its verifier (the
            // code is used up either way, as at Google).
            if let Some(challenge) = state.challenges.remove(get("code")) {
                let verifier = get("code_verifier");
                if verifier.is_empty() {
                    return oauth_error(400, "invalid_grant", "Missing code verifier.");
                }
                if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
                    return oauth_error(400, "invalid_grant", "Invalid code verifier.");
                }
            }
            let refresh_token = state.new_refresh_token();
            let access_token = state.new_access_token(Some(refresh_token.clone()));
            HttpResponse::Ok().json(json!({
                "access_token": access_token,
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "refresh_token": refresh_token,
                "scope": state.scope(),
                "token_type": "Bearer",
            }))
        }
        "refresh_token" => {
            let refresh_token = get("refresh_token");
            if !state.refresh_tokens.contains(refresh_token) {
                let code = state.invalid_grant_status.unwrap_or(400);
                return oauth_error(code, "invalid_grant", "Token has been expired or revoked.");
            }
            let access_token = state.new_access_token(Some(refresh_token.to_owned()));
            HttpResponse::Ok().json(json!({
                "access_token": access_token,
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "scope": state.scope(),
                "token_type": "Bearer",
            }))
        }
        _ => oauth_error(400, "unsupported_grant_type", "Invalid grant_type."),
    }
}

/// Revokes a refresh token (with its access tokens) or an access token (with
/// the refresh token it came from, as Google does). The token may come in the
/// form body or the query string.
fn revoke(request: &HttpRequest, body: &[u8], shared: &Shared) -> HttpResponse {
    let token = form(body)
        .remove("token")
        .or_else(|| form(request.query_string().as_bytes()).remove("token"))
        .unwrap_or_default();
    let mut state = shared.lock();
    if state.refresh_tokens.contains(&token) {
        state.kill_refresh_token(&token);
    } else if let Some(grant) = state.access_tokens.remove(&token) {
        state.dead_tokens.insert(token.clone());
        if let Some(refresh_token) = grant.refresh_token {
            state.kill_refresh_token(&refresh_token);
        }
    } else {
        return oauth_error(400, "invalid_token", "Token expired or revoked");
    }
    state.revoked.push(token);
    HttpResponse::Ok().json(json!({}))
}

/// Whether the request carries a valid, unrevoked access token.
fn authorized(request: &HttpRequest, shared: &Shared) -> bool {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    shared.lock().access_tokens.contains_key(token)
}

fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn free_busy(body: &[u8], shared: &Shared) -> HttpResponse {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return api_error(400, "parseError", "Parse Error");
    };
    let (Some(min), Some(max)) = (
        parse_time(&request["timeMin"]),
        parse_time(&request["timeMax"]),
    ) else {
        return api_error(400, "required", "Missing timeMin or timeMax.");
    };
    if max <= min {
        return api_error(400, "timeRangeEmpty", "The specified time range is empty.");
    }
    let state = shared.lock();
    let mut calendars = serde_json::Map::new();
    let ids = request["items"].as_array().cloned().unwrap_or_default();
    for id in ids.iter().filter_map(|item| item["id"].as_str()) {
        if let Some(reason) = state.calendar_errors.get(id) {
            calendars.insert(
                id.to_owned(),
                json!({"errors": [{"domain": "global", "reason": reason}], "busy": []}),
            );
            continue;
        }
        let mut periods: Vec<Period> = state
            .busy
            .get(id)
            .into_iter()
            .flatten()
            .copied()
            .chain(
                state
                    .calendars
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter(|e| !e.is_cancelled())
                    .map(|e| (e.start, e.end)),
            )
            .filter(|(start, end)| *start < max && *end > min && start < end)
            .map(|(start, end)| (start.max(min), end.min(max)))
            .collect();
        periods.sort();
        // Google merges overlapping and touching busy periods.
        let mut merged: Vec<Period> = Vec::new();
        for (start, end) in periods {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let busy: Vec<Value> = merged
            .iter()
            .map(|(start, end)| json!({"start": rfc3339(start), "end": rfc3339(end)}))
            .collect();
        calendars.insert(id.to_owned(), json!({"busy": busy}));
    }
    HttpResponse::Ok().json(json!({
        "kind": "calendar#freeBusy",
        "timeMin": rfc3339(&min),
        "timeMax": rfc3339(&max),
        "calendars": calendars,
    }))
}

/// The fields of an event resource the fake keeps; `None` for absent ones.
struct EventFields {
    id: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    start: Option<(DateTime<Utc>, Option<String>)>,
    end: Option<DateTime<Utc>>,
    attendees: Option<Vec<String>>,
    status: Option<String>,
    private_properties: Option<HashMap<String, String>>,
}

/// Why an event body was refused: Google's 400 reason and message.
struct BadEvent(&'static str, &'static str);

impl BadEvent {
    fn respond(self) -> HttpResponse {
        api_error(400, self.0, self.1)
    }
}

fn event_fields(body: &[u8]) -> Result<EventFields, BadEvent> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| BadEvent("parseError", "Parse Error"))?;
    let text = |name: &str| value[name].as_str().map(str::to_owned);
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, BadEvent> {
        match &value[name] {
            Value::Null => Ok(None),
            when => parse_time(&when["dateTime"])
                .map(Some)
                .ok_or(BadEvent("invalid", "Invalid start or end time.")),
        }
    };
    let start = time("start")?.map(|t| (t, value["start"]["timeZone"].as_str().map(str::to_owned)));
    Ok(EventFields {
        id: text("id"),
        summary: text("summary"),
        description: text("description"),
        start,
        end: time("end")?,
        attendees: value["attendees"].as_array().map(|list| {
            list.iter()
                .filter_map(|a| a["email"].as_str().map(str::to_owned))
                .collect()
        }),
        status: text("status"),
        private_properties: value["extendedProperties"]["private"]
            .as_object()
            .map(|map| {
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            }),
    })
}

fn valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'v'))
}

fn insert(
    calendar: &str,
    body: &[u8],
    send_updates: Option<String>,
    shared: &Shared,
) -> HttpResponse {
    let fields = match event_fields(body) {
        Ok(fields) => fields,
        Err(bad) => return bad.respond(),
    };
    let id = fields.id.unwrap_or_else(random_event_id);
    let mut state = shared.lock();
    *state.inserts.entry(id.clone()).or_default() += 1;
    if !valid_event_id(&id) {
        return api_error(400, "invalid", "Invalid resource id value.");
    }
    let (Some((start, time_zone)), Some(end)) = (fields.start, fields.end) else {
        return api_error(400, "required", "Missing time.");
    };
    if end < start {
        return api_error(400, "timeRangeEmpty", "The specified time range is empty.");
    }
    // Ids stay taken after a delete, as in Google.
    if state.event_mut(calendar, &id).is_some() {
        return api_error(409, "duplicate", "The requested identifier already exists.");
    }
    let event = FakeEvent {
        id,
        summary: fields.summary.unwrap_or_default(),
        description: fields.description.unwrap_or_default(),
        start,
        end,
        time_zone,
        attendees: fields.attendees.unwrap_or_default(),
        status: fields.status.unwrap_or_else(|| "confirmed".to_owned()),
        send_updates: vec![send_updates],
        sequence: 0,
        private_properties: fields.private_properties.unwrap_or_default(),
    };
    let answer = event.to_json(calendar);
    state
        .calendars
        .entry(calendar.to_owned())
        .or_default()
        .push(event);
    if std::mem::take(&mut state.create_then_fail) {
        return api_error(500, "backendError", "Backend Error");
    }
    HttpResponse::Ok().json(answer)
}

/// `events.list`: the events overlapping [`timeMin`, `timeMax`) that carry
/// every `privateExtendedProperty=name=value` asked for, cancelled ones only
/// with `showDeleted=true`. One page (the fake's calendars are small).
fn list(calendar: &str, query: &str, shared: &Shared) -> HttpResponse {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let one = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let time = |name: &str| match one(name) {
        None => Ok(None),
        Some(raw) => parse_time(&json!(raw)).map(Some).ok_or(()),
    };
    let (Ok(min), Ok(max)) = (time("timeMin"), time("timeMax")) else {
        return api_error(400, "badRequest", "Bad Request");
    };
    let mut wanted = Vec::new();
    for (_, raw) in pairs.iter().filter(|(k, _)| k == "privateExtendedProperty") {
        let Some((name, value)) = raw.split_once('=') else {
            return api_error(400, "badRequest", "Bad Request");
        };
        wanted.push((name.to_owned(), value.to_owned()));
    }
    let show_deleted = one("showDeleted").as_deref() == Some("true");
    let state = shared.lock();
    let items: Vec<Value> = state
        .calendars
        .get(calendar)
        .into_iter()
        .flatten()
        .filter(|e| show_deleted || !e.is_cancelled())
        .filter(|e| min.is_none_or(|min| e.end > min) && max.is_none_or(|max| e.start < max))
        .filter(|e| {
            wanted
                .iter()
                .all(|(k, v)| e.private_properties.get(k) == Some(v))
        })
        .map(|e| e.to_json(calendar))
        .collect();
    HttpResponse::Ok().json(json!({
        "kind": "calendar#events",
        "summary": calendar,
        "items": items,
    }))
}

fn get(calendar: &str, id: &str, shared: &Shared) -> HttpResponse {
    match shared.lock().event_mut(calendar, id) {
        Some(event) => HttpResponse::Ok().json(event.to_json(calendar)),
        None => api_error(404, "notFound", "Not Found"),
    }
}

/// `PUT` replaces the event (`patch == false`); `PATCH` changes the fields
/// present in the body.
fn update(
    calendar: &str,
    id: &str,
    body: &[u8],
    send_updates: Option<String>,
    patch: bool,
    shared: &Shared,
) -> HttpResponse {
    let fields = match event_fields(body) {
        Ok(fields) => fields,
        Err(bad) => return bad.respond(),
    };
    let mut state = shared.lock();
    let Some(event) = state.event_mut(calendar, id) else {
        return api_error(404, "notFound", "Not Found");
    };
    if !patch && (fields.start.is_none() || fields.end.is_none()) {
        return api_error(400, "required", "Missing time.");
    }
    let start = fields.start.as_ref().map_or(event.start, |s| s.0);
    let end = fields.end.unwrap_or(event.end);
    if end < start {
        return api_error(400, "timeRangeEmpty", "The specified time range is empty.");
    }
    if patch {
        if let Some(summary) = fields.summary {
            event.summary = summary;
        }
        if let Some(description) = fields.description {
            event.description = description;
        }
        if let Some((_, zone)) = fields.start {
            event.time_zone = zone;
        }
        if let Some(attendees) = fields.attendees {
            event.attendees = attendees;
        }
        if let Some(status) = fields.status {
            event.status = status;
        }
        if let Some(properties) = fields.private_properties {
            // Google merges a patch's properties into the event's.
            event.private_properties.extend(properties);
        }
    } else {
        event.summary = fields.summary.unwrap_or_default();
        event.description = fields.description.unwrap_or_default();
        event.time_zone = fields.start.and_then(|(_, zone)| zone);
        event.attendees = fields.attendees.unwrap_or_default();
        event.status = fields.status.unwrap_or_else(|| "confirmed".to_owned());
        event.private_properties = fields.private_properties.unwrap_or_default();
    }
    event.start = start;
    event.end = end;
    event.sequence += 1;
    event.send_updates.push(send_updates);
    HttpResponse::Ok().json(event.to_json(calendar))
}

fn delete(calendar: &str, id: &str, send_updates: Option<String>, shared: &Shared) -> HttpResponse {
    let mut state = shared.lock();
    let Some(event) = state.event_mut(calendar, id) else {
        return api_error(404, "notFound", "Not Found");
    };
    if event.is_cancelled() {
        return api_error(410, "deleted", "Resource has been deleted");
    }
    event.status = "cancelled".to_owned();
    event.sequence += 1;
    event.send_updates.push(send_updates);
    HttpResponse::NoContent().finish()
}
