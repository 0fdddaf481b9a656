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
