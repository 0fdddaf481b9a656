//! The sea-orm adapter of voice-scheduler: implements the domain's ports on
//! PostgreSQL (production) and SQLite (the embedded default), all on
//! [`Store`]:
//! [`AppointmentRepository`](voice_scheduler_domain::ports::AppointmentRepository)
//! (`appointments`),
//! [`CalendarRepository`](voice_scheduler_domain::ports::CalendarRepository)
//! (`calendars`), [`CallRepository`](voice_scheduler_domain::calls::CallRepository)
//! (`calls`), [`UserRepository`](voice_scheduler_domain::ports::UserRepository)
//! (`users`), [`SessionRepository`](voice_scheduler_domain::ports::SessionRepository)
//! (`sessions`), [`LoginThrottle`](voice_scheduler_domain::ports::LoginThrottle)
//! (`throttle`), [`AuditLog`](voice_scheduler_domain::ports::AuditLog) (`audit`)
//! and [`ReplayStore`](voice_scheduler_domain::ports::ReplayStore) (`replies`).
//! Each module's documentation says how its guarantees are kept.
//!
//! No two active appointments of a calendar may overlap, whatever the
//! concurrency:
//!
//! - **PostgreSQL**: the exclusion constraint `appointments_no_overlap`
//!   (`EXCLUDE USING gist (calendar_id WITH =, period WITH &&) WHERE (status <> 'cancelled')`)
//!   is the real guard. A booking is one statement, a transaction of its
//!   own (`appointments::insert_if_free`): it takes its calendar's
//!   transaction-scoped advisory lock in shared mode, checks that the time
//!   is free and the idempotency key unused, and inserts with
//!   `ON CONFLICT DO NOTHING`, so concurrent bookings of one calendar
//!   neither queue for each other nor deadlock on each other's exclusion
//!   checks (PostgreSQL's speculative insertion), and a booking that
//!   conflicts with one committed after its snapshot inserts nothing. A move
//!   or a calendar's deletion takes the same lock in exclusive mode (it runs
//!   alone among the calendar's bookings), checks, then writes. When a
//!   booking inserts nothing, the store reads who holds the time to answer
//!   precisely (`Replayed`, `AlreadyBooked`, `SlotTaken`). A writer that
//!   raced a move anyway is caught by the constraint: SQLSTATE `23P01`
//!   (which sea-orm's `sql_err()` does not recognise) and a unique violation
//!   of the idempotency key lead to re-reading who holds the time, and the
//!   same answers.
//! - **SQLite**: the write lock is held *before* the overlap check, so the
//!   check and the write are one serialized step, also across processes.
//!   Every write transaction is opened with `BEGIN IMMEDIATE` (sea-orm's
//!   [`SqliteTransactionMode::Immediate`]). A booking is the same
//!   `INSERT … SELECT … WHERE NOT EXISTS` statement, in a savepoint inside
//!   the transaction of a batch of bookings that waited for the writer
//!   together, committed once (`group_commit`).
//!   Writers of one process queue on an async mutex first (no busy-waiting
//!   inside SQLite); writers of other processes wait in SQLite's
//!   `busy_timeout`, and a write that still meets `SQLITE_BUSY` is retried a
//!   bounded number of times.
//! - Either way a transaction the database aborts as a lost race (SQLite busy,
//!   PostgreSQL deadlock `40P01` between two inserts waiting on each other's
//!   exclusion check, or `40001`) is retried from the start, at most
//!   `MAX_ATTEMPTS` times.
//!
//! Every search for appointments overlapping a time is bounded on both sides
//! of `starts_at` (no appointment holds longer than
//! `Schedule::MAX_HOLD_MINUTES`, see `appointments::max_hold`), so it stays a
//! short range scan however long the calendar's history is.
//!
//! Entities are private to this crate (see `entities`). Every timestamp is
//! stored in whole seconds (see `rows::whole_seconds`); free text is stored
//! with U+FFFD in place of NUL (see `rows::storable`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{Context, bail};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionSession,
    TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};
use voice_scheduler_migrations::{Migrator, MigratorTrait};

mod appointments;
mod audit;
mod calendars;
mod calls;
mod closures;
mod entities;
mod errors;
pub use errors::is_unavailable;
mod group_commit;
mod listing;
mod privacy;
mod replies;
mod rows;
mod services;
mod sessions;
mod sync;
mod throttle;
mod users;
mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;

use errors::{Failure, classify};

