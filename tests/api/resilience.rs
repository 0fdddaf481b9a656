//! The real binary through signals, and a real PostgreSQL going away and
//! coming back (a throwaway cluster this test creates, not the machine's).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const SECRET: &str = "resilience-secret-0123456789";

fn binary(dir: &Path, port: u16, database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voice-scheduler"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database_url)
        .env("VAPI_WEBHOOK_SECRET", SECRET)
        .env("BOOKING_HORIZON_DAYS", "730")
        .env("BUSINESS_HOURS", "mon-sun 00:00-24:00")
        .env("MIN_NOTICE_MINUTES", "0")
        .current_dir(dir);
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        let ready = client.get(format!("{base}/health/ready")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn tomorrow() -> String {
    (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string()
}

fn tool_calls(n: usize) -> Value {
    let date = tomorrow();
    let calls: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("c{i}"), "function": {"name": "check_availability", "arguments": {"date": date}}}))
        .collect();
    json!({"message": {"type": "tool-calls", "call": {"id": "vapi-call-77"}, "toolCallList": calls}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let dir = temp_dir("vs-sigterm");
    let port = free_port();
    let child = binary(&dir, port, "sqlite://voice-scheduler.db?mode=rwc")
        .env("SHUTDOWN_GRACE_SECONDS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_ready(&client, &base, Duration::from_secs(30)).await);

    // A slow moment: 1500 tool calls in flight, in messages of 20 (the
    // most one message may carry).
    let in_flight: Vec<_> = (0..75)
        .map(|_| {
            let client = client.clone();
            let url = format!("{base}/vapi/tools");
            let body = tool_calls(20);
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("X-Vapi-Secret", SECRET)
                    .json(&body)
                    .send()
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        in_flight.iter().any(|request| !request.is_finished()),
        "requests must still be in flight when the signal comes"
    );
    signal(&running.0, "TERM");

    for request in in_flight {
        let answer = request
            .await
            .unwrap()
            .expect("every in-flight request is answered");
        assert_eq!(answer.status(), 200);
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(answer["results"].as_array().unwrap().len(), 20);
    }

    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the process did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    // nothing listens any more
    assert!(client.get(format!("{base}/health")).send().await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_exits_zero_and_logs_are_json_without_secrets_or_query_strings() {
    let dir = temp_dir("vs-sigint");
    let port = free_port();
    let child = binary(&dir, port, "sqlite://voice-scheduler.db?mode=rwc")
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_ready(&client, &base, Duration::from_secs(30)).await);

    client
        .get(format!("{base}/health?code=OAUTHCODE123&state=STATE456"))
        .send()
        .await
        .unwrap();
    let booking = json!({"message": {"type": "tool-calls", "call": {"id": "vapi-call-log-1", "customer": {"number": "+14155550123"}},
        "toolCallList": [{"id": "tool-call-log-1", "function": {"name": "book_appointment",
            "arguments": {"name": "Logan Quiet", "email": "logan@example.com", "date": tomorrow(), "time": "10:00"}}}]}});
    let r = client
        .post(format!("{base}/vapi/tools"))
        .header("X-Vapi-Secret", SECRET)
        .header("X-Request-Id", "req-log-1")
        .json(&booking)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = client
        .post(format!("{base}/vapi/tools"))
        .header("X-Vapi-Secret", "wrong-secret-value")
        .json(&booking)
        .send()
        .await
        .unwrap();

    signal(&running.0, "INT");
    let output = std::mem::replace(&mut running.0, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let logs = String::from_utf8_lossy(&output.stderr).to_string();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(!lines.is_empty());
    // the tool call's line carries the request id, the VAPI call id and the tool call id
    assert!(
        lines.iter().any(|l| {
            let s = l.to_string();
            s.contains("req-log-1")
                && s.contains("vapi-call-log-1")
                && s.contains("tool-call-log-1")
        }),
        "{logs}"
    );
    for secret in [
        "OAUTHCODE123",
        "STATE456",
        SECRET,
        "wrong-secret-value",
        "+14155550123",
        "logan@example.com",
        "Logan Quiet",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A PostgreSQL cluster of our own, on a free port, run as the `postgres` user.
struct ThrowawayCluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl ThrowawayCluster {
    fn create() -> Option<ThrowawayCluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()?;
        let dir = temp_dir("vs-pgcluster");
        let chown = Command::new("chown")
            .arg("-R")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .ok()?;
        if !chown.success() {
            return None;
        }
        let data = dir.join("data");
        let init = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        if !init.success() {
            return None;
        }
        let cluster = ThrowawayCluster {
            dir,
            port: free_port(),
            bin,
        };
        cluster.start().then_some(cluster)
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn start(&self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        self.pg_ctl(&[
            "-w",
            "-t",
            "30",
            "-l",
            &format!("{}/log", self.dir.display()),
            "-o",
            &options,
            "start",
        ])
    }

    fn stop(&self) -> bool {
        self.pg_ctl(&["-w", "-m", "immediate", "stop"])
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_fast_and_recovers_by_itself() {
    let Some(cluster) = ThrowawayCluster::create() else {
        assert!(
            std::env::var("REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "could not create a throwaway PostgreSQL cluster (initdb, runuser as root)"
        );
        eprintln!(
            "SKIPPED (cannot create a throwaway PostgreSQL cluster): a_database_outage_answers_fast_and_recovers_by_itself"
        );
        return;
    };
    let dir = temp_dir("vs-outage");
    let port = free_port();
    let child = binary(&dir, port, &cluster.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_ready(&client, &base, Duration::from_secs(30)).await);

    let book = |id: &str, time: &str| {
        json!({"message": {"type": "tool-calls", "call": {"id": "outage", "customer": {"number": "+14155550142"}},
            "toolCallList": [{"id": id, "function": {"name": "book_appointment", "arguments": {"name": "Olga Outage", "date": tomorrow(), "time": time}}}]}})
    };
    let ask = async |body: &Value| -> (Value, Duration) {
        let started = Instant::now();
        let r = client
            .post(format!("{base}/vapi/tools"))
            .header("X-Vapi-Secret", SECRET)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "tool calls always answer 200");
        (
            r.json::<Value>().await.unwrap()["results"][0].clone(),
            started.elapsed(),
        )
    };
    let (before, _) = ask(&book("o1", "09:00")).await;
    assert_eq!(before["metadata"]["status"], "booked", "{before}");

    assert!(cluster.stop());
    let (during, took) = ask(&book("o2", "10:00")).await;
    assert!(during["error"].is_string(), "{during}");
    assert_eq!(during["metadata"]["status"], "error");
    assert!(
        took < Duration::from_secs(5),
        "a spoken error well inside VAPI's timeout, took {took:?}"
    );
    let started = Instant::now();
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "alive while the database is away"
    );

    assert!(cluster.start());
    assert!(
        wait_ready(&client, &base, Duration::from_secs(30)).await,
        "recovers without a restart"
    );
    let (after, _) = ask(&book("o2", "10:00")).await;
    assert_eq!(
        after["metadata"]["status"], "booked",
        "the failed call was not remembered: {after}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
