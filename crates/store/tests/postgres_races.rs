//! PostgreSQL: bookings that race a writer which does not queue on the
//! store's calendar lock (another tool, an older version) are still refused
//! by the exclusion constraint and the unique idempotency index, and the store
//! turns those errors into precise answers.
//!
//! Each case holds a conflicting row in an open transaction, starts a booking
//! (which passes its check, because the row is not committed, then waits in
//! the database on that row), and commits the row. The last case checks
//! what a booking waits for, and what it no longer waits for.

use std::time::Duration as StdDuration;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
use uuid::Uuid;
use voice_scheduler_domain::ports::{AppointmentRepository, BookOutcome, StoreBookError};
use voice_scheduler_domain::{
    AppointmentId, BookedBy, CalendarId, Channel, ConfirmationCode, NewAppointment, PersonName,
    PhoneNumber, TimeRange, TimeZoneId,
};
use voice_scheduler_store::Store;
use voice_scheduler_store::testing::TestDatabase;

const PHONE: &str = "+14155550123";
const OTHER_PHONE: &str = "+14155550124";

fn at(h: u32, m: u32) -> anyhow::Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2030, 5, 6, h, m, 0)
        .single()
        .context("bad fixture time")
}

fn request(
    calendar: CalendarId,
    start: DateTime<Utc>,
    phone: &str,
    key: Option<&str>,
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
            channel: Channel::Voice,
            vapi_call_id: None,
            tool_call_id: None,
        },
        idempotency_key: key.map(str::to_owned),
        created_at: Utc::now(),
        service: None,
    })
}

/// An appointment row written behind the store's back.
fn raw_insert(
    id: Uuid,
    calendar: CalendarId,
    start: DateTime<Utc>,
    phone: &str,
    key: Option<&str>,
) -> String {
    let end = start + Duration::minutes(30);
    let key = key.map_or("NULL".to_owned(), |k| format!("'{k}'"));
    format!(
        "INSERT INTO appointments (id, calendar_id, confirmation_code, starts_at, ends_at, \
         blocked_until, time_zone, status, customer_name, customer_phone, channel, \
         idempotency_key, created_at, updated_at) VALUES ('{id}', '{calendar}', '{code}', \
         '{start}', '{end}', '{end}', 'UTC', 'confirmed', 'Jane Doe', '{phone}', 'voice', \
         {key}, now(), now())",
        code = ConfirmationCode::generate(),
        start = start.to_rfc3339(),
        end = end.to_rfc3339(),
    )
}

/// Books `new` while `row_sql` is inserted but not yet committed elsewhere.
async fn race(
    store: &Store,
    raw: &DatabaseConnection,
    row_sql: &str,
    new: NewAppointment,
) -> anyhow::Result<Result<BookOutcome, StoreBookError>> {
    let txn = raw.begin().await?;
    txn.execute_unprepared(row_sql).await?;
    let booking = {
        let store = store.clone();
        tokio::spawn(async move { store.book(new, Duration::zero()).await })
    };
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    ensure!(
        !booking.is_finished(),
        "the booking did not wait for the uncommitted row"
    );
    txn.commit().await?;
    Ok(booking.await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_maps_constraint_violations() -> anyhow::Result<()> {
    let Some(test_db) = TestDatabase::postgres("postgres_store_maps_constraint_violations").await?
    else {
        return Ok(());
    };
    let store = Store::connect(&test_db.url).await?;
    store.migrate().await?;
    let calendar = CalendarId::new();
    store
        .ensure_calendar(calendar, "c", "C", "America/Chicago")
        .await?;
    let raw = Database::connect(test_db.url.as_str()).await?;

    let result = async {
        // Another caller's overlapping row: 23P01 → SlotTaken.
        let row = raw_insert(Uuid::now_v7(), calendar, at(9, 0)?, OTHER_PHONE, None);
        match race(
            &store,
            &raw,
            &row,
            request(calendar, at(9, 15)?, PHONE, None)?,
        )
        .await?
        {
            Err(StoreBookError::SlotTaken) => {}
            other => bail!("expected SlotTaken, got {other:?}"),
        }

        // The same caller, exactly the same range: 23P01 → AlreadyBooked.
        let id = Uuid::now_v7();
        let row = raw_insert(id, calendar, at(11, 0)?, PHONE, None);
        match race(
            &store,
            &raw,
            &row,
            request(calendar, at(11, 0)?, PHONE, None)?,
        )
        .await?
        {
            Ok(BookOutcome::AlreadyBooked(a)) => ensure!(a.id().as_uuid() == id),
            other => bail!("expected AlreadyBooked, got {other:?}"),
        }

        // The same idempotency key, the same request: → Replayed.
        let id = Uuid::now_v7();
        let row = raw_insert(id, calendar, at(13, 0)?, PHONE, Some("k1"));
        let new = request(calendar, at(13, 0)?, PHONE, Some("k1"))?;
        match race(&store, &raw, &row, new).await? {
            Ok(BookOutcome::Replayed(a)) => ensure!(a.id().as_uuid() == id),
            other => bail!("expected Replayed, got {other:?}"),
        }

        // The same key for another time (no overlap): 23505 → IdempotencyConflict.
        let id = Uuid::now_v7();
        let row = raw_insert(id, calendar, at(15, 0)?, PHONE, Some("k2"));
        let new = request(calendar, at(16, 0)?, PHONE, Some("k2"))?;
        match race(&store, &raw, &row, new).await? {
            Err(StoreBookError::IdempotencyConflict(a)) => ensure!(a.id().as_uuid() == id),
            other => bail!("expected IdempotencyConflict, got {other:?}"),
        }

        let day = TimeRange::new(at(0, 0)?, at(23, 0)?)?;
        ensure!(store.busy(calendar, day).await?.len() == 4);
        anyhow::Ok(())
    }
    .await;
    raw.close().await?;
    store.close().await?;
    test_db.drop_database().await?;
    result
}

/// An open transaction that does what a booking in progress does: hold the
/// calendar's booking lock in shared mode (`insert_if_free`) and an
/// uncommitted appointment at `start`.
async fn booking_in_progress(
    raw: &DatabaseConnection,
    calendar: CalendarId,
    start: DateTime<Utc>,
) -> anyhow::Result<sea_orm::DatabaseTransaction> {
    let txn = raw.begin().await?;
    txn.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock_shared({}, hashtext('{calendar}'))",
        0x5643_0001
    ))
    .await?;
    txn.execute_unprepared(&raw_insert(
        Uuid::now_v7(),
        calendar,
        start,
        OTHER_PHONE,
        None,
    ))
    .await?;
    Ok(txn)
}

