//! The `CallRepository` port (and `AppointmentRepository::find_by_vapi_call`),
//! checked on SQLite and on PostgreSQL, each case on a fresh database.
//!
//! PostgreSQL cases need a server at `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); without one they print
//! `SKIPPED (PostgreSQL unreachable ...)` and pass, unless `REQUIRE_POSTGRES=1`.

#[macro_use]
mod support;

use anyhow::{Context, ensure};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Database};
use voice_scheduler_domain::calls::{CallFact, CallQuery, CallRepository, merge};
use voice_scheduler_domain::ports::CalendarScope;
use voice_scheduler_domain::{
    CalendarId, Call, CallDirection, CallId, CallSource, CallStatus, CallUpdate, PhoneNumber, Role,
};
use voice_scheduler_migrations::{Migrator, MigratorTrait};

use support::*;

on_both_backends!(
    a_report_round_trips_every_field,
    messages_in_any_order_give_one_record,
    duplicates_write_nothing,
    concurrent_messages_of_one_call_make_one_row,
    list_scopes_filters_and_pages_newest_first,
    deleting_a_calendar_keeps_its_calls,
    purge_clears_only_old_transcripts,
    appointments_are_found_by_their_call,
    the_calls_migration_goes_down_and_up,
);

// ---------------------------------------------------------------- fixtures

fn repo(ctx: &Ctx) -> &dyn CallRepository {
    &ctx.store
}

/// 2030-03-04 at `h:m:s` UTC.
fn hms(h: u32, m: u32, s: u32) -> anyhow::Result<DateTime<Utc>> {
    Ok(at(h, m)? + Duration::seconds(i64::from(s)))
}

fn status(call: &str, s: CallStatus, minute: u32) -> anyhow::Result<CallUpdate> {
    let mut u = CallUpdate::new(call, CallSource::StatusUpdate);
    u.status = Some(s);
    u.timestamp = Some(at(9, minute)?);
    u.direction = Some(CallDirection::Inbound);
    u.customer_phone = Some(PhoneNumber::from_e164("+14155550123")?);
    Ok(u)
}

/// The current end-of-call report's facts.
fn report(call: &str) -> anyhow::Result<CallUpdate> {
    let mut u = CallUpdate::new(call, CallSource::EndOfCallReport);
    u.timestamp = Some(at(9, 30)?);
    u.direction = Some(CallDirection::Inbound);
    u.customer_phone = Some(PhoneNumber::from_e164("+14155550123")?);
    u.ended_reason = Some("customer-ended-call".into());
    u.cost = Some(0.1342);
    u.started_at = Some(hms(9, 14, 15)?);
    u.ended_at = Some(hms(9, 17, 42)?);
    u.summary = Some("Jane booked a session.".into());
    u.success_evaluation = Some("true".into());
    u.transcript = Some("AI: Hi.\nUser: I'd like to book — Zürich\u{0} office.".into());
    u.recording_url = Some("https://storage.example.com/r.wav".into());
    Ok(u)
}

/// A call that started at 09:`minute` (from a report with only a start).
fn started(
    call: &str,
    minute: u32,
    calendar: Option<CalendarId>,
    phone: &str,
) -> anyhow::Result<CallUpdate> {
    let mut u = CallUpdate::new(call, CallSource::EndOfCallReport);
    u.started_at = Some(at(9, minute)?);
    u.calendar_id = calendar;
    u.customer_phone = Some(PhoneNumber::from_e164(phone)?);
    Ok(u)
}

/// What must not depend on the order: everything but our id and our times.
fn facts(call: &Call) -> Call {
    let mut c = call.clone();
    c.id = CallId::from_uuid(uuid::Uuid::nil());
    c.created_at = DateTime::UNIX_EPOCH;
    c.updated_at = DateTime::UNIX_EPOCH;
    c
}

fn ids(calls: &[Call]) -> Vec<CallId> {
    calls.iter().map(|c| c.id).collect()
}

