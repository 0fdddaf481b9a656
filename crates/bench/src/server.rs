//! Starting and stopping the real server binary, and reading its memory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub binary: PathBuf,
    pub database_url: String,
    pub secret: String,
    pub log_level: String,
    /// Where the server's stdout and stderr go.
    pub log_file: PathBuf,
    /// Further environment variables (the schedule).
    pub env: Vec<(String, String)>,
}

/// A running server process.
pub struct Server {
    child: Option<Child>,
    pub base_url: String,
    pub pid: u32,
    /// From spawning the process to the first `200` of `/health/ready`.
    pub ready_after: Duration,
}

impl Server {
    /// Spawns the binary on a free loopback port and waits (at most 60 s) until
    /// `GET /health/ready` answers 200.
    pub async fn start(config: &ServerConfig) -> anyhow::Result<Server> {
        if !config.binary.is_file() {
            bail!(
                "no server binary at {} (build it first: cargo build --release -p voice-scheduler)",
                config.binary.display()
            );
        }
        let port = free_port()?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&config.log_file)
            .with_context(|| format!("could not open {}", config.log_file.display()))?;
        let log_err = log
            .try_clone()
            .context("could not duplicate the log file")?;
        let mut command = Command::new(&config.binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("DATABASE_URL", &config.database_url)
            .env("VAPI_WEBHOOK_SECRET", &config.secret)
            // The load comes from one address, far above the per-address
            // limit meant for floods: measure the server, not its limiter.
            .env("RATE_LIMIT_VAPI_PER_MINUTE", "0")
            .env("LOG_LEVEL", &config.log_level)
            .env("LOG_FORMAT", "json")
            .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .context("could not build the HTTP client")?;
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("could not start {}", config.binary.display()))?;
        let pid = child.id();
        let mut server = Server {
            child: Some(child),
            base_url: format!("http://127.0.0.1:{port}"),
            pid,
            ready_after: Duration::ZERO,
        };
        let ready_url = format!("{}/health/ready", server.base_url);
        loop {
            if let Ok(r) = http.get(&ready_url).send().await
                && r.status() == 200
            {
                server.ready_after = started.elapsed();
                return Ok(server);
            }
            if let Some(child) = server.child.as_mut()
                && let Some(status) = child.try_wait().context("could not watch the server")?
            {
                bail!(
                    "the server exited with {status} before it was ready; see {}",
                    config.log_file.display()
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "the server was not ready within 60 s; see {}",
                    config.log_file.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        status_field(self.pid, "VmHWM:")
    }

    /// Asks the server to stop (SIGTERM), waits up to 15 s, then kills it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().context("could not kill the server")?;
        child.wait().context("could not reap the server")?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("could not find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A `kB` field of `/proc/<pid>/status`, in KiB.
fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = Path::new("/proc").join(pid.to_string()).join("status");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no {field} in {}", path.display()))
}