/// Bookings of one calendar used to queue on its lock, held until their
/// commit was flushed: one booking at a time, one WAL flush each (issue 20).
/// Now a booking of another time goes through while one is in progress, a
/// move still waits for it, and an overlapping booking waits for it and is
/// refused when it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_bookings_of_one_calendar_do_not_queue() -> anyhow::Result<()> {
    let Some(test_db) =
        TestDatabase::postgres("postgres_bookings_of_one_calendar_do_not_queue").await?
    else {
        return Ok(());
    };
    // A deadlock would hang instead of being resolved by aborting one side
    // after a second (which the store's retry would hide).
    {
        let admin = Database::connect(test_db.url.as_str()).await?;
        let name = admin
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT current_database() AS name",
            ))
            .await?
            .context("no current database")?
            .try_get::<String>("", "name")?;
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{name}\" SET deadlock_timeout = '60s'"
            ))
            .await?;
        admin.close().await?;
    }
    let store = Store::connect(&test_db.url).await?;
    store.migrate().await?;
    let calendar = CalendarId::new();
    store
        .ensure_calendar(calendar, "c", "C", "America/Chicago")
        .await?;
    let raw = Database::connect(test_db.url.as_str()).await?;

    let result = async {
        let moving = match store
            .book(request(calendar, at(7, 0)?, PHONE, None)?, Duration::zero())
            .await
        {
            Ok(BookOutcome::Created(a)) => a,
            other => bail!("expected Created, got {other:?}"),
        };

        // Another time, while a booking of 9:00 is in progress: booked
        // before that one commits.
        let txn = booking_in_progress(&raw, calendar, at(9, 0)?).await?;
        let other_time = tokio::time::timeout(
            StdDuration::from_secs(20),
            store.book(
                request(calendar, at(14, 0)?, PHONE, None)?,
                Duration::zero(),
            ),
        )
        .await
        .context("a booking of another time waited for the booking in progress")?;
        ensure!(
            matches!(other_time, Ok(BookOutcome::Created(_))),
            "expected Created, got {other_time:?}"
        );

        // A move waits for the booking in progress (it takes the lock in
        // exclusive mode), an overlapping booking waits for its row.
        let move_task = {
            let store = store.clone();
            let range = TimeRange::starting_at(at(16, 0)?, Duration::minutes(30))?;
            tokio::spawn(async move {
                store
                    .reschedule(calendar, moving.id(), range, Duration::zero(), Utc::now())
                    .await
            })
        };
        let overlapping = {
            let store = store.clone();
            let new = request(calendar, at(9, 15)?, PHONE, None)?;
            tokio::spawn(async move { store.book(new, Duration::zero()).await })
        };
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        ensure!(
            !move_task.is_finished(),
            "the move did not wait for the booking in progress"
        );
        ensure!(
            !overlapping.is_finished(),
            "the overlapping booking did not wait for the booking in progress"
        );
        txn.commit().await?;
        let moved = move_task.await?;
        ensure!(moved.is_ok(), "the move failed: {moved:?}");
        match overlapping.await? {
            Err(StoreBookError::SlotTaken) => {}
            other => bail!("expected SlotTaken, got {other:?}"),
        }

        // No deadlock between two inserts of overlapping times: the booking
        // of 18:15–18:45 waits for the row of 18:00 in progress, and that
        // transaction then inserts 18:30–19:00 (which overlaps the booking,
        // not its own row). An insert that had placed its row before waiting
        // (without ON CONFLICT) would now wait for each other.
        let txn = booking_in_progress(&raw, calendar, at(18, 0)?).await?;
        let waiting = {
            let store = store.clone();
            let new = request(calendar, at(18, 15)?, PHONE, None)?;
            tokio::spawn(async move { store.book(new, Duration::zero()).await })
        };
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        ensure!(
            !waiting.is_finished(),
            "the overlapping booking did not wait for the booking in progress"
        );
        tokio::time::timeout(
            StdDuration::from_secs(20),
            txn.execute_unprepared(&raw_insert(
                Uuid::now_v7(),
                calendar,
                at(18, 30)?,
                OTHER_PHONE,
                None,
            )),
        )
        .await
        .context("the second insert waited for the waiting booking (a deadlock)")??;
        txn.commit().await?;
        match waiting.await? {
            Err(StoreBookError::SlotTaken) => {}
            other => bail!("expected SlotTaken, got {other:?}"),
        }

        let day = TimeRange::new(at(0, 0)?, at(23, 0)?)?;
        ensure!(store.busy(calendar, day).await?.len() == 5);
        anyhow::Ok(())
    }
    .await;
    raw.close().await?;
    store.close().await?;
    test_db.drop_database().await?;
    result
}
