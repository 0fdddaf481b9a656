//! The `CalendarRepository` port and the appointment listing
//! (`AppointmentRepository::find` and `list`), checked on SQLite and on
//! PostgreSQL, each case on a fresh database.
//!
//! PostgreSQL cases need a server at `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); without one they print
//! `SKIPPED (PostgreSQL unreachable ...)` and pass, unless `REQUIRE_POSTGRES=1`.

#[macro_use]
mod support;

use std::collections::HashSet;

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use voice_scheduler_domain::ports::{
    Actor, AuditEntry, AuditLog, LoginThrottle, SessionRepository,
};
use voice_scheduler_domain::ports::{
    AppointmentQuery, AppointmentRepository, BookOutcome, CalendarRepository, CalendarScope,
    StoreBookError, StoreCalendarDeleteError, StoreCalendarError, VapiMatch,
};
use voice_scheduler_domain::user::RefreshToken;
use voice_scheduler_domain::{
    Appointment, AppointmentId, AppointmentStatus, Calendar, CalendarId, PhoneNumber, Role,
    SessionId, Slug, User, UserId,
};
use voice_scheduler_migrations::{Migrator, MigratorTrait};

use support::*;

/// The calendar a call's ids route to, whichever kind of route it is.
trait Either {
    fn either(self) -> Option<Calendar>;
}

impl Either for VapiMatch {
    fn either(self) -> Option<Calendar> {
        self.by_assistant.or(self.by_phone_number)
    }
}

on_both_backends!(
    calendar_round_trips_every_field,
    stored_calendar_that_no_longer_validates_is_an_error,
    slug_belongs_to_one_calendar,
    route_taken_names_the_id,
    owner_must_be_a_user,
    owner_is_a_foreign_key_in_the_schema,
    update_replaces_settings_owner_and_routes,
    closures_are_replaced_whole_and_read_with_the_calendar,
    find_by_vapi_answers_each_kind_of_route,
    sole_needs_exactly_one_calendar,
    list_scopes_oldest_first,
    create_if_none_creates_only_the_first,
    concurrent_create_if_none_stores_one,
    adopt_unowned_gives_only_unowned_calendars,
    delete_refuses_while_appointments_are_upcoming,
    delete_is_atomic_with_bookings,
    find_reads_any_calendar,
    list_filters_by_scope_time_status_and_phone,
    list_pages_are_stable_with_equal_start_times,
    migrations_go_down_and_up_again_with_every_table_in_use,
);

// ---------------------------------------------------------------- fixtures

async fn add_user(ctx: &Ctx, email: &str, n: i64) -> anyhow::Result<User> {
    Ok(users(ctx)
        .create(new_user(email, Role::Staff, n)?, false)
        .await?)
}

/// `calendar` with its routes sorted, as the store gives it back.
fn as_stored(calendar: &Calendar) -> Calendar {
    let mut c = calendar.clone();
    c.routes.assistant_ids.sort();
    c.routes.assistant_ids.dedup();
    c.routes.phone_number_ids.sort();
    c.routes.phone_number_ids.dedup();
    c
}

fn ids(calendars: &[Calendar]) -> Vec<CalendarId> {
    calendars.iter().map(|c| c.id).collect()
}

fn query(scope: CalendarScope) -> AppointmentQuery {
    AppointmentQuery {
        scope,
        from: None,
        to: None,
        status: None,
        phone: None,
        after: None,
        limit: 1000,
    }
}

async fn listed(ctx: &Ctx, q: &AppointmentQuery) -> anyhow::Result<Vec<AppointmentId>> {
    Ok(appts(ctx)
        .list(q)
        .await?
        .iter()
        .map(Appointment::id)
        .collect())
}

/// `appointments` in the listing order: (`starts_at`, `id`).
fn in_order<'a>(appointments: impl IntoIterator<Item = &'a Appointment>) -> Vec<AppointmentId> {
    let mut v: Vec<&Appointment> = appointments.into_iter().collect();
    v.sort_by_key(|a| (a.range().start(), a.id().as_uuid()));
    v.iter().map(|a| a.id()).collect()
}

async fn book(
    ctx: &Ctx,
    calendar: CalendarId,
    start: DateTime<Utc>,
    phone_no: usize,
) -> anyhow::Result<Appointment> {
    created(
        appts(ctx)
            .book(
                booking(calendar, start, &phone(phone_no))?,
                Duration::zero(),
            )
            .await,
    )
}

// ---------------------------------------------------------------- calendars

