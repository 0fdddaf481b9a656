//! Keeps the database's sockets and the tasks that requests spawn on the
//! runtime that built the application, not on the HTTP worker that happens to
//! serve the request.
//!
//! Each actix-web worker runs its own single-threaded runtime, and a worker
//! with no open connection ends it at the first moment of a graceful
//! shutdown. A pooled database connection belongs to the runtime whose
//! context opened it: before this wrapper, a connection opened while serving
//! a request on worker A died with A's runtime, and a request still being
//! drained on worker B failed on it ("a Tokio 1.x context was found, but it is
//! being shutdown") — a booking whose body arrived just after SIGTERM was
//! answered "the booking system had a problem". Polled inside the
//! application's runtime context, every connection the pool opens, every
//! timer and every `tokio::spawn` of a request belongs to that runtime, which
//! lives until the HTTP server has drained.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::Handle;

/// A future polled inside `handle`'s runtime context (see the module docs).
pub(crate) struct OnRuntime<F> {
    handle: Handle,
    inner: Pin<Box<F>>,
}

impl<F: Future> OnRuntime<F> {
    pub(crate) fn new(handle: Handle, inner: F) -> Self {
        Self {
            handle,
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for OnRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.handle.enter();
        this.inner.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_future_runs_in_the_given_runtime_context() {
        let outer = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let worker = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let spawned = worker.block_on(OnRuntime::new(outer.handle().clone(), async {
            // A task spawned (with a timer) here belongs to `outer`: it still
            // completes after the worker's runtime is gone. Spawned on the
            // worker's runtime, it would be cancelled with it.
            let task = tokio::spawn(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                7
            });
            Some(task)
        }));
        drop(worker);
        let spawned = spawned.unwrap();
        assert_eq!(outer.block_on(spawned).unwrap(), 7);
    }
}
