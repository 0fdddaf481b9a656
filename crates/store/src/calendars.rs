//! [`CalendarRepository`] on PostgreSQL and SQLite: calendars with their
//! schedules, owners and VAPI routes.
//!
//! A calendar's row and its routes are written in one transaction. The
//! refusals are checked inside it first (so they can name what is taken);
//! a writer that raced the check is caught by the schema (the unique slug,
//! the routes' primary key, the owner's foreign key) and answered the same
//! way: a taken slug or an unknown owner at once, a taken route by trying
//! again, when the check names the id.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;
use voice_scheduler_domain::ports::{
    CalendarRepository, CalendarScope, StoreCalendarDeleteError, StoreCalendarError, VapiMatch,
};
use voice_scheduler_domain::{
    AppointmentStatus, Calendar, CalendarId, Closures, Slug, UserId, VapiId,
};

use crate::appointments::hold_calendar;
use crate::entities::{appointments, calendar_routes, calendars, users};
use crate::errors::{Failure, UniqueRule, classify};
use crate::rows::{self, ROUTE_ASSISTANT, ROUTE_PHONE_NUMBER, storable, whole_seconds};
use crate::{Decision, PgLock, Step, Store, fail, finish, pg_lock};

/// A calendar as it is written: its row (times in whole seconds, the name
/// NUL-safe) and its routes, sorted and without repeats, in the order a taken
/// one is reported.
struct Plan {
    row: calendars::Model,
    routes: Vec<(&'static str, String)>,
}

impl Plan {
    fn new(calendar: &Calendar) -> anyhow::Result<Plan> {
        let schedule = &calendar.schedule;
        let minutes = |field: &str, value: i64| {
            i32::try_from(value).with_context(|| format!("{field} is out of range: {value}"))
        };
        let row = calendars::Model {
            id: calendar.id.as_uuid(),
            slug: calendar.slug.as_str().to_owned(),
            name: storable(&calendar.name).into_owned(),
            time_zone: schedule.time_zone().name().to_owned(),
            created_at: whole_seconds(calendar.created_at),
            owner_id: calendar.owner.map(|o| o.as_uuid()),
            working_hours: schedule.hours().to_string(),
            slot_minutes: minutes("slot_minutes", schedule.slot().num_minutes())?,
            default_duration_minutes: minutes(
                "default_duration_minutes",
                schedule.default_duration().num_minutes(),
            )?,
            min_notice_minutes: minutes("min_notice_minutes", schedule.min_notice().num_minutes())?,
            horizon_days: minutes("horizon_days", i64::from(schedule.horizon_days()))?,
            buffer_minutes: minutes("buffer_minutes", schedule.buffer().num_minutes())?,
            closures: crate::closures::encode(schedule.closures())?,
        };
        let mut routes = Vec::new();
        for (kind, ids) in [
            (ROUTE_ASSISTANT, &calendar.routes.assistant_ids),
            (ROUTE_PHONE_NUMBER, &calendar.routes.phone_number_ids),
        ] {
            let mut ids: Vec<&VapiId> = ids.iter().collect();
            ids.sort();
            ids.dedup();
            routes.extend(ids.into_iter().map(|id| (kind, id.as_str().to_owned())));
        }
        Ok(Plan { row, routes })
    }

