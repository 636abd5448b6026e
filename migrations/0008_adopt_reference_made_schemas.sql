-- Adopting a schema that the reference's own migrator made (an AppView switching its indexer to
-- Sluice, or a schema from realnet's `reference-index`): 0001-0005 skip what exists, and this adds
-- the columns that the schema's reference version lacks, so that every schema ends up as the
-- union described in README.md. On a schema that 0001-0005 created, every statement is a no-op.

-- Made by @atproto/bsky 0.0.280: no revision guard column, and one column divy/backfill still has.
ALTER TABLE record ADD COLUMN IF NOT EXISTS rev varchar NOT NULL DEFAULT '';
ALTER TABLE actor_state ADD COLUMN IF NOT EXISTS "lastSeenPriorityNotifs" varchar;

-- Made by divy/backfill: the columns that 0.0.280 added later (its missing tables and index come
-- from 0002-0003).
ALTER TABLE actor ADD COLUMN IF NOT EXISTS "ageAssuranceAccess" text;
ALTER TABLE actor ADD COLUMN IF NOT EXISTS "ageAssuranceCountryCode" text;
ALTER TABLE actor ADD COLUMN IF NOT EXISTS "ageAssuranceRegionCode" text;
ALTER TABLE mute ADD COLUMN IF NOT EXISTS "onlyReposts" boolean NOT NULL DEFAULT false;
ALTER TABLE mute ADD COLUMN IF NOT EXISTS "onlyQuoteposts" boolean NOT NULL DEFAULT false;
