//! The store's contract (the `AppointmentRepository` and `ReplayStore` ports),
//! checked on SQLite and on PostgreSQL, each case on a fresh database.
//!
//! PostgreSQL cases need a server at `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); without one they print
//! `SKIPPED (PostgreSQL unreachable ...)` and pass, unless `REQUIRE_POSTGRES=1`.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use voice_scheduler_domain::ports::{
    Actor, AppointmentRepository, AuditEntry, BookOutcome, ReplayStore, StoreBookError,
    StoreCancelError, StoreRescheduleError, StoredReply,
};
use voice_scheduler_domain::{
    Appointment, AppointmentId, AppointmentStatus, BookedBy, CalendarId, Channel, Email,
    NewAppointment, PersonName, PhoneNumber, TimeRange, TimeZoneId,
};
use voice_scheduler_migrations::{Migrator, MigratorTrait};
use voice_scheduler_store::testing::{TestBackend, TestDatabase};
use voice_scheduler_store::{Backend, Store};

// ---------------------------------------------------------------- harness

/// What a case gets: a migrated store with one calendar.
struct Ctx {
    store: Store,
    calendar: CalendarId,
    url: String,
    backend: TestBackend,
}

/// Runs `case` on a fresh database of `backend`, then drops the database.
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
        .ensure_calendar(calendar, "dr-smith", "Dr. Smith", "America/New_York")
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

/// Declares each case once per backend: `sqlite::case` and `postgres::case`.
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
    book_round_trips_every_field,
    concurrent_bookings_of_one_slot_store_one,
    concurrent_overlapping_bookings_never_overlap,
    concurrent_bookings_through_several_stores_store_one,
    back_to_back_appointments_coexist,
    buffer_after_an_appointment_is_held,
    cancelled_appointment_frees_its_slot,
    cancel_twice_is_already_cancelled,
    reschedule_to_a_free_time_moves_atomically,
    reschedule_to_a_taken_time_keeps_the_old_slot,
    reschedule_may_overlap_its_own_old_time,
    idempotency_key_replays_or_conflicts,
    concurrent_bookings_with_one_key_store_one,
    same_caller_same_range_is_already_booked,
    confirmation_codes_are_unique,
    timestamps_are_stored_in_whole_seconds,
    busy_uses_appointment_times_not_buffers,
    the_longest_hold_is_seen_by_every_overlap_search,
    free_text_with_nul_characters_is_stored,
    calendars_are_isolated,
    replay_store_first_reply_wins,
    migrations_go_down_and_up_again,
    ensure_calendar_updates_in_place,
);

/// SQLite has one writer: a booking that can only be refused (the time is
/// held, the key was used) is answered from a read, without queueing for
/// the write lock — here held by another connection all along. Waiting for
/// it would end in SQLite's 5-second busy timeout and an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_refusals_do_not_wait_for_the_write_lock() -> anyhow::Result<()> {
    run(
        TestBackend::Sqlite,
        "sqlite_refusals_do_not_wait_for_the_write_lock",
        |ctx| async move {
            let mut first = request(&ctx, at(10, 0)?, 30, &phone(1))?;
            first.idempotency_key = Some("key-1".to_owned());
            let booked = created(ctx.store.book(first.clone(), Duration::zero()).await)?;

            let other = Database::connect(ctx.url.as_str()).await?;
            other
                .execute_unprepared("BEGIN IMMEDIATE")
                .await
                .context("taking the write lock from another connection")?;
            let bound = std::time::Duration::from_secs(4);
            let taken = tokio::time::timeout(
                bound,
                ctx.store
                    .book(request(&ctx, at(10, 15)?, 30, &phone(2))?, Duration::zero()),
            )
            .await
            .context("a refused booking waited for the write lock")?;
            ensure!(is_slot_taken(&taken), "expected SlotTaken, got {taken:?}");
            let mut retry = first.clone();
            retry.id = AppointmentId::new();
            let replayed = tokio::time::timeout(bound, ctx.store.book(retry, Duration::zero()))
                .await
                .context("a replay waited for the write lock")?;
            match replayed {
                Ok(BookOutcome::Replayed(a)) => ensure!(a == booked),
                other => bail!("expected Replayed, got {other:?}"),
            }
            other.execute_unprepared("ROLLBACK").await?;
            other.close().await?;
            Ok(())
        },
    )
    .await
}