    fn id(&self) -> CalendarId {
        CalendarId::from_uuid(self.row.id)
    }
}

/// Calendars matching `filter` with their routes, oldest first, read in one
/// statement (so a calendar and its routes are seen as one commit left them).
async fn load<C: ConnectionTrait>(db: &C, filter: Condition) -> anyhow::Result<Vec<Calendar>> {
    let rows = calendars::Entity::find()
        .filter(filter)
        .find_also_related(calendar_routes::Entity)
        .order_by_asc(calendars::Column::CreatedAt)
        .order_by_asc(calendars::Column::Id)
        .all(db)
        .await
        .context("could not read calendars")?;
    let mut grouped: Vec<(calendars::Model, Vec<calendar_routes::Model>)> = Vec::new();
    for (row, route) in rows {
        match grouped.last_mut() {
            Some((last, routes)) if last.id == row.id => routes.extend(route),
            _ => grouped.push((row, route.into_iter().collect())),
        }
    }
    grouped
        .into_iter()
        .map(|(row, routes)| rows::calendar(row, routes))
        .collect()
}

async fn load_one<C: ConnectionTrait>(db: &C, id: Uuid) -> anyhow::Result<Option<Calendar>> {
    Ok(load(db, Condition::all().add(calendars::Column::Id.eq(id)))
        .await?
        .into_iter()
        .next())
}

/// Whether a calendar was written or refused.
enum Mode {
    Create,
    Update,
}

/// Checks and writes `plan` inside `txn` (see the module documentation).
async fn write_in(
    txn: &DatabaseTransaction,
    plan: &Plan,
    mode: Mode,
) -> anyhow::Result<Decision<(), StoreCalendarError>> {
    let id = plan.id();
    let existing = calendars::Entity::find_by_id(plan.row.id)
        .lock(LockType::NoKeyUpdate)
        .one(txn)
        .await
        .with_context(|| format!("could not read calendar {id}"))?;
    match (&mode, existing) {
        (Mode::Create, Some(_)) => anyhow::bail!("calendar {id} exists already"),
        (Mode::Update, None) => return Ok(Decision::Refuse(StoreCalendarError::NotFound)),
        _ => {}
    }
    if let Some(owner) = plan.row.owner_id {
        let known = users::Entity::find_by_id(owner)
            .count(txn)
            .await
            .context("could not look up the calendar's owner")?;
        if known == 0 {
            return Ok(Decision::Refuse(StoreCalendarError::UnknownOwner));
        }
    }
    let slug_taken = calendars::Entity::find()
        .filter(calendars::Column::Slug.eq(plan.row.slug.as_str()))
        .filter(calendars::Column::Id.ne(plan.row.id))
        .count(txn)
        .await
        .context("could not look up the slug")?;
    if slug_taken > 0 {
        return Ok(Decision::Refuse(StoreCalendarError::SlugTaken));
    }
    if let Some(taken) = taken_route(txn, plan).await? {
        return Ok(Decision::Refuse(StoreCalendarError::RouteTaken(taken)));
    }

    let written = match mode {
        Mode::Create => calendars::Entity::insert(calendars::ActiveModel::from(plan.row.clone()))
            .exec_without_returning(txn)
            .await
            .map(|_| ()),
        Mode::Update => {
            let row = &plan.row;
            calendars::Entity::update_many()
                .col_expr(calendars::Column::Slug, Expr::value(row.slug.clone()))
                .col_expr(calendars::Column::Name, Expr::value(row.name.clone()))
                .col_expr(
                    calendars::Column::TimeZone,
                    Expr::value(row.time_zone.clone()),
                )
                .col_expr(calendars::Column::OwnerId, Expr::value(row.owner_id))
                .col_expr(
                    calendars::Column::WorkingHours,
                    Expr::value(row.working_hours.clone()),
                )
                .col_expr(
                    calendars::Column::SlotMinutes,
                    Expr::value(row.slot_minutes),
                )
                .col_expr(
                    calendars::Column::DefaultDurationMinutes,
                    Expr::value(row.default_duration_minutes),
                )
                .col_expr(
                    calendars::Column::MinNoticeMinutes,
                    Expr::value(row.min_notice_minutes),
                )
                .col_expr(
                    calendars::Column::HorizonDays,
                    Expr::value(row.horizon_days),
                )
                .col_expr(
                    calendars::Column::BufferMinutes,
                    Expr::value(row.buffer_minutes),
                )
                .filter(calendars::Column::Id.eq(row.id))
                .exec(txn)
                .await
                .map(|_| ())
        }
    };
    if let Err(err) = written {
        return refused(err, format!("could not store calendar {id}"));
    }

    calendar_routes::Entity::delete_many()
        .filter(calendar_routes::Column::CalendarId.eq(plan.row.id))
        .exec(txn)
        .await
        .with_context(|| format!("could not replace the routes of calendar {id}"))?;
    if !plan.routes.is_empty() {
        let inserted =
            calendar_routes::Entity::insert_many(plan.routes.iter().map(|(kind, external_id)| {
                calendar_routes::ActiveModel {
                    kind: Set((*kind).to_owned()),
                    external_id: Set(external_id.clone()),
                    calendar_id: Set(plan.row.id),
                }
            }))
            .exec_without_returning(txn)
            .await;
        if let Err(err) = inserted {
            return refused(err, format!("could not store the routes of calendar {id}"));
        }
    }
    Ok(Decision::Commit(()))
}

/// The first of `plan`'s routes that routes to another calendar.
async fn taken_route(txn: &DatabaseTransaction, plan: &Plan) -> anyhow::Result<Option<String>> {
    if plan.routes.is_empty() {
        return Ok(None);
    }
    let mut any = Condition::any();
    for (kind, external_id) in &plan.routes {
        any = any.add(
            Condition::all()
                .add(calendar_routes::Column::Kind.eq(*kind))
                .add(calendar_routes::Column::ExternalId.eq(external_id.as_str())),
        );
    }
    let taken = calendar_routes::Entity::find()
        .filter(any)
        .filter(calendar_routes::Column::CalendarId.ne(plan.row.id))
        .all(txn)
        .await
        .context("could not look up the routes")?;
    Ok(plan
        .routes
        .iter()
        .find(|(kind, external_id)| {
            taken
                .iter()
                .any(|t| t.kind == *kind && t.external_id == *external_id)
        })
        .map(|(_, external_id)| external_id.clone()))
}

/// A write the schema refused: a writer raced this transaction's checks.
fn refused(err: DbErr, context: String) -> anyhow::Result<Decision<(), StoreCalendarError>> {
    match classify(&err) {
        Failure::Unique(UniqueRule::CalendarSlug) => {
            Ok(Decision::Refuse(StoreCalendarError::SlugTaken))
        }
        Failure::ForeignKey => Ok(Decision::Refuse(StoreCalendarError::UnknownOwner)),
        // The next try's check names the id that is taken now.
        Failure::Unique(UniqueRule::CalendarRoute) => Ok(Decision::Retry(
            "a route was taken by another calendar during the write",
        )),
        _ => Err(anyhow::Error::new(err).context(context)),
    }
}

impl Store {
    async fn try_write(&self, plan: &Plan, mode: Mode) -> Step<Result<(), StoreCalendarError>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = async {
            if matches!(mode, Mode::Create) {
                pg_lock(&txn, PgLock::Calendars, true).await?;
            }
            write_in(&txn, plan, mode).await
        }
        .await;
        finish(txn, decided, "could not commit the calendar").await
    }