async fn calendar_round_trips_every_field(ctx: Ctx) -> anyhow::Result<()> {
    let owner = add_user(&ctx, "owner@example.com", 0).await?;
    let mut cal = routed(
        calendar("dr-lee", 0)?,
        &["asst-b", "asst-a"],
        &["pn-2", "pn-1"],
    )?;
    cal.name = "Dr. Lee — Zürich".to_owned();
    cal.schedule = schedule(
        "Europe/Zurich",
        "sat 10:00-14:00; mon-fri 13:00-17:00,08:00-12:00",
        [15, 45, 120, 30, 10],
    )?;
    cal.owner = Some(owner.id);
    cal.created_at = created_at(0)? + Duration::milliseconds(750);
    cals(&ctx).create(&cal).await?;

    let mut expected = as_stored(&cal);
    expected.created_at = created_at(0)?;
    assert_eq!(
        expected.routes.assistant_ids,
        vec![vapi("asst-a")?, vapi("asst-b")?]
    );
    assert_eq!(cals(&ctx).get(cal.id).await?, Some(expected.clone()));
    assert_eq!(
        cals(&ctx).find_by_slug(&Slug::parse("dr-lee")?).await?,
        Some(expected.clone())
    );
    assert_eq!(
        cals(&ctx).find_by_slug(&Slug::parse("dr-who")?).await?,
        None
    );
    assert_eq!(cals(&ctx).get(CalendarId::new()).await?, None);
    assert_eq!(
        cals(&ctx).list(CalendarScope::One(cal.id)).await?,
        vec![expected.clone()]
    );
    assert_eq!(cals(&ctx).sole().await?, Some(expected));

    // The working hours are stored in their canonical form.
    let rows = support::query(
        &ctx,
        "SELECT working_hours, slot_minutes, buffer_minutes FROM calendars",
    )
    .await?;
    let row = rows.first().context("no row")?;
    assert_eq!(
        row.try_get::<String>("", "working_hours")?,
        "mon-fri 08:00-12:00,13:00-17:00; sat 10:00-14:00"
    );
    assert_eq!(row.try_get::<i32>("", "slot_minutes")?, 15);
    assert_eq!(row.try_get::<i32>("", "buffer_minutes")?, 10);
    Ok(())
}

async fn stored_calendar_that_no_longer_validates_is_an_error(ctx: Ctx) -> anyhow::Result<()> {
    let cal = calendar("broken", 0)?;
    cals(&ctx).create(&cal).await?;
    support::query(
        &ctx,
        "UPDATE calendars SET working_hours = 'someday 09:00-17:00'",
    )
    .await?;
    let err = match cals(&ctx).get(cal.id).await {
        Err(e) => format!("{e:#}"),
        Ok(c) => bail!("expected an error, got {c:?}"),
    };
    assert!(err.contains(&cal.id.to_string()), "{err}");
    assert!(err.contains("working_hours"), "{err}");
    support::query(
        &ctx,
        "UPDATE calendars SET working_hours = 'mon 09:00-17:00', slot_minutes = 0",
    )
    .await?;
    let err = match cals(&ctx).list(CalendarScope::All).await {
        Err(e) => format!("{e:#}"),
        Ok(c) => bail!("expected an error, got {c:?}"),
    };
    assert!(err.contains(&cal.id.to_string()), "{err}");
    assert!(err.contains("slot_minutes"), "{err}");
    Ok(())
}

async fn slug_belongs_to_one_calendar(ctx: Ctx) -> anyhow::Result<()> {
    let main = calendar("main", 0)?;
    cals(&ctx).create(&main).await?;
    let clash = calendar("main", 1)?;
    match cals(&ctx).create(&clash).await {
        Err(StoreCalendarError::SlugTaken) => {}
        other => bail!("expected SlugTaken, got {other:?}"),
    }
    assert_eq!(cals(&ctx).get(clash.id).await?, None);

    let other = calendar("other", 1)?;
    cals(&ctx).create(&other).await?;
    let mut renamed = other.clone();
    renamed.slug = Slug::parse("main")?;
    match cals(&ctx).update(&renamed).await {
        Err(StoreCalendarError::SlugTaken) => {}
        other => bail!("expected SlugTaken, got {other:?}"),
    }
    assert_eq!(cals(&ctx).get(other.id).await?, Some(other.clone()));

    // Keeping its own slug is fine.
    let mut main_renamed = main.clone();
    main_renamed.name = "Main office".to_owned();
    cals(&ctx).update(&main_renamed).await?;
    assert_eq!(cals(&ctx).get(main.id).await?, Some(main_renamed));
    Ok(())
}

async fn route_taken_names_the_id(ctx: Ctx) -> anyhow::Result<()> {
    let a = routed(calendar("a", 0)?, &["asst-1"], &["pn-1"])?;
    cals(&ctx).create(&a).await?;

    let b = routed(calendar("b", 1)?, &["asst-0", "asst-1", "asst-2"], &[])?;
    match cals(&ctx).create(&b).await {
        Err(StoreCalendarError::RouteTaken(id)) => assert_eq!(id, "asst-1"),
        other => bail!("expected RouteTaken, got {other:?}"),
    }
    let b = routed(calendar("b", 1)?, &["asst-9"], &["pn-1"])?;
    match cals(&ctx).create(&b).await {
        Err(StoreCalendarError::RouteTaken(id)) => assert_eq!(id, "pn-1"),
        other => bail!("expected RouteTaken, got {other:?}"),
    }
    // Nothing of a refused calendar is stored.
    assert_eq!(cals(&ctx).get(b.id).await?, None);
    assert_eq!(
        cals(&ctx)
            .find_by_vapi(Some(&vapi("asst-9")?), None)
            .await?
            .either(),
        None
    );

    // Assistant ids and phone-number ids are separate namespaces.
    let b = routed(calendar("b", 1)?, &["pn-1"], &["asst-1"])?;
    cals(&ctx).create(&b).await?;
    let mut grabbing = b.clone();
    grabbing.routes.assistant_ids.push(vapi("asst-1")?);
    match cals(&ctx).update(&grabbing).await {
        Err(StoreCalendarError::RouteTaken(id)) => assert_eq!(id, "asst-1"),
        other => bail!("expected RouteTaken, got {other:?}"),
    }
    assert_eq!(cals(&ctx).get(b.id).await?, Some(as_stored(&b)));
    assert_eq!(cals(&ctx).get(a.id).await?, Some(as_stored(&a)));

    // An id repeated within one calendar is one route.
    let c = routed(calendar("c", 2)?, &["x", "x"], &[])?;
    cals(&ctx).create(&c).await?;
    let stored = cals(&ctx).get(c.id).await?.context("c")?;
    assert_eq!(stored.routes.assistant_ids, vec![vapi("x")?]);
    Ok(())
}

