//! `voice-scheduler-bench`: drives the real server with VAPI `tool-calls`
//! messages and prints throughput, latency percentiles per tool, error
//! counts, the server's peak memory and start-up time, and — on PostgreSQL —
//! the pgbench ceiling of the same booking transaction. See
//! docs/performance.md.

mod db;
mod load;
mod pgbench;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{Days, NaiveTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::db::{Backend, BenchDb};
use crate::load::{LoadConfig, LoadReport};
use crate::pgbench::Ceiling;
use crate::server::{Server, ServerConfig};

/// The schedule of a server the bench starts: every day 06:00–22:00 in
/// Los Angeles, 15-minute slots and appointments, two years ahead.
const BENCH_HOURS: &str = "mon-sun 06:00-22:00";
const BENCH_DAY_START_MINUTES: u32 = 6 * 60;
const BENCH_DAY_MINUTES: u32 = 16 * 60;
const BENCH_SLOT_MINUTES: u32 = 15;
const BENCH_SLOTS_PER_DAY: u32 = BENCH_DAY_MINUTES / BENCH_SLOT_MINUTES;
/// Booking-only runs (each booking takes a slot of its own) use 5-minute
/// slots and appointments: 139,000 slots in the horizon, so that ~2,000
/// bookings a second for 23 s do not fill it (15-minute slots held 46,000).
const BOOKING_ONLY_SLOT_MINUTES: u32 = 5;
const BENCH_HORIZON_DAYS: u32 = 730;
const BENCH_ZONE: &str = "America/Los_Angeles";
/// Dates are drawn from tomorrow over this many days (within the horizon).
const BOOK_DAYS: u32 = BENCH_HORIZON_DAYS - 5;
/// The random-slot scenario (issue 20): bookings only, each for a random
/// 5-minute slot of a day open around the clock, over the next 700 days,
/// from a caller of its own, with `MIN_NOTICE_MINUTES=0` and the server
/// logging at `warn`. Its ceiling is `bench/minimal.sql`.
const RANDOM_DAY_HOURS: &str = "mon-sun 00:00-23:59";
const RANDOM_DAY_SLOT_MINUTES: u32 = 5;
/// 00:00 … 23:50: a 5-minute appointment at 23:55 would end after 23:59.
const RANDOM_DAY_SLOTS_PER_DAY: u32 = 287;
const RANDOM_DAY_DAYS: u32 = 700;
const RANDOM_DAY_LOG_LEVEL: &str = "warn";

#[derive(Debug, Parser)]
#[command(name = "voice-scheduler-bench", version, about)]
/// Load generator for voice-scheduler: VAPI tool calls over HTTP, with a
/// pgbench ceiling of the booking transaction.
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One load run: against a running server (--url), or against a server
    /// this program starts on a fresh database (the default).
    Run(RunArgs),
    /// Every scenario of docs/performance.md (backends × appointments ×
    /// clients, mixed and booking-only), then a Markdown table and the targets.
    Suite(SuiteArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// The server binary to start.
    #[arg(long, default_value = "target/release/voice-scheduler")]
    server_bin: PathBuf,
    /// PostgreSQL maintenance database: dedicated databases are created and
    /// dropped there.
    #[arg(
        long,
        env = "BENCH_ADMIN_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
    /// Measured seconds per run (after the warm-up).
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Warm-up seconds per run (not measured).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// LOG_LEVEL of a server the bench starts (its log goes to a file).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// HTTP_WORKERS of a server the bench starts (unset: the server's
    /// default, two per CPU).
    #[arg(long)]
    http_workers: Option<usize>,
    /// DATABASE_MAX_CONNECTIONS of a server the bench starts (unset: the
    /// store's default: two per CPU + 2, from 4 to 10, on PostgreSQL; 4 on SQLite).
    #[arg(long)]
    db_connections: Option<u32>,
    /// DATABASE_BOOKING_CONNECTIONS of a server the bench starts (unset: the
    /// store's default: 16 on PostgreSQL).
    #[arg(long)]
    db_booking_connections: Option<u32>,
    /// The pgbench script of the ceiling.
    #[arg(long, default_value = "bench/booking.sql")]
    pgbench_script: PathBuf,
    /// The pgbench script of the random-slot scenario's ceiling (the
    /// minimal booking transaction of issue 20).
    #[arg(long, default_value = "bench/minimal.sql")]
    minimal_script: PathBuf,
    /// The tables of --minimal-script, created in the bench database first.
    #[arg(long, default_value = "bench/minimal-setup.sql")]
    minimal_setup: PathBuf,
    /// Distinct callers (phone numbers).
    #[arg(long, default_value_t = 5000)]
    callers: u32,
    /// Random seed of the clients.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print the query plans of the hot reads after seeding.
    #[arg(long)]
    explain: bool,
    /// Milliseconds each client waits after an answer before its next call
    /// (0, the default: a closed loop that keeps the server saturated).
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Drive this running server instead of starting one (no seeding, no
    /// memory figure, no ceiling).
    #[arg(long)]
    url: Option<String>,
    /// The server's VAPI secret (with --url).
    #[arg(long, env = "VAPI_WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Backend of the fresh database.
    #[arg(long, value_enum, default_value = "postgres")]
    backend: Backend,
    /// Use this database (kept afterwards) instead of a fresh one.
    #[arg(long)]
    database_url: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Share of book_appointment calls, in percent (the rest check availability).
    #[arg(long, default_value_t = 30)]
    book_percent: u8,
    /// Appointments to seed before the run.
    #[arg(long, default_value_t = 0)]
    appointments: u64,
    /// Skip the pgbench ceiling.
    #[arg(long)]
    no_ceiling: bool,
    /// Bookings draw random slots (some taken) even in a booking-only run
    /// (by default a booking-only run books distinct free slots, as pgbench does).
    #[arg(long)]
    random_slots: bool,
    /// The random-slot scenario of issue 20: bookings only, random 5-minute
    /// slots of days open around the clock ("mon-sun 00:00-23:59") over the
    /// next 700 days, a caller of its own per call, MIN_NOTICE_MINUTES=0,
    /// LOG_LEVEL=warn; the ceiling is bench/minimal.sql. Overrides
    /// --book-percent and --log-level.
    #[arg(long)]
    random_day: bool,
    /// Tool-call arguments as a JSON object instead of a JSON string.
    #[arg(long)]
    args_object: bool,
    /// With --url: dates from tomorrow over this many days.
    #[arg(long, default_value_t = 360)]
    days: u32,
    /// With --url: first bookable time of a day (HH:MM, calendar zone).
    #[arg(long, default_value = "06:00")]
    day_start: String,
    /// With --url: slot length in minutes.
    #[arg(long, default_value_t = BENCH_SLOT_MINUTES)]
    slot_minutes: u32,
    /// With --url: slots per day.
    #[arg(long, default_value_t = BENCH_SLOTS_PER_DAY)]
    slots_per_day: u32,
}

#[derive(Debug, Args)]
struct SuiteArgs {
    #[command(flatten)]
    common: Common,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "postgres,sqlite"
    )]
    backends: Vec<Backend>,
    #[arg(long, value_delimiter = ',', default_value = "0,100000")]
    appointments: Vec<u64>,
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    clients: Vec<usize>,
    /// book_appointment share of the mixed runs, in percent.
    #[arg(long, default_value_t = 30)]
    book_percent: u8,
    /// Skip the booking-only runs (and so the pgbench ratio).
    #[arg(long)]
    no_book_only: bool,
    /// Skip the random-slot scenarios (see `run --random-day`).
    #[arg(long)]
    no_random_day: bool,
}

