//! A dedicated database per run, seeding, and the query plans of the hot
//! queries.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

/// The database behind a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::Sqlite => "SQLite",
        }
    }

    pub fn of_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            bail!("expected a postgres://… or sqlite://… URL")
        }
    }
}

/// A database made for one run (dropped by [`BenchDb::drop_database`]), or
/// one given by the user (kept).
#[derive(Debug)]
pub struct BenchDb {
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Keep,
    Postgres {
        admin_url: String,
        name: String,
        dir: PathBuf,
    },
    Sqlite {
        dir: PathBuf,
    },
}

/// A new temporary directory for a run (its SQLite file, the server's log).
fn run_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("vs-bench-{tag}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    Ok(dir)
}

impl BenchDb {
    /// A fresh database: `vs_bench_<random>` on the PostgreSQL server of
    /// `admin_url`, or a SQLite file in a new temporary directory.
    pub async fn create(backend: Backend, admin_url: &str) -> anyhow::Result<BenchDb> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Postgres => {
                let name = format!("vs_bench_{}", &tag[..12]);
                let admin = connect(admin_url).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .with_context(|| format!("could not create database {name}"))?;
                let _ = admin.close().await;
                Ok(BenchDb {
                    url: with_database(admin_url, &name)?,
                    cleanup: Cleanup::Postgres {
                        admin_url: admin_url.to_owned(),
                        name,
                        dir: run_dir(&tag[..12])?,
                    },
                })
            }
            Backend::Sqlite => {
                let dir = run_dir(&tag[..12])?;
                Ok(BenchDb {
                    url: format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
                    cleanup: Cleanup::Sqlite { dir },
                })
            }
        }
    }

    /// A database given by URL: used as it is and kept afterwards.
    pub fn existing(url: &str) -> anyhow::Result<BenchDb> {
        Backend::of_url(url)?;
        Ok(BenchDb {
            url: url.to_owned(),
            cleanup: Cleanup::Keep,
        })
    }

    /// A directory for the server's log: the run's temporary directory, or
    /// the system's for a database given by URL.
    pub fn log_dir(&self) -> PathBuf {
        match &self.cleanup {
            Cleanup::Sqlite { dir } | Cleanup::Postgres { dir, .. } => dir.clone(),
            Cleanup::Keep => std::env::temp_dir(),
        }
    }

    /// Drops the PostgreSQL database; removes the run's directory (the
    /// SQLite file, the server's log) unless `keep_files` (a failed run).
    pub async fn drop_database(self, keep_files: bool) -> anyhow::Result<()> {
        let dir = match self.cleanup {
            Cleanup::Keep => return Ok(()),
            Cleanup::Postgres {
                admin_url,
                name,
                dir,
            } => {
                let admin = connect(&admin_url).await?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .with_context(|| format!("could not drop database {name}"))?;
                let _ = admin.close().await;
                dir
            }
            Cleanup::Sqlite { dir } => dir,
        };
        if keep_files {
            eprintln!("kept {} (the server's log)", dir.display());
            return Ok(());
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("could not remove {}", dir.display()))
    }
}

/// One connection to `url`.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .context("could not connect to the database")
}

/// The id of the calendar the server made (`slug = 'default'`), as text.
pub async fn default_calendar(db: &DatabaseConnection) -> anyhow::Result<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => "SELECT lower(hex(id)) AS id FROM calendars WHERE slug = 'default'",
        _ => "SELECT id::text AS id FROM calendars WHERE slug = 'default'",
    };
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no default calendar: has the server started on this database?")?;
    let id: String = row.try_get("", "id")?;
    Ok(id)
}