async fn owner_must_be_a_user(ctx: Ctx) -> anyhow::Result<()> {
    let mut cal = calendar("c", 0)?;
    cal.owner = Some(UserId::new());
    match cals(&ctx).create(&cal).await {
        Err(StoreCalendarError::UnknownOwner) => {}
        other => bail!("expected UnknownOwner, got {other:?}"),
    }
    assert_eq!(cals(&ctx).get(cal.id).await?, None);

    cal.owner = None;
    cals(&ctx).create(&cal).await?;
    let mut adopted = cal.clone();
    adopted.owner = Some(UserId::new());
    match cals(&ctx).update(&adopted).await {
        Err(StoreCalendarError::UnknownOwner) => {}
        other => bail!("expected UnknownOwner, got {other:?}"),
    }
    assert_eq!(cals(&ctx).get(cal.id).await?, Some(cal.clone()));

    let user = add_user(&ctx, "ann@example.com", 0).await?;
    adopted.owner = Some(user.id);
    cals(&ctx).update(&adopted).await?;
    assert_eq!(cals(&ctx).get(cal.id).await?, Some(adopted));
    Ok(())
}

/// Below the store: the owner is a foreign key (SQLite: kept by triggers),
/// and deleting a user unowns its calendars and ends its sessions.
async fn owner_is_a_foreign_key_in_the_schema(ctx: Ctx) -> anyhow::Result<()> {
    let user = add_user(&ctx, "ann@example.com", 0).await?;
    let mut cal = calendar("c", 0)?;
    cal.owner = Some(user.id);
    cals(&ctx).create(&cal).await?;

    let ghost = uuid_sql(&ctx, UserId::new().as_uuid());
    let cal_id = uuid_sql(&ctx, cal.id.as_uuid());
    let refused = support::query(
        &ctx,
        &format!("UPDATE calendars SET owner_id = {ghost} WHERE id = {cal_id}"),
    )
    .await;
    let err = refused.err().context("an unknown owner was accepted")?;
    ensure!(
        format!("{err:#}").to_lowercase().contains("foreign key"),
        "{err:#}"
    );
    let other = uuid_sql(&ctx, CalendarId::new().as_uuid());
    let refused = support::query(
        &ctx,
        &format!(
            "INSERT INTO calendars (id, slug, name, time_zone, created_at, owner_id) \
             VALUES ({other}, 'x', 'X', 'UTC', '2030-01-01T00:00:00+00:00', {ghost})"
        ),
    )
    .await;
    ensure!(refused.is_err(), "an unknown owner was accepted");

    let user_id = uuid_sql(&ctx, user.id.as_uuid());
    support::query(&ctx, &format!("DELETE FROM users WHERE id = {user_id}")).await?;
    let stored = cals(&ctx)
        .get(cal.id)
        .await?
        .context("the calendar is gone")?;
    assert_eq!(stored.owner, None);
    Ok(())
}

async fn update_replaces_settings_owner_and_routes(ctx: Ctx) -> anyhow::Result<()> {
    let u1 = add_user(&ctx, "one@example.com", 0).await?;
    let u2 = add_user(&ctx, "two@example.com", 1).await?;
    let mut cal = routed(calendar("c", 0)?, &["a1", "a2"], &["p1"])?;
    cal.owner = Some(u1.id);
    cals(&ctx).create(&cal).await?;

    let mut changed = routed(cal.clone(), &["a3", "a2"], &[])?;
    changed.slug = Slug::parse("c-two")?;
    changed.name = "Second name".to_owned();
    changed.schedule = schedule("Asia/Tokyo", "tue 10:00-11:00", [10, 20, 0, 7, 5])?;
    changed.owner = Some(u2.id);
    cals(&ctx).update(&changed).await?;
    assert_eq!(cals(&ctx).get(cal.id).await?, Some(as_stored(&changed)));
    assert_eq!(
        cals(&ctx)
            .find_by_vapi(Some(&vapi("a1")?), None)
            .await?
            .either(),
        None
    );
    assert_eq!(
        cals(&ctx)
            .find_by_vapi(None, Some(&vapi("p1")?))
            .await?
            .either(),
        None
    );
    assert_eq!(
        cals(&ctx)
            .find_by_vapi(Some(&vapi("a3")?), None)
            .await?
            .either()
            .map(|c| c.id),
        Some(cal.id)
    );
    // The routes it gave up are free.
    let d = routed(calendar("d", 1)?, &["a1"], &["p1"])?;
    cals(&ctx).create(&d).await?;
    // The owner can be removed again.
    changed.owner = None;
    cals(&ctx).update(&changed).await?;
    assert_eq!(cals(&ctx).get(cal.id).await?.and_then(|c| c.owner), None);

    match cals(&ctx).update(&calendar("ghost", 2)?).await {
        Err(StoreCalendarError::NotFound) => {}
        other => bail!("expected NotFound, got {other:?}"),
    }
    Ok(())
}