/// SQLite: bookings that wait for the writer together are written in one
/// transaction (one flush to disk for all), each in a savepoint of its own.
/// One whose audit entry the database refuses — after its appointment was
/// inserted — leaves nothing behind and takes none of the others with it;
/// two of the same time in one batch still store one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_bookings_that_wait_together_commit_together() -> anyhow::Result<()> {
    run(
        TestBackend::Sqlite,
        "sqlite_bookings_that_wait_together_commit_together",
        |ctx| async move {
            let raw = Database::connect(ctx.url.as_str()).await?;
            raw.execute_unprepared(
                "CREATE TRIGGER refuse_marked_entries BEFORE INSERT ON audit_log \
                 WHEN NEW.detail = 'refuse me' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            )
            .await?;
            raw.close().await?;
            let entry = |detail: &str| AuditEntry {
                at: Utc::now(),
                actor: Actor::Anonymous,
                action: "appointment.book",
                resource: None,
                outcome: "success",
                address: None,
                detail: Some(detail.to_owned()),
            };
            let nine = request(&ctx, at(9, 0)?, 30, &phone(1))?;
            let ten = request(&ctx, at(10, 0)?, 30, &phone(2))?;
            let ten_again = request(&ctx, at(10, 0)?, 30, &phone(3))?;
            let eleven = request(&ctx, at(11, 0)?, 30, &phone(4))?;
            let refused = request(&ctx, at(12, 0)?, 30, &phone(5))?;
            let (_, batches_before) = ctx.store.booking_queue().context("a SQLite queue")?;

            let gate = ctx.store.hold_writes().await;
            let mut tasks = Vec::new();
            for (new, detail) in [
                (nine.clone(), "kept"),
                (ten.clone(), "kept"),
                (ten_again.clone(), "kept"),
                (eleven.clone(), "kept"),
                (refused.clone(), "refuse me"),
            ] {
                let store = ctx.store.clone();
                let record = Some(entry(detail));
                tasks.push(tokio::spawn(async move {
                    store.book_recorded(new, Duration::zero(), record).await
                }));
            }
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while ctx.store.booking_queue().map(|(waiting, _)| waiting) != Some(5) {
                ensure!(
                    tokio::time::Instant::now() < deadline,
                    "the five bookings did not queue for the writer"
                );
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            drop(gate);
            let mut results = Vec::new();
            for task in tasks {
                results
                    .push(tokio::time::timeout(std::time::Duration::from_secs(10), task).await??);
            }
            let (waiting, batches_after) = ctx.store.booking_queue().context("a SQLite queue")?;
            ensure!(waiting == 0);
            ensure!(
                batches_after == batches_before + 1,
                "five waiting bookings took {} transactions",
                batches_after - batches_before
            );

            let mut results = results.into_iter();
            let mut next = || results.next().context("one result per booking");
            let booked_nine = created(next()?)?;
            let first_ten = next()?;
            let second_ten = next()?;
            let booked_eleven = created(next()?)?;
            let refusal = next()?;
            ensure!(
                matches!(
                    (&first_ten, &second_ten),
                    (Ok(BookOutcome::Created(_)), Err(StoreBookError::SlotTaken))
                        | (Err(StoreBookError::SlotTaken), Ok(BookOutcome::Created(_)))
                ),
                "two bookings of 10:00: {first_ten:?} and {second_ten:?}"
            );
            match &refusal {
                Err(StoreBookError::Unknown(e)) => ensure!(
                    format!("{e:#}").contains("refused by the test"),
                    "unexpected error: {e:#}"
                ),
                other => bail!("expected the refused entry's error, got {other:?}"),
            }

            // Exactly the three bookings are stored, each with its entry;
            // nothing of the refused one.
            ensure!(ctx.store.find(booked_nine.id()).await?.is_some());
            ensure!(ctx.store.find(booked_eleven.id()).await?.is_some());
            ensure!(
                ctx.store.find(refused.id).await?.is_none(),
                "the refused booking's appointment was kept"
            );
            let busy = all_busy(&ctx).await?;
            ensure!(busy.len() == 3, "stored: {busy:?}");
            let raw = Database::connect(ctx.url.as_str()).await?;
            let entries = raw
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'appointment.book'",
                ))
                .await?
                .context("a count")?
                .try_get::<i64>("", "n")?;
            raw.close().await?;
            ensure!(entries == 3, "{entries} audit entries for three bookings");
            Ok(())
        },
    )
    .await
}

/// SQLite: a booking whose request went away while it waited for the
/// writer (the HTTP client hung up) is not written: nobody would be told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_bookings_abandoned_in_the_queue_are_not_written() -> anyhow::Result<()> {
    run(
        TestBackend::Sqlite,
        "sqlite_bookings_abandoned_in_the_queue_are_not_written",
        |ctx| async move {
            let abandoned = request(&ctx, at(9, 0)?, 30, &phone(1))?;
            let kept = request(&ctx, at(10, 0)?, 30, &phone(2))?;
            let waiting_for = |n: usize| {
                let store = ctx.store.clone();
                async move {
                    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
                    while store.booking_queue().map(|(waiting, _)| waiting) != Some(n) {
                        ensure!(
                            tokio::time::Instant::now() < deadline,
                            "{n} bookings did not queue for the writer"
                        );
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    Ok(())
                }
            };

            let gate = ctx.store.hold_writes().await;
            let store = ctx.store.clone();
            let gone = {
                let new = abandoned.clone();
                tokio::spawn(async move { store.book(new, Duration::zero()).await })
            };
            waiting_for(1).await?;
            gone.abort();
            ensure!(gone.await.is_err_and(|e| e.is_cancelled()));
            let store = ctx.store.clone();
            let staying = {
                let new = kept.clone();
                tokio::spawn(async move { store.book(new, Duration::zero()).await })
            };
            waiting_for(2).await?;
            drop(gate);
            let booked =
                created(tokio::time::timeout(std::time::Duration::from_secs(10), staying).await??)?;
            ensure!(ctx.store.find(booked.id()).await?.is_some());
            ensure!(
                ctx.store.find(abandoned.id).await?.is_none(),
                "the abandoned booking was written"
            );
            Ok(())
        },
    )
    .await
}

// ---------------------------------------------------------------- fixtures

/// 2030-03-04 at `h:m` UTC.
fn at(h: u32, m: u32) -> anyhow::Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2030, 3, 4, h, m, 0)
        .single()
        .context("bad fixture time")
}

/// A valid US number, distinct for each `i` below 100.
fn phone(i: usize) -> String {
    format!("+1415555{:04}", 100 + i)
}

/// A minimal API booking of `minutes` from `start` by `phone`.
fn request(
    ctx: &Ctx,
    start: DateTime<Utc>,
    minutes: i64,
    phone: &str,
) -> anyhow::Result<NewAppointment> {
    Ok(NewAppointment {
        id: AppointmentId::new(),
        calendar_id: ctx.calendar,
        range: TimeRange::starting_at(start, Duration::minutes(minutes))?,
        time_zone: TimeZoneId::parse("America/New_York")?,
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
        service: None,
    })
}