    async fn try_create_if_none(&self, plan: &Plan) -> Step<Result<bool, StoreCalendarError>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = async {
            pg_lock(&txn, PgLock::Calendars, false).await?;
            let any = calendars::Entity::find()
                .count(&txn)
                .await
                .context("could not count the calendars")?;
            if any > 0 {
                return Ok(Decision::Commit(false));
            }
            Ok(match write_in(&txn, plan, Mode::Create).await? {
                Decision::Commit(()) => Decision::Commit(true),
                Decision::CommitRefusal(e) => Decision::CommitRefusal(e),
                Decision::Refuse(e) => Decision::Refuse(e),
                Decision::Retry(reason) => Decision::Retry(reason),
            })
        }
        .await;
        finish(txn, decided, "could not commit the first calendar").await
    }

    async fn try_delete(
        &self,
        id: CalendarId,
        now: DateTime<Utc>,
    ) -> Step<Result<(), StoreCalendarDeleteError>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = delete_in(&txn, id, now).await;
        finish(txn, decided, "could not commit the deletion of a calendar").await
    }

    /// Inserts the calendar row if it is missing (by id), or updates its name,
    /// slug and time zone; its other settings keep their stored values (the
    /// defaults, for a new row).
    pub async fn ensure_calendar(
        &self,
        id: CalendarId,
        slug: &str,
        name: &str,
        time_zone: &str,
    ) -> anyhow::Result<()> {
        let row = calendars::ActiveModel {
            id: Set(id.as_uuid()),
            slug: Set(slug.to_owned()),
            name: Set(storable(name).into_owned()),
            time_zone: Set(time_zone.to_owned()),
            created_at: Set(whole_seconds(Utc::now())),
            ..Default::default()
        };
        self.with_retries("ensure a calendar", || {
            let row = row.clone();
            async move {
                let _gate = self.lock_writes().await;
                let upsert = calendars::Entity::insert(row)
                    .on_conflict(
                        OnConflict::column(calendars::Column::Id)
                            .update_columns([
                                calendars::Column::Slug,
                                calendars::Column::Name,
                                calendars::Column::TimeZone,
                            ])
                            .to_owned(),
                    )
                    .exec_without_returning(&self.db)
                    .await;
                match upsert {
                    Ok(_) => Step::Done(Ok::<(), anyhow::Error>(())),
                    Err(e) => fail(
                        anyhow::Error::new(e)
                            .context(format!("could not store calendar {id} ('{slug}')")),
                    ),
                }
            }
        })
        .await
    }
}

