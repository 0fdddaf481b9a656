//! SQLite group commit of bookings.
//!
//! SQLite has one writer at a time, and with `synchronous = FULL` every
//! commit waits for the disk to flush its journal. Bookings committed one
//! by one therefore queue behind each other's flushes. Here the bookings
//! that are waiting for the writer when it becomes free are written
//! together: one `BEGIN IMMEDIATE`, each booking's statements inside a
//! savepoint of its own (a booking that fails is rolled back to its
//! savepoint and answered with its own error; the others stand), one
//! `COMMIT` — one flush for all of them. No booking waits for others to
//! arrive: a batch is whatever queued while the previous write was
//! running, and a booking alone is written alone.
//!
//! Every booking of a batch is answered only after the batch's commit, so a
//! booking confirmed to a caller is on disk, as before. The batch runs in a
//! task of its own: a request that is cancelled (its client went away)
//! cannot roll back the bookings of the others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement};
use tokio::sync::{OwnedMutexGuard, oneshot};

use crate::errors::{Failure, classify};
use crate::{Store, is_transient, rollback};

/// At most this many bookings in one transaction (the rest wait for the
/// next one, right after).
const MAX_BATCH: usize = 64;

/// The savepoint around one booking's statements in a batch.
pub(crate) const SAVEPOINT: &str = "SAVEPOINT booking";
/// Ends [`SAVEPOINT`], keeping what the booking wrote.
pub(crate) const RELEASE: &str = "RELEASE booking";
/// Undoes what a failed booking wrote and ends its savepoint.
const ROLL_BACK_BOOKING: &str = "ROLLBACK TO booking; RELEASE booking";

/// Bookings waiting for SQLite's writer.
#[derive(Debug, Default)]
pub(crate) struct BookingQueue {
    waiting: SyncMutex<Vec<Queued>>,
    /// Transactions begun for batches so far.
    batches: AtomicU64,
}

#[derive(Debug)]
struct Queued {
    /// The booking's statements, between [`SAVEPOINT`] and [`RELEASE`],
    /// ending with a query of one row whose `booked` column is 1 when the
    /// booking was written.
    statement: Statement,
    answer: oneshot::Sender<Result<bool, BatchError>>,
}

/// Why a queued booking was not written.
#[derive(Debug)]
pub(crate) enum BatchError {
    /// The booking's own statements failed; nothing of it was written.
    Own(DbErr),
    /// The batch's transaction could not begin or commit: nothing of the
    /// batch was written. `transient` when the database asked to retry,
    /// `unavailable` when it is out of reach.
    Batch {
        transient: bool,
        unavailable: bool,
        message: String,
    },
}

impl BatchError {
    fn of_batch(err: &DbErr) -> BatchError {
        BatchError::Batch {
            transient: classify(err) == Failure::Transient,
            unavailable: crate::errors::db_err_unavailable(err),
            message: err.to_string(),
        }
    }
}

impl BookingQueue {
    /// How many bookings wait for the writer now.
    #[cfg(feature = "testing")]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// How many batches were begun so far.
    #[cfg(feature = "testing")]
    pub(crate) fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    fn push(&self, queued: Queued) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(queued);
    }

    /// Takes the next batch: the oldest waiting bookings, at most
    /// [`MAX_BATCH`]. A booking whose request is gone (nobody would be told
    /// it was booked) is dropped unwritten.
    fn take(&self) -> Vec<Queued> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let n = waiting.len().min(MAX_BATCH);
        waiting
            .drain(..n)
            .filter(|queued| !queued.answer.is_closed())
            .collect()
    }
}