fn created(result: Result<BookOutcome, StoreBookError>) -> anyhow::Result<Appointment> {
    match result {
        Ok(BookOutcome::Created(appointment)) => Ok(appointment),
        other => bail!("expected Created, got {other:?}"),
    }
}

fn is_slot_taken(result: &Result<BookOutcome, StoreBookError>) -> bool {
    matches!(result, Err(StoreBookError::SlotTaken))
}

/// Every active range of the calendar on the fixture day (and around it).
async fn all_busy(ctx: &Ctx) -> anyhow::Result<Vec<TimeRange>> {
    let window = TimeRange::new(at(0, 0)? - Duration::days(2), at(0, 0)? + Duration::days(3))?;
    ctx.store.busy(ctx.calendar, window).await
}

// ---------------------------------------------------------------- cases

async fn book_round_trips_every_field(ctx: Ctx) -> anyhow::Result<()> {
    let mut new = request(&ctx, at(10, 0)?, 30, &phone(1))?;
    new.customer_name = PersonName::parse("Zoë O'Brien-Łukasz")?;
    new.customer_email = Some(Email::parse("zoe@example.com")?);
    new.purpose = Some("Teeth cleaning — first visit".to_owned());
    new.booked_by = BookedBy {
        channel: Channel::Voice,
        vapi_call_id: Some("call-123".to_owned()),
        tool_call_id: Some("tool-456".to_owned()),
    };
    new.idempotency_key = Some("tool-456".to_owned());
    new.time_zone = TimeZoneId::parse("Europe/Paris")?;
    let booked = created(ctx.store.book(new.clone(), Duration::minutes(10)).await)?;

    assert_eq!(booked.id(), new.id);
    assert_eq!(booked.calendar_id(), ctx.calendar);
    assert_eq!(booked.range(), new.range);
    assert_eq!(booked.time_zone(), new.time_zone);
    assert_eq!(booked.status(), AppointmentStatus::Confirmed);
    assert_eq!(booked.customer_name(), &new.customer_name);
    assert_eq!(booked.customer_phone(), &new.customer_phone);
    assert_eq!(booked.customer_email(), new.customer_email.as_ref());
    assert_eq!(booked.purpose(), new.purpose.as_deref());
    assert_eq!(booked.booked_by(), &new.booked_by);
    assert_eq!(booked.idempotency_key(), Some("tool-456"));
    assert_eq!(booked.cancelled_at(), None);
    assert_eq!(booked.cancel_reason(), None);
    assert_eq!(booked.created_at(), booked.updated_at());

    let got = AppointmentRepository::get(&ctx.store, ctx.calendar, booked.id()).await?;
    assert_eq!(got.as_ref(), Some(&booked));
    let by_code = ctx
        .store
        .find_by_code(ctx.calendar, booked.confirmation_code())
        .await?;
    assert_eq!(by_code.as_ref(), Some(&booked));
    let by_key = ctx
        .store
        .find_by_idempotency_key(ctx.calendar, "tool-456")
        .await?;
    assert_eq!(by_key.as_ref(), Some(&booked));
    assert_eq!(
        ctx.store
            .find_by_idempotency_key(ctx.calendar, "other")
            .await?,
        None
    );

    let mine = ctx
        .store
        .find_by_phone(ctx.calendar, &new.customer_phone, at(9, 0)?)
        .await?;
    assert_eq!(mine, vec![booked.clone()]);
    // Ended before `from`: not listed. Another phone: not listed.
    let later = ctx
        .store
        .find_by_phone(ctx.calendar, &new.customer_phone, at(10, 30)?)
        .await?;
    assert!(later.is_empty(), "{later:?}");
    let other = PhoneNumber::from_e164(&phone(2))?;
    assert!(
        ctx.store
            .find_by_phone(ctx.calendar, &other, at(9, 0)?)
            .await?
            .is_empty()
    );

    assert_eq!(
        AppointmentRepository::get(&ctx.store, ctx.calendar, AppointmentId::new()).await?,
        None
    );
    Ok(())
}

