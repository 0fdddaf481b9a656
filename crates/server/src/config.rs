//! Settings from environment variables (also read from a `.env` file).
//!
//! Every variable is documented in `docs/configuration.md` and listed in
//! `.env.example`. An invalid value stops the start-up with a message naming
//! the variable, the value and what is expected.

use std::fmt;
use std::net::IpAddr;

use voice_scheduler_domain::schedule::ScheduleSettings;
use voice_scheduler_domain::{PhoneRegion, Schedule, TimeZoneId, WeeklyHours};

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
    /// `None`: a secret is generated on first start and kept in the database.
    pub vapi_webhook_secret: Option<String>,
    pub schedule: Schedule,
    pub phone_region: PhoneRegion,
    pub log_level: String,
    pub log_format: LogFormat,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_url", &mask_url(&self.database_url))
            .field(
                "vapi_webhook_secret",
                &self.vapi_webhook_secret.as_ref().map(|_| "***"),
            )
            .field("schedule", &self.schedule)
            .field("phone_region", &self.phone_region.code())
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
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
    /// Reads the process environment (after loading `.env` if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (a variable name → its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

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
        let vapi_webhook_secret = get("VAPI_WEBHOOK_SECRET");
        if vapi_webhook_secret.as_ref().is_some_and(|s| s.len() < 16) {
            problems.push(ConfigProblem {
                variable: "VAPI_WEBHOOK_SECRET",
                value: "***".to_owned(),
                expected: "at least 16 characters (leave it unset to have one generated)"
                    .to_owned(),
            });
        }
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
            vapi_webhook_secret,
            schedule,
            phone_region,
            log_level,
            log_format,
        })
    }
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
