//! Settings from environment variables (also read from a `.env` file).
//!
//! Every variable is documented in `docs/configuration.md` and listed in
//! `.env.example`. An invalid value stops the start-up with a message naming
//! the variable, the value and what is expected.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use voice_scheduler_domain::schedule::ScheduleSettings;
use voice_scheduler_domain::{PhoneRegion, Schedule, TimeZoneId, WeeklyHours};
use voice_scheduler_google::{GoogleEndpoints, KeyRing, SendUpdates};
use voice_scheduler_http::{LimitSettings, TrustedProxies};
use voice_scheduler_store::Backend;
use voice_scheduler_vapi::hmac::{HmacConfig, header_name};

/// The embedded default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://voice-scheduler.db?mode=rwc";

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Everything the server needs to start.
#[derive(Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub database_url: String,
    /// The most database connections this instance opens (1–500). `None`:
    /// the store's default (10 on PostgreSQL, 4 on SQLite).
    pub database_max_connections: Option<u32>,
    /// PostgreSQL: the most connections bookings have of their own (0–500;
    /// 0: they use the pool above). `None`: the store's default (16).
    pub database_booking_connections: Option<u32>,
    /// `None`: a secret is generated on first start and kept in the database.
    pub vapi_webhook_secret: Option<String>,
    /// VAPI's HMAC credential (`VAPI_HMAC_*`); `None` when
    /// `VAPI_HMAC_SECRET` is unset. Accepted besides the shared secret.
    pub vapi_hmac: Option<HmacConfig>,
    pub schedule: Schedule,
    pub phone_region: PhoneRegion,
    pub log_level: String,
    pub log_format: LogFormat,
    /// Browser origins allowed by CORS (never on /vapi/*).
    pub cors_origins: Vec<String>,
    /// Serves `/metrics` on the main listener to this bearer token.
    pub metrics_token: Option<String>,
    /// Serves `/metrics` on this separate address, without a token.
    pub metrics_addr: Option<SocketAddr>,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// HTTP worker threads (1–64). `None`: two per CPU (see
    /// [`Settings::worker_count`]).
    pub http_workers: Option<usize>,
    /// Signs access tokens (HS256, at least 32 bytes). `None`: a secret is
    /// generated on first start and kept in the database.
    pub jwt_secret: Option<String>,
    /// Lifetime of an access token (1–15 minutes).
    pub access_token_minutes: i64,
    /// Absolute lifetime of a sign-in (refresh-token family), in days.
    pub refresh_token_days: i64,
    /// Anyone may register as staff once the first administrator exists.
    pub allow_registration: bool,
    /// The dashboard's cookies carry `Secure` and the `__Host-` prefix
    /// (`WEB_COOKIE_SECURE=false` only for plain-HTTP development).
    pub web_cookie_secure: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Audit entries older than this many days are purged (1–3650).
    pub audit_retention_days: i64,
    /// Call transcripts and recording URLs are cleared this many days after
    /// the call ended (1–3650).
    pub call_retention_days: i64,
    /// Requests per minute per client address on the limited routes.
    pub rate_limits: LimitSettings,
    /// Shared rate-limit counters (several instances); in memory when unset.
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    /// VAPI's API (outbound calls).
    pub vapi_base_url: String,
    /// The private VAPI API key; calling out is off without it.
    pub vapi_api_key: Option<String>,
    /// The keys that seal stored Google refresh tokens (`ENCRYPTION_KEY`,
    /// `ENCRYPTION_OLD_KEYS`); `None` when unset.
    pub encryption: Option<std::sync::Arc<KeyRing>>,
    /// Google Calendar; off when `GOOGLE_CLIENT_ID` is unset.
    pub google: Option<GoogleConfig>,
    /// Webhooks may target private, loopback and link-local addresses and
    /// `http` URLs (internal receivers, tests); off by default.
    pub webhook_allow_private_targets: bool,
    /// The delay after a webhook delivery's first failure, in seconds; it
    /// doubles with every attempt (capped at an hour) for up to a day.
    pub webhook_retry_base_seconds: u64,
}

/// The `GOOGLE_*` settings, when Google Calendar is on.
#[derive(Clone)]
pub struct GoogleConfig {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub endpoints: GoogleEndpoints,
    pub send_updates: SendUpdates,
    pub max_attempts: u32,
    pub busy_cache_seconds: u64,
    pub busy_stale_seconds: u64,
}

impl fmt::Debug for GoogleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("redirect_uri", &self.redirect_uri)
            .field("endpoints", &self.endpoints)
            .field("send_updates", &self.send_updates)
            .field("max_attempts", &self.max_attempts)
            .field("busy_cache_seconds", &self.busy_cache_seconds)
            .field("busy_stale_seconds", &self.busy_stale_seconds)
            .finish()
    }
}

/// Every environment variable the application reads, with its default
/// (empty: none) — the source of `.env.example`, docs/configuration.md and
/// the compose-file test.
pub const VARIABLES: &[(&str, &str)] = &[
    ("HOST", "127.0.0.1"),
    ("PORT", "8000"),
    ("DATABASE_URL", DEFAULT_DATABASE_URL),
    ("DATABASE_MAX_CONNECTIONS", ""),
    ("DATABASE_BOOKING_CONNECTIONS", ""),
    ("VAPI_WEBHOOK_SECRET", ""),
    ("VAPI_HMAC_SECRET", ""),
    ("VAPI_HMAC_ALGORITHM", "sha256"),
    ("VAPI_HMAC_SIGNATURE_HEADER", "x-signature"),
    ("VAPI_HMAC_TIMESTAMP_HEADER", "x-timestamp"),
    ("VAPI_HMAC_PREFIX", ""),
    ("VAPI_HMAC_ENCODING", "hex"),
    ("VAPI_HMAC_WINDOW_SECONDS", "300"),
    ("DEFAULT_TIMEZONE", "America/Los_Angeles"),
    ("BUSINESS_HOURS", "mon-fri 09:00-17:00"),
    ("SLOT_MINUTES", "30"),
    ("DEFAULT_DURATION_MINUTES", "30"),
    ("MIN_NOTICE_MINUTES", "60"),
    ("BOOKING_HORIZON_DAYS", "60"),
    ("BUFFER_MINUTES", "0"),
    ("DEFAULT_PHONE_REGION", "US"),
    ("LOG_LEVEL", "info"),
    ("LOG_FORMAT", "pretty"),
    ("CORS_ORIGINS", ""),
    ("METRICS_TOKEN", ""),
    ("METRICS_ADDR", ""),
    ("SHUTDOWN_GRACE_SECONDS", "30"),
    ("HTTP_WORKERS", ""),
    ("JWT_SECRET", ""),
    ("ACCESS_TOKEN_MINUTES", "15"),
    ("REFRESH_TOKEN_DAYS", "30"),
    ("ALLOW_REGISTRATION", "false"),
    ("WEB_COOKIE_SECURE", "true"),
    ("AUDIT_RETENTION_DAYS", "365"),
    ("CALL_RETENTION_DAYS", "90"),
    ("TRUSTED_PROXIES", ""),
    ("RATE_LIMIT_LOGIN_PER_MINUTE", "30"),
    ("RATE_LIMIT_REGISTER_PER_MINUTE", "30"),
    ("RATE_LIMIT_REFRESH_PER_MINUTE", "60"),
    ("RATE_LIMIT_VAPI_PER_MINUTE", "6000"),
    ("REDIS_URL", ""),
    ("REDIS_KEY_PREFIX", "voice-scheduler"),
    ("VAPI_BASE_URL", "https://api.vapi.ai"),
    ("VAPI_API_KEY", ""),
    ("GOOGLE_CLIENT_ID", ""),
    ("GOOGLE_CLIENT_SECRET", ""),
    ("GOOGLE_REDIRECT_URI", ""),
    (
        "GOOGLE_AUTH_URL",
        "https://accounts.google.com/o/oauth2/v2/auth",
    ),
    ("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"),
    ("GOOGLE_REVOKE_URL", "https://oauth2.googleapis.com/revoke"),
    (
        "GOOGLE_API_BASE_URL",
        "https://www.googleapis.com/calendar/v3/",
    ),
    ("GOOGLE_SEND_UPDATES", "all"),
    ("GOOGLE_SYNC_MAX_ATTEMPTS", "8"),
    ("GOOGLE_BUSY_CACHE_SECONDS", "30"),
    ("GOOGLE_BUSY_STALE_SECONDS", "300"),
    ("ENCRYPTION_KEY", ""),
    ("ENCRYPTION_OLD_KEYS", ""),
    ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false"),
    ("WEBHOOK_RETRY_BASE_SECONDS", "30"),
];