async fn concurrent_bookings_of_one_slot_store_one(ctx: Ctx) -> anyhow::Result<()> {
    let ctx = Arc::new(ctx);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let new = request(&ctx, at(10, 0)?, 30, &phone(i))?;
        let store = ctx.store.clone();
        tasks.push(tokio::spawn(async move {
            store.book(new, Duration::minutes(5)).await
        }));
    }
    let mut created_count = 0;
    let mut taken = 0;
    for task in tasks {
        match task.await? {
            Ok(BookOutcome::Created(_)) => created_count += 1,
            Err(StoreBookError::SlotTaken) => taken += 1,
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((created_count, taken), (1, 49));
    assert_eq!(all_busy(&ctx).await?.len(), 1);
    Ok(())
}

async fn concurrent_overlapping_bookings_never_overlap(ctx: Ctx) -> anyhow::Result<()> {
    // Starts every 10 minutes, 30 minutes long, 5 minutes of buffer: each
    // request overlaps its neighbours; many different subsets could win.
    let buffer = Duration::minutes(5);
    let mut tasks = Vec::new();
    for i in 0..50i64 {
        let start = at(8, 0)? + Duration::minutes(10 * i);
        let new = request(&ctx, start, 30, &phone(usize::try_from(i)?))?;
        let store = ctx.store.clone();
        tasks.push(tokio::spawn(async move { store.book(new, buffer).await }));
    }
    let mut booked = Vec::new();
    for task in tasks {
        match task.await? {
            Ok(BookOutcome::Created(a)) => booked.push(a.range()),
            Err(StoreBookError::SlotTaken) => {}
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    ensure!(!booked.is_empty(), "nothing was booked");
    let stored = all_busy(&ctx).await?;
    assert_eq!(stored.len(), booked.len());
    for (i, a) in stored.iter().enumerate() {
        for b in &stored[i + 1..] {
            let (a_held, b_held) = (a.with_trailing(buffer), b.with_trailing(buffer));
            ensure!(
                !a_held.overlaps(&b_held),
                "stored appointments overlap: {a:?} and {b:?}"
            );
        }
    }
    Ok(())
}

async fn concurrent_bookings_through_several_stores_store_one(ctx: Ctx) -> anyhow::Result<()> {
    // Several pools on one database stand for several processes: on SQLite
    // nothing in-process serializes them, only `BEGIN IMMEDIATE`.
    let mut stores = vec![ctx.store.clone()];
    for _ in 0..2 {
        stores.push(Store::connect(&ctx.url).await?);
    }
    let mut tasks = Vec::new();
    for i in 0..48 {
        let new = request(&ctx, at(11, 0)?, 30, &phone(i))?;
        let store = stores[i % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            store.book(new, Duration::zero()).await
        }));
    }
    let mut outcomes = (0, 0);
    for task in tasks {
        match task.await? {
            Ok(BookOutcome::Created(_)) => outcomes.0 += 1,
            Err(StoreBookError::SlotTaken) => outcomes.1 += 1,
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    for store in stores.into_iter().skip(1) {
        store.close().await?;
    }
    assert_eq!(outcomes, (1, 47));
    assert_eq!(all_busy(&ctx).await?.len(), 1);
    Ok(())
}

async fn back_to_back_appointments_coexist(ctx: Ctx) -> anyhow::Result<()> {
    created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, Duration::zero())
            .await,
    )?;
    created(
        ctx.store
            .book(request(&ctx, at(10, 30)?, 30, &phone(2))?, Duration::zero())
            .await,
    )?;
    created(
        ctx.store
            .book(request(&ctx, at(9, 30)?, 30, &phone(3))?, Duration::zero())
            .await,
    )?;
    assert_eq!(all_busy(&ctx).await?.len(), 3);
    Ok(())
}

async fn buffer_after_an_appointment_is_held(ctx: Ctx) -> anyhow::Result<()> {
    let buffer = Duration::minutes(15);
    created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, buffer)
            .await,
    )?;
    // 10:30–10:45 is the first appointment's buffer.
    let inside = ctx
        .store
        .book(request(&ctx, at(10, 40)?, 20, &phone(2))?, buffer)
        .await;
    assert!(is_slot_taken(&inside), "{inside:?}");
    // A booking whose own buffer would run into 10:00 is refused too.
    let before = ctx
        .store
        .book(request(&ctx, at(9, 30)?, 30, &phone(3))?, buffer)
        .await;
    assert!(is_slot_taken(&before), "{before:?}");
    created(
        ctx.store
            .book(request(&ctx, at(9, 15)?, 30, &phone(3))?, buffer)
            .await,
    )?;
    created(
        ctx.store
            .book(request(&ctx, at(10, 45)?, 30, &phone(4))?, buffer)
            .await,
    )?;
    Ok(())
}

async fn cancelled_appointment_frees_its_slot(ctx: Ctx) -> anyhow::Result<()> {
    let first = created(
        ctx.store
            .book(
                request(&ctx, at(10, 0)?, 30, &phone(1))?,
                Duration::minutes(10),
            )
            .await,
    )?;
    let when = at(8, 0)? + Duration::milliseconds(1500);
    let cancelled = ctx
        .store
        .cancel(
            ctx.calendar,
            first.id(),
            Some("caller asked".to_owned()),
            when,
        )
        .await?;
    assert_eq!(cancelled.status(), AppointmentStatus::Cancelled);
    assert_eq!(
        cancelled.cancelled_at(),
        Some(at(8, 0)? + Duration::seconds(1))
    );
    assert_eq!(cancelled.updated_at(), at(8, 0)? + Duration::seconds(1));
    assert_eq!(cancelled.cancel_reason(), Some("caller asked"));
    assert_eq!(cancelled.range(), first.range());
    assert_eq!(
        AppointmentRepository::get(&ctx.store, ctx.calendar, first.id())
            .await?
            .as_ref(),
        Some(&cancelled)
    );
    assert!(all_busy(&ctx).await?.is_empty());
    assert!(
        ctx.store
            .find_by_phone(ctx.calendar, first.customer_phone(), at(0, 0)?)
            .await?
            .is_empty()
    );

    let second = created(
        ctx.store
            .book(
                request(&ctx, at(10, 0)?, 30, &phone(2))?,
                Duration::minutes(10),
            )
            .await,
    )?;
    assert_eq!(all_busy(&ctx).await?, vec![second.range()]);
    Ok(())
}

async fn cancel_twice_is_already_cancelled(ctx: Ctx) -> anyhow::Result<()> {
    let booked = created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, Duration::zero())
            .await,
    )?;
    let first = ctx
        .store
        .cancel(ctx.calendar, booked.id(), None, at(8, 0)?)
        .await?;
    match ctx
        .store
        .cancel(
            ctx.calendar,
            booked.id(),
            Some("again".to_owned()),
            at(9, 0)?,
        )
        .await
    {
        Err(StoreCancelError::AlreadyCancelled(existing)) => assert_eq!(*existing, first),
        other => bail!("expected AlreadyCancelled, got {other:?}"),
    }
    // Nothing changed by the second call.
    assert_eq!(
        AppointmentRepository::get(&ctx.store, ctx.calendar, booked.id())
            .await?
            .as_ref(),
        Some(&first)
    );
    match ctx
        .store
        .cancel(ctx.calendar, AppointmentId::new(), None, at(9, 0)?)
        .await
    {
        Err(StoreCancelError::NotFound) => {}
        other => bail!("expected NotFound, got {other:?}"),
    }
    Ok(())
}

