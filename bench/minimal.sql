-- The minimal booking transaction of issue 20, run by pgbench as the
-- ceiling of the random-slot scenario: one insert into a table with a gist
-- exclusion constraint on (owner, tstzrange) and one outbox insert, one
-- transaction, one owner (one calendar). The tables: bench/minimal-setup.sql.
--
-- Run by `voice-scheduler-bench` as
--   pgbench -n -M prepared -f bench/minimal.sql -c N -j 2 -T S \
--     -D i=0 -D nclients=N -D slots=<slots> -D base=<epoch> -D step=300 <database>
-- Slots are 5 minutes (`step`) from `base` on and drawn at random without
-- repeats: the k-th transaction overall takes slot permute(k, slots), so
-- every insert commits (as the random-slot load's bookings do, but for the
-- few it finds taken) and lands at a random place in the indexes.
\set i :i + 1
\set k :i * :nclients + :client_id
\set slot permute(:k, :slots)
\set start :base + :slot * :step
\set finish :start + :step
BEGIN;
INSERT INTO "minimal_bookings" ("owner", "during") VALUES (1, tstzrange(to_timestamp(:start), to_timestamp(:finish), '[)')) RETURNING "id" \gset
INSERT INTO "minimal_outbox" ("booking_id") VALUES (:id);
COMMIT;
