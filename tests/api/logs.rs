//! The logs an operator collects hold no secret, token, password or full
//! phone number — even at `LOG_LEVEL=debug`, through sign-in, refresh, a
//! voice booking, a failed sign-in and a refused VAPI request.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const VAPI_SECRET: &str = "vapi-secret-LOGCHECK-0123456789";
const JWT_SECRET: &str = "jwt-secret-LOGCHECK-0123456789abcdefghijkl";
const API_KEY: &str = "vapi-private-key-LOGCHECK-987654";
const PASSWORD: &str = "password-LOGCHECK-1";
const PHONE_DIGITS: &str = "4155550123";
const EMAIL: &str = "caller.logcheck@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_logs_hold_no_secret_token_or_full_phone_number() {
    let dir = std::env::temp_dir().join(format!("vs-logs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_voice-scheduler"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "debug")
        .env("LOG_FORMAT", "json")
        .env("VAPI_WEBHOOK_SECRET", VAPI_SECRET)
        .env("JWT_SECRET", JWT_SECRET)
        .env("VAPI_API_KEY", API_KEY)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while !client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let post = async |path: &str, body: Value, token: Option<&str>| -> Value {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null)
    };
    post(
        "/auth/register",
        json!({"email": "owner.logcheck@example.com", "password": PASSWORD, "name": "Owner"}),
        None,
    )
    .await;
    let tokens = post(
        "/auth/login",
        json!({"email": "owner.logcheck@example.com", "password": PASSWORD}),
        None,
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let renewed = post("/auth/refresh", json!({"refresh_token": refresh}), None).await;
    let access2 = renewed["access_token"].as_str().unwrap().to_owned();
    let refresh2 = renewed["refresh_token"].as_str().unwrap().to_owned();
    // A failed sign-in, a reused refresh token, a bad bearer token.
    post(
        "/auth/login",
        json!({"email": "owner.logcheck@example.com", "password": "wrong-LOGCHECK"}),
        None,
    )
    .await;
    post("/auth/refresh", json!({"refresh_token": refresh}), None).await;
    client
        .get(format!("{base}/auth/me"))
        .bearer_auth(format!("{access}x"))
        .send()
        .await
        .unwrap();
    // A voice booking with the caller's number, name and email.
    let body = json!({"message": {"type": "tool-calls",
        "call": {"id": "call-logcheck", "customer": {"number": format!("+1{PHONE_DIGITS}")}},
        "toolCallList": [{"id": "tc-logcheck", "function": {"name": "book_appointment", "arguments": {
            "name": "Zelda Logcheck", "email": EMAIL, "date": "2099-01-05", "time": "10:00"}}}]}});
    client
        .post(format!("{base}/vapi/tools"))
        .header("X-Vapi-Secret", VAPI_SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/vapi/tools?secret={VAPI_SECRET}"))
        .header("X-Vapi-Secret", "wrong-LOGCHECK")
        .json(&body)
        .send()
        .await
        .unwrap();
    // Calling out (no VAPI here: it fails), with the key in the request to VAPI.
    post(
        "/api/v1/calls",
        json!({"calendar_id": "00000000-0000-7000-8000-000000000001", "customer_number": format!("+1{PHONE_DIGITS}")}),
        Some(&access2),
    )
    .await;

    stop(&mut child);
    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let _ = child.wait();
    assert!(
        logs.contains("tool call answered"),
        "debug logs were captured: {logs}"
    );
    // A tool call's lines name the request and the tool call: `spans` lists
    // the request's span, then the tool call's, each once.
    let line = logs
        .lines()
        .find(|l| l.contains("tool call answered") && l.contains("tc-logcheck"))
        .expect("a line for the tool call");
    let line: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    let spans = line["spans"].as_array().expect("a span list");
    assert_eq!(spans.len(), 2, "{line}");
    assert_eq!(spans[0]["name"], "http_request", "{line}");
    assert!(
        spans[0]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{line}"
    );
    assert_eq!(spans[1]["name"], "tool_call", "{line}");
    assert_eq!(spans[1]["tool_call_id"], "tc-logcheck", "{line}");
    assert!(line.get("span").is_none(), "the current span again: {line}");
    for (what, secret) in [
        ("VAPI secret", VAPI_SECRET),
        ("JWT secret", JWT_SECRET),
        ("VAPI API key", API_KEY),
        ("password", PASSWORD),
        ("access token", access.as_str()),
        ("renewed access token", access2.as_str()),
        ("refresh token", refresh.as_str()),
        ("renewed refresh token", refresh2.as_str()),
        ("full phone number", PHONE_DIGITS),
        ("caller's email", EMAIL),
        ("caller's name", "Zelda Logcheck"),
    ] {
        let at = logs.find(secret);
        assert!(
            at.is_none(),
            "the logs hold the {what}: …{}…",
            &logs[at.unwrap().saturating_sub(300)..(at.unwrap() + 100).min(logs.len())]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stops the server (SIGKILL is enough: its logs are already written).
fn stop(child: &mut std::process::Child) {
    let _ = child.kill();
}