async fn reschedule_to_a_free_time_moves_atomically(ctx: Ctx) -> anyhow::Result<()> {
    let buffer = Duration::minutes(10);
    let booked = created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, buffer)
            .await,
    )?;
    let target = TimeRange::starting_at(at(14, 0)?, Duration::minutes(45))?;
    let moved = ctx
        .store
        .reschedule(ctx.calendar, booked.id(), target, buffer, at(9, 0)?)
        .await?;
    assert_eq!(moved.id(), booked.id());
    assert_eq!(moved.range(), target);
    assert_eq!(moved.updated_at(), at(9, 0)?);
    assert_eq!(moved.created_at(), booked.created_at());
    assert_eq!(moved.confirmation_code(), booked.confirmation_code());
    assert!(moved.is_active());
    assert_eq!(
        AppointmentRepository::get(&ctx.store, ctx.calendar, booked.id())
            .await?
            .as_ref(),
        Some(&moved)
    );
    assert_eq!(all_busy(&ctx).await?, vec![target]);

    // The old time is free; the new one holds its buffer.
    created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(2))?, buffer)
            .await,
    )?;
    let in_buffer = ctx
        .store
        .book(request(&ctx, at(14, 50)?, 30, &phone(3))?, buffer)
        .await;
    assert!(is_slot_taken(&in_buffer), "{in_buffer:?}");
    Ok(())
}

async fn reschedule_to_a_taken_time_keeps_the_old_slot(ctx: Ctx) -> anyhow::Result<()> {
    let buffer = Duration::minutes(10);
    let mine = created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, buffer)
            .await,
    )?;
    let theirs = created(
        ctx.store
            .book(request(&ctx, at(14, 0)?, 30, &phone(2))?, buffer)
            .await,
    )?;
    for target in [
        TimeRange::starting_at(at(14, 15)?, Duration::minutes(30))?,
        // Ends at 14:00 but its buffer runs into the other appointment.
        TimeRange::starting_at(at(13, 30)?, Duration::minutes(30))?,
        // Starts inside the other appointment's buffer.
        TimeRange::starting_at(at(14, 35)?, Duration::minutes(30))?,
    ] {
        match ctx
            .store
            .reschedule(ctx.calendar, mine.id(), target, buffer, at(9, 0)?)
            .await
        {
            Err(StoreRescheduleError::SlotTaken) => {}
            other => bail!("expected SlotTaken for {target:?}, got {other:?}"),
        }
    }
    // Unchanged, and still holding its time.
    assert_eq!(
        AppointmentRepository::get(&ctx.store, ctx.calendar, mine.id())
            .await?
            .as_ref(),
        Some(&mine)
    );
    assert_eq!(
        AppointmentRepository::get(&ctx.store, ctx.calendar, theirs.id())
            .await?
            .as_ref(),
        Some(&theirs)
    );
    let old_slot = ctx
        .store
        .book(request(&ctx, at(10, 0)?, 30, &phone(3))?, buffer)
        .await;
    assert!(is_slot_taken(&old_slot), "{old_slot:?}");

    // Cancelled and unknown appointments are not moved.
    ctx.store
        .cancel(ctx.calendar, theirs.id(), None, at(9, 0)?)
        .await?;
    let free = TimeRange::starting_at(at(16, 0)?, Duration::minutes(30))?;
    match ctx
        .store
        .reschedule(ctx.calendar, theirs.id(), free, buffer, at(9, 0)?)
        .await
    {
        Err(StoreRescheduleError::Cancelled(a)) => assert_eq!(a.id(), theirs.id()),
        other => bail!("expected Cancelled, got {other:?}"),
    }
    match ctx
        .store
        .reschedule(ctx.calendar, AppointmentId::new(), free, buffer, at(9, 0)?)
        .await
    {
        Err(StoreRescheduleError::NotFound) => {}
        other => bail!("expected NotFound, got {other:?}"),
    }
    Ok(())
}

async fn reschedule_may_overlap_its_own_old_time(ctx: Ctx) -> anyhow::Result<()> {
    let buffer = Duration::minutes(10);
    let booked = created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, buffer)
            .await,
    )?;
    let later = TimeRange::starting_at(at(10, 15)?, Duration::minutes(30))?;
    let moved = ctx
        .store
        .reschedule(ctx.calendar, booked.id(), later, buffer, at(9, 0)?)
        .await?;
    assert_eq!(moved.range(), later);
    let earlier = TimeRange::starting_at(at(9, 50)?, Duration::minutes(60))?;
    let moved = ctx
        .store
        .reschedule(ctx.calendar, booked.id(), earlier, buffer, at(9, 1)?)
        .await?;
    assert_eq!(moved.range(), earlier);
    assert_eq!(all_busy(&ctx).await?, vec![earlier]);
    Ok(())
}

async fn idempotency_key_replays_or_conflicts(ctx: Ctx) -> anyhow::Result<()> {
    let mut new = request(&ctx, at(10, 0)?, 30, &phone(1))?;
    new.idempotency_key = Some("key-1".to_owned());
    let first = created(ctx.store.book(new.clone(), Duration::zero()).await)?;

    // The same request again (a retry carries a fresh id and clock).
    let mut retry = new.clone();
    retry.id = AppointmentId::new();
    retry.created_at = Utc::now() + Duration::seconds(5);
    match ctx.store.book(retry, Duration::zero()).await {
        Ok(BookOutcome::Replayed(a)) => assert_eq!(a, first),
        other => bail!("expected Replayed, got {other:?}"),
    }

    // The same key for another time: a conflict, nothing stored.
    let mut other = request(&ctx, at(15, 0)?, 30, &phone(1))?;
    other.idempotency_key = Some("key-1".to_owned());
    match ctx.store.book(other, Duration::zero()).await {
        Err(StoreBookError::IdempotencyConflict(a)) => assert_eq!(*a, first),
        other => bail!("expected IdempotencyConflict, got {other:?}"),
    }
    assert_eq!(all_busy(&ctx).await?, vec![first.range()]);

    // A key is per calendar and per key: another key books normally.
    let mut fresh = request(&ctx, at(15, 0)?, 30, &phone(1))?;
    fresh.idempotency_key = Some("key-2".to_owned());
    created(ctx.store.book(fresh, Duration::zero()).await)?;
    Ok(())
}

