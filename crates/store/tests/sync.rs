//! Google connections and the calendar-sync outbox (`ConnectionRepository`,
//! `SyncQueue`, and the jobs and audit entries that bookings, moves and
//! cancellations write in their own transaction), on SQLite and on
//! PostgreSQL, each case on a fresh database.

#[macro_use]
mod support;

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Context, ensure};
use chrono::{DateTime, Duration, Utc};
use voice_scheduler_domain::ports::{Actor, AppointmentRepository, AuditEntry, StoreBookError};
use voice_scheduler_domain::sync::{
    Connection, ConnectionRepository, ConnectionStatus, PendingConnect, SealedToken, SyncJob,
    SyncQueue, needs_reconnect_entry,
};
use voice_scheduler_domain::{Calendar, CalendarId, Role, TimeRange};
use voice_scheduler_store::testing::TestBackend;

use support::*;

on_both_backends!(
    a_booking_of_a_connected_calendar_queues_one_job_and_its_audit_entry_with_it,
    a_calendar_that_is_not_connected_queues_nothing,
    a_refused_booking_writes_no_job_and_no_audit_entry,
    moves_and_cancellations_requeue_the_same_job_with_a_new_generation,
    a_claim_leases_jobs_until_the_lease_ends,
    a_job_that_changed_while_it_ran_is_released_not_deleted,
    jobs_of_a_connection_that_needs_reconnecting_wait,
    failed_jobs_are_counted_and_can_be_retried,
    connecting_queues_the_upcoming_appointments,
    a_connection_state_works_once_and_only_before_it_expires,
    connections_are_saved_replaced_resealed_and_removed,
    erasing_a_caller_queues_their_events_for_rewriting,
);

fn lease() -> Duration {
    Duration::minutes(2)
}

fn sealed(tag: &str) -> SealedToken {
    SealedToken {
        bytes: format!("sealed-{tag}").into_bytes(),
        key_id: "00112233".to_owned(),
    }
}

fn connection(calendar: CalendarId, at: DateTime<Utc>) -> Connection {
    Connection {
        calendar_id: calendar,
        google_calendar_id: "primary".to_owned(),
        status: ConnectionStatus::Connected,
        refresh_token: sealed("a"),
        scopes: Some("https://www.googleapis.com/auth/calendar.events".to_owned()),
        connected_by: None,
        connected_at: at,
        updated_at: at,
        last_synced_at: None,
        last_error: None,
    }
}

async fn connected_calendar(ctx: &Ctx, slug: &str) -> anyhow::Result<Calendar> {
    let cal = calendar(slug, 0)?;
    cals(ctx).create(&cal).await?;
    ctx.store
        .save_connection(&connection(cal.id, at(0, 0)?))
        .await?;
    Ok(cal)
}

fn entry(action: &'static str) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        actor: Actor::VapiCall("call-1".to_owned()),
        action,
        resource: Some("appointment:x".to_owned()),
        outcome: "success",
        address: None,
        detail: Some("detail".to_owned()),
    }
}

