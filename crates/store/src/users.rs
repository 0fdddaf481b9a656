//! [`UserRepository`]: staff accounts, one per address whatever its case
//! (`users.email_key`, unique, is the domain's `account_key`).
//!
//! A first registration (`only_if_first`) is atomic: on PostgreSQL every
//! registration takes the users' advisory lock in its transaction (a first
//! one exclusively, others shared) before it checks and inserts; on SQLite
//! the transaction holds the write lock from its start. Of concurrent first
//! registrations exactly one finds no user and is stored.

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use voice_scheduler_domain::ports::{NewUser, StoreUserError, UserRepository};
use voice_scheduler_domain::user::{PasswordHash, account_key};
use voice_scheduler_domain::{Email, User, UserId};

use crate::entities::users::{self, Column};
use crate::errors::{Failure, UniqueRule, classify};
use crate::rows::{self, whole_seconds};
use crate::{Decision, PgLock, Step, Store, fail, finish, pg_lock};

async fn create_in(
    txn: &DatabaseTransaction,
    row: &users::Model,
    only_if_first: bool,
) -> anyhow::Result<Decision<(), StoreUserError>> {
    pg_lock(txn, PgLock::Users, !only_if_first).await?;
    if only_if_first {
        let any = users::Entity::find()
            .count(txn)
            .await
            .context("could not count the users")?;
        if any > 0 {
            return Ok(Decision::Refuse(StoreUserError::NotFirst));
        }
    }
    let taken = users::Entity::find()
        .filter(Column::EmailKey.eq(row.email_key.as_str()))
        .count(txn)
        .await
        .context("could not look up the email address")?;
    if taken > 0 {
        return Ok(Decision::Refuse(StoreUserError::EmailTaken));
    }
    let inserted = users::Entity::insert(users::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await;
    match inserted {
        Ok(_) => Ok(Decision::Commit(())),
        // A concurrent registration of the same address committed first.
        Err(err) if classify(&err) == Failure::Unique(UniqueRule::UserEmail) => {
            Ok(Decision::Refuse(StoreUserError::EmailTaken))
        }
        Err(err) => {
            Err(anyhow::Error::new(err).context(format!("could not store user {}", row.id)))
        }
    }
}

impl Store {
    async fn try_create_user(
        &self,
        row: &users::Model,
        only_if_first: bool,
    ) -> Step<Result<(), StoreUserError>> {
        let _gate = self.lock_writes().await;
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => return fail(e),
        };
        let decided = create_in(&txn, row, only_if_first).await;
        finish(txn, decided, "could not commit the new user").await
    }
}

#[async_trait]
impl UserRepository for Store {
    #[tracing::instrument(skip_all, fields(user = %user.id, only_if_first))]
    async fn create(&self, user: NewUser, only_if_first: bool) -> Result<User, StoreUserError> {
        let row = users::Model {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            email_key: account_key(&user.email),
            name: user.name.as_str().to_owned(),
            role: user.role.as_str().to_owned(),
            password_hash: user.password.0.clone(),
            created_at: whole_seconds(user.created_at),
            password_changed_at: None,
        };
        self.with_retries("create a user", || {
            self.try_create_user(&row, only_if_first)
        })
        .await?;
        Ok(User {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            created_at: row.created_at,
        })
    }

    async fn any(&self) -> anyhow::Result<bool> {
        let first = users::Entity::find()
            .one(&self.db)
            .await
            .context("could not tell whether any user exists")?;
        Ok(first.is_some())
    }

    async fn get(&self, id: UserId) -> anyhow::Result<Option<User>> {
        users::Entity::find_by_id(id.as_uuid())
            .one(&self.db)
            .await
            .with_context(|| format!("could not read user {id}"))?
            .map(rows::user)
            .transpose()
    }

    async fn find_credentials(
        &self,
        email: &Email,
    ) -> anyhow::Result<Option<(User, PasswordHash)>> {
        let Some(row) = users::Entity::find()
            .filter(Column::EmailKey.eq(account_key(email)))
            .one(&self.db)
            .await
            .context("could not look up an account by email address")?
        else {
            return Ok(None);
        };
        let hash = PasswordHash(row.password_hash.clone());
        Ok(Some((rows::user(row)?, hash)))
    }

    #[tracing::instrument(skip_all, fields(user = %id))]
    async fn set_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let at = whole_seconds(at);
        let hash = &hash.0;
        self.with_retries("change a password", || async move {
            let _gate = self.lock_writes().await;
            let updated = users::Entity::update_many()
                .col_expr(Column::PasswordHash, Expr::value(hash.clone()))
                .col_expr(Column::PasswordChangedAt, Expr::value(Some(at)))
                .filter(Column::Id.eq(id.as_uuid()))
                .exec(&self.db)
                .await;
            match updated {
                Ok(done) => Step::Done(Ok::<bool, anyhow::Error>(done.rows_affected == 1)),
                Err(e) => fail(
                    anyhow::Error::new(e)
                        .context(format!("could not change the password of user {id}")),
                ),
            }
        })
        .await
    }

    async fn list(&self) -> anyhow::Result<Vec<User>> {
        users::Entity::find()
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await
            .context("could not list the users")?
            .into_iter()
            .map(rows::user)
            .collect()
    }
}