/// The secret variables that may instead be read from a file: `X_FILE`
/// names a file whose content (one trailing line break removed) is the value
/// of `X`, for secrets mounted as files (Docker or Kubernetes secrets).
/// Setting both `X` and `X_FILE` is a configuration error.
pub const FILE_VARIABLES: &[(&str, &str)] = &[
    ("DATABASE_URL", "DATABASE_URL_FILE"),
    ("VAPI_WEBHOOK_SECRET", "VAPI_WEBHOOK_SECRET_FILE"),
    ("VAPI_HMAC_SECRET", "VAPI_HMAC_SECRET_FILE"),
    ("METRICS_TOKEN", "METRICS_TOKEN_FILE"),
    ("JWT_SECRET", "JWT_SECRET_FILE"),
    ("REDIS_URL", "REDIS_URL_FILE"),
    ("VAPI_API_KEY", "VAPI_API_KEY_FILE"),
    ("GOOGLE_CLIENT_SECRET", "GOOGLE_CLIENT_SECRET_FILE"),
    ("ENCRYPTION_KEY", "ENCRYPTION_KEY_FILE"),
    ("ENCRYPTION_OLD_KEYS", "ENCRYPTION_OLD_KEYS_FILE"),
];

/// The values of the [`FILE_VARIABLES`] set through `X_FILE`, read now; a
/// problem for each file that cannot be read and each variable set both ways.
fn read_secret_files(
    problems: &mut Vec<ConfigProblem>,
    lookup: &impl Fn(&str) -> Option<String>,
) -> std::collections::HashMap<&'static str, String> {
    let mut values = std::collections::HashMap::new();
    for &(name, file_name) in FILE_VARIABLES {
        let Some(path) = lookup(file_name).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        if lookup(name).is_some_and(|v| !v.trim().is_empty()) {
            problems.push(ConfigProblem {
                variable: name,
                value: "***".to_owned(),
                expected: format!("either {name} or {file_name}, not both"),
            });
            continue;
        }
        match std::fs::read_to_string(path.trim()) {
            Ok(content) => {
                let value = content
                    .strip_suffix('\n')
                    .map(|v| v.strip_suffix('\r').unwrap_or(v))
                    .unwrap_or(&content)
                    .to_owned();
                if value.trim().is_empty() {
                    problems.push(ConfigProblem {
                        variable: file_name,
                        value: path,
                        expected: format!("a file holding the value of {name}; it is empty"),
                    });
                } else {
                    values.insert(name, value);
                }
            }
            Err(e) => problems.push(ConfigProblem {
                variable: file_name,
                value: path,
                expected: format!("a readable file holding the value of {name} ({e})"),
            }),
        }
    }
    values
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_url", &mask_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field(
                "database_booking_connections",
                &self.database_booking_connections,
            )
            .field(
                "vapi_webhook_secret",
                &self.vapi_webhook_secret.as_ref().map(|_| "***"),
            )
            .field("vapi_hmac", &self.vapi_hmac)
            .field("schedule", &self.schedule)
            .field("phone_region", &self.phone_region.code())
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("cors_origins", &self.cors_origins)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("metrics_addr", &self.metrics_addr)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("http_workers", &self.http_workers)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("access_token_minutes", &self.access_token_minutes)
            .field("refresh_token_days", &self.refresh_token_days)
            .field("allow_registration", &self.allow_registration)
            .field("web_cookie_secure", &self.web_cookie_secure)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("call_retention_days", &self.call_retention_days)
            .field("rate_limits", &self.rate_limits)
            .field("redis_url", &self.redis_url.as_deref().map(mask_url))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("vapi_base_url", &self.vapi_base_url)
            .field("vapi_api_key", &self.vapi_api_key.as_ref().map(|_| "***"))
            .field("encryption", &self.encryption)
            .field("google", &self.google)
            .field(
                "webhook_allow_private_targets",
                &self.webhook_allow_private_targets,
            )
            .field(
                "webhook_retry_base_seconds",
                &self.webhook_retry_base_seconds,
            )
            .finish()
    }
}

/// One invalid variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub variable: &'static str,
    pub value: String,
    pub expected: String,
}

/// Every invalid variable found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.0 {
            writeln!(f, "  {}={:?}: expected {}", p.variable, p.value, p.expected)?;
        }
        Ok(())
    }
}

