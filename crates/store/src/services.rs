//! [`ServiceRepository`] on PostgreSQL and SQLite.
//!
//! Every change runs in one write transaction that first locks the
//! calendar's services (PostgreSQL: the calendar row `FOR UPDATE`; SQLite:
//! `BEGIN IMMEDIATE`), so the count limit, the unique name and "exactly one
//! default" hold under concurrent changes.

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use voice_scheduler_domain::catalog::{MAX_SERVICES, ServiceRepository, StoreServiceError};
use voice_scheduler_domain::{CalendarId, Service, ServiceId};

use crate::entities::{calendars, services};
use crate::errors::{Failure, classify};
use crate::rows::{self, whole_seconds};
use crate::{Step, Store, fail, in_transaction, rollback};

type Outcome = anyhow::Result<Result<(), StoreServiceError>>;

/// Locks the calendar's row (PostgreSQL) so changes of its services queue;
/// false when there is no such calendar.
async fn lock_calendar(txn: &DatabaseTransaction, calendar: CalendarId) -> anyhow::Result<bool> {
    let mut query = calendars::Entity::find_by_id(calendar.as_uuid()).select_only();
    query = query.column(calendars::Column::Id);
    if sea_orm::ConnectionTrait::get_database_backend(txn) == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let found: Option<uuid::Uuid> = query
        .into_tuple()
        .one(txn)
        .await
        .with_context(|| format!("could not lock calendar {calendar}"))?;
    Ok(found.is_some())
}

fn active(service: &Service) -> services::ActiveModel {
    let s = service.settings();
    services::ActiveModel {
        id: Set(service.id.as_uuid()),
        calendar_id: Set(service.calendar_id.as_uuid()),
        name: Set(s.name.as_str().to_owned()),
        name_key: Set(s.name.key()),
        description: Set(s.description.map(|d| d.as_str().to_owned())),
        duration_minutes: Set(i32::try_from(s.duration_minutes).unwrap_or(i32::MAX)),
        buffer_before_minutes: Set(i32::try_from(s.buffer_before_minutes).unwrap_or(i32::MAX)),
        buffer_after_minutes: Set(i32::try_from(s.buffer_after_minutes).unwrap_or(i32::MAX)),
        daily_limit: Set(s.daily_limit.and_then(|l| i32::try_from(l).ok())),
        is_default: Set(service.is_default),
        created_at: Set(whole_seconds(service.created_at)),
    }
}

/// The other services of the calendar lose the default flag.
async fn clear_default(
    txn: &DatabaseTransaction,
    calendar: CalendarId,
    except: ServiceId,
) -> anyhow::Result<()> {
    services::Entity::update_many()
        .col_expr(services::Column::IsDefault, Expr::value(false))
        .filter(services::Column::CalendarId.eq(calendar.as_uuid()))
        .filter(services::Column::Id.ne(except.as_uuid()))
        .exec(txn)
        .await
        .context("could not move the default service")?;
    Ok(())
}

async fn others(
    txn: &DatabaseTransaction,
    calendar: CalendarId,
    except: ServiceId,
) -> anyhow::Result<Vec<services::Model>> {
    services::Entity::find()
        .filter(services::Column::CalendarId.eq(calendar.as_uuid()))
        .filter(services::Column::Id.ne(except.as_uuid()))
        .order_by_asc(services::Column::CreatedAt)
        .order_by_asc(services::Column::Id)
        .all(txn)
        .await
        .context("could not read the calendar's services")
}

async fn create_in(txn: &DatabaseTransaction, service: &Service) -> Outcome {
    if !lock_calendar(txn, service.calendar_id).await? {
        return Ok(Err(StoreServiceError::NotFound));
    }
    let existing = others(txn, service.calendar_id, service.id).await?;
    if existing.len() >= MAX_SERVICES {
        return Ok(Err(StoreServiceError::TooMany(MAX_SERVICES)));
    }
    let key = service.name.key();
    if existing.iter().any(|s| s.name_key == key) {
        return Ok(Err(StoreServiceError::NameTaken(
            service.name.as_str().to_owned(),
        )));
    }
    let mut row = active(service);
    let is_default = service.is_default || existing.is_empty();
    row.is_default = Set(is_default);
    if is_default {
        clear_default(txn, service.calendar_id, service.id).await?;
    }
    services::Entity::insert(row)
        .exec(txn)
        .await
        .context("could not insert the service")?;
    Ok(Ok(()))
}