impl Store {
    /// Writes one booking's `statement` (see [`Queued::statement`]) with the
    /// bookings that queue with it, and answers whether it was booked once
    /// the batch is committed.
    pub(crate) async fn book_in_batch(
        &self,
        queue: &Arc<BookingQueue>,
        statement: Statement,
    ) -> Result<bool, BatchError> {
        let (answer, mut answered) = oneshot::channel();
        queue.push(Queued { statement, answer });
        let gate = tokio::select! {
            biased;
            done = &mut answered => return received(done),
            gate = self.lock_writes() => gate,
        };
        // The writer is ours. The batch that held it answered every booking
        // it took, so ours is either answered or still waiting: write the
        // waiting ones (ours among them) in a task that outlives this request.
        if let Ok(done) = answered.try_recv() {
            return done;
        }
        let store = self.clone();
        let queue = Arc::clone(queue);
        tokio::spawn(async move { store.write_batch(&queue, gate).await });
        received(answered.await)
    }

    /// Writes the next batch while holding the writer (`gate`).
    async fn write_batch(&self, queue: &BookingQueue, gate: Option<OwnedMutexGuard<()>>) {
        let batch = queue.take();
        if batch.is_empty() {
            return;
        }
        queue.batches.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(bookings = batch.len(), "writing a batch of bookings");
        let txn = match self.begin_write().await {
            Ok(txn) => txn,
            Err(e) => {
                let (transient, message) = (is_transient(&e), format!("{e:#}"));
                let unavailable = crate::errors::is_unavailable(&e);
                for queued in batch {
                    let _ = queued.answer.send(Err(BatchError::Batch {
                        transient,
                        unavailable,
                        message: message.clone(),
                    }));
                }
                return;
            }
        };
        let mut written = Vec::with_capacity(batch.len());
        let mut batch = batch.into_iter();
        while let Some(queued) = batch.next() {
            match write_one(&txn, queued.statement).await {
                Ok(result) => written.push((queued.answer, result)),
                Err(undo) => {
                    // The failed booking could not be undone alone (SQLite
                    // may have rolled the whole transaction back): give the
                    // batch up; every booking of it — written, failed or not
                    // yet run — tries again.
                    tracing::warn!(error = %undo, "could not roll back a booking in a batch");
                    rollback(txn).await;
                    let again = || BatchError::Batch {
                        transient: true,
                        unavailable: false,
                        message: format!("a booking of the batch could not be undone: {undo}"),
                    };
                    let answers = written
                        .into_iter()
                        .map(|(answer, _)| answer)
                        .chain(std::iter::once(queued.answer))
                        .chain(batch.map(|rest| rest.answer));
                    for answer in answers {
                        let _ = answer.send(Err(again()));
                    }
                    return;
                }
            }
        }
        match txn.commit().await {
            Ok(()) => {
                for (answer, result) in written {
                    let _ = answer.send(result);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, bookings = written.len(), "could not commit a batch of bookings");
                for (answer, _) in written {
                    let _ = answer.send(Err(BatchError::of_batch(&e)));
                }
            }
        }
        drop(gate);
    }
}

/// Runs one booking's statements in `txn`: `Ok(Ok(booked))`, or
/// `Ok(Err(_))` when they failed and were rolled back to their savepoint;
/// `Err(_)` when that rollback failed too (the transaction is unusable).
async fn write_one(
    txn: &DatabaseTransaction,
    statement: Statement,
) -> Result<Result<bool, BatchError>, DbErr> {
    let booked = async {
        let row = txn.query_one_raw(statement).await?;
        let booked: i64 = match row {
            Some(row) => row.try_get("", "booked")?,
            None => 0,
        };
        Ok::<_, DbErr>(booked == 1)
    }
    .await;
    match booked {
        Ok(booked) => Ok(Ok(booked)),
        Err(e) => {
            txn.execute_unprepared(ROLL_BACK_BOOKING).await?;
            Ok(Err(BatchError::Own(e)))
        }
    }
}

/// A booking's answer from the batch task (which cannot drop it unanswered
/// unless it panicked).
fn received(
    done: Result<Result<bool, BatchError>, oneshot::error::RecvError>,
) -> Result<bool, BatchError> {
    done.unwrap_or_else(|_| {
        Err(BatchError::Batch {
            transient: false,
            unavailable: false,
            message: "the batch writing this booking stopped".to_owned(),
        })
    })
}