async fn concurrent_bookings_with_one_key_store_one(ctx: Ctx) -> anyhow::Result<()> {
    let mut new = request(&ctx, at(10, 0)?, 30, &phone(1))?;
    new.idempotency_key = Some("tool-call-1".to_owned());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut attempt = new.clone();
        attempt.id = AppointmentId::new();
        let store = ctx.store.clone();
        tasks.push(tokio::spawn(async move {
            store.book(attempt, Duration::minutes(5)).await
        }));
    }
    let mut created_ids = Vec::new();
    let mut replayed_ids = HashSet::new();
    for task in tasks {
        match task.await? {
            Ok(BookOutcome::Created(a)) => created_ids.push(a.id()),
            Ok(BookOutcome::Replayed(a)) => {
                replayed_ids.insert(a.id());
            }
            other => bail!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(created_ids.len(), 1, "{created_ids:?}");
    assert!(
        replayed_ids.iter().all(|id| *id == created_ids[0]),
        "{replayed_ids:?}"
    );
    assert_eq!(all_busy(&ctx).await?.len(), 1);
    Ok(())
}

async fn same_caller_same_range_is_already_booked(ctx: Ctx) -> anyhow::Result<()> {
    let mut new = request(&ctx, at(10, 0)?, 30, &phone(1))?;
    new.idempotency_key = Some("k1".to_owned());
    let first = created(ctx.store.book(new, Duration::minutes(5)).await)?;

    let mut again = request(&ctx, at(10, 0)?, 30, &phone(1))?;
    again.idempotency_key = Some("k2".to_owned());
    match ctx.store.book(again, Duration::minutes(5)).await {
        Ok(BookOutcome::AlreadyBooked(a)) => assert_eq!(a, first),
        other => bail!("expected AlreadyBooked, got {other:?}"),
    }
    // Without a key too.
    match ctx
        .store
        .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, Duration::zero())
        .await
    {
        Ok(BookOutcome::AlreadyBooked(a)) => assert_eq!(a, first),
        other => bail!("expected AlreadyBooked, got {other:?}"),
    }
    // The same caller for an overlapping but different range: taken.
    let shifted = ctx
        .store
        .book(request(&ctx, at(10, 15)?, 30, &phone(1))?, Duration::zero())
        .await;
    assert!(is_slot_taken(&shifted), "{shifted:?}");
    // Another caller for exactly that range: taken.
    let other = ctx
        .store
        .book(request(&ctx, at(10, 0)?, 30, &phone(2))?, Duration::zero())
        .await;
    assert!(is_slot_taken(&other), "{other:?}");
    assert_eq!(all_busy(&ctx).await?.len(), 1);
    Ok(())
}

async fn confirmation_codes_are_unique(ctx: Ctx) -> anyhow::Result<()> {
    let mut codes = HashSet::new();
    for i in 0..60i64 {
        let start = at(0, 0)? + Duration::minutes(15 * i);
        let a = created(
            ctx.store
                .book(
                    request(&ctx, start, 15, &phone(usize::try_from(i)?))?,
                    Duration::zero(),
                )
                .await,
        )?;
        let found = ctx
            .store
            .find_by_code(ctx.calendar, a.confirmation_code())
            .await?;
        assert_eq!(found.as_ref(), Some(&a));
        ensure!(
            codes.insert(a.confirmation_code().clone()),
            "duplicate code {}",
            a.confirmation_code()
        );
    }
    Ok(())
}

async fn timestamps_are_stored_in_whole_seconds(ctx: Ctx) -> anyhow::Result<()> {
    let start = at(10, 0)? + Duration::milliseconds(700);
    let mut new = request(&ctx, start, 30, &phone(1))?;
    new.created_at = at(7, 0)? + Duration::nanoseconds(999_999_999);
    let booked = created(ctx.store.book(new, Duration::zero()).await)?;
    assert_eq!(booked.range().start(), at(10, 0)?);
    assert_eq!(booked.range().end(), at(10, 30)?);
    assert_eq!(booked.created_at(), at(7, 0)?);
    assert_eq!(
        AppointmentRepository::get(&ctx.store, ctx.calendar, booked.id())
            .await?
            .as_ref(),
        Some(&booked)
    );
    // Comparisons agree with time order across hours, days, and years.
    let far = at(0, 0)? + Duration::days(400) + Duration::hours(23);
    created(
        ctx.store
            .book(request(&ctx, far, 30, &phone(2))?, Duration::zero())
            .await,
    )?;
    let window = TimeRange::new(at(9, 59)?, at(10, 1)?)?;
    assert_eq!(
        ctx.store.busy(ctx.calendar, window).await?,
        vec![booked.range()]
    );
    let window = TimeRange::new(far - Duration::seconds(1), far + Duration::seconds(1))?;
    assert_eq!(ctx.store.busy(ctx.calendar, window).await?.len(), 1);
    Ok(())
}