/// How long a SQLite connection waits for another writer's lock before
/// `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(5);
/// SQLite connections per process: one writer at a time (WAL), several readers.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// PostgreSQL pool size: bounds of the default (see [`Backend::default_pool_size`]).
const PG_MIN_DEFAULT_CONNECTIONS: u32 = 4;
const PG_MAX_DEFAULT_CONNECTIONS: u32 = 10;
/// PostgreSQL: connections of the bookings' own pool unless told otherwise
/// (see [`Backend::default_booking_pool_size`]).
const PG_DEFAULT_BOOKING_CONNECTIONS: u32 = 0;
/// A pooled connection idle at least this long is pinged before use.
const PING_IF_IDLE_FOR: StdDuration = StdDuration::from_secs(10);
/// How long to wait for a PostgreSQL connection before failing (so an outage
/// answers fast instead of piling up requests).
const PG_ACQUIRE_TIMEOUT: StdDuration = StdDuration::from_secs(3);
const PG_CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(3);
/// Attempts of one write operation (SQLite busy, a confirmation-code collision,
/// a conflicting booking that vanished) before giving up.
const MAX_ATTEMPTS: u32 = 8;
/// No new attempt starts once an operation has taken this long: a database
/// still locked after one whole busy wait is not a race to retry but an
/// outage to report (`503`).
const RETRY_BUDGET: StdDuration = SQLITE_BUSY_TIMEOUT;

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend a database URL names: `postgres://` / `postgresql://` or `sqlite:`.
    pub fn from_url(database_url: &str) -> anyhow::Result<Backend> {
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if database_url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            // The URL itself may carry a password: never echo it.
            bail!("unsupported database URL: expected postgres://… or sqlite://…")
        }
    }

    /// How many connections a [`Store`] pools unless told otherwise.
    ///
    /// PostgreSQL: two per CPU of this host plus two, from 4 to 10 (6 on two
    /// cores). Each statement is short, so PostgreSQL does its best work
    /// with about as many busy backends as it has cores; more connections
    /// than that only make them take turns on the CPU, and the requests'
    /// latency spreads (with the database on the same two cores, 10
    /// connections gave a `check_availability` p99 of 2.3–2.6 × its median,
    /// 6 gave 1.9–2.0 ×; docs/performance.md). A request waiting for a
    /// connection waits in the pool's queue, in order, instead. The cap of
    /// 10 keeps several instances well inside PostgreSQL's 100 connections.
    /// SQLite: 4 (one writer at a time, readers beside it).
    pub fn default_pool_size(self) -> u32 {
        match self {
            Backend::Postgres => {
                let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
                u32::try_from(cpus * 2 + 2)
                    .unwrap_or(u32::MAX)
                    .clamp(PG_MIN_DEFAULT_CONNECTIONS, PG_MAX_DEFAULT_CONNECTIONS)
            }
            Backend::Sqlite => SQLITE_MAX_CONNECTIONS,
        }
    }

    /// How many connections bookings have of their own unless told
    /// otherwise (0: none, they share the pool).
    ///
    /// PostgreSQL: 0 for now (a booking pool of its own failed a booking
    /// right after a database restart once in CI; 16 is the measured
    /// setting to turn on once that is understood). A booking is one short statement and a commit, and
    /// most of its time in PostgreSQL is the wait for the commit's WAL
    /// flush, not CPU: the bookings in flight at once share a flush, so
    /// their rate grows with how many may be in flight, up to the clients
    /// asking. With the 6 connections of the pool, bookings of random slots
    /// from 16 clients waited for the flushes; 12–16 connections of their
    /// own gave 1.7 × the bookings per second on two cores
    /// (docs/performance.md). The other statements keep the pool, sized for
    /// the CPU ([`Backend::default_pool_size`]). Connections are opened
    /// when needed, not held idle.
    /// SQLite: 0 (one writer; bookings are written in batches instead).
    pub fn default_booking_pool_size(self) -> u32 {
        match self {
            Backend::Postgres => PG_DEFAULT_BOOKING_CONNECTIONS,
            Backend::Sqlite => 0,
        }
    }

    /// The backend a connection or transaction talks to.
    pub(crate) fn of<C: ConnectionTrait>(db: &C) -> Backend {
        match db.get_database_backend() {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// A statement written with PostgreSQL's `$n` placeholders, for this
    /// backend (SQLite takes the same numbered parameters as `?n`).
    pub(crate) fn statement(self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        match self {
            Backend::Postgres => Statement::from_sql_and_values(DbBackend::Postgres, sql, values),
            Backend::Sqlite => {
                Statement::from_sql_and_values(DbBackend::Sqlite, sql.replace('$', "?"), values)
            }
        }
    }
}

/// A snapshot of the connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// The store: a pool of database connections. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// PostgreSQL: the bookings' own pool (see
    /// [`Backend::default_booking_pool_size`]); `None`: bookings use `db`.
    booking_db: Option<DatabaseConnection>,
    backend: Backend,
    /// SQLite only: serializes this process's write transactions before they
    /// ask SQLite for the write lock.
    write_gate: Option<Arc<Mutex<()>>>,
    /// SQLite only: bookings waiting for the writer, written together
    /// (see [`group_commit`]).
    bookings: Option<Arc<group_commit::BookingQueue>>,
}

