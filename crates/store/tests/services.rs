//! Services (appointment types) in the store, on SQLite and PostgreSQL:
//! the `ServiceRepository` contract, buffers before and after held by the
//! database's no-overlap rule (also under concurrency), and the daily limit.

use std::future::Future;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database};
use voice_scheduler_domain::catalog::{ServiceRepository, StoreServiceError};
use voice_scheduler_domain::ports::{AppointmentRepository, BookOutcome, StoreBookError};
use voice_scheduler_domain::{
    AppointmentId, BookedBy, BookedService, CalendarId, Channel, DailyLimit, NewAppointment,
    PersonName, PhoneNumber, Service, ServiceBooking, ServiceId, ServiceName, ServiceSettings,
    TimeRange, TimeZoneId,
};
use voice_scheduler_store::Store;
use voice_scheduler_store::testing::{TestBackend, TestDatabase};

struct Ctx {
    store: Store,
    calendar: CalendarId,
    url: String,
    backend: TestBackend,
}

async fn run<F, Fut>(backend: TestBackend, name: &str, case: F) -> anyhow::Result<()>
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
    let calendar = CalendarId::new();
    store
        .ensure_calendar(calendar, "dr-smith", "Dr. Smith", "UTC")
        .await?;
    let result = case(Ctx {
        store: store.clone(),
        calendar,
        url: db.url.clone(),
        backend,
    })
    .await;
    store.close().await?;
    db.drop_database().await?;
    result.with_context(|| format!("{name} on {backend:?}"))
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    super::run(super::TestBackend::Sqlite, stringify!($case), super::$case).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    super::run(super::TestBackend::Postgres, stringify!($case), super::$case).await
                }
            )*
        }
    };
}

on_both_backends!(
    services_are_created_changed_and_deleted,
    buffers_before_and_after_are_held,
    concurrent_buffered_bookings_never_overlap,
    the_daily_limit_holds_under_concurrency,
    a_moved_appointment_keeps_its_service_buffers,
    of_two_racing_bookings_whose_buffers_overlap_one_wins,
);

fn at(h: u32, m: u32) -> anyhow::Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2030, 3, 4, h, m, 0)
        .single()
        .context("bad fixture time")
}

fn phone(i: usize) -> String {
    format!("+1415555{:04}", 100 + i)
}

fn service(
    ctx: &Ctx,
    name: &str,
    before: i64,
    after: i64,
    limit: Option<i64>,
) -> anyhow::Result<Service> {
    Ok(Service::new(
        ServiceId::new(),
        ctx.calendar,
        ServiceSettings {
            name: ServiceName::parse(name)?,
            description: None,
            duration_minutes: 30,
            buffer_before_minutes: before,
            buffer_after_minutes: after,
            daily_limit: limit,
        },
        false,
        Utc::now(),
    )?)
}

fn request(
    ctx: &Ctx,
    start: DateTime<Utc>,
    phone: &str,
    of: Option<&Service>,
) -> anyhow::Result<NewAppointment> {
    let day = TimeRange::new(
        start
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .context("midnight")?
            .and_utc(),
        start
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .context("midnight")?
            .and_utc()
            + Duration::days(1),
    )?;
    Ok(NewAppointment {
        id: AppointmentId::new(),
        calendar_id: ctx.calendar,
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
        created_at: Utc::now(),
        service: of.map(|s| ServiceBooking {
            service: BookedService {
                id: s.id,
                name: s.name.as_str().to_owned(),
                padding: s.padding(),
            },
            buffer_before: s.padding().before,
            daily_limit: s.daily_limit().map(|max| DailyLimit { max, day }),
        }),
    })
}

async fn book(
    ctx: &Ctx,
    start: DateTime<Utc>,
    i: usize,
    of: Option<&Service>,
) -> anyhow::Result<Result<BookOutcome, StoreBookError>> {
    let after = of.map_or(Duration::zero(), |s| s.padding().after);
    Ok(ctx
        .store
        .book(request(ctx, start, &phone(i), of)?, after)
        .await)
}

