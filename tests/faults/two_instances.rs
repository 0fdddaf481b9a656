//! Two server processes on one PostgreSQL database, 200 callers racing for
//! one slot through both.

use std::time::{Duration, Instant};

use chrono::{NaiveTime, TimeZone, Utc};
use voice_scheduler_domain::ports::AppointmentRepository;
use voice_scheduler_domain::{CalendarId, TimeRange};
use voice_scheduler_server::app::DEFAULT_CALENDAR_ID;
use voice_scheduler_store::Store;
use voice_scheduler_store::testing::TestDatabase;

use crate::server::{Answer, ServerProcess, bookable_day, booking, post_tool};

const CALLERS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_give_one_slot_to_exactly_one_of_200_callers() {
    let Some(db) =
        TestDatabase::postgres("two_instances_give_one_slot_to_exactly_one_of_200_callers")
            .await
            .expect("postgres test database")
    else {
        return;
    };
    // One after the other, so the second finds the schema migrated.
    let first = ServerProcess::start(&db.url).await;
    let second = ServerProcess::start(&db.url).await;

    let date = bookable_day(3);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(CALLERS)
        .build()
        .unwrap();
    let started = Instant::now();
    let calls = (0..CALLERS).map(|i| {
        let base = if i % 2 == 0 {
            &first.base
        } else {
            &second.base
        };
        let body = booking(
            &format!("race-{i}"),
            &format!("+1415555{:04}", 1000 + i),
            date,
            "10:00",
        );
        let client = &client;
        async move { post_tool(client, base, &body).await }
    });
    let answers = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();

    let mut booked = 0;
    let mut taken = 0;
    let mut other = Vec::new();
    for answer in &answers {
        match answer {
            Answer::Result {
                status: 200,
                result,
            } if result["metadata"]["status"] == "booked" => {
                booked += 1;
            }
            Answer::Result {
                status: 200,
                result,
            } if result["metadata"]["reason"] == "taken" && result["error"].is_string() => {
                taken += 1;
            }
            other_answer => other.push(other_answer.clone()),
        }
    }
    assert!(other.is_empty(), "unexpected answers: {other:#?}");
    assert_eq!(booked, 1, "exactly one caller gets the slot");
    assert_eq!(taken, CALLERS - 1, "everyone else is told it is taken");

    // And the database agrees: one active appointment holds 10:00.
    let store = Store::connect(&db.url).await.unwrap();
    let start = Utc.from_utc_datetime(&date.and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap()));
    let window = TimeRange::new(
        start - chrono::Duration::hours(1),
        start + chrono::Duration::hours(1),
    )
    .unwrap();
    let busy = store
        .busy(CalendarId::from_uuid(DEFAULT_CALENDAR_ID), window)
        .await
        .unwrap();
    assert_eq!(busy.len(), 1, "{busy:?}");
    assert_eq!(busy[0].start(), start);
    store.close().await.unwrap();
    eprintln!("two instances: {CALLERS} racing bookings answered in {elapsed:?}");

    drop(first);
    drop(second);
    db.drop_database().await.unwrap();
}
