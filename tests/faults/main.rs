#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Fault tests: the guarantees that must hold when things go wrong, checked
//! against the real server on loopback, each bounded in time.
//!
//! - `two_instances`: two server processes on one PostgreSQL database; 200
//!   concurrent bookings of one slot → one booked, 199 told it is taken.
//! - `kill9`: a server killed with SIGKILL in the middle of a load of
//!   bookings, then restarted: every booking confirmed to a caller is there,
//!   nothing half-written (PostgreSQL and SQLite).
//! - `fuzz`: random and malformed bodies, headers and arguments on the VAPI
//!   routes: never a 5xx, always one result per tool call.
//!
//! PostgreSQL cases skip (loudly) when the server in `TEST_DATABASE_URL` is
//! unreachable, and fail instead with `REQUIRE_POSTGRES=1`, as in CI.

#[allow(dead_code)]
#[macro_use]
#[path = "../api/helpers.rs"]
mod helpers;

mod fuzz;
mod kill9;
mod server;
mod two_instances;