fn all(scope: CalendarScope) -> CallQuery {
    CallQuery {
        scope,
        from: None,
        to: None,
        phone: None,
        before: None,
        limit: 1000,
    }
}

// ---------------------------------------------------------------- cases

async fn a_report_round_trips_every_field(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("c", 0)?;
    cals(&ctx).create(&cal).await?;
    let mut update = report("vapi-1")?;
    update.calendar_id = Some(cal.id);
    let now = hms(9, 31, 0)? + Duration::milliseconds(250);
    let stored = repo(&ctx).record(&update, now).await?;

    assert_eq!(stored.vapi_call_id, "vapi-1");
    assert_eq!(stored.calendar_id, Some(cal.id));
    assert_eq!(stored.status, Some(CallStatus::Ended));
    assert_eq!(stored.duration(), Some(Duration::seconds(207)));
    assert_eq!(stored.cost, Some(0.1342));
    assert_eq!(
        stored.transcript.as_deref(),
        Some("AI: Hi.\nUser: I'd like to book — Zürich\u{fffd} office."),
        "NUL is stored as U+FFFD, the rest as sent"
    );
    assert_eq!(stored.created_at, hms(9, 31, 0)?, "whole seconds");
    assert!(stored.reported.contains(CallFact::Summary));
    assert_eq!(repo(&ctx).get(stored.id).await?, Some(stored.clone()));
    assert_eq!(
        repo(&ctx).find_by_vapi_id("vapi-1").await?,
        Some(stored.clone())
    );
    assert_eq!(repo(&ctx).find_by_vapi_id("vapi-2").await?, None);
    assert_eq!(repo(&ctx).get(CallId::new()).await?, None);

    // the derived columns
    let rows = query(
        &ctx,
        "SELECT status_rank, duration_seconds, reported_facts FROM calls",
    )
    .await?;
    let row = rows.first().context("no row")?;
    assert_eq!(row.try_get::<Option<i32>>("", "status_rank")?, Some(5));
    assert_eq!(
        row.try_get::<Option<i64>>("", "duration_seconds")?,
        Some(207)
    );
    assert_eq!(
        row.try_get::<i32>("", "reported_facts")?,
        i32::from(stored.reported.bits())
    );
    Ok(())
}

async fn messages_in_any_order_give_one_record(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("c", 0)?;
    cals(&ctx).create(&cal).await?;
    let mut routed = status("", CallStatus::Ringing, 12)?;
    routed.calendar_id = Some(cal.id);
    let mut ended = status("", CallStatus::Ended, 40)?;
    ended.ended_reason = Some("hangup".into());
    let messages = [
        status("", CallStatus::Queued, 10)?,
        routed,
        status("", CallStatus::InProgress, 14)?,
        ended,
        report("")?,
    ];
    let orders: [&[usize]; 4] = [
        &[0, 1, 2, 3, 4],
        &[4, 3, 2, 1, 0],
        &[3, 4, 0, 4, 2, 1, 3],
        &[2, 2, 4, 0, 1, 3, 0],
    ];
    let mut records = Vec::new();
    for (n, order) in orders.iter().enumerate() {
        let call = format!("call-{n}");
        let mut last = None;
        for (k, i) in order.iter().enumerate() {
            let mut m = messages[*i].clone();
            m.vapi_call_id = call.clone();
            last = Some(repo(&ctx).record(&m, at(10, u32::try_from(k)?)?).await?);
        }
        let last = last.context("no message")?;
        ensure!(repo(&ctx).get(last.id).await? == Some(last.clone()));
        let mut f = facts(&last);
        f.vapi_call_id = String::new();
        records.push(f);
    }
    for r in &records[1..] {
        assert_eq!(r, &records[0]);
    }
    let r = &records[0];
    assert_eq!(r.status, Some(CallStatus::Ended));
    assert_eq!(r.ended_reason.as_deref(), Some("customer-ended-call"));
    assert_eq!(r.started_at, Some(hms(9, 14, 15)?));
    assert_eq!(r.ended_at, Some(hms(9, 17, 42)?));
    assert_eq!(r.calendar_id, Some(cal.id));
    assert_eq!(r.summary.as_deref(), Some("Jane booked a session."));
    assert_eq!(
        repo(&ctx).list(&all(CalendarScope::All)).await?.len(),
        orders.len()
    );
    Ok(())
}