async fn busy_uses_appointment_times_not_buffers(ctx: Ctx) -> anyhow::Result<()> {
    let booked = created(
        ctx.store
            .book(
                request(&ctx, at(10, 0)?, 30, &phone(1))?,
                Duration::minutes(15),
            )
            .await,
    )?;
    let after = TimeRange::new(at(10, 30)?, at(11, 0)?)?;
    assert!(ctx.store.busy(ctx.calendar, after).await?.is_empty());
    let before = TimeRange::new(at(9, 0)?, at(10, 0)?)?;
    assert!(ctx.store.busy(ctx.calendar, before).await?.is_empty());
    // Sub-second window edges.
    let edge = TimeRange::new(at(10, 30)? - Duration::milliseconds(500), at(11, 0)?)?;
    assert_eq!(
        ctx.store.busy(ctx.calendar, edge).await?,
        vec![booked.range()]
    );
    let edge = TimeRange::new(at(9, 0)?, at(10, 0)? + Duration::milliseconds(1))?;
    assert_eq!(
        ctx.store.busy(ctx.calendar, edge).await?,
        vec![booked.range()]
    );
    created(
        ctx.store
            .book(request(&ctx, at(8, 0)?, 30, &phone(2))?, Duration::zero())
            .await,
    )?;
    let day = TimeRange::new(at(0, 0)?, at(23, 0)?)?;
    let ranges = ctx.store.busy(ctx.calendar, day).await?;
    assert_eq!(ranges.len(), 2);
    assert!(ranges[0].start() < ranges[1].start(), "{ranges:?}");
    Ok(())
}

/// The overlap searches only look back `Schedule::MAX_HOLD_MINUTES` from the
/// time asked (so they stay short index scans on a long history): an
/// appointment holding exactly that long is still seen at its last minute,
/// and a longer one is refused.
async fn the_longest_hold_is_seen_by_every_overlap_search(ctx: Ctx) -> anyhow::Result<()> {
    let longest = Duration::minutes(voice_scheduler_domain::Schedule::MAX_DURATION_MINUTES);
    let buffer = Duration::minutes(voice_scheduler_domain::Schedule::MAX_BUFFER_MINUTES);
    let start = at(2, 0)?;
    let booked = created(
        ctx.store
            .book(
                request(&ctx, start, longest.num_minutes(), &phone(1))?,
                buffer,
            )
            .await,
    )?;
    let end = booked.range().end();
    // The last minute of its buffer is held.
    let last_minute = ctx
        .store
        .book(
            request(&ctx, end + buffer - Duration::minutes(1), 5, &phone(2))?,
            Duration::zero(),
        )
        .await;
    assert!(is_slot_taken(&last_minute), "{last_minute:?}");
    // Its last second is busy, and it is still upcoming for its caller.
    let window = TimeRange::new(end - Duration::seconds(1), end + Duration::hours(1))?;
    assert_eq!(
        ctx.store.busy(ctx.calendar, window).await?,
        vec![booked.range()]
    );
    let found = ctx
        .store
        .find_by_phone(
            ctx.calendar,
            &PhoneNumber::from_e164(&phone(1))?,
            end - Duration::seconds(1),
        )
        .await?;
    assert_eq!(found.len(), 1, "{found:?}");
    // A time that would hold longer than the bound is refused, not stored.
    let too_long = ctx
        .store
        .book(
            request(&ctx, at(20, 0)?, longest.num_minutes() + 5, &phone(3))?,
            buffer,
        )
        .await;
    assert!(
        matches!(too_long, Err(StoreBookError::Unknown(_))),
        "{too_long:?}"
    );
    let moved = ctx
        .store
        .reschedule(
            ctx.calendar,
            booked.id(),
            TimeRange::starting_at(at(20, 0)?, longest + Duration::minutes(5))?,
            buffer,
            Utc::now(),
        )
        .await;
    assert!(
        matches!(moved, Err(StoreRescheduleError::Unknown(_))),
        "{moved:?}"
    );
    Ok(())
}

/// Free text arrives from the wire unchecked; PostgreSQL refuses U+0000 in
/// `text`, so both backends keep U+FFFD in its place (found by the fault
/// tests' fuzzing: a VAPI call id with a NUL made bookings fail).
async fn free_text_with_nul_characters_is_stored(ctx: Ctx) -> anyhow::Result<()> {
    let mut new = request(&ctx, at(10, 0)?, 30, &phone(1))?;
    new.purpose = Some("first\0visit".to_owned());
    new.booked_by = BookedBy {
        channel: Channel::Voice,
        vapi_call_id: Some("call\0id".to_owned()),
        tool_call_id: Some("tool\0id".to_owned()),
    };
    new.idempotency_key = Some("key\0".to_owned());
    let booked = created(ctx.store.book(new.clone(), Duration::zero()).await)?;
    assert_eq!(booked.purpose(), Some("first\u{fffd}visit"));
    assert_eq!(
        booked.booked_by().vapi_call_id.as_deref(),
        Some("call\u{fffd}id")
    );
    let got = AppointmentRepository::get(&ctx.store, ctx.calendar, booked.id()).await?;
    assert_eq!(got.as_ref(), Some(&booked));
    // The same key finds it, and a retry is a replay.
    let by_key = ctx
        .store
        .find_by_idempotency_key(ctx.calendar, "key\0")
        .await?;
    assert_eq!(by_key.as_ref(), Some(&booked));
    let mut again = new.clone();
    again.id = AppointmentId::new();
    assert!(matches!(
        ctx.store.book(again, Duration::zero()).await,
        Ok(BookOutcome::Replayed(_))
    ));
    let cancelled = ctx
        .store
        .cancel(
            ctx.calendar,
            booked.id(),
            Some("why\0".to_owned()),
            Utc::now(),
        )
        .await?;
    assert_eq!(cancelled.cancel_reason(), Some("why\u{fffd}"));
    let reply = StoredReply {
        fingerprint: "f".to_owned(),
        body: "{}".to_owned(),
    };
    ctx.store.save_reply("scope", "a\0b", reply.clone()).await?;
    assert_eq!(ctx.store.find_reply("scope", "a\0b").await?, Some(reply));
    Ok(())
}

