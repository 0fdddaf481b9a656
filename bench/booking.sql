-- The ceiling: the booking transaction of voice-scheduler-store on PostgreSQL,
-- run by pgbench against the same database and calendar as the HTTP load.
--
-- It is the statement of `book_statement_postgres` (crates/store/src/appointments.rs,
-- used by Store::book_postgres), a transaction of its own: take the
-- calendar's advisory lock in shared mode
-- (pg_advisory_xact_lock_shared(0x56430001, hashtext(calendar)); moves take it
-- exclusive), check that no active appointment holds the time (the same
-- bounds as the store: starts_at within 12 h = Schedule::MAX_HOLD_MINUTES
-- before) and that the idempotency key is unused, insert with
-- ON CONFLICT DO NOTHING (exclusion constraint + indexes),
-- and from the inserted row: queue the calendar-sync job when the calendar is
-- connected to Google (it is not, in the benchmark), the `appointment.booked`
-- webhook deliveries of matching endpoints (none, in the benchmark) and the
-- booking's audit entry; commit.
--
-- Run by `voice-scheduler-bench` (with PGOPTIONS="-c plan_cache_mode=force_generic_plan",
-- as the store sets on its connections) as
--   pgbench -n -M prepared -f bench/booking.sql -c N -j 2 -T S \
--     -D i=0 -D nclients=N -D calendar=<uuid> -D base=<epoch> -D step=900 -D len=900 <database>
-- Each client books its own free slots (slot = i * nclients + client_id, from
-- `base` on, one every `step` seconds), so every transaction commits an
-- insert, as a successful booking does. Rows are marked with a lowercase
-- confirmation code ('p…') and the phone +12125550199 that the load never uses.
\set i :i + 1
\set slot :i * :nclients + :client_id
\set start :base + :slot * :step
\set finish :start + :len
\set lookback :start - 43200
WITH "ins" AS (INSERT INTO "appointments" ("id", "calendar_id", "confirmation_code", "starts_at", "ends_at", "blocked_until", "time_zone", "status", "customer_name", "customer_phone", "customer_email", "purpose", "channel", "vapi_call_id", "tool_call_id", "idempotency_key", "created_at", "updated_at", "cancelled_at", "cancel_reason") SELECT gen_random_uuid(), :calendar, 'p' || lpad(to_hex(:slot::bigint), 5, '0'), to_timestamp(:start), to_timestamp(:finish), to_timestamp(:finish), 'America/Los_Angeles', 'confirmed', 'Pgbench Caller', '+12125550199', 'pgbench@example.com', 'Ceiling', 'voice', 'pgbench-call', 'pgbench:' || :slot, 'pgbench:' || :slot, now(), now(), NULL, NULL FROM (SELECT pg_advisory_xact_lock_shared(1447231489, hashtext(:calendar))) AS "held" WHERE NOT EXISTS (SELECT 1 FROM "appointments" WHERE "calendar_id" = :calendar AND "status" <> 'cancelled' AND "starts_at" < to_timestamp(:finish) AND "starts_at" > to_timestamp(:lookback) AND "blocked_until" > to_timestamp(:start)) AND NOT EXISTS (SELECT 1 FROM "appointments" WHERE "calendar_id" = :calendar AND "idempotency_key" = 'pgbench:' || :slot) ON CONFLICT DO NOTHING RETURNING "id", "calendar_id"), "job" AS (INSERT INTO "calendar_sync_jobs" ("appointment_id", "calendar_id", "generation", "status", "attempts", "run_at", "locked_until", "last_error", "created_at", "updated_at") SELECT "ins"."id", "ins"."calendar_id", 1, 'pending', 0, now(), NULL, NULL, now(), now() FROM "ins" WHERE EXISTS (SELECT 1 FROM "google_connections" "c" WHERE "c"."calendar_id" = "ins"."calendar_id")), "hook" AS (INSERT INTO "webhook_deliveries" ("endpoint_id", "event_id", "event", "data", "event_created_at", "status", "attempts", "run_at", "locked_until", "queued_at", "last_status", "last_error", "updated_at", "delivered_at") SELECT "e"."id", gen_random_uuid(), 'appointment.booked', '{}', now(), 'pending', 0, now(), NULL, now(), NULL, NULL, now(), NULL FROM "webhook_endpoints" "e", "ins" WHERE ("e"."event_mask" & 1) <> 0 AND ("e"."calendar_id" IS NULL OR "e"."calendar_id" = "ins"."calendar_id")), "aud" AS (INSERT INTO "audit_log" ("at", "actor_kind", "actor_id", "action", "resource", "outcome", "address", "detail") SELECT now(), 'vapi_call', 'pgbench-call', 'appointment.book', 'appointment:' || "ins"."id", 'success', NULL, 'voice booking by pgbench' FROM "ins") SELECT count(*) AS "booked" FROM "ins";