/// One scenario: where, how much data, how many clients, which mix.
#[derive(Debug, Clone)]
struct Scenario {
    backend: Backend,
    appointments: u64,
    clients: usize,
    book_percent: u8,
    ceiling: bool,
    unique_slots: bool,
    /// The random-slot scenario of issue 20 (see `run --random-day`).
    random_day: bool,
    /// Tool-call arguments as a JSON object.
    args_object: bool,
}

impl Scenario {
    fn label(&self) -> &'static str {
        match (
            self.random_day,
            self.args_object,
            self.book_percent,
            self.unique_slots,
        ) {
            (true, false, ..) => "random slots, 24 h days",
            (true, true, ..) => "random slots, 24 h days, args object",
            (false, true, ..) => "args object",
            (false, false, 100, true) => "bookings, own free slots",
            (false, false, 100, false) => "bookings, random slots",
            _ => "mixed",
        }
    }
}

/// What one scenario measured.
struct Outcome {
    scenario: Scenario,
    rows: i64,
    fresh_ready: Duration,
    migrated_ready: Duration,
    peak_rss_kib: u64,
    report: LoadReport,
    ceiling: Option<Ceiling>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run_command(args).await,
            Command::Suite(args) => suite_command(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_command(args: RunArgs) -> anyhow::Result<()> {
    print_machine();
    if let Some(url) = &args.url {
        let secret = args
            .secret
            .clone()
            .context("--url needs --secret (or VAPI_WEBHOOK_SECRET)")?;
        let day_start = NaiveTime::parse_from_str(&args.day_start, "%H:%M")
            .context("--day-start: expected HH:MM")?;
        let minutes = chrono::Timelike::num_seconds_from_midnight(&day_start) / 60;
        let config = LoadConfig {
            base_url: url.trim_end_matches('/').to_owned(),
            secret,
            clients: args.clients,
            warmup: Duration::from_secs(args.common.warmup),
            duration: Duration::from_secs(args.common.duration),
            book_percent: args.book_percent,
            days: args.days,
            day_start_minutes: minutes,
            slot_minutes: args.slot_minutes,
            slots_per_day: args.slots_per_day,
            time_zone: BENCH_ZONE.to_owned(),
            callers: args.common.callers,
            seed: args.common.seed,
            think: Duration::from_millis(args.common.think_ms),
            unique_callers: args.random_day,
            args_object: args.args_object,
            unique_slots: (args.book_percent == 100 && !args.random_slots).then(|| {
                Arc::new(load::free_slots(
                    args.days,
                    args.slots_per_day,
                    args.slot_minutes,
                    0,
                ))
            }),
        };
        println!(
            "driving {url}: {} clients, {} % bookings, {} s (+{} s warm-up)",
            args.clients, args.book_percent, args.common.duration, args.common.warmup
        );
        let report = load::run(config, None).await?;
        print!("{}", report.render());
        return Ok(());
    }
    let backend = match &args.database_url {
        Some(url) => Backend::of_url(url)?,
        None => args.backend,
    };
    let book_percent = if args.random_day {
        100
    } else {
        args.book_percent
    };
    let scenario = Scenario {
        backend,
        appointments: args.appointments,
        clients: args.clients,
        book_percent,
        ceiling: !args.no_ceiling && backend == Backend::Postgres,
        unique_slots: book_percent == 100 && !args.random_slots && !args.random_day,
        random_day: args.random_day,
        args_object: args.args_object,
    };
    let outcome = run_scenario(&args.common, &scenario, args.database_url.as_deref()).await?;
    println!();
    println!("{}", table(std::slice::from_ref(&outcome)));
    Ok(())
}

async fn suite_command(args: SuiteArgs) -> anyhow::Result<()> {
    print_machine();
    let mut outcomes = Vec::new();
    for &backend in &args.backends {
        for &appointments in &args.appointments {
            for &clients in &args.clients {
                let mut mixes = vec![(args.book_percent, false)];
                if !args.no_book_only {
                    mixes.push((100, backend == Backend::Postgres));
                }
                for (book_percent, ceiling) in mixes {
                    let scenario = Scenario {
                        backend,
                        appointments,
                        clients,
                        book_percent,
                        ceiling,
                        unique_slots: book_percent == 100,
                        random_day: false,
                        args_object: false,
                    };
                    outcomes.push(run_scenario(&args.common, &scenario, None).await?);
                }
            }
        }
        if !args.no_random_day {
            for args_object in [false, true] {
                let scenario = Scenario {
                    backend,
                    appointments: 0,
                    clients: 16,
                    book_percent: 100,
                    ceiling: backend == Backend::Postgres,
                    unique_slots: false,
                    random_day: true,
                    args_object,
                };
                outcomes.push(run_scenario(&args.common, &scenario, None).await?);
            }
        }
    }
    println!();
    println!("{}", table(&outcomes));
    println!("{}", targets(&outcomes));
    Ok(())
}

fn print_machine() {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or_else(
            || "?".to_owned(),
            |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0),
        );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: {cores} cores, {memory} memory; load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

async fn run_scenario(
    common: &Common,
    scenario: &Scenario,
    database_url: Option<&str>,
) -> anyhow::Result<Outcome> {
    println!(
        "\n=== {} | {} | {} appointments | {} clients | {} % bookings ===",
        scenario.backend.name(),
        scenario.label(),
        scenario.appointments,
        scenario.clients,
        scenario.book_percent
    );
    let database = match database_url {
        Some(url) => BenchDb::existing(url)?,
        None => BenchDb::create(scenario.backend, &common.admin_url).await?,
    };
    let url = database.url.clone();
    let log_dir = database.log_dir();
    let result = scenario_on(common, scenario, &url, log_dir).await;
    if let Err(e) = database.drop_database(result.is_err()).await {
        eprintln!("warning: could not remove the bench database: {e:#}");
    }
    result
}

async fn scenario_on(
    common: &Common,
    scenario: &Scenario,
    url: &str,
    log_dir: PathBuf,
) -> anyhow::Result<Outcome> {
    let secret = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let log_file = log_dir.join(format!(
        "voice-scheduler-bench-{}.log",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let slot_minutes = if scenario.random_day {
        RANDOM_DAY_SLOT_MINUTES
    } else if scenario.unique_slots {
        BOOKING_ONLY_SLOT_MINUTES
    } else {
        BENCH_SLOT_MINUTES
    };
    let (hours, log_level) = if scenario.random_day {
        (RANDOM_DAY_HOURS, RANDOM_DAY_LOG_LEVEL.to_owned())
    } else {
        (BENCH_HOURS, common.log_level.clone())
    };
    let config = ServerConfig {
        binary: common.server_bin.clone(),
        database_url: url.to_owned(),
        secret: secret.clone(),
        log_level,
        log_file: log_file.clone(),
        env: [
            ("BUSINESS_HOURS", hours.to_owned()),
            ("SLOT_MINUTES", slot_minutes.to_string()),
            ("DEFAULT_DURATION_MINUTES", slot_minutes.to_string()),
            ("BOOKING_HORIZON_DAYS", BENCH_HORIZON_DAYS.to_string()),
            ("DEFAULT_TIMEZONE", BENCH_ZONE.to_owned()),
        ]
        .into_iter()
        .chain(
            scenario
                .random_day
                .then(|| ("MIN_NOTICE_MINUTES", "0".to_owned())),
        )
        .chain(common.http_workers.map(|n| ("HTTP_WORKERS", n.to_string())))
        .chain(
            common
                .db_connections
                .map(|n| ("DATABASE_MAX_CONNECTIONS", n.to_string())),
        )
        .chain(
            common
                .db_booking_connections
                .map(|n| ("DATABASE_BOOKING_CONNECTIONS", n.to_string())),
        )
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };

    // 1. First start: migrates the empty database and creates the calendar.
    let server = Server::start(&config).await?;
    let fresh_ready = server.ready_after;
    server.stop().await?;

    // 2. Seed (server stopped), look at the plans.
    let today = Utc::now().date_naive();
    let first_future = today
        .checked_add_days(Days::new(2))
        .context("date overflow")?
        .and_time(NaiveTime::MIN)
        .and_utc();
    let conn = db::connect(url).await?;
    let calendar = db::default_calendar(&conn).await?;
    let future = (scenario.appointments / 10).min(10_000);
    let took = db::seed(
        &conn,
        scenario.appointments,
        future,
        first_future,
        BENCH_SLOT_MINUTES,
    )
    .await?;
    let rows = db::count_appointments(&conn).await?;
    if scenario.appointments > 0 {
        println!(
            "seeded {} appointments ({} ahead, the rest history) in {:.1} s",
            scenario.appointments,
            future,
            took.as_secs_f64()
        );
    }
    if common.explain {
        let day = first_future + chrono::Duration::days(3);
        let slot = day + chrono::Duration::hours(17) + chrono::Duration::minutes(15);
        let plans = db::explain_hot_queries(
            &conn,
            &calendar,
            day - chrono::Duration::hours(12),
            day + chrono::Duration::hours(36),
            slot,
            slot + chrono::Duration::minutes(i64::from(BENCH_SLOT_MINUTES)),
        )
        .await?;
        for (what, plan) in plans {
            println!("plan of {what}\n{plan}\n");
        }
    }
    let _ = conn.close().await;

    // 3. Second start on the migrated database, then the load.
    let server = Server::start(&config).await?;
    let migrated_ready = server.ready_after;
    println!(
        "server pid {} ready after {:.0} ms (fresh database: {:.0} ms); log: {}",
        server.pid,
        migrated_ready.as_secs_f64() * 1000.0,
        fresh_ready.as_secs_f64() * 1000.0,
        log_file.display()
    );
    let load = LoadConfig {
        base_url: server.base_url.clone(),
        secret,
        clients: scenario.clients,
        warmup: Duration::from_secs(common.warmup),
        duration: Duration::from_secs(common.duration),
        book_percent: scenario.book_percent,
        days: if scenario.random_day {
            RANDOM_DAY_DAYS
        } else {
            BOOK_DAYS
        },
        day_start_minutes: if scenario.random_day {
            0
        } else {
            BENCH_DAY_START_MINUTES
        },
        slot_minutes,
        slots_per_day: if scenario.random_day {
            RANDOM_DAY_SLOTS_PER_DAY
        } else {
            BENCH_DAY_MINUTES / slot_minutes
        },
        time_zone: BENCH_ZONE.to_owned(),
        callers: common.callers,
        seed: common.seed,
        think: Duration::from_millis(common.think_ms),
        unique_callers: scenario.random_day,
        args_object: scenario.args_object,
        unique_slots: scenario.unique_slots.then(|| {
            // Seeded days (from the day after tomorrow on) have every other
            // slot booked; one more day either side for the zone's offset.
            let seeded_days = (future * 30).div_ceil(24 * 60) as u32;
            Arc::new(load::free_slots(
                BOOK_DAYS,
                BENCH_DAY_MINUTES / slot_minutes,
                slot_minutes,
                if future > 0 { seeded_days + 3 } else { 0 },
            ))
        }),
    };
    // PostgreSQL: autovacuum refreshes the planner's statistics within a
    // minute of a table changing this much; a run this short would
    // otherwise be measured mostly before it did. So ANALYZE during the
    // warm-up (and before pgbench), as a database in service would have.
    let refresh = (scenario.backend == Backend::Postgres).then(|| {
        let url = url.to_owned();
        Box::pin(async move {
            if let Err(e) = db::analyze(&url).await {
                eprintln!("warning: {e:#}");
            }
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
    });
    let report = load::run(load, refresh).await?;
    let peak_rss_kib = server.peak_rss_kib()?;
    server.stop().await?;
    print!("{}", report.render());
    println!(
        "server peak RSS (VmHWM): {:.1} MiB",
        peak_rss_kib as f64 / 1024.0
    );

    // 4. The ceiling: the same transaction through pgbench, same database,
    //    same calendar, same concurrency, on slots the load never uses.
    let ceiling = if scenario.ceiling {
        let Some(pgbench_bin) = pgbench::find_pgbench() else {
            anyhow::bail!("pgbench not found (set PGBENCH or install postgresql-client)");
        };
        db::analyze(url).await?;
        let base = first_future + chrono::Duration::days(i64::from(BENCH_HORIZON_DAYS) + 40);
        let (script, defines) = if scenario.random_day {
            // The minimal transaction's own tables, beside the application's.
            let setup = std::fs::read_to_string(&common.minimal_setup)
                .with_context(|| format!("could not read {}", common.minimal_setup.display()))?;
            db::execute_script(url, &setup).await?;
            let slots = RANDOM_DAY_DAYS * 24 * 60 / RANDOM_DAY_SLOT_MINUTES;
            (
                common.minimal_script.clone(),
                vec![
                    ("slots", slots.to_string()),
                    ("base", base.timestamp().to_string()),
                    ("step", (RANDOM_DAY_SLOT_MINUTES * 60).to_string()),
                ],
            )
        } else {
            let step = (BENCH_SLOT_MINUTES * 60).to_string();
            (
                common.pgbench_script.clone(),
                vec![
                    ("calendar", calendar.clone()),
                    ("base", base.timestamp().to_string()),
                    ("step", step.clone()),
                    ("len", step),
                ],
            )
        };
        let (bin, url_owned) = (pgbench_bin, url.to_owned());
        let clients = scenario.clients;
        let duration = Duration::from_secs(common.duration);
        let ceiling = tokio::task::spawn_blocking(move || {
            pgbench::run(&bin, &script, &url_owned, clients, duration, &defines)
        })
        .await
        .context("pgbench thread")??;
        println!(
            "pgbench ceiling: {:.1} tps ({} transactions, {} failed, {:.2} ms average); HTTP booked/s ÷ pgbench tps = {:.2}",
            ceiling.tps,
            ceiling.transactions,
            ceiling.failed,
            ceiling.latency_avg_ms,
            report.booked_per_second() / ceiling.tps
        );
        Some(ceiling)
    } else {
        None
    };
    Ok(Outcome {
        scenario: scenario.clone(),
        rows,
        fresh_ready,
        migrated_ready,
        peak_rss_kib,
        report,
        ceiling,
    })
}

fn ms4(stats: &load::ToolStats) -> String {
    match stats.percentiles_ms() {
        Some(p) => format!("{:.1} / {:.1} / {:.1} / {:.1}", p.p50, p.p95, p.p99, p.max),
        None => "–".to_owned(),
    }
}

/// The Markdown table of docs/performance.md.
fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| backend | scenario | appointments | clients | book % | req/s | check_availability p50 / p95 / p99 / max ms | book_appointment p50 / p95 / p99 / max ms | booked/s | taken | tool errors | HTTP errors | peak RSS MiB | ready ms | pgbench tps | ratio |\n\
         |---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let r = &o.report;
        let (tps, ratio) = match &o.ceiling {
            Some(c) => (
                format!("{:.0}", c.tps),
                format!("{:.2}", r.booked_per_second() / c.tps),
            ),
            None => ("–".to_owned(), "–".to_owned()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {:.0} | {} | {} | {} | {:.1} | {:.0} | {} | {} |\n",
            o.scenario.backend.name(),
            o.scenario.label(),
            o.rows,
            o.scenario.clients,
            o.scenario.book_percent,
            r.requests_per_second(),
            ms4(&r.check),
            ms4(&r.book),
            r.booked_per_second(),
            r.book.taken,
            r.check.tool_error_count() + r.book.tool_error_count() + r.protocol_errors,
            r.http_error_count() + r.transport_errors,
            o.peak_rss_kib as f64 / 1024.0,
            o.migrated_ready.as_secs_f64() * 1000.0,
            tps,
            ratio,
        ));
    }
    out
}

/// The targets, each with the figures that decide it.
fn targets(outcomes: &[Outcome]) -> String {
    let mut out = String::from("targets:\n");
    let mut line = |ok: bool, text: String| {
        out.push_str(&format!(
            "  [{}] {text}\n",
            if ok { "holds" } else { "MISSED" }
        ));
    };
    for o in outcomes
        .iter()
        .filter(|o| o.ceiling.is_some() && o.scenario.clients == 16 && !o.scenario.random_day)
    {
        if let Some(c) = &o.ceiling {
            let ratio = o.report.booked_per_second() / c.tps;
            line(
                ratio >= 0.60,
                format!(
                    "PostgreSQL, 16 clients, {} appointments: HTTP {:.0} booked/s ÷ pgbench {:.0} tps = {:.2} (≥ 0.60)",
                    o.rows,
                    o.report.booked_per_second(),
                    c.tps,
                    ratio
                ),
            );
        }
    }
    for o in outcomes
        .iter()
        .filter(|o| o.scenario.random_day && o.scenario.clients == 16)
    {
        if let Some(c) = &o.ceiling {
            let ratio = o.report.booked_per_second() / c.tps;
            line(
                ratio >= 0.50,
                format!(
                    "PostgreSQL, {}: HTTP {:.0} booked/s ÷ pgbench (bench/minimal.sql) {:.0} tps = {:.2} (≥ 0.50)",
                    o.scenario.label(),
                    o.report.booked_per_second(),
                    c.tps,
                    ratio
                ),
            );
        }
        if o.scenario.backend == Backend::Postgres {
            let book = o.report.book.percentiles_ms().map_or(f64::NAN, |p| p.p99);
            line(
                book <= 25.0,
                format!(
                    "PostgreSQL, {}: book_appointment p99 {book:.1} ms (≤ 25)",
                    o.scenario.label()
                ),
            );
        }
    }
    for o in outcomes.iter().filter(|o| {
        o.scenario.clients == 16
            && !o.scenario.random_day
            && o.scenario.appointments >= 100_000
            && o.scenario.book_percent < 100
    }) {
        let check = o.report.check.percentiles_ms().map_or(f64::NAN, |p| p.p99);
        let book = o.report.book.percentiles_ms().map_or(f64::NAN, |p| p.p99);
        line(
            check <= 10.0,
            format!(
                "{}, 16 clients, {} appointments: check_availability p99 {check:.1} ms (≤ 10)",
                o.scenario.backend.name(),
                o.rows
            ),
        );
        line(
            book <= 25.0,
            format!(
                "{}, 16 clients, {} appointments: book_appointment p99 {book:.1} ms (≤ 25)",
                o.scenario.backend.name(),
                o.rows
            ),
        );
    }
    if let Some(o) = outcomes.iter().max_by_key(|o| o.peak_rss_kib) {
        line(
            o.peak_rss_kib <= 100 * 1024,
            format!(
                "peak server RSS {:.1} MiB (≤ 100 MB; worst: {}, {} clients, {} appointments)",
                o.peak_rss_kib as f64 / 1024.0,
                o.scenario.backend.name(),
                o.scenario.clients,
                o.rows
            ),
        );
    }
    if let Some(o) = outcomes.iter().max_by_key(|o| o.migrated_ready) {
        line(
            o.migrated_ready <= Duration::from_secs(1),
            format!(
                "start-up to ready on a migrated database: worst {:.0} ms (≤ 1000; {}, {} appointments; fresh database: {:.0} ms)",
                o.migrated_ready.as_secs_f64() * 1000.0,
                o.scenario.backend.name(),
                o.rows,
                o.fresh_ready.as_secs_f64() * 1000.0
            ),
        );
    }
    out
}
