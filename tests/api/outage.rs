//! A database that cannot be reached is `503 service_unavailable` with
//! `Retry-After` on every route — the staff API, sign-in, `/auth/me` — never
//! `500`; and the service recovers by itself when the database is back.
//! PostgreSQL is cut off behind a TCP proxy; SQLite's write lock is held by
//! another connection past the busy wait.

use std::sync::{Arc, Mutex};

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{ADMIN_PASSWORD, Db, TestApp, spawn, spawn_via};

/// A TCP proxy to PostgreSQL that can be cut (listener closed, every
/// connection dropped) and restored on the same port.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Proxy {
            port,
            target,
            tasks: Arc::default(),
            acceptor: None,
        };
        proxy.accept_on(listener);
        proxy
    }

    fn accept_on(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(task);
            }
        }));
    }

    /// New connections are refused, open ones are cut.
    fn cut(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.accept_on(listener);
    }
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit('@').next().unwrap();
    if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}

fn via_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}127.0.0.1:{port}/{path}")
}

/// The requests that must answer 503 while the database is away, each
/// with a route that reads or writes it.
async fn staff_requests(
    app: &TestApp,
    token: &str,
    calendar_id: &str,
) -> Vec<(String, reqwest::Response)> {
    let booking = json!({
        "calendar_id": calendar_id,
        "start": "2030-03-04T17:00:00Z",
        "customer_name": "Ada Lovelace",
        "customer_phone": "+14155550123",
    });
    let requests: Vec<(Method, &str, Option<&str>, Option<Value>)> = vec![
        (Method::GET, "/api/v1/calendars", Some(token), None),
        (Method::GET, "/api/v1/appointments", Some(token), None),
        (
            Method::POST,
            "/api/v1/appointments",
            Some(token),
            Some(booking),
        ),
        (Method::GET, "/auth/me", Some(token), None),
        (
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": "admin@example.com", "password": ADMIN_PASSWORD})),
        ),
    ];
    join_all(
        requests
            .into_iter()
            .map(|(method, path, token, body)| async move {
                let label = format!("{method} {path}");
                (
                    label,
                    app.api_response(method, path, token, body.as_ref(), &[])
                        .await,
                )
            }),
    )
    .await
}

async fn assert_all_unavailable(answers: Vec<(String, reqwest::Response)>) {
    for (label, response) in answers {
        let status = response.status();
        let retry_after = response.headers().get("retry-after").cloned();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 503, "{label}: {body}");
        assert_eq!(
            body["error"]["code"], "service_unavailable",
            "{label}: {body}"
        );
        assert!(retry_after.is_some(), "{label}: no Retry-After");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_out_of_reach_answers_503_everywhere_then_recovers() {
    let mut proxy = None;
    let app = spawn_via(
        Db::Postgres,
        "postgres_out_of_reach_answers_503_everywhere_then_recovers",
        &[],
        |url| {
            // The proxy must exist before the application connects.
            let target = host_port(url);
            let started = std::thread::scope(|_| {
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(Proxy::start(target))
                })
            });
            let url = via_port(url, started.port);
            proxy = Some(started);
            url
        },
    )
    .await;
    let Some(app) = app else { return };
    let mut proxy = proxy.expect("proxy");
    let token = app.admin_token().await;
    let calendar_id = app.first_calendar_id(&token).await;

    proxy.cut();
    assert_all_unavailable(staff_requests(&app, &token, &calendar_id).await).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), 503);

    proxy.restore().await;
    let mut status = reqwest::StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = app
            .api(Method::GET, "/api/v1/calendars", Some(&token), None)
            .await
            .0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200, "the service did not recover");
    proxy.cut();
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_past_the_busy_wait_answers_503_then_recovers() {
    let app = spawn(Db::Sqlite, "sqlite_locked", &[])
        .await
        .expect("sqlite");
    let token = app.admin_token().await;
    let calendar_id = app.first_calendar_id(&token).await;
    let lock = app.database().hold_write_lock().await.unwrap();
    // Writes wait out the busy timeout (and the store's retries) and fail;
    // the sign-in records a session, booking writes an appointment.
    let writes = join_all([
        app.api_response(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": "admin@example.com", "password": ADMIN_PASSWORD})),
            &[],
        ),
        app.api_response(
            Method::POST,
            "/api/v1/calendars",
            Some(&token),
            Some(&json!({"name": "Second chair", "slug": "second-chair", "time_zone": "America/Chicago"})),
            &[],
        ),
        app.api_response(
            Method::POST,
            "/api/v1/appointments",
            Some(&token),
            Some(&json!({
                "calendar_id": calendar_id,
                "start": "2030-03-04T17:00:00Z",
                "customer_name": "Ada Lovelace",
                "customer_phone": "+14155550123",
            })),
            &[],
        ),
    ])
    .await;
    assert_all_unavailable(
        writes
            .into_iter()
            .enumerate()
            .map(|(i, r)| (format!("write {i}"), r))
            .collect(),
    )
    .await;
    lock.release().await.unwrap();
    let (status, body) = app
        .api(
            Method::POST,
            "/api/v1/calendars",
            Some(&token),
            Some(&json!({"name": "Second chair", "slug": "second-chair", "time_zone": "America/Chicago"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    app.cleanup().await;
}