async fn duplicates_write_nothing(ctx: Ctx) -> anyhow::Result<()> {
    let first = repo(&ctx).record(&report("vapi-1")?, at(10, 0)?).await?;
    let again = repo(&ctx).record(&report("vapi-1")?, at(11, 0)?).await?;
    assert_eq!(again, first, "not even updated_at moves");
    let older = repo(&ctx)
        .record(&status("vapi-1", CallStatus::InProgress, 15)?, at(12, 0)?)
        .await?;
    assert_eq!(older.status, Some(CallStatus::Ended));
    assert_eq!(
        older.started_at, first.started_at,
        "the report's start wins"
    );
    assert_eq!(older, first);
    Ok(())
}

async fn concurrent_messages_of_one_call_make_one_row(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("c", 0)?;
    cals(&ctx).create(&cal).await?;
    let mut routed = status("vapi-race", CallStatus::InProgress, 14)?;
    routed.calendar_id = Some(cal.id);
    let messages = vec![
        status("vapi-race", CallStatus::Queued, 10)?,
        status("vapi-race", CallStatus::Ringing, 12)?,
        routed,
        status("vapi-race", CallStatus::Ended, 40)?,
        report("vapi-race")?,
    ];
    let now = at(10, 0)?;
    let mut tasks = Vec::new();
    for round in 0..8 {
        for (i, m) in messages.iter().enumerate() {
            let store = ctx.store.clone();
            let m = m.clone();
            // rounds interleave differently
            let delay = ((round * 7 + i * 3) % 5) as u64;
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                CallRepository::record(&store, &m, now).await
            }));
        }
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await??.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every message saw one record");
    assert_eq!(count(&ctx, "SELECT COUNT(*) AS n FROM calls").await?, 1);

    let stored = repo(&ctx)
        .find_by_vapi_id("vapi-race")
        .await?
        .context("no call")?;
    let mut expected = Call::new(stored.id, "vapi-race", now);
    for m in &messages {
        expected = merge(&expected, m, now);
    }
    // what the store normalises: whole seconds, NUL-safe text
    expected.transcript = expected.transcript.map(|t| t.replace('\0', "\u{fffd}"));
    assert_eq!(facts(&stored), facts(&expected), "no message was lost");
    Ok(())
}