async fn jobs(ctx: &Ctx) -> anyhow::Result<i64> {
    count(ctx, r#"SELECT COUNT(*) AS n FROM "calendar_sync_jobs""#).await
}

async fn audit_rows(ctx: &Ctx, action: &str) -> anyhow::Result<i64> {
    count(
        ctx,
        &format!(r#"SELECT COUNT(*) AS n FROM "audit_log" WHERE "action" = '{action}'"#),
    )
    .await
}

async fn claim(ctx: &Ctx, now: DateTime<Utc>) -> anyhow::Result<Vec<SyncJob>> {
    ctx.store.claim(now, lease(), 100).await
}

async fn a_booking_of_a_connected_calendar_queues_one_job_and_its_audit_entry_with_it(
    ctx: Ctx,
) -> anyhow::Result<()> {
    let cal = connected_calendar(&ctx, "main").await?;
    let booked = created(
        ctx.store
            .book_recorded(
                booking(cal.id, at(10, 0)?, &phone(1))?,
                Duration::zero(),
                Some(entry("appointment.book")),
            )
            .await,
    )?;
    ensure!(jobs(&ctx).await? == 1, "one job");
    ensure!(
        audit_rows(&ctx, "appointment.book").await? == 1,
        "one entry"
    );
    let claimed = claim(&ctx, at(0, 0)?).await?;
    ensure!(claimed.len() == 1, "{claimed:?}");
    ensure!(claimed[0].appointment_id == booked.id(), "the booked one");
    ensure!(claimed[0].calendar_id == cal.id);
    ensure!(claimed[0].attempts == 1 && claimed[0].generation == 1);
    let counts = ctx.store.counts(cal.id).await?;
    ensure!(counts.pending == 1 && counts.failed == 0, "{counts:?}");
    Ok(())
}

async fn a_calendar_that_is_not_connected_queues_nothing(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("plain", 0)?;
    cals(&ctx).create(&cal).await?;
    let booked = created(
        ctx.store
            .book_recorded(
                booking(cal.id, at(10, 0)?, &phone(1))?,
                Duration::zero(),
                Some(entry("appointment.book")),
            )
            .await,
    )?;
    appts(&ctx)
        .cancel_recorded(
            cal.id,
            booked.id(),
            None,
            at(1, 0)?,
            Some(entry("appointment.cancel")),
        )
        .await?;
    ensure!(jobs(&ctx).await? == 0, "no job without a connection");
    ensure!(audit_rows(&ctx, "appointment.book").await? == 1);
    ensure!(audit_rows(&ctx, "appointment.cancel").await? == 1);
    Ok(())
}

async fn a_refused_booking_writes_no_job_and_no_audit_entry(ctx: Ctx) -> anyhow::Result<()> {
    let cal = connected_calendar(&ctx, "main").await?;
    created(
        ctx.store
            .book_recorded(
                booking(cal.id, at(10, 0)?, &phone(1))?,
                Duration::zero(),
                Some(entry("appointment.book")),
            )
            .await,
    )?;
    let refused = ctx
        .store
        .book_recorded(
            booking(cal.id, at(10, 15)?, &phone(2))?,
            Duration::zero(),
            Some(entry("appointment.book")),
        )
        .await;
    ensure!(
        matches!(refused, Err(StoreBookError::SlotTaken)),
        "{refused:?}"
    );
    ensure!(jobs(&ctx).await? == 1, "only the first booking's job");
    ensure!(
        audit_rows(&ctx, "appointment.book").await? == 1,
        "one entry"
    );
    Ok(())
}

async fn moves_and_cancellations_requeue_the_same_job_with_a_new_generation(
    ctx: Ctx,
) -> anyhow::Result<()> {
    let cal = connected_calendar(&ctx, "main").await?;
    let booked = created(
        appts(&ctx)
            .book(booking(cal.id, at(10, 0)?, &phone(1))?, Duration::zero())
            .await,
    )?;
    let first = claim(&ctx, at(0, 0)?).await?;
    ensure!(first.len() == 1);
    ctx.store.done(&first[0]).await?;
    ensure!(jobs(&ctx).await? == 0, "done jobs are deleted");

    appts(&ctx)
        .reschedule_recorded(
            cal.id,
            booked.id(),
            TimeRange::starting_at(at(11, 0)?, Duration::minutes(30))?,
            Duration::zero(),
            at(0, 1)?,
            Some(entry("appointment.reschedule")),
        )
        .await?;
    appts(&ctx)
        .cancel(cal.id, booked.id(), None, at(0, 2)?)
        .await?;
    ensure!(jobs(&ctx).await? == 1, "one row per appointment");
    let again = claim(&ctx, at(0, 3)?).await?;
    ensure!(again.len() == 1, "{again:?}");
    ensure!(
        again[0].generation == 2,
        "moved then cancelled: {:?}",
        again[0]
    );
    ensure!(again[0].attempts == 1, "attempts start over");
    ensure!(audit_rows(&ctx, "appointment.reschedule").await? == 1);
    Ok(())
}

async fn a_claim_leases_jobs_until_the_lease_ends(ctx: Ctx) -> anyhow::Result<()> {
    let cal = connected_calendar(&ctx, "main").await?;
    for i in 0..3 {
        created(
            appts(&ctx)
                .book(
                    booking(cal.id, at(10, 0)? + Duration::hours(i), &phone(1))?,
                    Duration::zero(),
                )
                .await,
        )?;
    }
    let now = at(0, 0)?;
    ensure!(claim(&ctx, now).await?.len() == 3);
    ensure!(claim(&ctx, now).await?.is_empty(), "leased");
    ensure!(
        claim(&ctx, now + lease() - Duration::seconds(1))
            .await?
            .is_empty(),
        "still leased"
    );
    let after = claim(&ctx, now + lease()).await?;
    ensure!(after.len() == 3, "the lease ended: {after:?}");
    ensure!(after.iter().all(|j| j.attempts == 2), "{after:?}");
    // A job retried later is not due before then.
    ctx.store
        .retry_at(&after[0], now + Duration::hours(1), "503 from Google")
        .await?;
    ensure!(claim(&ctx, now + lease()).await?.is_empty());
    let due = claim(&ctx, now + Duration::hours(1)).await?;
    ensure!(
        due.iter().any(|j| j.id == after[0].id),
        "due an hour later: {due:?}"
    );
    Ok(())
}

async fn a_job_that_changed_while_it_ran_is_released_not_deleted(ctx: Ctx) -> anyhow::Result<()> {
    let cal = connected_calendar(&ctx, "main").await?;
    let booked = created(
        appts(&ctx)
            .book(booking(cal.id, at(10, 0)?, &phone(1))?, Duration::zero())
            .await,
    )?;
    let claimed = claim(&ctx, at(0, 0)?).await?;
    ensure!(claimed.len() == 1);
    // The caller cancels while the worker talks to Google.
    appts(&ctx)
        .cancel(cal.id, booked.id(), None, at(0, 0)?)
        .await?;
    ensure!(
        claim(&ctx, at(0, 0)?).await?.is_empty(),
        "still leased to the first worker"
    );
    ctx.store.done(&claimed[0]).await?;
    let next = claim(&ctx, at(0, 0)?).await?;
    ensure!(next.len() == 1, "the cancellation still runs: {next:?}");
    ensure!(next[0].generation == 2);
    ctx.store.done(&next[0]).await?;
    ensure!(jobs(&ctx).await? == 0);
    Ok(())
}

async fn jobs_of_a_connection_that_needs_reconnecting_wait(ctx: Ctx) -> anyhow::Result<()> {
    let cal = connected_calendar(&ctx, "main").await?;
    created(
        appts(&ctx)
            .book(booking(cal.id, at(10, 0)?, &phone(1))?, Duration::zero())
            .await,
    )?;
    let record = needs_reconnect_entry(cal.id, "invalid_grant", at(0, 0)?);
    ensure!(
        ctx.store
            .mark_needs_reconnect(cal.id, "invalid_grant", at(0, 0)?, Some(&record))
            .await?,
        "it was connected"
    );
    ensure!(
        audit_rows(&ctx, "google.needs_reconnect").await? == 1,
        "the entry is written with the flag"
    );
    ensure!(
        !ctx.store
            .mark_needs_reconnect(cal.id, "invalid_grant", at(0, 0)?, Some(&record))
            .await?,
        "only once"
    );
    ensure!(
        audit_rows(&ctx, "google.needs_reconnect").await? == 1,
        "no second entry when nothing changed"
    );
    ensure!(claim(&ctx, at(1, 0)?).await?.is_empty(), "paused");
    let shown = ctx.store.connection(cal.id).await?.context("kept")?;
    ensure!(shown.status == ConnectionStatus::NeedsReconnect);
    ensure!(shown.last_error.as_deref() == Some("invalid_grant"));
    // Connecting again resumes them.
    ctx.store
        .save_connection(&connection(cal.id, at(1, 0)?))
        .await?;
    ensure!(claim(&ctx, at(1, 0)?).await?.len() == 1, "resumed");
    Ok(())
}

async fn failed_jobs_are_counted_and_can_be_retried(ctx: Ctx) -> anyhow::Result<()> {
    let cal = connected_calendar(&ctx, "main").await?;
    created(
        appts(&ctx)
            .book(booking(cal.id, at(10, 0)?, &phone(1))?, Duration::zero())
            .await,
    )?;
    let claimed = claim(&ctx, at(0, 0)?).await?;
    ctx.store
        .fail(&claimed[0], "403 forbidden", at(0, 0)?)
        .await?;
    let counts = ctx.store.counts(cal.id).await?;
    ensure!(counts.failed == 1 && counts.pending == 0, "{counts:?}");
    ensure!(
        claim(&ctx, at(5, 0)?).await?.is_empty(),
        "failed is not due"
    );
    ensure!(ctx.store.retry_failed(cal.id, at(5, 0)?).await? == 1);
    let again = claim(&ctx, at(5, 0)?).await?;
    ensure!(again.len() == 1 && again[0].attempts == 1, "{again:?}");
    Ok(())
}

async fn connecting_queues_the_upcoming_appointments(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("later", 0)?;
    cals(&ctx).create(&cal).await?;
    let past = created(
        appts(&ctx)
            .book(booking(cal.id, at(8, 0)?, &phone(1))?, Duration::zero())
            .await,
    )?;
    let upcoming = created(
        appts(&ctx)
            .book(booking(cal.id, at(10, 0)?, &phone(2))?, Duration::zero())
            .await,
    )?;
    let cancelled = created(
        appts(&ctx)
            .book(booking(cal.id, at(11, 0)?, &phone(3))?, Duration::zero())
            .await,
    )?;
    appts(&ctx)
        .cancel(cal.id, cancelled.id(), None, at(0, 0)?)
        .await?;
    ensure!(jobs(&ctx).await? == 0);
    ctx.store
        .save_connection(&connection(cal.id, at(9, 0)?))
        .await?;
    // The upcoming one gets its event; the cancelled one loses any event an
    // earlier connection left; the past one is left alone.
    ensure!(ctx.store.enqueue_upcoming(cal.id, at(9, 0)?).await? == 2);
    let claimed = claim(&ctx, at(9, 0)?).await?;
    let mut ids: Vec<_> = claimed.iter().map(|j| j.appointment_id).collect();
    ids.sort();
    let mut expected = vec![upcoming.id(), cancelled.id()];
    expected.sort();
    ensure!(ids == expected, "not {past:?}: {ids:?}");
    Ok(())
}

async fn a_connection_state_works_once_and_only_before_it_expires(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("main", 0)?;
    cals(&ctx).create(&cal).await?;
    let user = users(&ctx)
        .create(new_user("ann@example.com", Role::Staff, 0)?, false)
        .await?;
    let now = at(0, 0)?;
    let pending = |digest: &str| PendingConnect {
        state_digest: digest.to_owned(),
        user_id: user.id,
        calendar_id: cal.id,
        google_calendar_id: "team@group.calendar.google.com".to_owned(),
        created_at: now,
        expires_at: now + Duration::minutes(10),
        code_verifier: Some(format!("verifier-of-{digest}")),
    };
    ctx.store.save_pending(&pending("one")).await?;
    ctx.store.save_pending(&pending("two")).await?;
    let taken = ctx.store.take_pending("one", now).await?;
    ensure!(taken == Some(pending("one")), "{taken:?}");
    ensure!(ctx.store.take_pending("one", now).await?.is_none(), "once");
    ensure!(
        ctx.store
            .take_pending("two", now + Duration::minutes(10))
            .await?
            .is_none(),
        "expired"
    );
    ensure!(ctx.store.take_pending("two", now).await?.is_none(), "gone");
    ensure!(ctx.store.take_pending("never", now).await?.is_none());
    Ok(())
}

async fn connections_are_saved_replaced_resealed_and_removed(ctx: Ctx) -> anyhow::Result<()> {
    let cal = connected_calendar(&ctx, "main").await?;
    let mut replaced = connection(cal.id, at(1, 0)?);
    replaced.google_calendar_id = "team@group.calendar.google.com".to_owned();
    replaced.refresh_token = sealed("b");
    ctx.store.save_connection(&replaced).await?;
    ensure!(ctx.store.connection(cal.id).await? == Some(replaced.clone()));
    ensure!(ctx.store.connections().await?.len() == 1);

    let newer = SealedToken {
        bytes: b"sealed-with-new-key".to_vec(),
        key_id: "aabbccdd".to_owned(),
    };
    ensure!(
        !ctx.store.reseal(cal.id, &sealed("a"), &newer).await?,
        "only over the current value"
    );
    ensure!(ctx.store.reseal(cal.id, &sealed("b"), &newer).await?);
    let shown = ctx.store.connection(cal.id).await?.context("kept")?;
    ensure!(shown.refresh_token == newer);

    ctx.store.mark_synced(cal.id, at(2, 0)?).await?;
    let shown = ctx.store.connection(cal.id).await?.context("kept")?;
    ensure!(shown.last_synced_at == Some(at(2, 0)?));

    let removed = ctx.store.remove_connection(cal.id).await?;
    ensure!(removed.is_some());
    ensure!(ctx.store.remove_connection(cal.id).await?.is_none());
    ensure!(ctx.store.connection(cal.id).await?.is_none());
    Ok(())
}

/// Two workers (two stores, as two server instances) claiming from one
/// PostgreSQL at once never get the same job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_workers_never_claim_one_job_twice() -> anyhow::Result<()> {
    run(
        TestBackend::Postgres,
        "postgres_workers_never_claim_one_job_twice",
        |ctx| async move {
            let cal = connected_calendar(&ctx, "main").await?;
            let total = 200;
            for i in 0..total {
                created(
                    appts(&ctx)
                        .book(
                            booking(cal.id, at(0, 0)? + Duration::minutes(30 * i), &phone(1))?,
                            Duration::zero(),
                        )
                        .await,
                )?;
            }
            let other = Arc::new(voice_scheduler_store::Store::connect(&ctx.url).await?);
            let mine = Arc::new(ctx.store.clone());
            // Every job is due (a job is due from its booking's creation).
            let now = at(0, 0)? + Duration::days(30);
            let mut workers = Vec::new();
            for w in 0..8 {
                let store = if w % 2 == 0 {
                    Arc::clone(&mine)
                } else {
                    Arc::clone(&other)
                };
                workers.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let batch = store.claim(now, Duration::minutes(2), 7).await?;
                        if batch.is_empty() {
                            return anyhow::Ok(got);
                        }
                        got.extend(batch.into_iter().map(|j| j.id));
                    }
                }));
            }
            let mut seen = HashSet::new();
            let mut claimed = 0;
            for w in workers {
                for id in w.await?? {
                    claimed += 1;
                    ensure!(seen.insert(id), "job {id} claimed twice");
                }
            }
            ensure!(claimed == total, "{claimed} of {total} claimed");
            Ok(())
        },
    )
    .await
}