/// Inserts `count` confirmed appointments of `minutes` each into the
/// default calendar, one every `2 × minutes` (so every other slot stays
/// free), the last `future` of them from `first_future` on and the rest
/// before it (history). Times are on a grid of whole half-hours in UTC,
/// which is the calendar's slot grid in any whole-hour zone. Returns how
/// long it took (ANALYZE included on PostgreSQL).
pub async fn seed(
    db: &DatabaseConnection,
    count: u64,
    future: u64,
    first_future: DateTime<Utc>,
    minutes: u32,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    if count == 0 {
        return Ok(Duration::ZERO);
    }
    let step = i64::from(minutes) * 2 * 60;
    let length = i64::from(minutes) * 60;
    let past = i64::try_from(count.saturating_sub(future))?;
    let first = first_future.timestamp() - past * step;
    let last = i64::try_from(count)? - 1;
    // A confirmation code per row: six characters of the code alphabet,
    // the row number in base 31 (distinct for up to 887 million rows).
    let alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let code = (0..6)
                .map(|k| {
                    format!(
                        "substr('{alphabet}', ((i / {}) % 31)::int + 1, 1)",
                        31i64.pow(k)
                    )
                })
                .collect::<Vec<_>>()
                .join(" || ");
            let sql = format!(
                "INSERT INTO appointments (id, calendar_id, confirmation_code, starts_at, ends_at, \
                   blocked_until, time_zone, status, customer_name, customer_phone, customer_email, \
                   purpose, channel, vapi_call_id, tool_call_id, idempotency_key, created_at, \
                   updated_at, cancelled_at, cancel_reason) \
                 SELECT gen_random_uuid(), c.id, {code}, \
                   to_timestamp({first} + i * {step}), to_timestamp({first} + i * {step} + {length}), \
                   to_timestamp({first} + i * {step} + {length}), 'America/Los_Angeles', 'confirmed', \
                   'Seeded Caller', '+1212555' || lpad((i % 10000)::text, 4, '0'), NULL, 'Seeded', \
                   'voice', NULL, NULL, NULL, now(), now(), NULL, NULL \
                 FROM generate_series(0::bigint, {last}::bigint) AS i, calendars c \
                 WHERE c.slug = 'default'"
            );
            db.execute_unprepared(&sql)
                .await
                .context("could not seed the appointments")?;
            db.execute_unprepared("ANALYZE appointments")
                .await
                .context("could not analyze the appointments")?;
        }
        DbBackend::Sqlite => {
            let code = (0..6)
                .map(|k| format!("substr('{alphabet}', ((i / {}) % 31) + 1, 1)", 31i64.pow(k)))
                .collect::<Vec<_>>()
                .join(" || ");
            // sqlx stores uuids as 16-byte blobs and times as RFC 3339 text.
            let at = |offset: &str| {
                format!(
                    "strftime('%Y-%m-%dT%H:%M:%S+00:00', {first} + i * {step}{offset}, 'unixepoch')"
                )
            };
            let sql = format!(
                "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last}) \
                 INSERT INTO appointments (id, calendar_id, confirmation_code, starts_at, ends_at, \
                   blocked_until, time_zone, status, customer_name, customer_phone, customer_email, \
                   purpose, channel, vapi_call_id, tool_call_id, idempotency_key, created_at, \
                   updated_at, cancelled_at, cancel_reason) \
                 SELECT randomblob(16), c.id, {code}, {start}, {end}, {end}, 'America/Los_Angeles', \
                   'confirmed', 'Seeded Caller', '+1212555' || substr('000' || (i % 10000), -4, 4), \
                   NULL, 'Seeded', 'voice', NULL, NULL, NULL, {now}, {now}, NULL, NULL \
                 FROM seq, calendars c WHERE c.slug = 'default'",
                start = at(""),
                end = at(&format!(" + {length}")),
                now = "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')",
            );
            db.execute_unprepared(&sql)
                .await
                .context("could not seed the appointments")?;
        }
        other => bail!("unsupported backend {other:?}"),
    }
    Ok(started.elapsed())
}