impl Settings {
    /// The number of HTTP worker threads: `HTTP_WORKERS`, else two per CPU.
    ///
    /// Each worker is a single-threaded event loop serving its share of the
    /// connections. Two per CPU rather than actix's one: a request mostly
    /// waits for the database, and when the database runs on the same
    /// cores (the embedded default, a one-host docker-compose) a worker busy
    /// with one request's JSON holds up every other request on its
    /// connections. With two per CPU the 16-client benchmark answered ~10 %
    /// more calls per second with a lower p99; more than that bought
    /// nothing but memory (docs/performance.md).
    pub fn worker_count(&self) -> usize {
        self.http_workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() * 2)
                .unwrap_or(2)
                .min(64)
        })
    }

    /// Reads the process environment (after loading `.env` if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (a variable name → its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let from_files = read_secret_files(&mut problems, &lookup);
        let get = |name: &str| {
            from_files
                .get(name)
                .cloned()
                .or_else(|| lookup(name))
                .filter(|v| !v.trim().is_empty())
        };

        let host = read(
            &mut problems,
            &get,
            "HOST",
            "127.0.0.1",
            "an IP address such as 127.0.0.1 or 0.0.0.0",
            |v| v.parse::<IpAddr>().ok(),
        );
        let port = read(
            &mut problems,
            &get,
            "PORT",
            "8000",
            "a port number from 0 to 65535",
            |v| v.parse::<u16>().ok(),
        );
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
            || database_url.starts_with("sqlite:"))
        {
            problems.push(ConfigProblem {
                variable: "DATABASE_URL",
                value: mask_url(&database_url),
                expected: "a postgres://... or sqlite://... URL".to_owned(),
            });
        }
        let database_max_connections = get("DATABASE_MAX_CONNECTIONS").and_then(|_| {
            read(
                &mut problems,
                &get,
                "DATABASE_MAX_CONNECTIONS",
                "",
                "a whole number of connections from 1 to 500",
                |v| v.parse::<u32>().ok().filter(|n| (1..=500).contains(n)),
            )
        });
        let database_booking_connections = get("DATABASE_BOOKING_CONNECTIONS").and_then(|_| {
            read(
                &mut problems,
                &get,
                "DATABASE_BOOKING_CONNECTIONS",
                "",
                "a whole number of connections from 0 to 500",
                |v| v.parse::<u32>().ok().filter(|n| *n <= 500),
            )
        });
        let vapi_webhook_secret = get("VAPI_WEBHOOK_SECRET");
        if vapi_webhook_secret.as_ref().is_some_and(|s| s.len() < 16) {
            problems.push(ConfigProblem {
                variable: "VAPI_WEBHOOK_SECRET",
                value: "***".to_owned(),
                expected: "at least 16 characters (leave it unset to have one generated)"
                    .to_owned(),
            });
        }
        let vapi_hmac = read_vapi_hmac(&mut problems, &get);
        let time_zone = read(
            &mut problems,
            &get,
            "DEFAULT_TIMEZONE",
            "America/Los_Angeles",
            "an IANA time zone such as America/Los_Angeles",
            |v| TimeZoneId::parse(v).ok(),
        );
        let hours = read_with(
            &mut problems,
            &get,
            "BUSINESS_HOURS",
            "mon-fri 09:00-17:00",
            |v| {
                WeeklyHours::parse(v).map_err(|e| format!("working hours such as 'mon-fri 09:00-12:00,13:00-17:00; sat 10:00-14:00' ({e})"))
            },
        );
        let slot = read(
            &mut problems,
            &get,
            "SLOT_MINUTES",
            "30",
            "a whole number of minutes from 5 to 240",
            |v| v.parse::<i64>().ok().filter(|m| (5..=240).contains(m)),
        );
        let duration = read(
            &mut problems,
            &get,
            "DEFAULT_DURATION_MINUTES",
            "30",
            "a whole number of minutes from 5 to 480",
            |v| v.parse::<i64>().ok().filter(|m| (5..=480).contains(m)),
        );
        let notice = read(
            &mut problems,
            &get,
            "MIN_NOTICE_MINUTES",
            "60",
            "a whole number of minutes from 0 to 43200",
            |v| v.parse::<i64>().ok().filter(|m| (0..=43_200).contains(m)),
        );
        let horizon = read(
            &mut problems,
            &get,
            "BOOKING_HORIZON_DAYS",
            "60",
            "a whole number of days from 1 to 730",
            |v| v.parse::<i64>().ok().filter(|d| (1..=730).contains(d)),
        );
        let buffer = read(
            &mut problems,
            &get,
            "BUFFER_MINUTES",
            "0",
            "a whole number of minutes from 0 to 240",
            |v| v.parse::<i64>().ok().filter(|m| (0..=240).contains(m)),
        );
        let phone_region = read(
            &mut problems,
            &get,
            "DEFAULT_PHONE_REGION",
            "US",
            "a two-letter country code such as US or GB",
            |v| PhoneRegion::parse(v).ok(),
        );
        let log_level = get("LOG_LEVEL").unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            problems.push(ConfigProblem {
                variable: "LOG_LEVEL",
                value: log_level.clone(),
                expected: "a level (error, warn, info, debug, trace) or a filter such as info,voice_scheduler=debug".to_owned(),
            });
        }
        let log_format = read(
            &mut problems,
            &get,
            "LOG_FORMAT",
            "pretty",
            "json or pretty",
            |v| match v.to_ascii_lowercase().as_str() {
                "json" => Some(LogFormat::Json),
                "pretty" | "text" => Some(LogFormat::Pretty),
                _ => None,
            },
        );

        let cors_origins =
            read_with(&mut problems, &get, "CORS_ORIGINS", "", parse_origins).unwrap_or_default();
        let metrics_token = get("METRICS_TOKEN");
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            problems.push(ConfigProblem {
                variable: "METRICS_TOKEN",
                value: "***".to_owned(),
                expected: "at least 16 characters".to_owned(),
            });
        }
        let metrics_addr = get("METRICS_ADDR").and_then(|_| {
            read(
                &mut problems,
                &get,
                "METRICS_ADDR",
                "",
                "an address and port such as 127.0.0.1:9100",
                |v| v.parse::<SocketAddr>().ok(),
            )
        });
        let shutdown_grace = read(
            &mut problems,
            &get,
            "SHUTDOWN_GRACE_SECONDS",
            "30",
            "a whole number of seconds from 0 to 600",
            |v| v.parse::<u64>().ok().filter(|s| *s <= 600),
        )
        .map(Duration::from_secs);
        let http_workers = get("HTTP_WORKERS").and_then(|_| {
            read(
                &mut problems,
                &get,
                "HTTP_WORKERS",
                "",
                "a whole number of worker threads from 1 to 64",
                |v| v.parse::<usize>().ok().filter(|n| (1..=64).contains(n)),
            )
        });
        let jwt_secret = get("JWT_SECRET");
        if jwt_secret.as_ref().is_some_and(|s| s.len() < 32) {
            problems.push(ConfigProblem {
                variable: "JWT_SECRET",
                value: "***".to_owned(),
                expected: "at least 32 bytes of random text, e.g. from `openssl rand -base64 48` (leave it unset on the embedded default to have one generated)".to_owned(),
            });
        }
        let access_token_minutes = read(
            &mut problems,
            &get,
            "ACCESS_TOKEN_MINUTES",
            "15",
            "a whole number of minutes from 1 to 15",
            |v| v.parse::<i64>().ok().filter(|m| (1..=15).contains(m)),
        );
        let refresh_token_days = read(
            &mut problems,
            &get,
            "REFRESH_TOKEN_DAYS",
            "30",
            "a whole number of days from 1 to 365",
            |v| v.parse::<i64>().ok().filter(|d| (1..=365).contains(d)),
        );
        let allow_registration = read(
            &mut problems,
            &get,
            "ALLOW_REGISTRATION",
            "false",
            "true or false",
            |v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
        );
        let web_cookie_secure = read(
            &mut problems,
            &get,
            "WEB_COOKIE_SECURE",
            "true",
            "true or false (false only for plain-HTTP development)",
            |v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
        );
        // On a problem the configuration is refused as a whole: the fallback
        // is never used.
        let audit_retention_days = read(
            &mut problems,
            &get,
            "AUDIT_RETENTION_DAYS",
            "365",
            "a whole number of days from 1 to 3650",
            |v| v.parse::<i64>().ok().filter(|d| (1..=3650).contains(d)),
        )
        .unwrap_or(365);
        let call_retention_days = read(
            &mut problems,
            &get,
            "CALL_RETENTION_DAYS",
            "90",
            "a whole number of days from 1 to 3650",
            |v| v.parse::<i64>().ok().filter(|d| (1..=3650).contains(d)),
        )
        .unwrap_or(90);
        let webhook_allow_private_targets = read(
            &mut problems,
            &get,
            "WEBHOOK_ALLOW_PRIVATE_TARGETS",
            "false",
            "true or false",
            |v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
        )
        .unwrap_or(false);
        let webhook_retry_base_seconds = read(
            &mut problems,
            &get,
            "WEBHOOK_RETRY_BASE_SECONDS",
            "30",
            "a whole number of seconds from 1 to 3600",
            |v| v.parse::<u64>().ok().filter(|d| (1..=3600).contains(d)),
        )
        .unwrap_or(30);
        let trusted_proxies = read_with(&mut problems, &get, "TRUSTED_PROXIES", "", |v| {
            TrustedProxies::parse(v).map_err(|e| {
                format!("a comma-separated list of proxy addresses or CIDR networks such as 10.0.0.0/8 ({e})")
            })
        });
        let per_minute =
            |problems: &mut Vec<ConfigProblem>, variable: &'static str, default: &str| {
                read(
                    problems,
                    &get,
                    variable,
                    default,
                    "a whole number of requests per minute from 0 (no limit) to 1000000",
                    |v| v.parse::<u32>().ok().filter(|n| *n <= 1_000_000),
                )
            };
        let login_limit = per_minute(&mut problems, "RATE_LIMIT_LOGIN_PER_MINUTE", "30");
        let register_limit = per_minute(&mut problems, "RATE_LIMIT_REGISTER_PER_MINUTE", "30");
        let refresh_limit = per_minute(&mut problems, "RATE_LIMIT_REFRESH_PER_MINUTE", "60");
        let vapi_limit = per_minute(&mut problems, "RATE_LIMIT_VAPI_PER_MINUTE", "6000");
        let redis_url = get("REDIS_URL");
        if redis_url
            .as_ref()
            .is_some_and(|u| !(u.starts_with("redis://") || u.starts_with("redis+unix://")))
        {
            problems.push(ConfigProblem {
                variable: "REDIS_URL",
                value: redis_url.as_deref().map(mask_url).unwrap_or_default(),
                expected: "a redis://host:6379/0 URL (TLS is not supported)".to_owned(),
            });
        }
        let redis_key_prefix =
            get("REDIS_KEY_PREFIX").unwrap_or_else(|| "voice-scheduler".to_owned());
        let vapi_base_url = get("VAPI_BASE_URL")
            .unwrap_or_else(|| "https://api.vapi.ai".to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(vapi_base_url.starts_with("https://") || vapi_base_url.starts_with("http://")) {
            problems.push(ConfigProblem {
                variable: "VAPI_BASE_URL",
                value: vapi_base_url.clone(),
                expected: "an http(s) URL such as https://api.vapi.ai".to_owned(),
            });
        }
        let vapi_api_key = get("VAPI_API_KEY");
        let encryption = read_encryption(&mut problems, &get);
        let google = read_google(&mut problems, &get, encryption.is_some());

        let (
            Some(host),
            Some(port),
            Some(time_zone),
            Some(hours),
            Some(slot),
            Some(duration),
            Some(notice),
            Some(horizon),
            Some(buffer),
            Some(phone_region),
            Some(log_format),
            Some(shutdown_grace),
            Some(access_token_minutes),
            Some(refresh_token_days),
            Some(allow_registration),
            Some(web_cookie_secure),
            Some(trusted_proxies),
            Some(login_limit),
            Some(register_limit),
            Some(refresh_limit),
            Some(vapi_limit),
            true,
        ) = (
            host,
            port,
            time_zone,
            hours,
            slot,
            duration,
            notice,
            horizon,
            buffer,
            phone_region,
            log_format,
            shutdown_grace,
            access_token_minutes,
            refresh_token_days,
            allow_registration,
            web_cookie_secure,
            trusted_proxies,
            login_limit,
            register_limit,
            refresh_limit,
            vapi_limit,
            problems.is_empty(),
        )
        else {
            return Err(ConfigError(problems));
        };
        let schedule = Schedule::new(ScheduleSettings {
            time_zone,
            hours,
            slot_minutes: slot,
            default_duration_minutes: duration,
            min_notice_minutes: notice,
            horizon_days: horizon,
            buffer_minutes: buffer,
        })
        .map_err(|e| {
            ConfigError(vec![ConfigProblem {
                variable: "schedule",
                value: String::new(),
                expected: e.to_string(),
            }])
        })?;
        Ok(Self {
            host,
            port,
            database_url,
            database_max_connections,
            database_booking_connections,
            vapi_webhook_secret,
            vapi_hmac,
            schedule,
            phone_region,
            log_level,
            log_format,
            cors_origins,
            metrics_token,
            metrics_addr,
            shutdown_grace,
            http_workers,
            jwt_secret,
            access_token_minutes,
            refresh_token_days,
            allow_registration,
            web_cookie_secure,
            trusted_proxies,
            audit_retention_days,
            call_retention_days,
            rate_limits: LimitSettings {
                login: login_limit,
                register: register_limit,
                refresh: refresh_limit,
                vapi: vapi_limit,
            },
            redis_url,
            redis_key_prefix,
            vapi_base_url,
            vapi_api_key,
            encryption,
            google,
            webhook_allow_private_targets,
            webhook_retry_base_seconds,
        })
    }

    /// The settings as `VARIABLE=value` lines, secrets masked: what
    /// `voice-scheduler config check` prints.
    pub fn describe(&self) -> Vec<(String, String)> {
        let masked = |v: &Option<String>, unset: &str| match v {
            Some(_) => "***".to_owned(),
            None => unset.to_owned(),
        };
        // The HMAC credential's settings, when it is on.
        let hmac = |show: fn(&HmacConfig) -> String| {
            self.vapi_hmac
                .as_ref()
                .map_or_else(|| "(HMAC off)".to_owned(), show)
        };
        // The Google settings, when Google Calendar is on.
        let google = |show: fn(&GoogleConfig) -> String| {
            self.google
                .as_ref()
                .map_or_else(|| "(unset: Google Calendar is off)".to_owned(), show)
        };
        vec![
            ("HOST".into(), self.host.to_string()),
            ("PORT".into(), self.port.to_string()),
            ("DATABASE_URL".into(), mask_url(&self.database_url)),
            (
                "DATABASE_MAX_CONNECTIONS".into(),
                match (
                    self.database_max_connections,
                    Backend::from_url(&self.database_url),
                ) {
                    (Some(n), _) => n.to_string(),
                    (None, Ok(backend)) => format!("(default: {})", backend.default_pool_size()),
                    (None, Err(_)) => "(default)".to_owned(),
                },
            ),
            (
                "DATABASE_BOOKING_CONNECTIONS".into(),
                match (
                    self.database_booking_connections,
                    Backend::from_url(&self.database_url),
                ) {
                    (_, Ok(Backend::Sqlite)) => "(not used on SQLite)".to_owned(),
                    (Some(n), _) => n.to_string(),
                    (None, Ok(backend)) => {
                        format!("(default: {})", backend.default_booking_pool_size())
                    }
                    (None, Err(_)) => "(default)".to_owned(),
                },
            ),
            (
                "VAPI_WEBHOOK_SECRET".into(),
                masked(
                    &self.vapi_webhook_secret,
                    "(generated, kept in the database)",
                ),
            ),
            ("VAPI_HMAC_SECRET".into(), hmac(|_| "***".to_owned())),
            (
                "VAPI_HMAC_ALGORITHM".into(),
                hmac(|h| h.algorithm.to_string()),
            ),
            (
                "VAPI_HMAC_SIGNATURE_HEADER".into(),
                hmac(|h| h.signature_header.clone()),
            ),
            (
                "VAPI_HMAC_TIMESTAMP_HEADER".into(),
                hmac(|h| h.timestamp_header.clone()),
            ),
            ("VAPI_HMAC_PREFIX".into(), hmac(|h| h.prefix.clone())),
            (
                "VAPI_HMAC_ENCODING".into(),
                hmac(|h| h.encoding.to_string()),
            ),
            (
                "VAPI_HMAC_WINDOW_SECONDS".into(),
                hmac(|h| h.window_seconds.to_string()),
            ),
            (
                "DEFAULT_TIMEZONE".into(),
                self.schedule.time_zone().to_string(),
            ),
            ("BUSINESS_HOURS".into(), self.schedule.hours().to_string()),
            (
                "SLOT_MINUTES".into(),
                self.schedule.slot().num_minutes().to_string(),
            ),
            (
                "DEFAULT_DURATION_MINUTES".into(),
                self.schedule.default_duration().num_minutes().to_string(),
            ),
            (
                "MIN_NOTICE_MINUTES".into(),
                self.schedule.min_notice().num_minutes().to_string(),
            ),
            (
                "BOOKING_HORIZON_DAYS".into(),
                self.schedule.horizon_days().to_string(),
            ),
            (
                "BUFFER_MINUTES".into(),
                self.schedule.buffer().num_minutes().to_string(),
            ),
            ("DEFAULT_PHONE_REGION".into(), self.phone_region.code()),
            ("LOG_LEVEL".into(), self.log_level.clone()),
            (
                "LOG_FORMAT".into(),
                match self.log_format {
                    LogFormat::Json => "json",
                    LogFormat::Pretty => "pretty",
                }
                .into(),
            ),
            ("CORS_ORIGINS".into(), self.cors_origins.join(",")),
            (
                "METRICS_TOKEN".into(),
                masked(&self.metrics_token, "(unset)"),
            ),
            (
                "METRICS_ADDR".into(),
                self.metrics_addr
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "(unset)".into()),
            ),
            (
                "SHUTDOWN_GRACE_SECONDS".into(),
                self.shutdown_grace.as_secs().to_string(),
            ),
            (
                "HTTP_WORKERS".into(),
                match self.http_workers {
                    Some(n) => n.to_string(),
                    None => format!("(two per CPU: {})", self.worker_count()),
                },
            ),
            (
                "JWT_SECRET".into(),
                masked(&self.jwt_secret, "(generated, kept in the database)"),
            ),
            (
                "ACCESS_TOKEN_MINUTES".into(),
                self.access_token_minutes.to_string(),
            ),
            (
                "REFRESH_TOKEN_DAYS".into(),
                self.refresh_token_days.to_string(),
            ),
            (
                "ALLOW_REGISTRATION".into(),
                self.allow_registration.to_string(),
            ),
            (
                "WEB_COOKIE_SECURE".into(),
                self.web_cookie_secure.to_string(),
            ),
            (
                "AUDIT_RETENTION_DAYS".into(),
                self.audit_retention_days.to_string(),
            ),
            (
                "CALL_RETENTION_DAYS".into(),
                self.call_retention_days.to_string(),
            ),
            ("TRUSTED_PROXIES".into(), self.trusted_proxies.to_string()),
            (
                "RATE_LIMIT_LOGIN_PER_MINUTE".into(),
                self.rate_limits.login.to_string(),
            ),
            (
                "RATE_LIMIT_REGISTER_PER_MINUTE".into(),
                self.rate_limits.register.to_string(),
            ),
            (
                "RATE_LIMIT_REFRESH_PER_MINUTE".into(),
                self.rate_limits.refresh.to_string(),
            ),
            (
                "RATE_LIMIT_VAPI_PER_MINUTE".into(),
                self.rate_limits.vapi.to_string(),
            ),
            (
                "REDIS_URL".into(),
                self.redis_url
                    .as_deref()
                    .map_or_else(|| "(unset: limits counted in memory)".to_owned(), mask_url),
            ),
            ("REDIS_KEY_PREFIX".into(), self.redis_key_prefix.clone()),
            ("VAPI_BASE_URL".into(), self.vapi_base_url.clone()),
            (
                "VAPI_API_KEY".into(),
                masked(&self.vapi_api_key, "(unset: calling out is off)"),
            ),
            ("GOOGLE_CLIENT_ID".into(), google(|g| g.client_id.clone())),
            ("GOOGLE_CLIENT_SECRET".into(), google(|_| "***".to_owned())),
            (
                "GOOGLE_REDIRECT_URI".into(),
                google(|g| g.redirect_uri.clone()),
            ),
            (
                "GOOGLE_AUTH_URL".into(),
                google(|g| g.endpoints.auth_url.clone()),
            ),
            (
                "GOOGLE_TOKEN_URL".into(),
                google(|g| g.endpoints.token_url.clone()),
            ),
            (
                "GOOGLE_REVOKE_URL".into(),
                google(|g| g.endpoints.revoke_url.clone()),
            ),
            (
                "GOOGLE_API_BASE_URL".into(),
                google(|g| g.endpoints.api_base_url.clone()),
            ),
            (
                "GOOGLE_SEND_UPDATES".into(),
                google(|g| g.send_updates.as_str().to_owned()),
            ),
            (
                "GOOGLE_SYNC_MAX_ATTEMPTS".into(),
                google(|g| g.max_attempts.to_string()),
            ),
            (
                "GOOGLE_BUSY_CACHE_SECONDS".into(),
                google(|g| g.busy_cache_seconds.to_string()),
            ),
            (
                "GOOGLE_BUSY_STALE_SECONDS".into(),
                google(|g| g.busy_stale_seconds.to_string()),
            ),
            (
                "ENCRYPTION_KEY".into(),
                self.encryption.as_ref().map_or_else(
                    || "(unset)".to_owned(),
                    |k| {
                        format!(
                            "*** (key id {})",
                            voice_scheduler_google::key_id_hex(k.current_key_id())
                        )
                    },
                ),
            ),
            (
                "ENCRYPTION_OLD_KEYS".into(),
                self.encryption
                    .as_ref()
                    .map_or_else(String::new, |k| format!("{} older keys", k.older_count())),
            ),
            (
                "WEBHOOK_ALLOW_PRIVATE_TARGETS".into(),
                self.webhook_allow_private_targets.to_string(),
            ),
            (
                "WEBHOOK_RETRY_BASE_SECONDS".into(),
                self.webhook_retry_base_seconds.to_string(),
            ),
        ]
    }
}