/// Deletes calendar `id` unless it has active appointments ending after
/// `now`. PostgreSQL: the calendar's booking lock is taken first, so no
/// booking or move of this calendar runs between the count and the
/// deletion (a booking waiting for the lock then fails on the foreign key);
/// SQLite: the transaction holds the write lock from its start.
async fn delete_in(
    txn: &DatabaseTransaction,
    id: CalendarId,
    now: DateTime<Utc>,
) -> anyhow::Result<Decision<(), StoreCalendarDeleteError>> {
    hold_calendar(txn, id).await?;
    let exists = calendars::Entity::find_by_id(id.as_uuid())
        .lock(LockType::Update)
        .one(txn)
        .await
        .with_context(|| format!("could not read calendar {id}"))?;
    if exists.is_none() {
        return Ok(Decision::Refuse(StoreCalendarDeleteError::NotFound));
    }
    let upcoming = appointments::Entity::find()
        .filter(appointments::Column::CalendarId.eq(id.as_uuid()))
        .filter(appointments::Column::Status.ne(AppointmentStatus::Cancelled.as_str()))
        .filter(appointments::Column::EndsAt.gt(whole_seconds(now)))
        .count(txn)
        .await
        .with_context(|| format!("could not count the upcoming appointments of calendar {id}"))?;
    if upcoming > 0 {
        return Ok(Decision::Refuse(StoreCalendarDeleteError::HasUpcoming(
            upcoming,
        )));
    }
    appointments::Entity::delete_many()
        .filter(appointments::Column::CalendarId.eq(id.as_uuid()))
        .exec(txn)
        .await
        .with_context(|| format!("could not delete the appointments of calendar {id}"))?;
    calendar_routes::Entity::delete_many()
        .filter(calendar_routes::Column::CalendarId.eq(id.as_uuid()))
        .exec(txn)
        .await
        .with_context(|| format!("could not delete the routes of calendar {id}"))?;
    calendars::Entity::delete_by_id(id.as_uuid())
        .exec(txn)
        .await
        .with_context(|| format!("could not delete calendar {id}"))?;
    Ok(Decision::Commit(()))
}

#[async_trait]
impl CalendarRepository for Store {
    #[tracing::instrument(skip_all, fields(calendar = %calendar.id))]
    async fn create(&self, calendar: &Calendar) -> Result<(), StoreCalendarError> {
        let plan = Plan::new(calendar).context("could not prepare the calendar")?;
        self.with_retries("create a calendar", || self.try_write(&plan, Mode::Create))
            .await
    }

    #[tracing::instrument(skip_all, fields(calendar = %calendar.id))]
    async fn update(&self, calendar: &Calendar) -> Result<(), StoreCalendarError> {
        let plan = Plan::new(calendar).context("could not prepare the calendar")?;
        self.with_retries("update a calendar", || self.try_write(&plan, Mode::Update))
            .await
    }

