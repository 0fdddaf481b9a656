#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests: the real application on port 0, driven over HTTP with
//! VAPI-shaped payloads, on SQLite and on PostgreSQL (a fresh database per
//! test). All API tests link into this one binary.

#[macro_use]
mod helpers;

mod accounts;
mod booking;
mod deploy;
mod fixtures;
mod health;
mod operations;
mod process;
mod resilience;
mod tenancy;
mod vapi_protocol;