/// The `VAPI_HMAC_*` variables: `None` when `VAPI_HMAC_SECRET` is unset
/// (the other variables are still checked).
fn read_vapi_hmac(
    problems: &mut Vec<ConfigProblem>,
    get: &impl Fn(&str) -> Option<String>,
) -> Option<HmacConfig> {
    let defaults = HmacConfig::new("");
    let secret = get("VAPI_HMAC_SECRET");
    if secret.as_ref().is_some_and(|s| s.len() < 16) {
        problems.push(ConfigProblem {
            variable: "VAPI_HMAC_SECRET",
            value: "***".to_owned(),
            expected: "at least 16 characters: the secret of the HMAC credential in VAPI (leave it unset to accept only the shared secret)".to_owned(),
        });
    }
    let algorithm = read_with(problems, get, "VAPI_HMAC_ALGORITHM", "sha256", |v| {
        v.parse()
    });
    let signature_header = read_with(
        problems,
        get,
        "VAPI_HMAC_SIGNATURE_HEADER",
        "x-signature",
        header_name,
    );
    let timestamp_header = read_with(
        problems,
        get,
        "VAPI_HMAC_TIMESTAMP_HEADER",
        "x-timestamp",
        header_name,
    );
    let prefix = get("VAPI_HMAC_PREFIX").unwrap_or_default();
    let encoding = read_with(problems, get, "VAPI_HMAC_ENCODING", "hex", |v| v.parse());
    let window_seconds = read(
        problems,
        get,
        "VAPI_HMAC_WINDOW_SECONDS",
        "300",
        "a whole number of seconds from 1 to 3600",
        |v| v.parse::<u32>().ok().filter(|s| (1..=3600).contains(s)),
    );
    if let (Some(a), Some(b)) = (&signature_header, &timestamp_header)
        && a == b
    {
        problems.push(ConfigProblem {
            variable: "VAPI_HMAC_TIMESTAMP_HEADER",
            value: b.clone(),
            expected: "a header other than VAPI_HMAC_SIGNATURE_HEADER".to_owned(),
        });
    }
    // On a problem the configuration is refused as a whole, so the
    // defaults below are never used.
    Some(HmacConfig {
        secret: secret.filter(|s| s.len() >= 16)?,
        algorithm: algorithm.unwrap_or(defaults.algorithm),
        signature_header: signature_header.unwrap_or(defaults.signature_header),
        timestamp_header: timestamp_header.unwrap_or(defaults.timestamp_header),
        prefix: prefix.trim().to_owned(),
        encoding: encoding.unwrap_or(defaults.encoding),
        window_seconds: window_seconds.unwrap_or(defaults.window_seconds),
    })
}

