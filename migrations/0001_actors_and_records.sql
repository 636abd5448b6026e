-- Records, accounts and profiles: the reference AppView's dataplane schema (@atproto/bsky 0.0.280
-- united with the divy/backfill branch; see README.md). Conventions kept from the reference:
-- quoted camelCase column names, timestamps as ISO-8601 strings in `varchar` columns, AT-URIs and
-- DIDs as `varchar` keys, and `sortAt` generated as least("createdAt", "indexedAt").
--
-- Every table is created in the connection's current schema (the first of its search_path).
--
-- 0001-0005 say IF NOT EXISTS throughout so that Sluice can adopt a schema that the reference's
-- own migrator made (0008 then adds the columns that reference version lacks); on an empty schema
-- they create everything as written here. Constraints are part of each CREATE TABLE.

-- Every indexed record, as JSON, whatever its collection.
CREATE TABLE IF NOT EXISTS record (
    uri           varchar PRIMARY KEY,
    cid           varchar NOT NULL,
    did           varchar NOT NULL,
    json          text    NOT NULL,
    "indexedAt"   varchar NOT NULL,
    "takedownRef" varchar,
    tags          jsonb,
    -- divy/backfill only (absent from 0.0.280): the repo revision of the commit that last wrote the
    -- record, for the revision guard; a deletion keeps the row as a tombstone (json = '', cid = '').
    -- The branch declares it NOT NULL without a default; the default '' (older than any revision)
    -- lets 0.0.280's writer, which does not know the column, still insert.
    rev           varchar NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS record_did_idx ON record (did);

-- Records whose subject another record of the same author already took (e.g. a second like).
CREATE TABLE IF NOT EXISTS duplicate_record (
    uri           varchar PRIMARY KEY,
    cid           varchar NOT NULL,
    "duplicateOf" varchar NOT NULL,
    "indexedAt"   varchar NOT NULL
);
CREATE INDEX IF NOT EXISTS duplicate_record_duplicate_of_idx ON duplicate_record ("duplicateOf");

-- Accounts: handle, upstream status and AppView-side flags. The trigram index on handle is in
-- 0005_trigram_search.sql.
CREATE TABLE IF NOT EXISTS actor (
    did                           varchar PRIMARY KEY,
    handle                        varchar UNIQUE,
    "indexedAt"                   varchar NOT NULL,
    "takedownRef"                 varchar,
    "upstreamStatus"              varchar,
    "trustedVerifier"             boolean NOT NULL DEFAULT false,
    "ageAssuranceStatus"          text,
    "ageAssuranceLastInitiatedAt" varchar,
    "ageAssuranceAccess"          text,
    "ageAssuranceCountryCode"     text,
    "ageAssuranceRegionCode"      text
);

-- The last commit seen per repo.
CREATE TABLE IF NOT EXISTS actor_sync (
    did         varchar PRIMARY KEY,
    "commitCid" varchar NOT NULL,
    "repoRev"   varchar
);

-- Per-viewer notification state (written through the API, not by the indexer).
CREATE TABLE IF NOT EXISTS actor_state (
    did              varchar PRIMARY KEY,
    "lastSeenNotifs" varchar NOT NULL,
    "priorityNotifs" boolean NOT NULL DEFAULT false,
    -- divy/backfill only: 0.0.280 dropped it (20260904T130000000Z); kept, nullable, for the branch.
    "lastSeenPriorityNotifs" varchar
);

-- DID document cache.
CREATE TABLE IF NOT EXISTS did_cache (
    did         varchar PRIMARY KEY,
    doc         jsonb   NOT NULL,
    "updatedAt" bigint  NOT NULL
);

-- Firehose subscription cursors of the reference indexer.
CREATE TABLE IF NOT EXISTS subscription (
    service varchar NOT NULL,
    method  varchar NOT NULL,
    state   varchar NOT NULL,
    CONSTRAINT subscription_pkey PRIMARY KEY (service, method)
);

-- app.bsky.actor.profile records. The trigram index on displayName is in 0005_trigram_search.sql.
CREATE TABLE IF NOT EXISTS profile (
    uri                       varchar PRIMARY KEY,
    cid                       varchar NOT NULL,
    creator                   varchar NOT NULL,
    "displayName"             varchar,
    description               varchar,
    "avatarCid"               varchar,
    "bannerCid"               varchar,
    "indexedAt"               varchar NOT NULL,
    "joinedViaStarterPackUri" varchar,
    "createdAt"               varchar NOT NULL,
    "pinnedPost"              varchar,
    "pinnedPostCid"           varchar
);
CREATE INDEX IF NOT EXISTS profile_creator_idx ON profile (creator);
CREATE INDEX IF NOT EXISTS profile_starter_pack_joined_idx ON profile ("joinedViaStarterPackUri", "createdAt");

-- Per-account counters.
CREATE TABLE IF NOT EXISTS profile_agg (
    did              varchar PRIMARY KEY,
    "followersCount" bigint NOT NULL DEFAULT 0,
    "followsCount"   bigint NOT NULL DEFAULT 0,
    "postsCount"     bigint NOT NULL DEFAULT 0
);
