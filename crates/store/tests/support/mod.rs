//! The harness and fixtures shared by `calendars.rs` and `accounts.rs`: every
//! case runs on SQLite and on PostgreSQL, each on a fresh, migrated database
//! with nothing in it.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::future::Future;

use anyhow::Context;
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database, QueryResult, Statement};
use uuid::Uuid;
use voice_scheduler_domain::ports::{
    AppointmentRepository, BookOutcome, CalendarRepository, NewUser, StoreBookError, UserRepository,
};
use voice_scheduler_domain::schedule::ScheduleSettings;
use voice_scheduler_domain::user::PasswordHash;
use voice_scheduler_domain::{
    Appointment, AppointmentId, BookedBy, Calendar, CalendarId, Channel, Email, NewAppointment,
    PersonName, PhoneNumber, Role, Schedule, Slug, TimeRange, TimeZoneId, UserId, VapiId,
    VapiRoutes, WeeklyHours,
};
use voice_scheduler_store::Store;
use voice_scheduler_store::testing::{TestBackend, TestDatabase};

/// What a case gets: a migrated, empty store.
pub struct Ctx {
    pub store: Store,
    pub url: String,
    pub backend: TestBackend,
}

/// Runs `case` on a fresh database of `backend`, then drops the database.
pub async fn run<F, Fut>(backend: TestBackend, name: &str, case: F) -> anyhow::Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let db = match backend {
        TestBackend::Sqlite => TestDatabase::sqlite().await?,
        TestBackend::Postgres => match TestDatabase::postgres(name).await? {
            Some(db) => db,
            None => return Ok(()),
        },
    };
    let store = Store::connect(&db.url).await?;
    store.migrate().await?;
    let result = case(Ctx {
        store: store.clone(),
        url: db.url.clone(),
        backend,
    })
    .await;
    store.close().await?;
    db.drop_database().await?;
    result.with_context(|| format!("{name} on {backend:?}"))
}

/// Declares each case once per backend: `sqlite::case` and `postgres::case`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    crate::support::run(
                        voice_scheduler_store::testing::TestBackend::Sqlite,
                        stringify!($case),
                        super::$case,
                    )
                    .await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    crate::support::run(
                        voice_scheduler_store::testing::TestBackend::Postgres,
                        stringify!($case),
                        super::$case,
                    )
                    .await
                }
            )*
        }
    };
}

/// 2030-03-04 at `h:m` UTC.
pub fn at(h: u32, m: u32) -> anyhow::Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2030, 3, 4, h, m, 0)
        .single()
        .context("bad fixture time")
}

/// The `n`-th creation time (whole seconds, one minute apart).
pub fn created_at(n: i64) -> anyhow::Result<DateTime<Utc>> {
    Ok(at(0, 0)? - Duration::days(30) + Duration::minutes(n))
}

pub fn vapi(id: &str) -> anyhow::Result<VapiId> {
    Ok(VapiId::parse(id)?)
}

pub fn schedule(zone: &str, hours: &str, numbers: [i64; 5]) -> anyhow::Result<Schedule> {
    let [slot, duration, notice, horizon, buffer] = numbers;
    Ok(Schedule::new(ScheduleSettings {
        time_zone: TimeZoneId::parse(zone)?,
        hours: WeeklyHours::parse(hours)?,
        slot_minutes: slot,
        default_duration_minutes: duration,
        min_notice_minutes: notice,
        horizon_days: horizon,
        buffer_minutes: buffer,
    })?)
}

/// A calendar with the default schedule, no owner and no routes, created
/// `n` minutes after the first fixture time.
pub fn calendar(slug: &str, n: i64) -> anyhow::Result<Calendar> {
    Ok(Calendar {
        id: CalendarId::new(),
        slug: Slug::parse(slug)?,
        name: format!("Calendar {slug}"),
        schedule: schedule("UTC", "mon-fri 09:00-17:00", [30, 30, 60, 60, 0])?,
        owner: None,
        routes: VapiRoutes::default(),
        created_at: created_at(n)?,
    })
}

/// `calendar` with these routes.
pub fn routed(
    mut calendar: Calendar,
    assistants: &[&str],
    phone_numbers: &[&str],
) -> anyhow::Result<Calendar> {
    calendar.routes = VapiRoutes {
        assistant_ids: assistants
            .iter()
            .map(|a| vapi(a))
            .collect::<Result<_, _>>()?,
        phone_number_ids: phone_numbers
            .iter()
            .map(|p| vapi(p))
            .collect::<Result<_, _>>()?,
    };
    Ok(calendar)
}

pub fn new_user(email: &str, role: Role, n: i64) -> anyhow::Result<NewUser> {
    Ok(NewUser {
        id: UserId::new(),
        email: Email::parse(email)?,
        name: PersonName::parse("Ann Lee")?,
        role,
        password: PasswordHash(format!("$2b$12$hash-of-{email}")),
        created_at: created_at(n)?,
    })
}

/// A valid US number, distinct for each `i` below 100.
pub fn phone(i: usize) -> String {
    format!("+1415555{:04}", 100 + i)
}

/// An API booking in `calendar` of 30 minutes from `start` by `phone`.
pub fn booking(
    calendar: CalendarId,
    start: DateTime<Utc>,
    phone: &str,
) -> anyhow::Result<NewAppointment> {
    Ok(NewAppointment {
        id: AppointmentId::new(),
        calendar_id: calendar,
        range: TimeRange::starting_at(start, Duration::minutes(30))?,
        time_zone: TimeZoneId::parse("UTC")?,
        customer_name: PersonName::parse("Jane Doe")?,
        customer_phone: PhoneNumber::from_e164(phone)?,
        customer_email: None,
        purpose: None,
        booked_by: BookedBy {
            channel: Channel::Api,
            vapi_call_id: None,
            tool_call_id: None,
        },
        idempotency_key: None,
        created_at: start - Duration::days(1),
        service: None,
    })
}

pub fn created(result: Result<BookOutcome, StoreBookError>) -> anyhow::Result<Appointment> {
    match result {
        Ok(BookOutcome::Created(appointment)) => Ok(appointment),
        other => anyhow::bail!("expected Created, got {other:?}"),
    }
}

/// Runs `sql` on a connection of its own and returns the rows.
pub async fn query(ctx: &Ctx, sql: &str) -> anyhow::Result<Vec<QueryResult>> {
    let db = Database::connect(ctx.url.as_str()).await?;
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .with_context(|| format!("could not run: {sql}"));
    db.close().await?;
    rows
}

/// The single number `sql` answers (as `n`).
pub async fn count(ctx: &Ctx, sql: &str) -> anyhow::Result<i64> {
    let rows = query(ctx, sql).await?;
    let row = rows.first().context("no row")?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// A uuid as a literal of `ctx`'s backend (SQLite stores uuids as blobs).
pub fn uuid_sql(ctx: &Ctx, id: Uuid) -> String {
    match ctx.backend {
        TestBackend::Sqlite => format!("X'{}'", id.simple()),
        TestBackend::Postgres => format!("'{id}'"),
    }
}

/// The store through one port (the ports share method names).
pub fn cals(ctx: &Ctx) -> &dyn CalendarRepository {
    &ctx.store
}

pub fn users(ctx: &Ctx) -> &dyn UserRepository {
    &ctx.store
}

pub fn appts(ctx: &Ctx) -> &dyn AppointmentRepository {
    &ctx.store
}
