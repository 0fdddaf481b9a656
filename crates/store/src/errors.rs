//! Reading database error codes that sea-orm's `sql_err()` does not classify.

use std::ops::Deref;

use sea_orm::{DbErr, RuntimeErr};

/// PostgreSQL: `exclusion_violation` (our `appointments_no_overlap`).
const PG_EXCLUSION_VIOLATION: &str = "23P01";
/// PostgreSQL: `unique_violation`.
const PG_UNIQUE_VIOLATION: &str = "23505";
/// PostgreSQL: `foreign_key_violation`.
const PG_FOREIGN_KEY_VIOLATION: &str = "23503";
/// PostgreSQL: `deadlock_detected` — two concurrent inserts that each wait on
/// the other's exclusion-constraint check; one is aborted and can be retried.
const PG_DEADLOCK_DETECTED: &str = "40P01";
/// PostgreSQL: `serialization_failure`.
const PG_SERIALIZATION_FAILURE: &str = "40001";
/// SQLite primary result codes (the low byte of the extended code).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
/// SQLite extended codes of unique and primary-key violations.
const SQLITE_CONSTRAINT_UNIQUE: &str = "2067";
const SQLITE_CONSTRAINT_PRIMARYKEY: &str = "1555";
/// SQLite extended code of a foreign-key violation.
const SQLITE_CONSTRAINT_FOREIGNKEY: &str = "787";
/// SQLite extended code of `RAISE(ABORT, …)` in a trigger: only the triggers
/// that keep `calendars.owner_id` a foreign key raise it (their message says
/// `FOREIGN KEY constraint failed`).
const SQLITE_CONSTRAINT_TRIGGER: &str = "1811";

/// Which unique rule a statement broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UniqueRule {
    ConfirmationCode,
    IdempotencyKey,
    /// `calendars.slug`.
    CalendarSlug,
    /// The primary key of `calendar_routes` (`kind`, `external_id`).
    CalendarRoute,
    /// `users.email_key`.
    UserEmail,
    Other,
}

/// What a failed statement means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// PostgreSQL refused an overlapping active appointment (SQLSTATE 23P01).
    Overlap,
    /// A unique index refused the row.
    Unique(UniqueRule),
    /// A foreign key refused the row (it refers to a row that does not exist).
    ForeignKey,
    /// The transaction lost a race and can be retried as a whole: SQLite
    /// could not take a lock in time (`SQLITE_BUSY` / `SQLITE_LOCKED`), or
    /// PostgreSQL aborted it (deadlock, serialization failure).
    Transient,
    /// Anything else.
    Other,
}

/// Classifies a sea-orm error by the driver's error code.
pub(crate) fn classify(err: &DbErr) -> Failure {
    let sqlx_err = match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => e,
        _ => return Failure::Other,
    };
    let Some(db_err) = sqlx_err.deref().as_database_error() else {
        return Failure::Other;
    };
    let code = db_err.code().unwrap_or_default();
    let code = code.deref();
    let is_sqlite = db_err
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some();
    if is_sqlite {
        if let Ok(n) = code.parse::<i64>()
            && matches!(n & 0xff, SQLITE_BUSY | SQLITE_LOCKED)
        {
            return Failure::Transient;
        }
        if code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY {
            // "UNIQUE constraint failed: appointments.calendar_id, appointments.confirmation_code"
            return Failure::Unique(unique_rule(db_err.message()));
        }
        if code == SQLITE_CONSTRAINT_FOREIGNKEY
            || (code == SQLITE_CONSTRAINT_TRIGGER
                && db_err.message().contains("FOREIGN KEY constraint failed"))
        {
            return Failure::ForeignKey;
        }
        return Failure::Other;
    }
    match code {
        PG_EXCLUSION_VIOLATION => Failure::Overlap,
        PG_DEADLOCK_DETECTED | PG_SERIALIZATION_FAILURE => Failure::Transient,
        PG_FOREIGN_KEY_VIOLATION => Failure::ForeignKey,
        PG_UNIQUE_VIOLATION => Failure::Unique(unique_rule(
            db_err.constraint().unwrap_or_else(|| db_err.message()),
        )),
        _ => Failure::Other,
    }
}

/// Marks an error whose driver error was not kept (a write retried as long
/// as it may be while the database still asked to retry; a batch that could
/// not begin) as the database being busy or out of reach, not broken.
#[derive(Debug)]
pub(crate) struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the database is busy or out of reach")
    }
}

impl std::error::Error for Unavailable {}

/// Whether `error` says the database cannot serve right now (as opposed to a
/// bug or a refused row): no connection within the pool's wait, a
/// connection refused or cut, PostgreSQL shutting down or out of
/// connections, SQLite still locked after its busy wait and our retries.
/// The API answers those `503` with `Retry-After` instead of `500`.
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if cause.is::<Unavailable>() {
            return true;
        }
        if let Some(db_err) = cause.downcast_ref::<DbErr>() {
            return db_err_unavailable(db_err);
        }
        cause
            .downcast_ref::<sea_orm::sqlx::Error>()
            .is_some_and(sqlx_unavailable)
    })
}