async fn find_by_vapi_answers_each_kind_of_route(ctx: Ctx) -> anyhow::Result<()> {
    let a = routed(calendar("a", 0)?, &["asst-x"], &[])?;
    let b = routed(calendar("b", 1)?, &["asst-w"], &["pn-y"])?;
    cals(&ctx).create(&a).await?;
    cals(&ctx).create(&b).await?;
    let (w, x, y, z) = (
        vapi("asst-w")?,
        vapi("asst-x")?,
        vapi("pn-y")?,
        vapi("nothing")?,
    );
    let ids = |m: VapiMatch| {
        (
            m.by_assistant.map(|c| c.id),
            m.by_phone_number.map(|c| c.id),
        )
    };
    // Both calendars are answered, so that a line claimed by two can be told.
    assert_eq!(
        ids(cals(&ctx).find_by_vapi(Some(&x), Some(&y)).await?),
        (Some(a.id), Some(b.id))
    );
    // One calendar listing both ids is both answers.
    assert_eq!(
        ids(cals(&ctx).find_by_vapi(Some(&w), Some(&y)).await?),
        (Some(b.id), Some(b.id))
    );
    assert_eq!(
        ids(cals(&ctx).find_by_vapi(Some(&z), Some(&y)).await?),
        (None, Some(b.id))
    );
    assert_eq!(
        ids(cals(&ctx).find_by_vapi(None, Some(&y)).await?),
        (None, Some(b.id))
    );
    assert_eq!(
        ids(cals(&ctx).find_by_vapi(Some(&x), None).await?),
        (Some(a.id), None)
    );
    assert_eq!(
        ids(cals(&ctx).find_by_vapi(Some(&x), Some(&z)).await?),
        (Some(a.id), None)
    );
    // Kinds are not mixed up: an assistant id is not a phone-number id.
    assert_eq!(
        ids(cals(&ctx).find_by_vapi(Some(&y), None).await?),
        (None, None)
    );
    assert_eq!(
        ids(cals(&ctx).find_by_vapi(None, Some(&x)).await?),
        (None, None)
    );
    assert_eq!(
        cals(&ctx).find_by_vapi(None, None).await?,
        VapiMatch::default()
    );
    // The whole calendar comes back, routes included.
    assert_eq!(
        cals(&ctx).find_by_vapi(Some(&x), None).await?.by_assistant,
        Some(a)
    );
    Ok(())
}

async fn sole_needs_exactly_one_calendar(ctx: Ctx) -> anyhow::Result<()> {
    assert_eq!(cals(&ctx).sole().await?, None);
    let first = routed(calendar("first", 0)?, &["a"], &[])?;
    cals(&ctx).create(&first).await?;
    assert_eq!(cals(&ctx).sole().await?, Some(first));
    cals(&ctx).create(&calendar("second", 1)?).await?;
    assert_eq!(cals(&ctx).sole().await?, None);
    Ok(())
}

async fn list_scopes_oldest_first(ctx: Ctx) -> anyhow::Result<()> {
    let u1 = add_user(&ctx, "one@example.com", 0).await?;
    let u2 = add_user(&ctx, "two@example.com", 1).await?;
    // Created out of order: the listing follows created_at, then id.
    let mut c1 = routed(calendar("c1", 5)?, &["a1"], &["p1"])?;
    c1.owner = Some(u1.id);
    let mut c2 = calendar("c2", 2)?;
    c2.owner = Some(u2.id);
    let mut c3 = routed(calendar("c3", 1)?, &["a3"], &[])?;
    c3.owner = Some(u1.id);
    let c4 = calendar("c4", 9)?;
    let mut c5 = calendar("c5", 5)?; // the same created_at as c1
    c5.owner = Some(u1.id);
    for c in [&c1, &c2, &c3, &c4, &c5] {
        cals(&ctx).create(c).await?;
    }
    let (first5, second5) = if c1.id < c5.id {
        (&c1, &c5)
    } else {
        (&c5, &c1)
    };

    let all = cals(&ctx).list(CalendarScope::All).await?;
    assert_eq!(ids(&all), vec![c3.id, c2.id, first5.id, second5.id, c4.id]);
    assert_eq!(
        all.iter().find(|c| c.id == c1.id),
        Some(&as_stored(&c1)),
        "routes come with each calendar"
    );
    assert_eq!(
        ids(&cals(&ctx).list(CalendarScope::OwnedBy(u1.id)).await?),
        vec![c3.id, first5.id, second5.id]
    );
    assert_eq!(
        cals(&ctx).list(CalendarScope::OwnedBy(u2.id)).await?,
        vec![c2.clone()]
    );
    assert!(
        cals(&ctx)
            .list(CalendarScope::OwnedBy(UserId::new()))
            .await?
            .is_empty()
    );
    assert_eq!(cals(&ctx).list(CalendarScope::One(c2.id)).await?, vec![c2]);
    assert!(
        cals(&ctx)
            .list(CalendarScope::One(CalendarId::new()))
            .await?
            .is_empty()
    );
    Ok(())
}