/// One try of a write operation: finished (with the operation's result), or
/// worth another try (the reason is logged).
pub(crate) enum Step<T> {
    Done(T),
    Retry(&'static str),
}

impl Store {
    /// Connects to `database_url`: `postgres://…` or `sqlite://path?mode=rwc`
    /// (the application's default is `sqlite://voice-scheduler.db?mode=rwc`).
    ///
    /// SQLite: WAL journal, `synchronous = FULL` (a confirmed booking survives
    /// a power cut), `busy_timeout` of 5 s, foreign keys on.
    /// PostgreSQL: a pool of [`Backend::default_pool_size`] connections with
    /// a 3 s acquire/connect timeout, so an outage fails fast; prepared
    /// statements keep their generic plans (`plan_cache_mode =
    /// force_generic_plan`).
    pub async fn connect(database_url: &str) -> anyhow::Result<Store> {
        Self::connect_with(database_url, None).await
    }

    /// [`Store::connect`] with at most `max_connections` pooled connections
    /// (`None`: the backend's default, [`Backend::default_pool_size`]).
    pub async fn connect_with(
        database_url: &str,
        max_connections: Option<u32>,
    ) -> anyhow::Result<Store> {
        Self::connect_with_pools(database_url, max_connections, None).await
    }

    /// [`Store::connect_with`], and on PostgreSQL a pool of at most
    /// `booking_connections` connections for bookings (`None`: the default,
    /// [`Backend::default_booking_pool_size`]; 0: bookings use the pool).
    /// Ignored on SQLite.
    pub async fn connect_with_pools(
        database_url: &str,
        max_connections: Option<u32>,
        booking_connections: Option<u32>,
    ) -> anyhow::Result<Store> {
        let backend = Backend::from_url(database_url)?;
        let max_connections = max_connections
            .unwrap_or(backend.default_pool_size())
            .max(1);
        let db = Self::pool(database_url, backend, max_connections).await?;
        let booking_connections = match backend {
            Backend::Postgres => booking_connections.unwrap_or(backend.default_booking_pool_size()),
            Backend::Sqlite => 0,
        };
        let booking_db = if booking_connections > 0 {
            Some(Self::pool(database_url, backend, booking_connections).await?)
        } else {
            None
        };
        let sqlite = backend == Backend::Sqlite;
        Ok(Store {
            db,
            booking_db,
            backend,
            write_gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            bookings: sqlite.then(Arc::default),
        })
    }

    /// One connection pool of at most `max_connections`.
    async fn pool(
        database_url: &str,
        backend: Backend,
        max_connections: u32,
    ) -> anyhow::Result<DatabaseConnection> {
        let mut options = ConnectOptions::new(database_url.to_owned());
        // sea-orm's own `debug`-level tracing of statements stays available;
        // sqlx's per-statement `info` logs would be noise.
        options.sqlx_logging(false);
        // sqlx pings a pooled connection on every checkout by default: one
        // more round trip before each statement (sea-orm checks a
        // connection out per statement). Only a connection that sat idle
        // long enough to have been dropped (a restarted server, a proxy's
        // idle timeout) is pinged now; a hot one goes straight to work.
        options.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
        match backend {
            Backend::Sqlite => {
                options
                    .max_connections(max_connections)
                    .min_connections(1)
                    .map_sqlx_sqlite_opts(|o| {
                        o.journal_mode(SqliteJournalMode::Wal)
                            .synchronous(SqliteSynchronous::Full)
                            .busy_timeout(SQLITE_BUSY_TIMEOUT)
                            .foreign_keys(true)
                    });
            }
            Backend::Postgres => {
                options
                    .max_connections(max_connections)
                    .min_connections(0)
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .connect_timeout(PG_CONNECT_TIMEOUT)
                    // Every statement of this store is a short index lookup
                    // whose generic plan is the right plan. In its default
                    // mode PostgreSQL judges the generic plan of a
                    // time-window search too costly and plans the booking
                    // statement afresh on every execution (0.19 ms, as long
                    // as running it); keeping the prepared plans gives about
                    // 10 % more throughput (docs/performance.md). Cached
                    // plans are made again whenever ANALYZE (autovacuum)
                    // refreshes the table's statistics.
                    .map_sqlx_postgres_opts(|o| {
                        o.options([("plan_cache_mode", "force_generic_plan")])
                    });
            }
        }
        let db = Database::connect(options)
            .await
            .with_context(|| format!("could not connect to the {backend:?} database"))?;
        match (backend, db.get_database_backend()) {
            (Backend::Postgres, DbBackend::Postgres) | (Backend::Sqlite, DbBackend::Sqlite) => {}
            (_, other) => bail!("connected to an unexpected database backend ({other:?})"),
        }
        Ok(db)
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db, None)
            .await
            .context("could not apply the database migrations")
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.db.ping().await.context("the database does not answer")
    }

