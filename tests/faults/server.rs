//! The real `voice-scheduler` binary as a child process on a loopback port,
//! and VAPI requests to it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};
use serde_json::{Value, json};

/// The secret every server of these tests is started with.
pub const SECRET: &str = "faults-secret-0123456789abcdef";

/// How long a process may take to become ready (a debug build on a busy
/// 2-core machine).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running server process; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts the binary on `database_url` with a schedule that takes
    /// bookings around the clock (UTC, 15-minute slots and appointments), and
    /// waits until `/health/ready` answers 200.
    pub async fn start(database_url: &str) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_voice-scheduler"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATABASE_URL", database_url)
            .env("VAPI_WEBHOOK_SECRET", SECRET)
            .env("LOG_LEVEL", "warn")
            .env("DEFAULT_TIMEZONE", "UTC")
            .env("BUSINESS_HOURS", "mon-sun 00:00-24:00")
            .env("SLOT_MINUTES", "15")
            .env("DEFAULT_DURATION_MINUTES", "15")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server binary");
        let mut server = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let started = Instant::now();
        loop {
            if let Ok(r) = client
                .get(format!("{}/health/ready", self.base))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited before it was ready: {status}");
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "the server was not ready within {READY_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown hook, no flush, no goodbye.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's "today" is the real one: tests book from the day after
/// tomorrow (UTC), well past the one-hour notice and within the 60-day horizon.
pub fn bookable_day(offset: u64) -> NaiveDate {
    Utc::now()
        .date_naive()
        .checked_add_days(Days::new(2 + offset))
        .unwrap()
}

/// A `tool-calls` message with one `book_appointment` call from `phone`.
pub fn booking(tool_call_id: &str, phone: &str, date: NaiveDate, time: &str) -> Value {
    let arguments = json!({
        "name": "Fault Tester",
        "date": date.to_string(),
        "time": time,
        "purpose": "Fault test",
    })
    .to_string();
    json!({"message": {
        "type": "tool-calls",
        "call": {"id": format!("call-{tool_call_id}"), "type": "inboundPhoneCall",
                 "customer": {"number": phone}},
        "customer": {"number": phone},
        "toolCallList": [{"id": tool_call_id, "type": "function",
                          "function": {"name": "book_appointment", "arguments": arguments}}],
    }})
}

/// A `tool-calls` message with one `find_appointments` call from `phone`.
pub fn find(tool_call_id: &str, phone: &str) -> Value {
    json!({"message": {
        "type": "tool-calls",
        "call": {"id": format!("call-{tool_call_id}"), "customer": {"number": phone}},
        "toolCallList": [{"id": tool_call_id, "type": "function",
                          "function": {"name": "find_appointments", "arguments": {}}}],
    }})
}

/// What one POST answered: the HTTP status and the single tool result (if
/// the body had exactly one), or no answer at all.
#[derive(Debug, Clone)]
pub enum Answer {
    Result {
        status: u16,
        result: Value,
    },
    /// Anything but one result: the status and the body.
    #[allow(dead_code)]
    Status(u16, String),
    /// No HTTP answer (the error, for failure messages).
    #[allow(dead_code)]
    Lost(String),
}

pub async fn post_tool(client: &reqwest::Client, base: &str, body: &Value) -> Answer {
    let sent = client
        .post(format!("{base}/vapi/tools"))
        .header("X-Vapi-Secret", SECRET)
        .json(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Answer::Lost(e.to_string()),
    };
    let status = response.status().as_u16();
    let text = match response.text().await {
        Ok(t) => t,
        Err(e) => return Answer::Lost(e.to_string()),
    };
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    match parsed.as_ref().and_then(|v| v["results"].as_array()) {
        Some(results) if results.len() == 1 => Answer::Result {
            status,
            result: results[0].clone(),
        },
        _ => Answer::Status(status, text),
    }
}