/// PostgreSQL: `ANALYZE` the tables a booking touches (what autovacuum does
/// in service).
pub async fn analyze(url: &str) -> anyhow::Result<()> {
    let db = connect(url).await?;
    let done = db
        .execute_unprepared("ANALYZE appointments, tool_replies")
        .await
        .context("could not analyze the tables");
    let _ = db.close().await;
    done.map(|_| ())
}

/// Runs the statements of `sql` (a script such as bench/minimal-setup.sql).
pub async fn execute_script(url: &str, sql: &str) -> anyhow::Result<()> {
    let db = connect(url).await?;
    let done = db
        .execute_unprepared(sql)
        .await
        .context("could not run the setup script");
    let _ = db.close().await;
    done.map(|_| ())
}

/// How many appointments the table holds.
pub async fn count_appointments(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM appointments",
        ))
        .await?
        .context("count(*) returned no row")?;
    Ok(row.try_get("", "n")?)
}

/// The plans of the two hot reads for `[from, until)`, as the store sends
/// them (see crates/store/src/appointments.rs: `busy` and
/// `active_holding`): PostgreSQL `EXPLAIN (ANALYZE, BUFFERS)`, SQLite
/// `EXPLAIN QUERY PLAN`.
pub async fn explain_hot_queries(
    db: &DatabaseConnection,
    calendar: &str,
    day_from: DateTime<Utc>,
    day_until: DateTime<Utc>,
    slot_from: DateTime<Utc>,
    slot_until: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, String)>> {
    let backend = db.get_database_backend();
    // The store's `max_hold()`: Schedule::MAX_HOLD_MINUTES (8 h + 4 h).
    let max_hold = chrono::Duration::hours(12);
    type Literal = fn(DateTime<Utc>) -> String;
    let (prefix, cal, t): (&str, String, Literal) = match backend {
        DbBackend::Postgres => (
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ",
            format!("'{calendar}'::uuid"),
            |d| format!("'{}'::timestamptz", d.to_rfc3339()),
        ),
        _ => ("EXPLAIN QUERY PLAN ", format!("X'{calendar}'"), |d| {
            format!("'{}'", d.format("%Y-%m-%dT%H:%M:%S+00:00"))
        }),
    };
    let queries = [
        (
            "availability: busy times of a day (AppointmentRepository::busy)",
            format!(
                "SELECT id, starts_at, ends_at FROM appointments WHERE calendar_id = {cal} \
                 AND status <> 'cancelled' AND starts_at < {} AND ends_at > {} \
                 AND starts_at > {} ORDER BY starts_at",
                t(day_until),
                t(day_from),
                t(day_from - max_hold),
            ),
        ),
        (
            "booking: active appointments holding the slot (active_holding)",
            format!(
                "SELECT * FROM appointments WHERE calendar_id = {cal} AND status <> 'cancelled' \
                 AND starts_at < {} AND starts_at > {} AND blocked_until > {} ORDER BY starts_at",
                t(slot_until),
                t(slot_from - max_hold),
                t(slot_from),
            ),
        ),
    ];
    let mut plans = Vec::new();
    for (what, sql) in queries {
        let rows = db
            .query_all_raw(Statement::from_string(backend, format!("{prefix}{sql}")))
            .await
            .with_context(|| format!("could not explain: {sql}"))?;
        let mut lines = Vec::new();
        for row in rows {
            let line: String = match backend {
                DbBackend::Postgres => row.try_get("", "QUERY PLAN")?,
                _ => row.try_get("", "detail")?,
            };
            lines.push(line);
        }
        plans.push((format!("{what}\n  {sql}"), lines.join("\n")));
    }
    Ok(plans)
}

/// `url` with its database (path) replaced by `database`; the query string is kept.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let Some(scheme_end) = url.find("://") else {
        bail!("not a database URL");
    };
    let (base, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_start = scheme_end + 3;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    Ok(format!("{}/{database}{query}", &base[..authority_end]))
}