fn day() -> anyhow::Result<TimeRange> {
    Ok(TimeRange::new(at(0, 0)?, at(0, 0)? + Duration::days(1))?)
}

async fn services_are_created_changed_and_deleted(ctx: Ctx) -> anyhow::Result<()> {
    let cleaning = service(&ctx, "Teeth cleaning", 5, 10, Some(4))?;
    ctx.store.create_service(&cleaning).await?;
    let listed = ctx.store.list_services(ctx.calendar).await?;
    ensure!(
        listed.len() == 1 && listed[0].is_default,
        "the first is the default"
    );
    assert_eq!(listed[0].settings(), cleaning.settings());

    let same_name = service(&ctx, "TEETH  Cleaning", 0, 0, None)?;
    ensure!(matches!(
        ctx.store.create_service(&same_name).await,
        Err(StoreServiceError::NameTaken(_))
    ));

    let mut checkup = service(&ctx, "Check-up", 0, 0, None)?;
    checkup.is_default = true;
    ctx.store.create_service(&checkup).await?;
    let listed = ctx.store.list_services(ctx.calendar).await?;
    let defaults: Vec<&str> = listed
        .iter()
        .filter(|s| s.is_default)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(defaults, ["Check-up"]);

    // Renaming into a taken name is refused; another change is kept.
    let mut renamed = checkup.clone();
    renamed.name = ServiceName::parse("teeth cleaning")?;
    ensure!(matches!(
        ctx.store.update_service(&renamed).await,
        Err(StoreServiceError::NameTaken(_))
    ));
    let mut longer = Service::new(
        checkup.id,
        ctx.calendar,
        ServiceSettings {
            duration_minutes: 45,
            ..checkup.settings()
        },
        false,
        checkup.created_at,
    )?;
    longer.is_default = false; // ignored: one is always the default
    ctx.store.update_service(&longer).await?;
    let listed = ctx.store.list_services(ctx.calendar).await?;
    let got = listed
        .iter()
        .find(|s| s.id == checkup.id)
        .context("check-up")?;
    ensure!(got.duration() == Duration::minutes(45) && got.is_default);

    // Deleting the default makes the oldest remaining one the default.
    ctx.store.delete_service(ctx.calendar, checkup.id).await?;
    let listed = ctx.store.list_services(ctx.calendar).await?;
    ensure!(listed.len() == 1 && listed[0].id == cleaning.id && listed[0].is_default);
    ensure!(matches!(
        ctx.store.delete_service(ctx.calendar, checkup.id).await,
        Err(StoreServiceError::NotFound)
    ));
    // Another calendar's service is not found through this one.
    ensure!(matches!(
        ctx.store
            .delete_service(CalendarId::new(), cleaning.id)
            .await,
        Err(StoreServiceError::NotFound)
    ));

    // At most 50 per calendar.
    for i in 1..50 {
        ctx.store
            .create_service(&service(&ctx, &format!("Service {i}"), 0, 0, None)?)
            .await?;
    }
    ensure!(matches!(
        ctx.store
            .create_service(&service(&ctx, "One too many", 0, 0, None)?)
            .await,
        Err(StoreServiceError::TooMany(50))
    ));
    Ok(())
}