/// `ENCRYPTION_KEY` and `ENCRYPTION_OLD_KEYS` (comma-separated): 32 bytes
/// each, base64.
fn read_encryption(
    problems: &mut Vec<ConfigProblem>,
    get: &impl Fn(&str) -> Option<String>,
) -> Option<std::sync::Arc<KeyRing>> {
    let old = get("ENCRYPTION_OLD_KEYS").unwrap_or_default();
    let old: Vec<&str> = old
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    let Some(current) = get("ENCRYPTION_KEY") else {
        if !old.is_empty() {
            problems.push(ConfigProblem {
                variable: "ENCRYPTION_KEY",
                value: String::new(),
                expected: "the current key, when ENCRYPTION_OLD_KEYS is set".to_owned(),
            });
        }
        return None;
    };
    match KeyRing::from_base64(&current, &old) {
        Ok(keys) => Some(std::sync::Arc::new(keys)),
        Err(e) => {
            problems.push(ConfigProblem {
                variable: if e.to_string().contains("ENCRYPTION_OLD_KEYS")
                    || e.to_string().contains("older")
                {
                    "ENCRYPTION_OLD_KEYS"
                } else {
                    "ENCRYPTION_KEY"
                },
                value: "***".to_owned(),
                expected: format!(
                    "32 random bytes in base64, e.g. from `openssl rand -base64 32` ({e})"
                ),
            });
            None
        }
    }
}