pub(crate) fn db_err_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailable(e)
        }
        _ => false,
    }
}

/// PostgreSQL: class 08 (connection exception), `admin_shutdown`,
/// `crash_shutdown`, `cannot_connect_now`, `too_many_connections`.
fn pg_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

fn sqlx_unavailable(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match e {
        Error::PoolTimedOut
        | Error::PoolClosed
        | Error::Io(_)
        | Error::Tls(_)
        | Error::WorkerCrashed => true,
        Error::Database(db_err) => {
            let code = db_err.code().unwrap_or_default();
            if db_err
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            {
                code.parse::<i64>()
                    .is_ok_and(|n| matches!(n & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
            } else {
                pg_unavailable(&code)
            }
        }
        _ => false,
    }
}

/// Names the unique rule from a PostgreSQL constraint name
/// (`appointments_calendar_code_key`, `appointments_calendar_idempotency_key_key`,
/// `calendars_slug_key`, `calendar_routes_pkey`, `users_email_key_key`)
/// or a SQLite message (which names the columns).
fn unique_rule(text: &str) -> UniqueRule {
    if text.contains("idempotency_key") {
        UniqueRule::IdempotencyKey
    } else if text.contains("confirmation_code") || text.contains("calendar_code") {
        UniqueRule::ConfirmationCode
    } else if text.contains("calendars_slug") || text.contains("calendars.slug") {
        UniqueRule::CalendarSlug
    } else if text.contains("calendar_routes") {
        UniqueRule::CalendarRoute
    } else if text.contains("users_email_key") || text.contains("users.email_key") {
        UniqueRule::UserEmail
    } else {
        UniqueRule::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_and_cut_connections_are_unavailable_refused_rows_are_not() {
        use sea_orm::sqlx::Error;
        let timeout = anyhow::Error::new(DbErr::ConnectionAcquire(
            sea_orm::error::ConnAcquireErr::Timeout,
        ))
        .context("listing the calendars");
        assert!(is_unavailable(&timeout));
        let refused = anyhow::Error::new(Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(is_unavailable(&refused));
        assert!(is_unavailable(&anyhow::Error::new(Error::PoolTimedOut)));
        assert!(!is_unavailable(&anyhow::Error::new(Error::RowNotFound)));
        assert!(!is_unavailable(&anyhow::Error::new(DbErr::RecordNotFound(
            "x".into()
        ))));
        assert!(!is_unavailable(&anyhow::anyhow!("a bug")));
        assert!(pg_unavailable("08006") && pg_unavailable("57P01") && pg_unavailable("53300"));
        assert!(!pg_unavailable("23505") && !pg_unavailable("23P01"));
    }

    #[test]
    fn unique_rules_are_named_from_pg_constraints_and_sqlite_messages() {
        assert_eq!(
            unique_rule("appointments_calendar_code_key"),
            UniqueRule::ConfirmationCode
        );
        assert_eq!(
            unique_rule("appointments_calendar_idempotency_key_key"),
            UniqueRule::IdempotencyKey
        );
        assert_eq!(
            unique_rule(
                "UNIQUE constraint failed: appointments.calendar_id, appointments.confirmation_code"
            ),
            UniqueRule::ConfirmationCode
        );
        assert_eq!(
            unique_rule(
                "UNIQUE constraint failed: appointments.calendar_id, appointments.idempotency_key"
            ),
            UniqueRule::IdempotencyKey
        );
        assert_eq!(unique_rule("appointments_pkey"), UniqueRule::Other);
        assert_eq!(unique_rule("calendars_slug_key"), UniqueRule::CalendarSlug);
        assert_eq!(
            unique_rule("UNIQUE constraint failed: calendars.slug"),
            UniqueRule::CalendarSlug
        );
        assert_eq!(
            unique_rule("calendar_routes_pkey"),
            UniqueRule::CalendarRoute
        );
        assert_eq!(
            unique_rule(
                "UNIQUE constraint failed: calendar_routes.kind, calendar_routes.external_id"
            ),
            UniqueRule::CalendarRoute
        );
        assert_eq!(unique_rule("users_email_key_key"), UniqueRule::UserEmail);
        assert_eq!(
            unique_rule("UNIQUE constraint failed: users.email_key"),
            UniqueRule::UserEmail
        );
        assert_eq!(unique_rule("users_pkey"), UniqueRule::Other);
    }

    #[test]
    fn errors_without_a_driver_code_are_other() {
        assert_eq!(classify(&DbErr::Custom("x".into())), Failure::Other);
        assert_eq!(classify(&DbErr::RecordNotFound("x".into())), Failure::Other);
    }
}
