use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use voice_scheduler_domain::ports::FixedClock;
use voice_scheduler_server::{Application, Settings};
use voice_scheduler_store::testing::TestDatabase;

pub const SECRET: &str = "test-secret-0123456789abcdef";
pub const ADMIN_PASSWORD: &str = "admin password 1";
pub const STAFF_PASSWORD: &str = "staff password 1";
/// The fixtures' "now": 2030-03-01 (a Friday), 09:14 in Los Angeles.
pub const NOW: &str = "2030-03-01T17:14:12Z";

pub struct TestApp {
    pub address: String,
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub clock: Arc<FixedClock>,
    db: Option<TestDatabase>,
}

#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Starts the application on a fresh database; `None` when the backend is
/// not available here (PostgreSQL unreachable and not required; the skip is
/// printed loudly by the test support).
pub async fn spawn(db: Db, test_name: &str, extra: &[(&str, &str)]) -> Option<TestApp> {
    spawn_via(db, test_name, extra, str::to_owned).await
}

/// Like [`spawn`], with the application given `database_url(url)` instead
/// of the fresh database's URL (to put a proxy in between).
pub async fn spawn_via(
    db: Db,
    test_name: &str,
    extra: &[(&str, &str)],
    database_url: impl FnOnce(&str) -> String,
) -> Option<TestApp> {
    let database = match db {
        Db::Sqlite => TestDatabase::sqlite().await.expect("sqlite test database"),
        Db::Postgres => TestDatabase::postgres(test_name)
            .await
            .expect("postgres test database")?,
    };
    let mut vars: Vec<(String, String)> = vec![
        ("HOST".into(), "127.0.0.1".into()),
        ("PORT".into(), "0".into()),
        ("DATABASE_URL".into(), database_url(&database.url)),
        ("VAPI_WEBHOOK_SECRET".into(), SECRET.into()),
    ];
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    let settings =
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("test settings");
    let now: DateTime<Utc> = NOW.parse().expect("now");
    let clock = Arc::new(FixedClock::new(now));
    let app = Application::build(settings, clock.clone())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
    tokio::spawn(app.run_until_stopped());
    Some(TestApp {
        address,
        metrics_address,
        client: reqwest::Client::new(),
        clock,
        db: Some(database),
    })
}

impl TestApp {
    pub async fn post_vapi(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header("X-Vapi-Secret", SECRET)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Sends one tool call (arguments as an object) from `caller` and returns its result.
    pub async fn tool_from(
        &self,
        caller: Option<&str>,
        id: &str,
        name: &str,
        args: Value,
    ) -> Value {
        let mut call = json!({"id": "call-e2e", "type": "inboundPhoneCall"});
        if let Some(number) = caller {
            call["customer"] = json!({"number": number});
        }
        let body = json!({"message": {
            "type": "tool-calls",
            "call": call,
            "toolCallList": [{"id": id, "type": "function", "function": {"name": name, "arguments": args}}],
        }});
        let response = self.post_vapi("/vapi/tools", &body).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        let results = body["results"].as_array().expect("results").clone();
        assert_eq!(results.len(), 1, "{body}");
        assert_eq!(results[0]["toolCallId"], id);
        assert_eq!(results[0]["name"], name);
        results[0].clone()
    }

    pub async fn tool(&self, id: &str, name: &str, args: Value) -> Value {
        self.tool_from(Some("+14155550100"), id, name, args).await
    }

    /// Runs raw SQL on the app's database.
    pub async fn sql(&self, statement: &str) {
        self.db
            .as_ref()
            .expect("database")
            .execute(statement)
            .await
            .expect("sql");
    }

    /// The app's test database.
    pub fn database(&self) -> &TestDatabase {
        self.db.as_ref().expect("database")
    }

    /// The URL of the app's database (to drive the store or the binary directly).
    pub fn database_url(&self) -> &str {
        &self.db.as_ref().expect("database").url
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    /// Sends a JSON request (with a bearer token when given) and returns the
    /// status and the JSON body (`Value::Null` when there is none).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (reqwest::StatusCode, Value) {
        let response = self.api_response(method, path, token, body, &[]).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, json)
    }

    /// Like [`api`](Self::api), with extra headers, returning the response.
    pub async fn api_response(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request")
    }

    /// Registers (anonymously, or by `by` when given) and returns the user.
    pub async fn register(&self, by: Option<&str>, email: &str, password: &str) -> Value {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/auth/register",
                by,
                Some(&json!({"email": email, "password": password, "name": "Test User"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Signs in and returns the token body.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/auth/login",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The first user (an administrator) signed in: their access token.
    pub async fn admin_token(&self) -> String {
        self.register(None, "admin@example.com", ADMIN_PASSWORD)
            .await;
        self.login("admin@example.com", ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// The id of the first calendar `token`'s user sees (the one the server
    /// started with, for the administrator).
    pub async fn first_calendar_id(&self, token: &str) -> String {
        let (status, calendars) = self
            .api(reqwest::Method::GET, "/api/v1/calendars", Some(token), None)
            .await;
        assert_eq!(status, 200, "{calendars}");
        calendars["items"][0]["id"]
            .as_str()
            .or_else(|| calendars[0]["id"].as_str())
            .expect("a calendar")
            .to_owned()
    }

    /// A staff account created by the administrator, signed in: their access token.
    pub async fn staff_token(&self, admin: &str, email: &str) -> String {
        self.register(Some(admin), email, STAFF_PASSWORD).await;
        self.login(email, STAFF_PASSWORD).await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    pub async fn cleanup(mut self) {
        if let Some(db) = self.db.take() {
            let _ = db.drop_database().await;
        }
    }
}

/// The spoken text of a result, whether success or error; asserts it is one line.
pub fn text(result: &Value) -> String {
    let t = result["result"]
        .as_str()
        .or(result["error"].as_str())
        .expect("result or error")
        .to_owned();
    assert!(!t.contains('\n') && !t.contains('\r'), "single line: {t}");
    t
}

pub fn is_error(result: &Value) -> bool {
    result.get("error").is_some_and(|e| e.is_string())
}

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/vapi")
        .join(name);
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&raw).expect("fixture json")
}

/// Runs an async test body on SQLite and on PostgreSQL, each on a fresh database.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $extra:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app =
                    $crate::helpers::spawn($crate::helpers::Db::Sqlite, stringify!($name), $extra)
                        .await
                        .expect("sqlite");
                ($body)(&app).await;
                app.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::helpers::spawn(
                    $crate::helpers::Db::Postgres,
                    stringify!($name),
                    $extra,
                )
                .await
                else {
                    return;
                };
                ($body)(&app).await;
                app.cleanup().await;
            }
        }
    };
}