/// The `GOOGLE_*` variables: `None` when `GOOGLE_CLIENT_ID` is unset.
fn read_google(
    problems: &mut Vec<ConfigProblem>,
    get: &impl Fn(&str) -> Option<String>,
    have_keys: bool,
) -> Option<GoogleConfig> {
    let defaults = GoogleEndpoints::default();
    let url = |problems: &mut Vec<ConfigProblem>, variable: &'static str, default: String| {
        read_with(problems, get, variable, &default, |v| {
            if v.starts_with("https://") || v.starts_with("http://") {
                Ok(v.to_owned())
            } else {
                Err("an http(s) URL".to_owned())
            }
        })
    };
    let auth_url = url(problems, "GOOGLE_AUTH_URL", defaults.auth_url);
    let token_url = url(problems, "GOOGLE_TOKEN_URL", defaults.token_url);
    let revoke_url = url(problems, "GOOGLE_REVOKE_URL", defaults.revoke_url);
    let api_base_url = url(problems, "GOOGLE_API_BASE_URL", defaults.api_base_url)
        .map(|u| if u.ends_with('/') { u } else { format!("{u}/") });
    let send_updates = read_with(problems, get, "GOOGLE_SEND_UPDATES", "all", |v| {
        v.parse::<SendUpdates>().map_err(|e| e.to_string())
    });
    let max_attempts = read(
        problems,
        get,
        "GOOGLE_SYNC_MAX_ATTEMPTS",
        "8",
        "a whole number of attempts from 1 to 100",
        |v| v.parse::<u32>().ok().filter(|n| (1..=100).contains(n)),
    );
    let busy_cache_seconds = read(
        problems,
        get,
        "GOOGLE_BUSY_CACHE_SECONDS",
        "30",
        "a whole number of seconds from 0 to 300",
        |v| v.parse::<u64>().ok().filter(|n| *n <= 300),
    );
    let busy_stale_seconds = read(
        problems,
        get,
        "GOOGLE_BUSY_STALE_SECONDS",
        "300",
        "a whole number of seconds from 0 to 3600",
        |v| v.parse::<u64>().ok().filter(|n| *n <= 3600),
    );
    let client_id = get("GOOGLE_CLIENT_ID")?;
    let client_secret = get("GOOGLE_CLIENT_SECRET");
    if client_secret.is_none() {
        problems.push(ConfigProblem {
            variable: "GOOGLE_CLIENT_SECRET",
            value: String::new(),
            expected: "the OAuth client's secret, when GOOGLE_CLIENT_ID is set".to_owned(),
        });
    }
    let redirect_uri = get("GOOGLE_REDIRECT_URI");
    if !redirect_uri.as_deref().is_some_and(|u| {
        (u.starts_with("https://") || u.starts_with("http://"))
            && u.ends_with("/integrations/google/callback")
    }) {
        problems.push(ConfigProblem {
            variable: "GOOGLE_REDIRECT_URI",
            value: redirect_uri.clone().unwrap_or_default(),
            expected: "this server's public address followed by /integrations/google/callback, as registered in the Google OAuth client".to_owned(),
        });
    }
    if !have_keys {
        problems.push(ConfigProblem {
            variable: "ENCRYPTION_KEY",
            value: String::new(),
            expected: "32 random bytes in base64 (`openssl rand -base64 32`): Google refresh tokens are stored encrypted, so GOOGLE_CLIENT_ID needs it".to_owned(),
        });
    }
    Some(GoogleConfig {
        client_id,
        client_secret: client_secret?,
        redirect_uri: redirect_uri?,
        endpoints: GoogleEndpoints {
            auth_url: auth_url?,
            token_url: token_url?,
            revoke_url: revoke_url?,
            api_base_url: api_base_url?,
        },
        send_updates: send_updates?,
        max_attempts: max_attempts?,
        busy_cache_seconds: busy_cache_seconds?,
        busy_stale_seconds: busy_stale_seconds?,
    })
}

