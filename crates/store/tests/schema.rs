//! The schema's own guarantees, below the store: PostgreSQL's exclusion
//! constraint refuses overlapping active appointments whoever writes them, and
//! SQLite stores timestamps as fixed-width UTC text.

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;
use voice_scheduler_store::Store;
use voice_scheduler_store::testing::TestDatabase;

async fn insert_raw(
    db: &DatabaseConnection,
    calendar: Uuid,
    code: &str,
    starts: &str,
    ends: &str,
    blocked_until: &str,
    status: &str,
) -> Result<(), DbErr> {
    let sql = format!(
        "INSERT INTO appointments (id, calendar_id, confirmation_code, starts_at, ends_at, \
         blocked_until, time_zone, status, customer_name, customer_phone, channel, created_at, \
         updated_at) VALUES ('{id}', '{calendar}', '{code}', '{starts}', '{ends}', \
         '{blocked_until}', 'UTC', '{status}', 'Jane Doe', '+14155550123', 'api', now(), now())",
        id = Uuid::new_v4(),
    );
    db.execute_unprepared(&sql).await.map(|_| ())
}

fn sqlstate(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_exclusion_constraint_refuses_overlaps() -> anyhow::Result<()> {
    let Some(test_db) =
        TestDatabase::postgres("postgres_exclusion_constraint_refuses_overlaps").await?
    else {
        return Ok(());
    };
    let store = Store::connect(&test_db.url).await?;
    store.migrate().await?;
    let calendar = Uuid::now_v7();
    store
        .ensure_calendar(
            voice_scheduler_domain::CalendarId::from_uuid(calendar),
            "c",
            "C",
            "UTC",
        )
        .await?;
    store.close().await?;
    let db = Database::connect(test_db.url.as_str()).await?;

    let result = async {
        insert_raw(
            &db,
            calendar,
            "AAAAAA",
            "2030-01-01 10:00Z",
            "2030-01-01 10:30Z",
            "2030-01-01 10:40Z",
            "confirmed",
        )
        .await?;
        // Inside the buffer: refused with 23P01.
        match insert_raw(
            &db,
            calendar,
            "BBBBBB",
            "2030-01-01 10:35Z",
            "2030-01-01 11:00Z",
            "2030-01-01 11:00Z",
            "confirmed",
        )
        .await
        {
            Err(e) if sqlstate(&e).as_deref() == Some("23P01") => {}
            other => bail!("expected SQLSTATE 23P01, got {other:?}"),
        }
        // Back to back with the held time: accepted.
        insert_raw(
            &db,
            calendar,
            "CCCCCC",
            "2030-01-01 10:40Z",
            "2030-01-01 11:00Z",
            "2030-01-01 11:00Z",
            "confirmed",
        )
        .await?;
        // Cancelled rows hold nothing.
        insert_raw(
            &db,
            calendar,
            "DDDDDD",
            "2030-01-01 10:00Z",
            "2030-01-01 10:30Z",
            "2030-01-01 10:30Z",
            "cancelled",
        )
        .await?;
        // A bad status or an empty range is refused by CHECK constraints (23514).
        for (code, status, ends) in [
            ("EEEEEE", "maybe", "2030-01-01 13:00Z"),
            ("FFFFFF", "confirmed", "2030-01-01 12:00Z"),
        ] {
            match insert_raw(&db, calendar, code, "2030-01-01 12:00Z", ends, ends, status).await {
                Err(e) if sqlstate(&e).as_deref() == Some("23514") => {}
                other => bail!("expected SQLSTATE 23514, got {other:?}"),
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await?;
    test_db.drop_database().await?;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_timestamps_are_fixed_width_utc_text() -> anyhow::Result<()> {
    use chrono::{Duration, TimeZone, Utc};
    use voice_scheduler_domain::ports::{AppointmentRepository, BookOutcome};
    use voice_scheduler_domain::{
        AppointmentId, BookedBy, CalendarId, Channel, NewAppointment, PersonName, PhoneNumber,
        TimeRange, TimeZoneId,
    };

    let test_db = TestDatabase::sqlite().await?;
    let store = Store::connect(&test_db.url).await?;
    store.migrate().await?;
    let calendar = CalendarId::new();
    store.ensure_calendar(calendar, "c", "C", "UTC").await?;
    let start = Utc
        .with_ymd_and_hms(2030, 1, 1, 9, 5, 0)
        .single()
        .context("time")?
        + Duration::microseconds(250);
    let new = NewAppointment {
        id: AppointmentId::new(),
        calendar_id: calendar,
        range: TimeRange::starting_at(start, Duration::minutes(30))?,
        time_zone: TimeZoneId::parse("UTC")?,
        customer_name: PersonName::parse("Jane Doe")?,
        customer_phone: PhoneNumber::from_e164("+14155550123")?,
        customer_email: None,
        purpose: None,
        booked_by: BookedBy {
            channel: Channel::Api,
            vapi_call_id: None,
            tool_call_id: None,
        },
        idempotency_key: None,
        created_at: start,
        service: None,
    };
    let outcome = store.book(new, Duration::minutes(5)).await?;
    if !matches!(outcome, BookOutcome::Created(_)) {
        bail!("expected Created, got {outcome:?}");
    }
    store.close().await?;

    let db = Database::connect(test_db.url.as_str()).await?;
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT CAST(starts_at AS TEXT) AS starts_at, CAST(ends_at AS TEXT) AS ends_at, \
             CAST(blocked_until AS TEXT) AS blocked_until, \
             CAST(created_at AS TEXT) AS created_at, typeof(starts_at) AS ty FROM appointments",
        ))
        .await?
        .context("no row")?;
    assert_eq!(row.try_get::<String>("", "ty")?, "text");
    for (column, expected) in [
        ("starts_at", "2030-01-01T09:05:00+00:00"),
        ("ends_at", "2030-01-01T09:35:00+00:00"),
        ("blocked_until", "2030-01-01T09:40:00+00:00"),
        ("created_at", "2030-01-01T09:05:00+00:00"),
    ] {
        assert_eq!(row.try_get::<String>("", column)?, expected, "{column}");
    }
    db.close().await?;
    test_db.drop_database().await?;
    Ok(())
}
