//! The real binary, as an operator runs it: the embedded default with no
//! configuration, the generated secret, and refused configuration.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voice-scheduler"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOG_LEVEL", "warn");
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_embedded_default_starts_with_no_configuration_and_requires_the_generated_secret() {
    let dir = std::env::temp_dir().join(format!("vs-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    let out = binary()
        .arg("vapi")
        .arg("secret")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(secret.len(), 48, "{secret}");
    assert!(
        dir.join("voice-scheduler.db").exists(),
        "the default SQLite file is in the working directory"
    );

    let port = free_port();
    let child = binary()
        .env("PORT", port.to_string())
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let ready = client.get(format!("{base}/health/ready")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let body = json!({"message": {"type": "tool-calls", "toolCallList": [
        {"id": "p1", "function": {"name": "check_availability", "arguments": {"date": "2099-01-01"}}}
    ]}});
    let refused = client
        .post(format!("{base}/vapi/tools"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let answered = client
        .post(format!("{base}/vapi/tools"))
        .header("X-Vapi-Secret", &secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let answer: Value = answered.json().await.unwrap();
    assert_eq!(answer["results"][0]["toolCallId"], "p1");
    // far in the future: beyond the 60-day horizon, said so
    assert_eq!(
        answer["results"][0]["metadata"]["status"], "beyond_horizon",
        "{answer}"
    );

    // the same secret is reported again (kept in the database, not regenerated)
    let again = binary()
        .arg("vapi")
        .arg("secret")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap().trim(), secret);
    drop(_running);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_configuration_stops_the_start_naming_the_variable() {
    let out = binary()
        .env("PORT", "eighty")
        .env("BUSINESS_HOURS", "weekdays 9-5")
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORT=\"eighty\""), "{stderr}");
    assert!(
        stderr.contains("BUSINESS_HOURS=\"weekdays 9-5\""),
        "{stderr}"
    );
}

#[test]
fn help_lists_the_commands() {
    let out = binary().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "migrate", "vapi"] {
        assert!(text.contains(command), "{text}");
    }
}

#[test]
fn config_check_prints_the_settings_with_secrets_masked() {
    let out = binary()
        .args(["config", "check"])
        .env("VAPI_WEBHOOK_SECRET", "a-secret-that-must-not-show")
        .env("DATABASE_URL", "postgres://app:hunter2@db.internal/app")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DATABASE_URL=postgres://app:***@db.internal/app"),
        "{text}"
    );
    assert!(text.contains("VAPI_WEBHOOK_SECRET=***"), "{text}");
    assert!(text.contains("BUSINESS_HOURS=mon-fri 09:00-17:00"));
    assert!(!text.contains("hunter2") && !text.contains("a-secret-that-must-not-show"));
    let bad = binary()
        .args(["config", "check"])
        .env("SLOT_MINUTES", "7000")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SLOT_MINUTES"));
}

/// Runs `users create-admin` with `password` on standard input.
fn create_admin(dir: &std::path::Path, email: &str, password: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = binary()
        .args(["users", "create-admin", "--email", email])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn an_administrator_created_from_the_command_line_signs_in_and_owns_the_first_calendar() {
    let dir = std::env::temp_dir().join(format!("vs-admin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    let short = create_admin(&dir, "owner@example.com", "short");
    assert_eq!(short.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );
    let bad_email = create_admin(&dir, "not-an-address", "a long passphrase");
    assert_eq!(bad_email.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_email.stderr).contains("--email"));

    let made = create_admin(&dir, "owner@example.com", "a long passphrase");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(String::from_utf8_lossy(&made.stdout).contains("owner@example.com"));
    let again = create_admin(&dir, "OWNER@example.com", "another passphrase");
    assert_eq!(again.status.code(), Some(2), "the address is taken");

    let port = free_port();
    let child = binary()
        .env("PORT", port.to_string())
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
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
    let tokens: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": "owner@example.com", "password": "a long passphrase"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().expect("signed in");
    let me: Value = client
        .get(format!("{base}/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    let calendars: Value = client
        .get(format!("{base}/api/v1/calendars"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calendars[0]["slug"], "default", "{calendars}");
    assert_eq!(calendars[0]["owner_id"], me["id"]);
    // Registration is closed now that an administrator exists.
    let closed = client
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": "someone@example.com", "password": "a long passphrase", "name": "Someone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 403);
    drop(_running);
    let _ = std::fs::remove_dir_all(&dir);
}