async fn list_scopes_filters_and_pages_newest_first(ctx: Ctx) -> anyhow::Result<()> {
    let ann = users(&ctx)
        .create(new_user("ann@example.com", Role::Staff, 0)?, false)
        .await?;
    let bob = users(&ctx)
        .create(new_user("bob@example.com", Role::Staff, 1)?, false)
        .await?;
    let mut a = calendar("a", 0)?;
    a.owner = Some(ann.id);
    let mut b = calendar("b", 1)?;
    b.owner = Some(bob.id);
    cals(&ctx).create(&a).await?;
    cals(&ctx).create(&b).await?;

    let p1 = "+14155550101";
    let p2 = "+14155550102";
    let mut made = Vec::new();
    // (minute, calendar, phone): three share 09:20
    for (i, (minute, calendar, phone)) in [
        (10, Some(a.id), p1),
        (20, Some(a.id), p2),
        (20, Some(b.id), p1),
        (20, Some(a.id), p1),
        (30, None, p1),
        (40, Some(b.id), p2),
    ]
    .into_iter()
    .enumerate()
    {
        let call = repo(&ctx)
            .record(
                &started(&format!("c{i}"), minute, calendar, phone)?,
                at(12, 0)?,
            )
            .await?;
        made.push(call);
    }
    // a call without a start is listed by when it was first heard of
    let unstarted = repo(&ctx)
        .record(&status("c-late", CallStatus::Queued, 0)?, at(9, 35)?)
        .await?;

    let newest_first = |calls: Vec<&Call>| {
        let mut v: Vec<&Call> = calls;
        v.sort_by_key(|c| std::cmp::Reverse((c.listed_at(), c.id)));
        v.iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let everything: Vec<&Call> = made.iter().chain([&unstarted]).collect();
    assert_eq!(
        ids(&repo(&ctx).list(&all(CalendarScope::All)).await?),
        newest_first(everything.clone()),
        "administrators see every call, those without a calendar too"
    );
    assert_eq!(
        ids(&repo(&ctx)
            .list(&all(CalendarScope::OwnedBy(ann.id)))
            .await?),
        newest_first(
            made.iter()
                .filter(|c| c.calendar_id == Some(a.id))
                .collect()
        )
    );
    assert_eq!(
        ids(&repo(&ctx).list(&all(CalendarScope::One(b.id))).await?),
        newest_first(
            made.iter()
                .filter(|c| c.calendar_id == Some(b.id))
                .collect()
        )
    );
    let mut q = all(CalendarScope::All);
    q.from = Some(at(9, 20)?);
    q.to = Some(at(9, 30)? + Duration::milliseconds(1));
    q.phone = Some(PhoneNumber::from_e164(p1)?);
    assert_eq!(
        ids(&repo(&ctx).list(&q).await?),
        newest_first(
            made.iter()
                .filter(|c| {
                    c.customer_phone.as_ref().map(|p| p.as_str()) == Some(p1)
                        && (at(9, 20).ok()..=at(9, 30).ok()).contains(&c.started_at)
                })
                .collect()
        )
    );

    // pages of two, with ties on listed_at, add up to the whole listing
    let whole = ids(&repo(&ctx).list(&all(CalendarScope::All)).await?);
    let mut paged = Vec::new();
    let mut q = all(CalendarScope::All);
    q.limit = 2;
    loop {
        let page = repo(&ctx).list(&q).await?;
        if page.is_empty() {
            break;
        }
        q.before = page.last().map(|c| (c.listed_at(), c.id));
        paged.extend(ids(&page));
    }
    assert_eq!(paged, whole);
    // a cursor between whole seconds
    let mut q = all(CalendarScope::All);
    q.before = Some((at(9, 20)? + Duration::milliseconds(500), CallId::new()));
    let listed = repo(&ctx).list(&q).await?;
    assert!(
        listed
            .iter()
            .all(|c| c.listed_at() <= at(9, 20).unwrap_or_default())
    );
    assert_eq!(listed.len(), 4);
    let mut q = all(CalendarScope::All);
    q.limit = 0;
    assert!(repo(&ctx).list(&q).await?.is_empty());
    Ok(())
}

async fn deleting_a_calendar_keeps_its_calls(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("c", 0)?;
    cals(&ctx).create(&cal).await?;
    let call = repo(&ctx)
        .record(
            &started("c1", 10, Some(cal.id), "+14155550101")?,
            at(12, 0)?,
        )
        .await?;
    cals(&ctx).delete(cal.id, at(12, 0)?).await?;
    let kept = repo(&ctx).get(call.id).await?.context("call deleted")?;
    assert_eq!(kept.calendar_id, None);
    assert_eq!(kept.started_at, call.started_at);
    assert!(
        repo(&ctx)
            .list(&all(CalendarScope::One(cal.id)))
            .await?
            .is_empty()
    );
    // a message that still names the deleted calendar is refused by the
    // foreign key, not silently stored
    let mut late = report("c1")?;
    late.calendar_id = Some(cal.id);
    assert!(repo(&ctx).record(&late, at(12, 1)?).await.is_err());
    Ok(())
}

async fn purge_clears_only_old_transcripts(ctx: Ctx) -> anyhow::Result<()> {
    // ended 09:17:42
    let old = repo(&ctx).record(&report("old")?, at(10, 0)?).await?;
    // no end time: counts from its last change (11:00)
    let mut legacy = CallUpdate::new("legacy", CallSource::EndOfCallReport);
    legacy.transcript = Some("AI: Hello.".into());
    let legacy = repo(&ctx).record(&legacy, at(11, 0)?).await?;
    // ended later
    let mut recent = report("recent")?;
    recent.ended_at = Some(at(12, 0)?);
    let recent = repo(&ctx).record(&recent, at(12, 5)?).await?;

    let purged = repo(&ctx)
        .purge_transcripts(at(11, 0)? + Duration::milliseconds(1), at(13, 0)?)
        .await?;
    assert_eq!(purged, 2);
    for (call, cleared) in [(&old, true), (&legacy, true), (&recent, false)] {
        let now = repo(&ctx).get(call.id).await?.context("gone")?;
        if cleared {
            assert_eq!(
                (now.transcript.as_deref(), now.recording_url.as_deref()),
                (None, None)
            );
            assert_eq!(now.transcript_purged_at, Some(at(13, 0)?));
            assert_eq!(now.updated_at, at(13, 0)?);
            assert!(!now.reported.contains(CallFact::Transcript));
            assert!(!now.reported.contains(CallFact::RecordingUrl));
            assert_eq!(now.summary, call.summary, "the rest is kept");
            let mut expected = call.clone();
            expected.purge_transcript(at(13, 0)?);
            assert_eq!(now, expected, "the store purges as the domain does");
        } else {
            assert_eq!(&now, call);
        }
    }
    // nothing left to purge; a re-delivered report does not bring it back
    assert_eq!(
        repo(&ctx)
            .purge_transcripts(at(11, 0)? + Duration::seconds(1), at(13, 0)?)
            .await?,
        0
    );
    let again = repo(&ctx).record(&report("old")?, at(14, 0)?).await?;
    assert_eq!(again.transcript, None);
    assert_eq!(again.recording_url, None);
    Ok(())
}

async fn appointments_are_found_by_their_call(ctx: Ctx) -> anyhow::Result<()> {
    let a = calendar("a", 0)?;
    let b = calendar("b", 1)?;
    cals(&ctx).create(&a).await?;
    cals(&ctx).create(&b).await?;
    let mut made = Vec::new();
    for (calendar, start, call) in [
        (b.id, at(11, 0)?, Some("vapi-1")),
        (a.id, at(10, 0)?, Some("vapi-1")),
        (a.id, at(12, 0)?, Some("vapi-2")),
        (a.id, at(13, 0)?, None),
    ] {
        let mut new = booking(calendar, start, &phone(made.len()))?;
        new.booked_by.vapi_call_id = call.map(str::to_owned);
        made.push(created(appts(&ctx).book(new, Duration::zero()).await)?);
    }
    let found = appts(&ctx).find_by_vapi_call("vapi-1").await?;
    assert_eq!(
        found.iter().map(|a| a.id()).collect::<Vec<_>>(),
        vec![made[1].id(), made[0].id()],
        "both calendars, earliest first"
    );
    assert!(appts(&ctx).find_by_vapi_call("vapi-3").await?.is_empty());
    Ok(())
}

async fn the_calls_migration_goes_down_and_up(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("c", 0)?;
    cals(&ctx).create(&cal).await?;
    let mut update = report("vapi-1")?;
    update.calendar_id = Some(cal.id);
    repo(&ctx).record(&update, at(10, 0)?).await?;

    // Down to just before this migration (later ones go first).
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let ours = names
        .iter()
        .position(|n| n == "m20261205_000001_create_calls")
        .context("the calls migration is not registered")?;
    let db = Database::connect(ctx.url.as_str()).await?;
    Migrator::down(&db, Some(u32::try_from(names.len() - ours)?)).await?;
    assert!(
        db.execute_unprepared("SELECT 1 FROM calls").await.is_err(),
        "the table is gone"
    );
    Migrator::up(&db, None).await?;
    db.close().await?;
    assert_eq!(repo(&ctx).find_by_vapi_id("vapi-1").await?, None);
    let again = repo(&ctx).record(&update, at(10, 0)?).await?;
    assert_eq!(again.calendar_id, Some(cal.id));
    Ok(())
}