    /// How many migrations are not applied yet (readiness wants none).
    pub async fn pending_migrations(&self) -> anyhow::Result<usize> {
        Migrator::get_pending_migrations(&self.db)
            .await
            .map(|pending| pending.len())
            .context("could not read the migration status")
    }

    /// The connection pool's current use.
    pub fn pool_stats(&self) -> PoolStats {
        match self.backend {
            Backend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                PoolStats {
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                    max: pool.options().get_max_connections(),
                }
            }
            Backend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                PoolStats {
                    size: pool.size(),
                    idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                    max: pool.options().get_max_connections(),
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection of the pool (other clones stop working too).
    pub async fn close(self) -> anyhow::Result<()> {
        if let Some(booking_db) = self.booking_db {
            booking_db
                .close()
                .await
                .context("could not close the bookings' database connections")?;
        }
        self.db
            .close()
            .await
            .context("could not close the database connections")
    }

    /// The most connections the bookings' own pool opens (`None`: bookings
    /// use the pool).
    pub fn booking_pool_max(&self) -> Option<u32> {
        self.booking_db.as_ref().map(|db| {
            db.get_postgres_connection_pool()
                .options()
                .get_max_connections()
        })
    }

    /// SQLite: holds this process's writer until the guard is dropped, so
    /// that bookings queue for it (tests of the group commit).
    #[cfg(feature = "testing")]
    pub async fn hold_writes(&self) -> Option<OwnedMutexGuard<()>> {
        self.lock_writes().await
    }

    /// SQLite: how many bookings wait for the writer now, and how many
    /// batches of bookings were written so far ([`group_commit`]).
    /// PostgreSQL: `None`.
    #[cfg(feature = "testing")]
    pub fn booking_queue(&self) -> Option<(usize, u64)> {
        self.bookings
            .as_ref()
            .map(|queue| (queue.waiting(), queue.batches()))
    }

    /// SQLite: waits for this process's turn to write. PostgreSQL: nothing
    /// (row locks and the exclusion constraint do the work).
    async fn lock_writes(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(gate) => Some(Arc::clone(gate).lock_owned().await),
            None => None,
        }
    }

    /// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the
    /// write lock is taken now, before anything is read, so what the
    /// transaction checks cannot change before it writes.
    async fn begin_write(&self) -> anyhow::Result<DatabaseTransaction> {
        let txn = match self.backend {
            Backend::Sqlite => {
                self.db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await
            }
            Backend::Postgres => self.db.begin().await,
        };
        txn.context("could not begin a write transaction")
    }

    /// Runs the delete `statement` (made afresh for each try) after this
    /// process's write gate, retried when the database asks; answers how
    /// many rows it deleted. `what` names the operation in errors and logs.
    async fn delete_rows<E, F>(&self, what: &'static str, statement: F) -> anyhow::Result<u64>
    where
        E: sea_orm::EntityTrait,
        F: Fn() -> sea_orm::DeleteMany<E>,
    {
        self.with_retries(what, || async {
            let _gate = self.lock_writes().await;
            match statement().exec(&self.db).await {
                Ok(done) => Step::Done(Ok(done.rows_affected)),
                Err(e) => fail(anyhow::Error::new(e).context(format!("could not {what}"))),
            }
        })
        .await
    }

    /// Runs `attempt` until it is done, at most [`MAX_ATTEMPTS`] times, with a
    /// short growing pause between tries.
    async fn with_retries<T, E, F, Fut>(
        &self,
        operation: &'static str,
        mut attempt: F,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Step<Result<T, E>>>,
        E: From<anyhow::Error>,
    {
        let started = std::time::Instant::now();
        let mut attempts = 0;
        while attempts < MAX_ATTEMPTS && (attempts == 0 || started.elapsed() < RETRY_BUDGET) {
            attempts += 1;
            match attempt().await {
                Step::Done(result) => return result,
                Step::Retry(reason) => {
                    tracing::debug!(operation, attempt = attempts, reason, "retrying");
                    if attempts < MAX_ATTEMPTS {
                        tokio::time::sleep(StdDuration::from_millis(10 * u64::from(attempts)))
                            .await;
                    }
                }
            }
        }
        Err(anyhow::Error::new(errors::Unavailable)
            .context(format!(
                "could not {operation}: gave up after {attempts} attempts"
            ))
            .into())
    }
}

/// Ends a transaction that must not be kept. A failed rollback is logged: the
/// database rolls back an unfinished transaction when the connection goes.
pub(crate) async fn rollback(txn: DatabaseTransaction) {
    if let Err(e) = txn.rollback().await {
        tracing::warn!(error = %e, "could not roll back a transaction");
    }
}

/// Commits `txn`, adding `context` to a failure.
pub(crate) async fn commit(txn: DatabaseTransaction, context: &'static str) -> anyhow::Result<()> {
    TransactionSession::commit(txn).await.context(context)
}

/// True when `err` (anywhere in its chain) is a database error worth retrying
/// the transaction for (SQLite busy/locked, PostgreSQL deadlock).
pub(crate) fn is_transient(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<DbErr>())
        .any(|db_err| classify(db_err) == Failure::Transient)
}

/// A failed try: worth another one when the failure is transient (see
/// [`is_transient`]), final otherwise.
pub(crate) fn fail<T, E: From<anyhow::Error>>(err: anyhow::Error) -> Step<Result<T, E>> {
    if is_transient(&err) {
        Step::Retry("the database asked to retry (busy or deadlock)")
    } else {
        Step::Done(Err(err.into()))
    }
}

/// Runs `f` on `txn` and commits when it returns `Ok(Ok(_))`; otherwise rolls
/// back. Business refusals (`Ok(Err(_))`) pass through; failures go to [`fail`].
pub(crate) async fn in_transaction<T, E>(
    txn: DatabaseTransaction,
    result: anyhow::Result<Result<T, E>>,
    commit_context: &'static str,
) -> Step<Result<T, E>>
where
    E: From<anyhow::Error>,
{
    match result {
        Ok(Ok(value)) => match commit(txn, commit_context).await {
            Ok(()) => Step::Done(Ok(value)),
            Err(e) => fail(e),
        },
        Ok(Err(refusal)) => {
            rollback(txn).await;
            Step::Done(Err(refusal))
        }
        Err(e) => {
            rollback(txn).await;
            fail(e)
        }
    }
}

/// What the body of a write transaction decided.
pub(crate) enum Decision<T, E> {
    /// Commit and answer `Ok`.
    Commit(T),
    /// Commit what was written and answer `Err`: a refusal that changes
    /// something (a reused refresh token ends its family).
    CommitRefusal(E),
    /// Roll back and answer `Err`.
    Refuse(E),
    /// Roll back and try again (a race that the next try's checks answer
    /// precisely).
    Retry(&'static str),
}

/// Ends `txn` as `decided` says (see [`Decision`]); a failure rolls back and
/// goes to [`fail`].
pub(crate) async fn finish<T, E>(
    txn: DatabaseTransaction,
    decided: anyhow::Result<Decision<T, E>>,
    commit_context: &'static str,
) -> Step<Result<T, E>>
where
    E: From<anyhow::Error>,
{
    match decided {
        Ok(Decision::Commit(value)) => match commit(txn, commit_context).await {
            Ok(()) => Step::Done(Ok(value)),
            Err(e) => fail(e),
        },
        Ok(Decision::CommitRefusal(refusal)) => match commit(txn, commit_context).await {
            Ok(()) => Step::Done(Err(refusal)),
            Err(e) => fail(e),
        },
        Ok(Decision::Refuse(refusal)) => {
            rollback(txn).await;
            Step::Done(Err(refusal))
        }
        Ok(Decision::Retry(reason)) => {
            rollback(txn).await;
            Step::Retry(reason)
        }
        Err(e) => {
            rollback(txn).await;
            fail(e)
        }
    }
}

/// The first keys of the transaction-scoped advisory locks on PostgreSQL
/// (`pg_advisory_xact_lock(int4, int4)`) beyond the per-calendar lock of
/// bookings (`appointments::hold_calendar`, first key `0x5643_0001`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum PgLock {
    /// The set of calendars: every `create` holds it shared, `create_if_none`
    /// exclusively, so "no calendar yet" cannot change under the latter.
    Calendars = 0x5643_0002,
    /// The set of users: every registration holds it shared, a first
    /// registration (`only_if_first`) exclusively.
    Users = 0x5643_0003,
}

/// PostgreSQL: takes `lock` (shared or exclusive) until `txn` ends, in a
/// statement of its own, so the statements that follow read a snapshot taken
/// after the lock was granted (under READ COMMITTED each statement sees what
/// was committed before it began). SQLite: nothing to do, `BEGIN IMMEDIATE`
/// already serializes writers.
pub(crate) async fn pg_lock(
    txn: &DatabaseTransaction,
    lock: PgLock,
    shared: bool,
) -> anyhow::Result<()> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let sql = if shared {
        "SELECT pg_advisory_xact_lock_shared($1, 0)"
    } else {
        "SELECT pg_advisory_xact_lock($1, 0)"
    };
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [(lock as i32).into()],
    ))
    .await
    .with_context(|| format!("could not take the advisory lock {lock:?}"))?;
    Ok(())
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::*;
    use crate::testing::TestDatabase;

    /// The write lock is held from `BEGIN` on, before the transaction reads
    /// anything: another connection cannot start writing in between.
    #[tokio::test]
    async fn sqlite_write_transactions_hold_the_write_lock_from_begin() -> anyhow::Result<()> {
        let test_db = TestDatabase::sqlite().await?;
        let store = Store::connect(&test_db.url).await?;
        store.migrate().await?;

        let mut options = ConnectOptions::new(test_db.url.clone());
        options
            .max_connections(1)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| o.busy_timeout(StdDuration::ZERO));
        let other = Database::connect(options).await?;

        let txn = store.begin_write().await?;
        let blocked = other.execute_unprepared("BEGIN IMMEDIATE").await;
        let blocked_is_busy = match &blocked {
            Err(e) => classify(e) == Failure::Transient,
            Ok(_) => false,
        };
        rollback(txn).await;
        assert!(blocked_is_busy, "another writer got in: {blocked:?}");

        other.execute_unprepared("BEGIN IMMEDIATE").await?;
        other.execute_unprepared("ROLLBACK").await?;
        other.close().await?;
        store.close().await?;
        test_db.drop_database().await
    }

    /// The pool opens at most the connections it is given, else its default.
    #[tokio::test]
    async fn the_pool_size_is_the_one_asked_for_or_the_default() -> anyhow::Result<()> {
        let postgres = Backend::Postgres.default_pool_size();
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert!((4..=10).contains(&postgres), "{postgres}");
        assert!(
            postgres <= u32::try_from(cpus * 2 + 2)?.max(4),
            "{postgres}"
        );
        assert_eq!(Backend::Sqlite.default_pool_size(), 4);

        let test_db = TestDatabase::sqlite().await?;
        let sized = Store::connect_with(&test_db.url, Some(2)).await?;
        assert_eq!(sized.pool_stats().max, 2);
        sized.close().await?;
        let default = Store::connect(&test_db.url).await?;
        assert_eq!(default.pool_stats().max, 4);
        assert_eq!(default.booking_pool_max(), None);
        default.close().await?;
        if let Some(pg) = TestDatabase::postgres("pool_size").await? {
            let sized = Store::connect_with(&pg.url, Some(3)).await?;
            assert_eq!(sized.pool_stats().max, 3);
            sized.close().await?;
            let default = Store::connect(&pg.url).await?;
            assert_eq!(default.pool_stats().max, postgres);
            assert_eq!(default.booking_pool_max(), None);
            default.close().await?;
            let shared = Store::connect_with_pools(&pg.url, Some(3), Some(0)).await?;
            assert_eq!(shared.booking_pool_max(), None);
            shared.close().await?;
            let own = Store::connect_with_pools(&pg.url, None, Some(5)).await?;
            assert_eq!(own.booking_pool_max(), Some(5));
            own.close().await?;
            pg.drop_database().await?;
        }
        test_db.drop_database().await
    }
}