/// `https://app.example.com,https://admin.example.com`: exact origins, no wildcard.
fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    let expected = "a comma-separated list of origins such as https://app.example.com (no '*')";
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = origin.trim_end_matches('/');
        let well_formed = (origin.starts_with("https://") || origin.starts_with("http://"))
            && !origin.contains('*')
            && origin
                .split("://")
                .nth(1)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
        if !well_formed {
            return Err(expected.to_owned());
        }
        origins.push(origin.to_owned());
    }
    Ok(origins)
}

fn read<T>(
    problems: &mut Vec<ConfigProblem>,
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    read_with(problems, get, variable, default, |v| {
        parse(v).ok_or_else(|| expected.to_owned())
    })
}

fn read_with<T>(
    problems: &mut Vec<ConfigProblem>,
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    let value = get(variable).unwrap_or_else(|| default.to_owned());
    match parse(value.trim()) {
        Ok(v) => Some(v),
        Err(expected) => {
            problems.push(ConfigProblem {
                variable,
                value,
                expected,
            });
            None
        }
    }
}

/// A database URL with its password replaced by `***`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn secrets_can_be_read_from_files_but_not_set_both_ways() {
        let dir = std::env::temp_dir().join(format!("vs-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, content: &str| {
            let path = dir.join(name);
            std::fs::write(&path, content).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let jwt = write("jwt", "a-jwt-secret-from-a-file-0123456789abcdef\n");
        let vapi = write("vapi", "vapi-secret-from-a-file\r\n");
        let key = write("key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
        let url = write("url", "postgres://app:pw@db:5432/app");
        let s = settings(&[
            ("JWT_SECRET_FILE", &jwt),
            ("VAPI_WEBHOOK_SECRET_FILE", &vapi),
            ("ENCRYPTION_KEY_FILE", &key),
            ("DATABASE_URL_FILE", &url),
        ])
        .unwrap();
        // The content, its trailing line break removed.
        assert_eq!(
            s.jwt_secret.as_deref(),
            Some("a-jwt-secret-from-a-file-0123456789abcdef")
        );
        assert_eq!(
            s.vapi_webhook_secret.as_deref(),
            Some("vapi-secret-from-a-file")
        );
        assert!(s.encryption.is_some());
        assert_eq!(s.database_url, "postgres://app:pw@db:5432/app");

        // Both ways: an error naming the variable, without its value.
        let err = settings(&[
            ("JWT_SECRET", "a-jwt-secret-from-the-environment-0123456789"),
            ("JWT_SECRET_FILE", &jwt),
        ])
        .unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].variable, "JWT_SECRET");
        assert!(err.0[0].expected.contains("JWT_SECRET_FILE"), "{err}");
        assert!(!err.to_string().contains("from-the-environment"), "{err}");
        // A missing or empty file is named.
        let missing = dir.join("missing").to_str().unwrap().to_owned();
        let err = settings(&[("GOOGLE_CLIENT_SECRET_FILE", &missing)]).unwrap_err();
        assert!(
            err.0
                .iter()
                .any(|p| p.variable == "GOOGLE_CLIENT_SECRET_FILE"),
            "{err}"
        );
        let empty = write("empty", "\n");
        let err = settings(&[("ENCRYPTION_KEY_FILE", &empty)]).unwrap_err();
        assert_eq!(err.0[0].variable, "ENCRYPTION_KEY_FILE", "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn google_is_off_by_default_and_needs_its_settings_and_a_key() {
        let s = settings(&[]).unwrap();
        assert!(s.google.is_none() && s.encryption.is_none());
        let err = settings(&[("GOOGLE_CLIENT_ID", "id.apps.googleusercontent.com")]).unwrap_err();
        let names: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            names,
            [
                "GOOGLE_CLIENT_SECRET",
                "GOOGLE_REDIRECT_URI",
                "ENCRYPTION_KEY"
            ]
        );
        let err = settings(&[("ENCRYPTION_KEY", "c2hvcnQ=")]).unwrap_err();
        assert_eq!(err.0[0].variable, "ENCRYPTION_KEY");
        assert!(
            !err.to_string().contains("c2hvcnQ="),
            "keys are not printed"
        );
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let err =
            settings(&[("ENCRYPTION_KEY", key), ("ENCRYPTION_OLD_KEYS", "nope")]).unwrap_err();
        assert_eq!(err.0[0].variable, "ENCRYPTION_OLD_KEYS");
        let s = settings(&[
            ("GOOGLE_CLIENT_ID", "id.apps.googleusercontent.com"),
            ("GOOGLE_CLIENT_SECRET", "secret-value"),
            (
                "GOOGLE_REDIRECT_URI",
                "https://book.example.com/integrations/google/callback",
            ),
            ("GOOGLE_API_BASE_URL", "http://127.0.0.1:9/calendar/v3"),
            ("GOOGLE_SEND_UPDATES", "none"),
            ("ENCRYPTION_KEY", key),
        ])
        .unwrap();
        let google = s.google.as_ref().unwrap();
        assert_eq!(
            google.endpoints.api_base_url,
            "http://127.0.0.1:9/calendar/v3/"
        );
        assert_eq!(google.send_updates.as_str(), "none");
        assert_eq!(google.max_attempts, 8);
        let described = format!("{:?} {:?}", s, s.describe());
        assert!(!described.contains("secret-value") && !described.contains(key));
        let err = settings(&[
            ("GOOGLE_CLIENT_ID", "id"),
            ("GOOGLE_CLIENT_SECRET", "s"),
            ("GOOGLE_REDIRECT_URI", "https://book.example.com/callback"),
            ("GOOGLE_SEND_UPDATES", "everyone"),
            ("ENCRYPTION_KEY", key),
        ])
        .unwrap_err();
        let names: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(names, ["GOOGLE_SEND_UPDATES", "GOOGLE_REDIRECT_URI"]);
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.port, 8000);
        assert_eq!(s.host.to_string(), "127.0.0.1");
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.schedule.time_zone().name(), "America/Los_Angeles");
        assert_eq!(s.schedule.slot().num_minutes(), 30);
        assert_eq!(s.schedule.min_notice().num_minutes(), 60);
        assert_eq!(s.schedule.horizon_days(), 60);
        assert_eq!(s.schedule.hours().to_string(), "mon-fri 09:00-17:00");
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert!(s.vapi_webhook_secret.is_none());
        assert!(s.cors_origins.is_empty() && s.metrics_token.is_none() && s.metrics_addr.is_none());
        assert_eq!(s.shutdown_grace.as_secs(), 30);
        assert_eq!(s.http_workers, None);
        assert_eq!(s.database_max_connections, None);
        assert_eq!(s.database_booking_connections, None);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(s.worker_count(), (cpus * 2).min(64));
        // every variable is described, in the documented order
        let described: Vec<String> = s.describe().into_iter().map(|(k, _)| k).collect();
        let documented: Vec<&str> = VARIABLES.iter().map(|(k, _)| *k).collect();
        assert_eq!(described, documented);
    }

    #[test]
    fn operator_settings() {
        let s = settings(&[
            (
                "CORS_ORIGINS",
                "https://app.example.com, http://localhost:3000/",
            ),
            ("METRICS_TOKEN", "metrics-token-0123456789"),
            ("METRICS_ADDR", "127.0.0.1:9100"),
            ("SHUTDOWN_GRACE_SECONDS", "5"),
            ("HTTP_WORKERS", "3"),
            ("DATABASE_MAX_CONNECTIONS", "24"),
            ("DATABASE_BOOKING_CONNECTIONS", "0"),
        ])
        .unwrap();
        assert_eq!(s.worker_count(), 3);
        assert_eq!(s.database_max_connections, Some(24));
        assert_eq!(s.database_booking_connections, Some(0));
        assert_eq!(
            s.cors_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert_eq!(s.metrics_addr.unwrap().port(), 9100);
        assert_eq!(s.shutdown_grace.as_secs(), 5);
        let shown = format!("{:?}", s.describe());
        assert!(!shown.contains("metrics-token-0123456789"));
        for bad in [
            ("CORS_ORIGINS", "*"),
            ("CORS_ORIGINS", "app.example.com"),
            ("METRICS_ADDR", "9100"),
            ("SHUTDOWN_GRACE_SECONDS", "-1"),
            ("HTTP_WORKERS", "0"),
            ("HTTP_WORKERS", "65"),
            ("HTTP_WORKERS", "four"),
            ("DATABASE_MAX_CONNECTIONS", "0"),
            ("DATABASE_MAX_CONNECTIONS", "501"),
            ("DATABASE_MAX_CONNECTIONS", "ten"),
            ("DATABASE_BOOKING_CONNECTIONS", "501"),
            ("DATABASE_BOOKING_CONNECTIONS", "-1"),
            ("METRICS_TOKEN", "short"),
        ] {
            let err = settings(&[bad]).unwrap_err();
            assert_eq!(err.0[0].variable, bad.0, "{bad:?}");
        }
    }

    #[test]
    fn every_invalid_variable_is_named_with_value_and_expectation() {
        let err = settings(&[
            ("PORT", "eighty"),
            ("DEFAULT_TIMEZONE", "Mars/Olympus"),
            ("BUSINESS_HOURS", "weekdays 9-5"),
            ("SLOT_MINUTES", "0"),
            ("LOG_FORMAT", "xml"),
            ("DATABASE_URL", "mysql://u:pw@h/db"),
            ("VAPI_WEBHOOK_SECRET", "short"),
        ])
        .unwrap_err();
        let names: Vec<_> = err.0.iter().map(|p| p.variable).collect();
        assert_eq!(
            names,
            [
                "PORT",
                "DATABASE_URL",
                "VAPI_WEBHOOK_SECRET",
                "DEFAULT_TIMEZONE",
                "BUSINESS_HOURS",
                "SLOT_MINUTES",
                "LOG_FORMAT"
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("PORT=\"eighty\": expected a port number"),
            "{text}"
        );
        assert!(text.contains("Mars/Olympus"));
        assert!(!text.contains("pw@"), "passwords are masked: {text}");
        assert!(!text.contains("short"), "secrets are masked: {text}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = settings(&[
            ("VAPI_WEBHOOK_SECRET", "a-very-secret-value"),
            ("DATABASE_URL", "postgres://app:hunter2@db/app"),
        ])
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("a-very-secret-value") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(
            mask_url("postgres://app:hunter2@db/app"),
            "postgres://app:***@db/app"
        );
    }

    #[test]
    fn vapi_hmac_is_off_by_default_and_checked_when_set() {
        assert!(settings(&[]).unwrap().vapi_hmac.is_none());
        let s = settings(&[("VAPI_HMAC_SECRET", "an-hmac-secret-0123456789")]).unwrap();
        let hmac = s.vapi_hmac.as_ref().unwrap();
        assert_eq!(hmac.signature_header, "x-signature");
        assert_eq!(hmac.timestamp_header, "x-timestamp");
        assert_eq!(hmac.window_seconds, 300);
        assert!(hmac.prefix.is_empty());
        let shown = format!("{s:?} {:?}", s.describe());
        assert!(!shown.contains("an-hmac-secret-0123456789"), "{shown}");
        let s = settings(&[
            ("VAPI_HMAC_SECRET", "an-hmac-secret-0123456789"),
            ("VAPI_HMAC_ALGORITHM", "SHA512"),
            ("VAPI_HMAC_SIGNATURE_HEADER", "X-Vapi-Signature"),
            ("VAPI_HMAC_PREFIX", "sha512="),
            ("VAPI_HMAC_ENCODING", "base64"),
            ("VAPI_HMAC_WINDOW_SECONDS", "60"),
        ])
        .unwrap();
        let hmac = s.vapi_hmac.unwrap();
        assert_eq!(hmac.algorithm.as_str(), "sha512");
        assert_eq!(hmac.signature_header, "x-vapi-signature");
        assert_eq!(hmac.prefix, "sha512=");
        assert_eq!(hmac.encoding.as_str(), "base64");
        assert_eq!(hmac.window_seconds, 60);
        for bad in [
            ("VAPI_HMAC_SECRET", "short"),
            ("VAPI_HMAC_ALGORITHM", "md5"),
            ("VAPI_HMAC_SIGNATURE_HEADER", "x signature"),
            ("VAPI_HMAC_TIMESTAMP_HEADER", "x-signature"),
            ("VAPI_HMAC_ENCODING", "base32"),
            ("VAPI_HMAC_WINDOW_SECONDS", "0"),
            ("VAPI_HMAC_WINDOW_SECONDS", "3601"),
        ] {
            let err = settings(&[bad]).unwrap_err();
            assert_eq!(err.0[0].variable, bad.0, "{bad:?}");
            assert!(!err.to_string().contains("short"), "secrets are masked");
        }
    }

    #[test]
    fn audit_retention_is_a_bounded_number_of_days() {
        assert_eq!(settings(&[]).unwrap().audit_retention_days, 365);
        let s = settings(&[("AUDIT_RETENTION_DAYS", "30")]).unwrap();
        assert_eq!(s.audit_retention_days, 30);
        for bad in ["0", "3651", "a year"] {
            let err = settings(&[("AUDIT_RETENTION_DAYS", bad)]).unwrap_err();
            assert_eq!(err.0[0].variable, "AUDIT_RETENTION_DAYS", "{bad}");
        }
    }

    #[test]
    fn business_hours_with_breaks_and_several_days() {
        let s = settings(&[
            (
                "BUSINESS_HOURS",
                "mon-thu 08:00-12:00,13:00-18:00; fri 08:00-14:00",
            ),
            ("BUFFER_MINUTES", "10"),
        ])
        .unwrap();
        assert_eq!(s.schedule.hours().on(chrono::Weekday::Mon).len(), 2);
        assert_eq!(s.schedule.buffer().num_minutes(), 10);
    }
}