async fn buffers_before_and_after_are_held(ctx: Ctx) -> anyhow::Result<()> {
    // 10:00-10:30 with 15 minutes before and 10 after: holds 09:45-10:40.
    let s = service(&ctx, "Cleaning", 15, 10, None)?;
    ctx.store.create_service(&s).await?;
    let first = match book(&ctx, at(10, 0)?, 1, Some(&s)).await? {
        Ok(BookOutcome::Created(a)) => a,
        other => bail!("expected a booking, got {other:?}"),
    };
    assert_eq!(
        first.service().map(|b| (b.id, b.name.as_str())),
        Some((s.id, "Cleaning"))
    );
    assert_eq!(
        ctx.store.held(ctx.calendar, day()?).await?,
        [TimeRange::new(at(9, 45)?, at(10, 40)?)?]
    );
    // Without a service: 09:15-09:45 ends where the buffer before starts.
    ensure!(matches!(
        book(&ctx, at(9, 15)?, 2, None).await?,
        Ok(BookOutcome::Created(_))
    ));
    // 09:30-10:00 would end inside the buffer before.
    ensure!(matches!(
        book(&ctx, at(9, 30)?, 3, None).await?,
        Err(StoreBookError::SlotTaken)
    ));
    // 10:30 is inside the buffer after; 10:40 is free.
    ensure!(matches!(
        book(&ctx, at(10, 30)?, 4, None).await?,
        Err(StoreBookError::SlotTaken)
    ));
    ensure!(matches!(
        book(&ctx, at(10, 40)?, 5, None).await?,
        Ok(BookOutcome::Created(_))
    ));
    // A service booking at 11:20 needs 11:05 free (10:40-11:10 is held).
    ensure!(matches!(
        book(&ctx, at(11, 20)?, 6, Some(&s)).await?,
        Err(StoreBookError::SlotTaken)
    ));
    ensure!(matches!(
        book(&ctx, at(11, 25)?, 7, Some(&s)).await?,
        Ok(BookOutcome::Created(_))
    ));
    if ctx.backend == TestBackend::Postgres {
        // The exclusion constraint itself refuses a row whose buffer before
        // overlaps, written behind the store's back.
        let raw = Database::connect(ctx.url.as_str()).await?;
        let refused = raw
            .execute_unprepared(&format!(
                "INSERT INTO appointments (id, calendar_id, confirmation_code, starts_at, ends_at, \
                 blocked_from, blocked_until, time_zone, status, customer_name, customer_phone, \
                 channel, created_at, updated_at) VALUES ('{}', '{}', 'ZZZZZZ', \
                 '2030-03-04T12:20:00Z', '2030-03-04T12:30:00Z', '2030-03-04T12:00:00Z', \
                 '2030-03-04T12:30:00Z', 'UTC', 'confirmed', 'Jane Doe', '+14155550199', 'api', \
                 now(), now())",
                uuid::Uuid::now_v7(),
                ctx.calendar
            ))
            .await;
        ensure!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("appointments_no_overlap")),
            "a raw overlapping buffer was stored: {refused:?}"
        );
        raw.close().await?;
    }
    Ok(())
}