    #[tracing::instrument(skip_all, fields(calendar = %id))]
    async fn replace_closures(
        &self,
        id: CalendarId,
        closures: &Closures,
    ) -> Result<(), StoreCalendarError> {
        let text = crate::closures::encode(closures)?;
        self.with_retries("replace the closures of a calendar", || {
            let text = text.clone();
            async move {
                let _gate = self.lock_writes().await;
                // One statement: the whole set is replaced, or nothing.
                let written = calendars::Entity::update_many()
                    .col_expr(calendars::Column::Closures, Expr::value(text))
                    .filter(calendars::Column::Id.eq(id.as_uuid()))
                    .exec(&self.db)
                    .await;
                match written {
                    Ok(done) if done.rows_affected == 0 => {
                        Step::Done(Err(StoreCalendarError::NotFound))
                    }
                    Ok(_) => Step::Done(Ok(())),
                    Err(e) => fail(
                        anyhow::Error::new(e)
                            .context(format!("could not replace the closures of calendar {id}")),
                    ),
                }
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(calendar = %id))]
    async fn delete(
        &self,
        id: CalendarId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreCalendarDeleteError> {
        self.with_retries("delete a calendar", || self.try_delete(id, now))
            .await
    }

    async fn get(&self, id: CalendarId) -> anyhow::Result<Option<Calendar>> {
        load_one(&self.db, id.as_uuid()).await
    }

    async fn find_by_slug(&self, slug: &Slug) -> anyhow::Result<Option<Calendar>> {
        Ok(load(
            &self.db,
            Condition::all().add(calendars::Column::Slug.eq(slug.as_str())),
        )
        .await?
        .into_iter()
        .next())
    }

    async fn find_by_vapi(
        &self,
        assistant: Option<&VapiId>,
        phone_number: Option<&VapiId>,
    ) -> anyhow::Result<VapiMatch> {
        let mut any = Condition::any();
        for (kind, id) in [
            (ROUTE_ASSISTANT, assistant),
            (ROUTE_PHONE_NUMBER, phone_number),
        ] {
            if let Some(id) = id {
                any = any.add(
                    Condition::all()
                        .add(calendar_routes::Column::Kind.eq(kind))
                        .add(calendar_routes::Column::ExternalId.eq(id.as_str())),
                );
            }
        }
        if assistant.is_none() && phone_number.is_none() {
            return Ok(VapiMatch::default());
        }
        let routes = calendar_routes::Entity::find()
            .filter(any)
            .all(&self.db)
            .await
            .context("could not look up the VAPI routes")?;
        let of_kind = |kind: &str| {
            routes
                .iter()
                .find(|r| r.kind == kind)
                .map(|r| r.calendar_id)
        };
        let by_assistant = match of_kind(ROUTE_ASSISTANT) {
            Some(id) => load_one(&self.db, id).await?,
            None => None,
        };
        // One calendar listing both ids is read once.
        let by_phone_number = match of_kind(ROUTE_PHONE_NUMBER) {
            Some(id) if by_assistant.as_ref().is_some_and(|c| c.id.as_uuid() == id) => {
                by_assistant.clone()
            }
            Some(id) => load_one(&self.db, id).await?,
            None => None,
        };
        Ok(VapiMatch {
            by_assistant,
            by_phone_number,
        })
    }

    async fn sole(&self) -> anyhow::Result<Option<Calendar>> {
        let ids: Vec<Uuid> = calendars::Entity::find()
            .select_only()
            .column(calendars::Column::Id)
            .limit(2)
            .into_tuple()
            .all(&self.db)
            .await
            .context("could not count the calendars")?;
        match ids.as_slice() {
            [only] => load_one(&self.db, *only).await,
            _ => Ok(None),
        }
    }

    async fn list(&self, scope: CalendarScope) -> anyhow::Result<Vec<Calendar>> {
        let filter = match scope {
            CalendarScope::All => Condition::all(),
            CalendarScope::OwnedBy(owner) => {
                Condition::all().add(calendars::Column::OwnerId.eq(owner.as_uuid()))
            }
            CalendarScope::One(id) => Condition::all().add(calendars::Column::Id.eq(id.as_uuid())),
        };
        load(&self.db, filter).await
    }

    #[tracing::instrument(skip_all, fields(calendar = %calendar.id))]
    async fn create_if_none(&self, calendar: &Calendar) -> anyhow::Result<bool> {
        let plan = Plan::new(calendar).context("could not prepare the calendar")?;
        self.with_retries("create the first calendar", || {
            self.try_create_if_none(&plan)
        })
        .await
        .map_err(|e| match e {
            StoreCalendarError::Unknown(e) => e,
            refusal => anyhow::Error::new(refusal).context(format!(
                "could not create the first calendar ('{}')",
                calendar.slug
            )),
        })
    }

    async fn adopt_unowned(&self, owner: UserId) -> anyhow::Result<u64> {
        self.with_retries("adopt the unowned calendars", || async move {
            let _gate = self.lock_writes().await;
            let adopted = calendars::Entity::update_many()
                .col_expr(
                    calendars::Column::OwnerId,
                    Expr::value(Some(owner.as_uuid())),
                )
                .filter(calendars::Column::OwnerId.is_null())
                .exec(&self.db)
                .await;
            match adopted {
                Ok(done) => Step::Done(Ok::<u64, anyhow::Error>(done.rows_affected)),
                Err(e) => fail(anyhow::Error::new(e).context(format!(
                    "could not give the unowned calendars to user {owner}"
                ))),
            }
        })
        .await
    }
}
