-- The tables of the minimal booking transaction (bench/minimal.sql), the
-- ceiling that issue 20 compares random-slot bookings with: a table of
-- bookings with a gist exclusion constraint on (owner, tstzrange) and an
-- outbox table. Created in the bench's own database, beside the
-- application's tables, and dropped with it.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE IF NOT EXISTS "minimal_bookings" (
    "id" bigserial PRIMARY KEY,
    "owner" integer NOT NULL,
    "during" tstzrange NOT NULL,
    EXCLUDE USING gist ("owner" WITH =, "during" WITH &&)
);
CREATE TABLE IF NOT EXISTS "minimal_outbox" (
    "id" bigserial PRIMARY KEY,
    "booking_id" bigint NOT NULL,
    "created_at" timestamptz NOT NULL DEFAULT now()
);