async fn calendars_are_isolated(ctx: Ctx) -> anyhow::Result<()> {
    let other = CalendarId::new();
    ctx.store
        .ensure_calendar(other, "dr-jones", "Dr. Jones", "Europe/London")
        .await?;
    let mine = created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, Duration::zero())
            .await,
    )?;
    let mut theirs = request(&ctx, at(10, 0)?, 30, &phone(2))?;
    theirs.calendar_id = other;
    let theirs = created(ctx.store.book(theirs, Duration::zero()).await)?;
    assert_eq!(
        AppointmentRepository::get(&ctx.store, other, mine.id()).await?,
        None
    );
    assert_eq!(
        ctx.store
            .find_by_code(other, mine.confirmation_code())
            .await?
            .map(|a| a.id()),
        (mine.confirmation_code() == theirs.confirmation_code()).then(|| theirs.id())
    );
    match ctx.store.cancel(other, mine.id(), None, at(9, 0)?).await {
        Err(StoreCancelError::NotFound) => {}
        other => bail!("expected NotFound, got {other:?}"),
    }
    // A calendar that does not exist cannot get appointments.
    let mut orphan = request(&ctx, at(12, 0)?, 30, &phone(3))?;
    orphan.calendar_id = CalendarId::new();
    match ctx.store.book(orphan, Duration::zero()).await {
        Err(StoreBookError::Unknown(_)) => {}
        other => bail!("expected an error, got {other:?}"),
    }
    Ok(())
}

async fn replay_store_first_reply_wins(ctx: Ctx) -> anyhow::Result<()> {
    let first = StoredReply {
        fingerprint: "fp-1".to_owned(),
        body: r#"{"results":[{"toolCallId":"t1","result":"booked"}]}"#.to_owned(),
    };
    let second = StoredReply {
        fingerprint: "fp-2".to_owned(),
        body: "{}".to_owned(),
    };
    assert_eq!(ctx.store.find_reply("vapi", "t1").await?, None);
    assert_eq!(
        ctx.store.save_reply("vapi", "t1", first.clone()).await?,
        first
    );
    assert_eq!(
        ctx.store.save_reply("vapi", "t1", second.clone()).await?,
        first
    );
    assert_eq!(ctx.store.find_reply("vapi", "t1").await?, Some(first));
    // Scopes are separate.
    assert_eq!(
        ctx.store.save_reply("api", "t1", second.clone()).await?,
        second
    );

    // Concurrent puts: everybody sees the one stored reply.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = ctx.store.clone();
        tasks.push(tokio::spawn(async move {
            let reply = StoredReply {
                fingerprint: format!("fp-{i}"),
                body: format!("{{\"n\":{i}}}"),
            };
            store.save_reply("vapi", "race", reply).await
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        seen.insert(task.await??.fingerprint);
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    Ok(())
}

async fn migrations_go_down_and_up_again(ctx: Ctx) -> anyhow::Result<()> {
    created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, Duration::zero())
            .await,
    )?;
    let db = Database::connect(ctx.url.as_str()).await?;
    Migrator::down(&db, None).await?;
    let backend = db.get_database_backend();
    let tables = match backend {
        DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'",
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, tables))
        .await?;
    let names = rows
        .iter()
        .map(|r| r.try_get::<String>("", "t"))
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(names, vec!["seaql_migrations".to_owned()]);

    Migrator::up(&db, None).await?;
    db.close().await?;
    ctx.store.migrate().await?; // nothing left to do
    let calendar = ctx.calendar;
    ctx.store
        .ensure_calendar(calendar, "dr-smith", "Dr. Smith", "America/New_York")
        .await?;
    created(
        ctx.store
            .book(request(&ctx, at(10, 0)?, 30, &phone(1))?, Duration::zero())
            .await,
    )?;
    let taken = ctx
        .store
        .book(request(&ctx, at(10, 0)?, 30, &phone(2))?, Duration::zero())
        .await;
    assert!(is_slot_taken(&taken), "{taken:?}");
    Ok(())
}

async fn ensure_calendar_updates_in_place(ctx: Ctx) -> anyhow::Result<()> {
    ctx.store
        .ensure_calendar(
            ctx.calendar,
            "dr-smith-dds",
            "Dr. Smith DDS",
            "Europe/Paris",
        )
        .await?;
    ctx.store
        .ensure_calendar(
            ctx.calendar,
            "dr-smith-dds",
            "Dr. Smith DDS",
            "Europe/Paris",
        )
        .await?;
    let db = Database::connect(ctx.url.as_str()).await?;
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n, MAX(slug) AS slug, MAX(name) AS name, MAX(time_zone) AS tz FROM calendars",
        ))
        .await?
        .context("no row")?;
    assert_eq!(row.try_get::<i64>("", "n")?, 1);
    assert_eq!(row.try_get::<String>("", "slug")?, "dr-smith-dds");
    assert_eq!(row.try_get::<String>("", "name")?, "Dr. Smith DDS");
    assert_eq!(row.try_get::<String>("", "tz")?, "Europe/Paris");
    db.close().await?;
    // A slug belongs to one calendar.
    let clash = ctx
        .store
        .ensure_calendar(CalendarId::new(), "dr-smith-dds", "Other", "Europe/Paris")
        .await;
    assert!(clash.is_err());
    assert_eq!(
        ctx.store.backend(),
        match ctx.backend {
            TestBackend::Sqlite => Backend::Sqlite,
            TestBackend::Postgres => Backend::Postgres,
        }
    );
    ctx.store.ping().await?;
    Ok(())
}
