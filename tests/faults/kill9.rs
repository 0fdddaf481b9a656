//! SIGKILL in the middle of a load of bookings, then a restart: every
//! booking that was confirmed to a caller is there, and nothing else but
//! the bookings whose answer was lost with the process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use voice_scheduler_domain::ports::AppointmentRepository;
use voice_scheduler_domain::{AppointmentId, AppointmentStatus, CalendarId, TimeRange};
use voice_scheduler_server::app::DEFAULT_CALENDAR_ID;
use voice_scheduler_store::Store;
use voice_scheduler_store::testing::TestDatabase;

use crate::server::{Answer, ServerProcess, bookable_day, booking, find, post_tool};

/// Concurrent callers, each booking its own slots one after another.
const CALLERS: usize = 8;
/// Kill the server once this many bookings were confirmed.
const KILL_AFTER: usize = 40;
/// Slots a caller books at most (15-minute slots, 96 a day).
const PER_CALLER: usize = 400;

#[derive(Debug, Default)]
struct CallerLog {
    /// Confirmed to the caller: appointment id → start (as the server said).
    confirmed: BTreeMap<String, String>,
    /// Sent but never answered (the process died under it).
    unanswered: usize,
}

async fn survives_kill9(db: TestDatabase) {
    let mut server = ServerProcess::start(&db.url).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let confirmed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for c in 0..CALLERS {
        let (client, base) = (client.clone(), server.base.clone());
        let (confirmed, stop) = (Arc::clone(&confirmed), Arc::clone(&stop));
        callers.push(tokio::spawn(async move {
            let phone = format!("+1415555{:04}", 2000 + c);
            let mut log = CallerLog::default();
            for i in 0..PER_CALLER {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let k = c * PER_CALLER + i;
                let date = bookable_day((k / 96) as u64);
                let minutes = (k % 96) * 15;
                let time = format!("{:02}:{:02}", minutes / 60, minutes % 60);
                let body = booking(&format!("kill-{c}-{i}"), &phone, date, &time);
                match post_tool(&client, &base, &body).await {
                    Answer::Result {
                        status: 200,
                        result,
                    } if result["metadata"]["status"] == "booked" => {
                        let id = result["metadata"]["appointment_id"].as_str().unwrap();
                        let start = result["metadata"]["start"].as_str().unwrap();
                        log.confirmed.insert(id.to_owned(), start.to_owned());
                        confirmed.fetch_add(1, Ordering::Relaxed);
                    }
                    Answer::Lost(_) => {
                        // The server is gone: this booking may or may not be
                        // stored; the caller was told nothing.
                        log.unanswered += 1;
                        break;
                    }
                    other => panic!("caller {c} booking {i}: unexpected answer {other:?}"),
                }
            }
            (phone, log)
        }));
    }

    let started = Instant::now();
    while confirmed.load(Ordering::Relaxed) < KILL_AFTER {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} bookings confirmed in 60 s",
            confirmed.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for caller in callers {
        logs.push(caller.await.unwrap());
    }
    let total_confirmed: usize = logs.iter().map(|(_, l)| l.confirmed.len()).sum();
    let total_unanswered: usize = logs.iter().map(|(_, l)| l.unanswered).sum();
    assert!(total_confirmed >= KILL_AFTER);

    // Restart on the same database: it must come up, and every confirmed
    // booking must be there, whole.
    let server = ServerProcess::start(&db.url).await;
    let store = Store::connect(&db.url).await.unwrap();
    let calendar = CalendarId::from_uuid(DEFAULT_CALENDAR_ID);
    let mut stored_total = 0;
    for (phone, log) in &logs {
        let found = match post_tool(&client, &server.base, &find("after-restart", phone)).await {
            Answer::Result {
                status: 200,
                result,
            } => result,
            other => panic!("find_appointments after the restart: {other:?}"),
        };
        let listed: BTreeMap<String, String> = found["metadata"]["appointments"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|a| {
                        (
                            a["appointment_id"].as_str().unwrap().to_owned(),
                            a["start"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (id, start) in &log.confirmed {
            assert_eq!(
                listed.get(id),
                Some(start),
                "{phone}: confirmed booking {id} at {start} is missing after kill -9"
            );
            // The whole row reads back (every column parses) and is active.
            let stored = store
                .get(
                    calendar,
                    AppointmentId::from_uuid(uuid::Uuid::parse_str(id).unwrap()),
                )
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{phone}: appointment {id} is not stored"));
            assert_eq!(stored.status(), AppointmentStatus::Confirmed);
            assert_eq!(stored.customer_phone().as_str(), phone);
        }
        // Nothing stored that the caller was not told about, except the one
        // booking in flight when the process died.
        let extra: BTreeSet<&String> = listed
            .keys()
            .filter(|id| !log.confirmed.contains_key(*id))
            .collect();
        assert!(
            extra.len() <= log.unanswered,
            "{phone}: stored but never confirmed nor in flight: {extra:?}"
        );
        stored_total += listed.len();
    }
    // No other rows: everything active in the calendar belongs to a caller above.
    let everything = TimeRange::new(
        chrono::Utc::now() - chrono::Duration::days(1),
        chrono::Utc::now() + chrono::Duration::days(90),
    )
    .unwrap();
    let busy = store.busy(calendar, everything).await.unwrap();
    assert_eq!(busy.len(), stored_total, "rows outside the callers' lists");
    eprintln!(
        "kill -9: {total_confirmed} confirmed, {total_unanswered} unanswered, {stored_total} stored after restart"
    );
    store.close().await.unwrap();
    drop(server);
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_confirmed_booking_through_kill9() {
    let Some(db) = TestDatabase::postgres("postgres_keeps_every_confirmed_booking_through_kill9")
        .await
        .expect("postgres test database")
    else {
        return;
    };
    survives_kill9(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_confirmed_booking_through_kill9() {
    let db = TestDatabase::sqlite().await.expect("sqlite test database");
    survives_kill9(db).await;
}
