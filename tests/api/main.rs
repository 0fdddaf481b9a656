#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests: the real application on port 0, driven over HTTP with
//! VAPI-shaped payloads, on SQLite and on PostgreSQL (a fresh database per
//! test). All API tests link into this one binary.

#[macro_use]
mod helpers;

mod accounts;
mod audit;
mod bodies;
mod booking;
mod browser;
mod calls;
mod closures;
mod deploy;
mod dial;
mod fixtures;
mod google;
mod health;
mod limits;
mod logs;
mod operations;
mod outage;
mod paths;
mod privacy;
mod process;
mod resilience;
mod services;
mod spoken;
mod tenancy;
mod vapi_hardening;
mod vapi_hmac;
mod vapi_protocol;
mod web;
mod webhooks;