/// Erasing a caller queues their appointments' events for rewriting, so
/// their name and number leave Google Calendar too.
async fn erasing_a_caller_queues_their_events_for_rewriting(ctx: Ctx) -> anyhow::Result<()> {
    use voice_scheduler_domain::privacy::PrivacyRepository;
    let cal = connected_calendar(&ctx, "main").await?;
    let theirs = created(
        appts(&ctx)
            .book(booking(cal.id, at(10, 0)?, &phone(1))?, Duration::zero())
            .await,
    )?;
    created(
        appts(&ctx)
            .book(booking(cal.id, at(11, 0)?, &phone(2))?, Duration::zero())
            .await,
    )?;
    for job in claim(&ctx, at(0, 0)?).await? {
        ctx.store.done(&job).await?;
    }
    ensure!(jobs(&ctx).await? == 0);
    ctx.store
        .erase_caller(
            &voice_scheduler_domain::PhoneNumber::from_e164(&phone(1))?,
            &voice_scheduler_domain::PhoneNumber::from_e164("+12025550100")?,
            at(1, 0)?,
        )
        .await?;
    let queued = claim(&ctx, at(1, 0)?).await?;
    let ids: Vec<_> = queued.iter().map(|j| j.appointment_id).collect();
    ensure!(ids == vec![theirs.id()], "{ids:?}");
    Ok(())
}