async fn create_if_none_creates_only_the_first(ctx: Ctx) -> anyhow::Result<()> {
    let first = routed(calendar("default", 0)?, &["asst"], &[])?;
    assert!(cals(&ctx).create_if_none(&first).await?);
    assert!(!cals(&ctx).create_if_none(&first).await?);
    assert!(!cals(&ctx).create_if_none(&calendar("another", 1)?).await?);
    assert_eq!(cals(&ctx).list(CalendarScope::All).await?, vec![first]);
    Ok(())
}

async fn concurrent_create_if_none_stores_one(ctx: Ctx) -> anyhow::Result<()> {
    for round in 0..3 {
        if round > 0 {
            // Start again from an empty installation.
            support::query(&ctx, "DELETE FROM calendars").await?;
        }
        let mut tasks = Vec::new();
        for i in 0..12 {
            let store = ctx.store.clone();
            // Half of them share a slug, as instances started together would.
            let slug = if i % 2 == 0 {
                "default".to_owned()
            } else {
                format!("first-{i}")
            };
            let cal = calendar(&slug, i)?;
            tasks.push(tokio::spawn(async move {
                let stored = CalendarRepository::create_if_none(&store, &cal).await;
                stored.map(|created| (created, cal.id))
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (created, id) = task.await??;
            if created {
                winners.push(id);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(
            ids(&cals(&ctx).list(CalendarScope::All).await?),
            winners,
            "round {round}"
        );
    }
    Ok(())
}

async fn adopt_unowned_gives_only_unowned_calendars(ctx: Ctx) -> anyhow::Result<()> {
    let u1 = add_user(&ctx, "one@example.com", 0).await?;
    let u2 = add_user(&ctx, "two@example.com", 1).await?;
    let c1 = calendar("c1", 0)?;
    let mut c2 = calendar("c2", 1)?;
    c2.owner = Some(u2.id);
    let c3 = calendar("c3", 2)?;
    for c in [&c1, &c2, &c3] {
        cals(&ctx).create(c).await?;
    }
    assert_eq!(cals(&ctx).adopt_unowned(u1.id).await?, 2);
    assert_eq!(
        ids(&cals(&ctx).list(CalendarScope::OwnedBy(u1.id)).await?),
        vec![c1.id, c3.id]
    );
    assert_eq!(
        ids(&cals(&ctx).list(CalendarScope::OwnedBy(u2.id)).await?),
        vec![c2.id]
    );
    assert_eq!(cals(&ctx).adopt_unowned(u2.id).await?, 0);
    Ok(())
}

async fn delete_refuses_while_appointments_are_upcoming(ctx: Ctx) -> anyhow::Result<()> {
    let cal = routed(calendar("c", 0)?, &["a1"], &["p1"])?;
    let other = calendar("other", 1)?;
    cals(&ctx).create(&cal).await?;
    cals(&ctx).create(&other).await?;
    let now = at(12, 0)?;
    let past = book(&ctx, cal.id, at(9, 0)?, 1).await?;
    let in_progress = book(&ctx, cal.id, at(11, 45)?, 2).await?; // until 12:15
    let future = book(&ctx, cal.id, at(14, 0)?, 3).await?;
    let cancelled = book(&ctx, cal.id, at(15, 0)?, 4).await?;
    appts(&ctx)
        .cancel(cal.id, cancelled.id(), None, at(8, 0)?)
        .await?;
    let elsewhere = book(&ctx, other.id, at(14, 0)?, 5).await?;

    match cals(&ctx).delete(cal.id, now).await {
        Err(StoreCalendarDeleteError::HasUpcoming(2)) => {}
        other => bail!("expected HasUpcoming(2), got {other:?}"),
    }
    assert!(cals(&ctx).get(cal.id).await?.is_some());
    for a in [&past, &in_progress, &future, &cancelled] {
        assert!(appts(&ctx).find(a.id()).await?.is_some(), "{a:?}");
    }

    appts(&ctx).cancel(cal.id, future.id(), None, now).await?;
    match cals(&ctx).delete(cal.id, now).await {
        Err(StoreCalendarDeleteError::HasUpcoming(1)) => {}
        other => bail!("expected HasUpcoming(1), got {other:?}"),
    }
    // At 12:15 the appointment in progress has ended.
    cals(&ctx).delete(cal.id, at(12, 15)?).await?;
    assert_eq!(cals(&ctx).get(cal.id).await?, None);
    for a in [&past, &in_progress, &future, &cancelled] {
        assert_eq!(appts(&ctx).find(a.id()).await?, None, "{a:?}");
    }
    assert_eq!(
        cals(&ctx)
            .find_by_vapi(Some(&vapi("a1")?), None)
            .await?
            .either(),
        None
    );
    let cal_id = uuid_sql(&ctx, cal.id.as_uuid());
    for table in ["appointments", "calendar_routes"] {
        assert_eq!(
            count(
                &ctx,
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE calendar_id = {cal_id}")
            )
            .await?,
            0,
            "{table}"
        );
    }
    // Other calendars keep theirs; the routes are free again.
    assert_eq!(appts(&ctx).find(elsewhere.id()).await?, Some(elsewhere));
    cals(&ctx)
        .create(&routed(calendar("d", 2)?, &["a1"], &["p1"])?)
        .await?;
    match cals(&ctx).delete(cal.id, now).await {
        Err(StoreCalendarDeleteError::NotFound) => {}
        other => bail!("expected NotFound, got {other:?}"),
    }
    Ok(())
}

/// A deletion and bookings of the same calendar at once: when the deletion
/// succeeds no booking did (none was stored and then deleted with the
/// calendar); when it refuses, it counted bookings that are stored.
async fn delete_is_atomic_with_bookings(ctx: Ctx) -> anyhow::Result<()> {
    let mut outcomes = HashSet::new();
    for round in 0..6 {
        let cal = calendar(&format!("race-{round}"), round)?;
        cals(&ctx).create(&cal).await?;
        let mut bookings = Vec::new();
        let mut deletion = None;
        let now = at(0, 0)?;
        for i in 0..16usize {
            if i == 2 * usize::try_from(round)? {
                let store = ctx.store.clone();
                deletion = Some(tokio::spawn(async move {
                    CalendarRepository::delete(&store, cal.id, now).await
                }));
            }
            let store = ctx.store.clone();
            let start = at(8, 0)? + Duration::minutes(30 * i64::try_from(i)?);
            let new = booking(cal.id, start, &phone(i))?;
            bookings.push(tokio::spawn(async move {
                AppointmentRepository::book(&store, new, Duration::zero()).await
            }));
        }
        let deleted = deletion.context("no deletion")?.await?;
        let mut stored = 0u64;
        for task in bookings {
            match task.await? {
                Ok(BookOutcome::Created(_)) => stored += 1,
                // After the deletion: the calendar is gone.
                Err(StoreBookError::Unknown(_)) => {}
                other => bail!("unexpected booking outcome {other:?}"),
            }
        }
        let remaining = count(
            &ctx,
            &format!(
                "SELECT COUNT(*) AS n FROM appointments WHERE calendar_id = {}",
                uuid_sql(&ctx, cal.id.as_uuid())
            ),
        )
        .await?;
        match deleted {
            Ok(()) => {
                outcomes.insert("deleted");
                assert_eq!(
                    stored, 0,
                    "round {round}: bookings succeeded but were deleted"
                );
                assert_eq!(cals(&ctx).get(cal.id).await?, None);
            }
            Err(StoreCalendarDeleteError::HasUpcoming(n)) => {
                outcomes.insert("refused");
                assert!(n >= 1 && n <= stored, "round {round}: {n} of {stored}");
                assert!(cals(&ctx).get(cal.id).await?.is_some());
            }
            Err(e) => bail!("round {round}: unexpected deletion outcome {e:?}"),
        }
        assert_eq!(remaining, i64::try_from(stored)?, "round {round}");
    }
    eprintln!("deletion outcomes seen: {outcomes:?}");
    Ok(())
}

// ---------------------------------------------------------------- appointment listing

async fn find_reads_any_calendar(ctx: Ctx) -> anyhow::Result<()> {
    let c1 = calendar("c1", 0)?;
    let c2 = calendar("c2", 1)?;
    cals(&ctx).create(&c1).await?;
    cals(&ctx).create(&c2).await?;
    let a = book(&ctx, c2.id, at(10, 0)?, 1).await?;
    assert_eq!(appts(&ctx).find(a.id()).await?, Some(a.clone()));
    let cancelled = appts(&ctx)
        .cancel(c2.id, a.id(), Some("ill".into()), at(9, 0)?)
        .await?;
    assert_eq!(appts(&ctx).find(a.id()).await?, Some(cancelled));
    assert_eq!(appts(&ctx).find(AppointmentId::new()).await?, None);
    Ok(())
}

async fn list_filters_by_scope_time_status_and_phone(ctx: Ctx) -> anyhow::Result<()> {
    let u1 = add_user(&ctx, "one@example.com", 0).await?;
    let u2 = add_user(&ctx, "two@example.com", 1).await?;
    let mut c1 = calendar("c1", 0)?;
    c1.owner = Some(u1.id);
    let mut c2 = calendar("c2", 1)?;
    c2.owner = Some(u2.id);
    let mut c3 = calendar("c3", 2)?;
    c3.owner = Some(u1.id);
    let c4 = calendar("c4", 3)?;
    for c in [&c1, &c2, &c3, &c4] {
        cals(&ctx).create(c).await?;
    }
    let a1 = book(&ctx, c1.id, at(9, 0)?, 1).await?;
    let a2 = book(&ctx, c1.id, at(10, 0)?, 2).await?;
    let a3 = book(&ctx, c2.id, at(9, 0)?, 1).await?;
    let a4 = book(&ctx, c3.id, at(11, 0)?, 1).await?;
    let a5 = book(&ctx, c2.id, at(12, 0)?, 3).await?;
    let a6 = book(&ctx, c4.id, at(13, 0)?, 1).await?;
    let a2 = appts(&ctx).cancel(c1.id, a2.id(), None, at(8, 0)?).await?;
    let all = [&a1, &a2, &a3, &a4, &a5, &a6];

    // Whole appointments, in (starts_at, id) order.
    let everything = appts(&ctx).list(&query(CalendarScope::All)).await?;
    assert_eq!(
        everything.iter().map(Appointment::id).collect::<Vec<_>>(),
        in_order(all)
    );
    for a in &everything {
        assert_eq!(Some(a), all.iter().copied().find(|b| b.id() == a.id()));
    }

    assert_eq!(
        listed(&ctx, &query(CalendarScope::One(c1.id))).await?,
        vec![a1.id(), a2.id()]
    );
    assert_eq!(
        listed(&ctx, &query(CalendarScope::OwnedBy(u1.id))).await?,
        in_order([&a1, &a2, &a4])
    );
    assert_eq!(
        listed(&ctx, &query(CalendarScope::OwnedBy(u2.id))).await?,
        in_order([&a3, &a5])
    );
    assert!(
        listed(&ctx, &query(CalendarScope::OwnedBy(UserId::new())))
            .await?
            .is_empty()
    );
    assert!(
        listed(&ctx, &query(CalendarScope::One(CalendarId::new())))
            .await?
            .is_empty()
    );

    // `from` is inclusive, `to` exclusive, also between whole seconds.
    let mut q = query(CalendarScope::All);
    q.from = Some(at(10, 0)?);
    assert_eq!(listed(&ctx, &q).await?, in_order([&a2, &a4, &a5, &a6]));
    q.from = Some(at(9, 0)? + Duration::milliseconds(500));
    assert_eq!(listed(&ctx, &q).await?, in_order([&a2, &a4, &a5, &a6]));
    q.from = Some(at(9, 0)? - Duration::milliseconds(500));
    assert_eq!(listed(&ctx, &q).await?, in_order(all));
    let mut q = query(CalendarScope::All);
    q.to = Some(at(11, 0)?);
    assert_eq!(listed(&ctx, &q).await?, in_order([&a1, &a2, &a3]));
    q.to = Some(at(11, 0)? + Duration::milliseconds(500));
    assert_eq!(listed(&ctx, &q).await?, in_order([&a1, &a2, &a3, &a4]));
    q.from = Some(at(10, 0)?);
    assert_eq!(listed(&ctx, &q).await?, in_order([&a2, &a4]));

    let mut q = query(CalendarScope::All);
    q.status = Some(AppointmentStatus::Cancelled);
    assert_eq!(listed(&ctx, &q).await?, vec![a2.id()]);
    q.status = Some(AppointmentStatus::Confirmed);
    assert_eq!(listed(&ctx, &q).await?, in_order([&a1, &a3, &a4, &a5, &a6]));

    let mut q = query(CalendarScope::All);
    q.phone = Some(PhoneNumber::from_e164(&phone(1))?);
    assert_eq!(listed(&ctx, &q).await?, in_order([&a1, &a3, &a4, &a6]));
    q.scope = CalendarScope::OwnedBy(u1.id);
    assert_eq!(listed(&ctx, &q).await?, in_order([&a1, &a4]));
    q.status = Some(AppointmentStatus::Cancelled);
    assert!(listed(&ctx, &q).await?.is_empty());

    let mut q = query(CalendarScope::All);
    q.limit = 2;
    assert_eq!(listed(&ctx, &q).await?, in_order(all)[..2].to_vec());
    q.limit = 0;
    assert!(listed(&ctx, &q).await?.is_empty());
    Ok(())
}

async fn list_pages_are_stable_with_equal_start_times(ctx: Ctx) -> anyhow::Result<()> {
    let mut booked = Vec::new();
    for c in 0..5 {
        let cal = calendar(&format!("c{c}"), c)?;
        cals(&ctx).create(&cal).await?;
        // A cancelled appointment and an active one at 09:00 in each calendar.
        let first = book(&ctx, cal.id, at(9, 0)?, 10).await?;
        booked.push(
            appts(&ctx)
                .cancel(cal.id, first.id(), None, at(8, 0)?)
                .await?,
        );
        for (i, start) in [at(9, 0)?, at(10, 0)?, at(10, 30)?, at(11, 0)?]
            .into_iter()
            .enumerate()
        {
            booked.push(book(&ctx, cal.id, start, i).await?);
        }
    }
    let expected = in_order(&booked);
    assert_eq!(expected.len(), 25);
    assert_eq!(listed(&ctx, &query(CalendarScope::All)).await?, expected);

    for size in [1u64, 2, 3, 4, 7, 10, 25, 30] {
        for status in [None, Some(AppointmentStatus::Confirmed)] {
            let mut q = query(CalendarScope::All);
            q.limit = size;
            q.status = status;
            let mut paged = Vec::new();
            for _ in 0..30 {
                let page = appts(&ctx).list(&q).await?;
                ensure!(page.len() as u64 <= size, "a page longer than {size}");
                let Some(last) = page.last() else { break };
                q.after = Some((last.range().start(), last.id()));
                let full = page.len() as u64 == size;
                paged.extend(page.iter().map(Appointment::id));
                if !full {
                    break;
                }
            }
            let want: Vec<AppointmentId> = expected
                .iter()
                .copied()
                .filter(|id| {
                    status.is_none() || booked.iter().any(|a| a.id() == *id && a.is_active())
                })
                .collect();
            assert_eq!(paged, want, "pages of {size}, status {status:?}");
        }
    }

    // `after` between whole seconds: everything from the next second on.
    let ten = at(10, 0)?;
    let at_ten: Vec<&Appointment> = booked.iter().filter(|a| a.range().start() == ten).collect();
    let mut q = query(CalendarScope::All);
    q.after = Some((
        at(10, 0)? - Duration::milliseconds(500),
        AppointmentId::new(),
    ));
    let listed_after = listed(&ctx, &q).await?;
    assert_eq!(listed_after[..5].to_vec(), in_order(at_ten.iter().copied()));
    assert_eq!(listed_after.len(), 15);
    // After the first of a tie: the rest of the tie, then later ones.
    let tie = in_order(at_ten.iter().copied());
    let first_of_tie = at_ten.iter().find(|a| a.id() == tie[0]).context("tie")?;
    q.after = Some((first_of_tie.range().start(), first_of_tie.id()));
    let rest = listed(&ctx, &q).await?;
    assert_eq!(rest[..4].to_vec(), tie[1..].to_vec());
    assert_eq!(rest.len(), 14);
    Ok(())
}

// ---------------------------------------------------------------- schema

/// Every migration's `down` works with rows in every table (SQLite's
/// triggers and the owner column included), and `up` again gives a working
/// store.
async fn migrations_go_down_and_up_again_with_every_table_in_use(ctx: Ctx) -> anyhow::Result<()> {
    let user = add_user(&ctx, "ann@example.com", 0).await?;
    let mut cal = routed(calendar("c", 0)?, &["a1"], &["p1"])?;
    cal.owner = Some(user.id);
    cals(&ctx).create(&cal).await?;
    book(&ctx, cal.id, at(10, 0)?, 1).await?;
    let session = voice_scheduler_domain::ports::Session {
        id: SessionId::new(),
        user: user.id,
        created_at: at(9, 0)?,
        expires_at: at(9, 0)? + Duration::days(1),
        ended_at: None,
    };
    SessionRepository::start(&ctx.store, &session, &RefreshToken::generate().digest()).await?;
    LoginThrottle::record_failure(&ctx.store, &["k".to_owned()], at(9, 0)?).await?;
    AuditLog::record(
        &ctx.store,
        AuditEntry {
            at: at(9, 0)?,
            actor: Actor::System,
            action: "test",
            resource: None,
            outcome: "success",
            address: None,
            detail: None,
        },
    )
    .await?;

    let db = Database::connect(ctx.url.as_str()).await?;
    Migrator::down(&db, None).await?;
    let backend = db.get_database_backend();
    let tables = match backend {
        DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type IN ('table', 'trigger') \
             AND name NOT LIKE 'sqlite_%'"
        }
        _ => "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'",
    };
    let names = db
        .query_all_raw(Statement::from_string(backend, tables))
        .await?
        .iter()
        .map(|r| r.try_get::<String>("", "t"))
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(names, vec!["seaql_migrations".to_owned()]);
    Migrator::up(&db, None).await?;
    db.close().await?;

    let user = add_user(&ctx, "ann@example.com", 0).await?;
    let mut cal = routed(calendar("c", 0)?, &["a1"], &["p1"])?;
    cal.owner = Some(user.id);
    cals(&ctx).create(&cal).await?;
    assert_eq!(cals(&ctx).sole().await?, Some(as_stored(&cal)));
    Ok(())
}

async fn closures_are_replaced_whole_and_read_with_the_calendar(ctx: Ctx) -> anyhow::Result<()> {
    use voice_scheduler_domain::closures::{ClosureLabel, Closures, DateOverride, TimeOff};
    use voice_scheduler_domain::{LocalRange, TimeRange};

    let cal = calendar("c", 0)?;
    cals(&ctx).create(&cal).await?;
    let christmas = "2030-12-25".parse()?;
    let closures = Closures::new(
        vec![
            DateOverride::closed(christmas, Some(ClosureLabel::parse("Christmas Day")?)),
            DateOverride::with_hours(
                "2030-12-24".parse()?,
                vec![LocalRange::parse("09:00-12:00")?],
                Some(ClosureLabel::parse("Christmas Eve")?),
            )?,
        ],
        vec![TimeOff::new(
            TimeRange::new(at(12, 0)?, at(12, 0)? + Duration::days(3))?,
            None,
        )?],
    )?;
    cals(&ctx).replace_closures(cal.id, &closures).await?;
    let stored = cals(&ctx).get(cal.id).await?.context("calendar")?;
    ensure!(
        stored.schedule.closures() == &closures,
        "read back with the calendar"
    );
    let by_slug = cals(&ctx)
        .find_by_slug(&cal.slug)
        .await?
        .context("by slug")?;
    ensure!(by_slug.schedule.closures() == &closures);

    // A change of settings keeps them (its calendar carries none).
    let mut changed = cal.clone();
    changed.name = "Renamed".to_owned();
    cals(&ctx).update(&changed).await?;
    let stored = cals(&ctx).get(cal.id).await?.context("calendar")?;
    ensure!(stored.schedule.closures() == &closures, "update kept them");

    // Replaced as a whole, and emptied.
    let fewer = Closures::new(vec![DateOverride::closed(christmas, None)], vec![])?;
    cals(&ctx).replace_closures(cal.id, &fewer).await?;
    let stored = cals(&ctx).get(cal.id).await?.context("calendar")?;
    ensure!(stored.schedule.closures() == &fewer);
    cals(&ctx)
        .replace_closures(cal.id, &Closures::default())
        .await?;
    let empty = count(
        &ctx,
        "SELECT COUNT(*) AS n FROM calendars WHERE closures IS NULL",
    )
    .await?;
    ensure!(empty == 1, "no closures are stored as NULL");
    let stored = cals(&ctx).get(cal.id).await?.context("calendar")?;
    ensure!(stored.schedule.closures().is_empty());

    match cals(&ctx).replace_closures(CalendarId::new(), &fewer).await {
        Err(StoreCalendarError::NotFound) => Ok(()),
        other => bail!("expected NotFound, got {other:?}"),
    }
}