async fn update_in(txn: &DatabaseTransaction, service: &Service) -> Outcome {
    if !lock_calendar(txn, service.calendar_id).await? {
        return Ok(Err(StoreServiceError::NotFound));
    }
    let Some(current) = services::Entity::find_by_id(service.id.as_uuid())
        .filter(services::Column::CalendarId.eq(service.calendar_id.as_uuid()))
        .one(txn)
        .await
        .context("could not read the service")?
    else {
        return Ok(Err(StoreServiceError::NotFound));
    };
    let existing = others(txn, service.calendar_id, service.id).await?;
    let key = service.name.key();
    if existing.iter().any(|s| s.name_key == key) {
        return Ok(Err(StoreServiceError::NameTaken(
            service.name.as_str().to_owned(),
        )));
    }
    // One is always the default: clearing the flag of the default is ignored.
    let is_default = service.is_default || current.is_default || existing.is_empty();
    if is_default {
        clear_default(txn, service.calendar_id, service.id).await?;
    }
    let mut row = active(service);
    row.is_default = Set(is_default);
    row.created_at = Set(current.created_at);
    services::Entity::update(row)
        .exec(txn)
        .await
        .context("could not update the service")?;
    Ok(Ok(()))
}

async fn delete_in(txn: &DatabaseTransaction, calendar: CalendarId, id: ServiceId) -> Outcome {
    if !lock_calendar(txn, calendar).await? {
        return Ok(Err(StoreServiceError::NotFound));
    }
    let Some(current) = services::Entity::find_by_id(id.as_uuid())
        .filter(services::Column::CalendarId.eq(calendar.as_uuid()))
        .one(txn)
        .await
        .context("could not read the service")?
    else {
        return Ok(Err(StoreServiceError::NotFound));
    };
    services::Entity::delete_by_id(id.as_uuid())
        .exec(txn)
        .await
        .context("could not delete the service")?;
    if current.is_default
        && let Some(next) = others(txn, calendar, id).await?.into_iter().next()
    {
        services::Entity::update_many()
            .col_expr(services::Column::IsDefault, Expr::value(true))
            .filter(services::Column::Id.eq(next.id))
            .exec(txn)
            .await
            .context("could not make another service the default")?;
    }
    Ok(Ok(()))
}

impl Store {
    async fn service_change<F, Fut>(
        &self,
        what: &'static str,
        change: F,
    ) -> Result<(), StoreServiceError>
    where
        F: Fn(DatabaseTransaction) -> Fut,
        Fut: Future<Output = (DatabaseTransaction, Outcome)>,
    {
        self.with_retries(what, || async {
            let _gate = self.lock_writes().await;
            let txn = match self.begin_write().await {
                Ok(txn) => txn,
                Err(e) => return fail(e),
            };
            let (txn, result) = change(txn).await;
            match result {
                Ok(Err(refusal)) => {
                    rollback(txn).await;
                    Step::Done(Err(refusal))
                }
                Err(e) => {
                    // A concurrent creation of the same name (unique index).
                    let unique = e
                        .downcast_ref::<sea_orm::DbErr>()
                        .or_else(|| e.chain().find_map(|c| c.downcast_ref::<sea_orm::DbErr>()))
                        .is_some_and(|db| matches!(classify(db), Failure::Unique(_)));
                    rollback(txn).await;
                    if unique {
                        Step::Retry("another change of the calendar's services won a race")
                    } else {
                        fail(e)
                    }
                }
                ok => in_transaction(txn, ok, "could not commit the change of a service").await,
            }
        })
        .await
    }
}

#[async_trait]
impl ServiceRepository for Store {
    async fn list_services(&self, calendar: CalendarId) -> anyhow::Result<Vec<Service>> {
        services::Entity::find()
            .filter(services::Column::CalendarId.eq(calendar.as_uuid()))
            .order_by_asc(services::Column::CreatedAt)
            .order_by_asc(services::Column::Id)
            .limit(MAX_SERVICES as u64 * 2)
            .all(&self.db)
            .await
            .with_context(|| format!("could not read the services of calendar {calendar}"))?
            .into_iter()
            .map(rows::service)
            .collect()
    }

    #[tracing::instrument(skip_all, fields(calendar = %service.calendar_id, service = %service.id))]
    async fn create_service(&self, service: &Service) -> Result<(), StoreServiceError> {
        self.service_change("create a service", |txn| async move {
            let result = create_in(&txn, service).await;
            (txn, result)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(calendar = %service.calendar_id, service = %service.id))]
    async fn update_service(&self, service: &Service) -> Result<(), StoreServiceError> {
        self.service_change("update a service", |txn| async move {
            let result = update_in(&txn, service).await;
            (txn, result)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(calendar = %calendar, service = %id))]
    async fn delete_service(
        &self,
        calendar: CalendarId,
        id: ServiceId,
    ) -> Result<(), StoreServiceError> {
        self.service_change("delete a service", |txn| async move {
            let result = delete_in(&txn, calendar, id).await;
            (txn, result)
        })
        .await
    }
}