async fn concurrent_buffered_bookings_never_overlap(ctx: Ctx) -> anyhow::Result<()> {
    // Starts every 10 minutes, 30 minutes long, 10 before and 5 after:
    // every request's held time overlaps its neighbours'.
    let s = service(&ctx, "Massage", 10, 5, None)?;
    ctx.store.create_service(&s).await?;
    let mut tasks = Vec::new();
    for i in 0..40usize {
        let start = at(8, 0)? + Duration::minutes(10 * i64::try_from(i)?);
        let new = request(&ctx, start, &phone(i), Some(&s))?;
        let store = ctx.store.clone();
        let after = s.padding().after;
        tasks.push(tokio::spawn(async move { store.book(new, after).await }));
    }
    let mut booked = 0;
    for task in tasks {
        match task.await? {
            Ok(BookOutcome::Created(_)) => booked += 1,
            Err(StoreBookError::SlotTaken) => {}
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    ensure!(booked > 0, "nothing was booked");
    let held = ctx.store.held(ctx.calendar, day()?).await?;
    assert_eq!(held.len(), booked);
    for (i, a) in held.iter().enumerate() {
        ensure!(a.duration() == Duration::minutes(45), "{a:?}");
        for b in &held[i + 1..] {
            ensure!(!a.overlaps(b), "held times overlap: {a:?} and {b:?}");
        }
    }
    Ok(())
}

async fn the_daily_limit_holds_under_concurrency(ctx: Ctx) -> anyhow::Result<()> {
    let s = service(&ctx, "Consultation", 0, 0, Some(3))?;
    ctx.store.create_service(&s).await?;
    let mut tasks = Vec::new();
    for i in 0..20usize {
        // Twenty different, non-overlapping times of one day.
        let start = at(1, 0)? + Duration::minutes(30 * i64::try_from(i)?);
        let new = request(&ctx, start, &phone(i), Some(&s))?;
        let store = ctx.store.clone();
        tasks.push(tokio::spawn(async move {
            store.book(new, Duration::zero()).await
        }));
    }
    let (mut booked, mut full) = (0, 0);
    for task in tasks {
        match task.await? {
            Ok(BookOutcome::Created(_)) => booked += 1,
            Err(StoreBookError::DailyLimit) => full += 1,
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((booked, full), (3, 17));
    assert_eq!(
        ctx.store
            .count_of_service(ctx.calendar, s.id, day()?)
            .await?,
        3
    );
    // Without the service, and on the next day, times are still bookable.
    ensure!(matches!(
        book(&ctx, at(22, 0)?, 30, None).await?,
        Ok(BookOutcome::Created(_))
    ));
    ensure!(matches!(
        book(&ctx, at(10, 0)? + Duration::days(1), 31, Some(&s)).await?,
        Ok(BookOutcome::Created(_))
    ));
    Ok(())
}

async fn a_moved_appointment_keeps_its_service_buffers(ctx: Ctx) -> anyhow::Result<()> {
    let s = service(&ctx, "Cleaning", 15, 10, None)?;
    ctx.store.create_service(&s).await?;
    let a = match book(&ctx, at(10, 0)?, 1, Some(&s)).await? {
        Ok(BookOutcome::Created(a)) => a,
        other => bail!("expected a booking, got {other:?}"),
    };
    let moved = ctx
        .store
        .reschedule(
            ctx.calendar,
            a.id(),
            TimeRange::starting_at(at(14, 0)?, Duration::minutes(30))?,
            Duration::zero(),
            Utc::now(),
        )
        .await?;
    assert_eq!(moved.service().map(|b| b.id), Some(s.id));
    assert_eq!(
        ctx.store.held(ctx.calendar, day()?).await?,
        [TimeRange::new(at(13, 45)?, at(14, 40)?)?]
    );
    Ok(())
}

async fn of_two_racing_bookings_whose_buffers_overlap_one_wins(ctx: Ctx) -> anyhow::Result<()> {
    // 10:00-10:30 keeps 15 minutes after; 10:35-11:05 keeps 10 before. The
    // appointments do not overlap, their buffers do: only one may stand.
    let after = service(&ctx, "Colour", 0, 15, None)?;
    let before = service(&ctx, "Cut", 10, 0, None)?;
    ctx.store.create_service(&after).await?;
    ctx.store.create_service(&before).await?;
    for round in 0..10usize {
        let day = Duration::days(i64::try_from(round)?);
        let first = request(&ctx, at(10, 0)? + day, &phone(2 * round), Some(&after))?;
        let second = request(
            &ctx,
            at(10, 35)? + day,
            &phone(2 * round + 1),
            Some(&before),
        )?;
        let (a, b) = (ctx.store.clone(), ctx.store.clone());
        let one = tokio::spawn(async move { a.book(first, Duration::minutes(15)).await });
        let two = tokio::spawn(async move { b.book(second, Duration::zero()).await });
        let outcomes = [one.await?, two.await?];
        let won = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(BookOutcome::Created(_))))
            .count();
        let taken = outcomes
            .iter()
            .filter(|o| matches!(o, Err(StoreBookError::SlotTaken)))
            .count();
        ensure!((won, taken) == (1, 1), "round {round}: {outcomes:?}");
    }
    Ok(())
}
