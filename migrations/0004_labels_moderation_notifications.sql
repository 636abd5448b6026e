-- Labels, labelers, notifications, takedowns, the legacy moderation tables, suggestions and private
-- data: the reference AppView's dataplane schema (see 0001 for the conventions, README.md for the
-- origin of each table).

-- Labels from labelers (com.atproto.label).
CREATE TABLE IF NOT EXISTS label (
    src varchar NOT NULL,
    uri varchar NOT NULL,
    cid varchar NOT NULL,
    val varchar NOT NULL,
    neg boolean NOT NULL,
    cts varchar NOT NULL,
    exp varchar,
    CONSTRAINT label_pkey PRIMARY KEY (src, uri, cid, val)
);
CREATE INDEX IF NOT EXISTS label_uri_index ON label (uri);
CREATE INDEX IF NOT EXISTS label_cts_idx ON label (cts);

-- app.bsky.labeler.service records.
CREATE TABLE IF NOT EXISTS labeler (
    uri         varchar PRIMARY KEY,
    cid         varchar NOT NULL,
    creator     varchar NOT NULL,
    "createdAt" varchar NOT NULL,
    "indexedAt" varchar NOT NULL,
    "sortAt"    varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED
);
CREATE INDEX IF NOT EXISTS labeler_order_by_idx ON labeler ("sortAt", cid);

-- Notifications, one row per recipient (`did`) and reason.
CREATE TABLE IF NOT EXISTS notification (
    id              bigserial PRIMARY KEY,
    did             varchar NOT NULL,
    "recordUri"     varchar NOT NULL,
    "recordCid"     varchar NOT NULL,
    author          varchar NOT NULL,
    reason          varchar NOT NULL,
    "reasonSubject" varchar,
    "sortAt"        varchar NOT NULL
);
CREATE INDEX IF NOT EXISTS notification_did_sortat_idx ON notification (did, "sortAt");
CREATE INDEX IF NOT EXISTS notification_record_idx ON notification ("recordUri");
CREATE INDEX IF NOT EXISTS notification_author_idx ON notification (author);

CREATE TABLE IF NOT EXISTS notification_push_token (
    did      varchar NOT NULL,
    platform varchar NOT NULL,
    token    varchar NOT NULL,
    "appId"  varchar NOT NULL,
    CONSTRAINT notification_push_token_pkey PRIMARY KEY (did, token)
);

-- Blob takedowns (account and record takedowns are the "takedownRef" columns of actor and record).
CREATE TABLE IF NOT EXISTS blob_takedown (
    did           varchar NOT NULL,
    cid           varchar NOT NULL,
    "takedownRef" varchar NOT NULL,
    CONSTRAINT blob_takedown_pkey PRIMARY KEY (did, cid)
);

-- Legacy moderation tables: moderation moved to ozone and the dataplane no longer reads them, but the
-- reference migrations still create them, so a schema made by either side has the same tables.
CREATE TABLE IF NOT EXISTS moderation_action (
    id                 serial PRIMARY KEY,
    action             varchar NOT NULL,
    "subjectType"      varchar NOT NULL,
    "subjectDid"       varchar NOT NULL,
    "subjectUri"       varchar,
    "subjectCid"       varchar,
    reason             text    NOT NULL,
    "createdAt"        varchar NOT NULL,
    "createdBy"        varchar NOT NULL,
    "reversedAt"       varchar,
    "reversedBy"       varchar,
    "reversedReason"   text,
    "createLabelVals"  varchar,
    "negateLabelVals"  varchar,
    "durationInHours"  integer,
    "expiresAt"        varchar
);

CREATE TABLE IF NOT EXISTS moderation_action_subject_blob (
    "actionId" integer NOT NULL REFERENCES moderation_action (id),
    cid        varchar NOT NULL,
    CONSTRAINT moderation_action_subject_blob_pkey PRIMARY KEY ("actionId", cid)
);
CREATE INDEX IF NOT EXISTS moderation_action_subject_blob_cid_idx ON moderation_action_subject_blob (cid);

CREATE TABLE IF NOT EXISTS moderation_report (
    id              serial PRIMARY KEY,
    "subjectType"   varchar NOT NULL,
    "subjectDid"    varchar NOT NULL,
    "subjectUri"    varchar,
    "subjectCid"    varchar,
    "reasonType"    varchar NOT NULL,
    reason          text,
    "reportedByDid" varchar NOT NULL,
    "createdAt"     varchar NOT NULL
);

CREATE TABLE IF NOT EXISTS moderation_report_resolution (
    "reportId"  integer NOT NULL REFERENCES moderation_report (id),
    "actionId"  integer NOT NULL REFERENCES moderation_action (id),
    "createdBy" varchar NOT NULL,
    "createdAt" varchar NOT NULL,
    CONSTRAINT moderation_report_resolution_pkey PRIMARY KEY ("reportId", "actionId")
);
CREATE INDEX IF NOT EXISTS moderation_report_resolution_action_id_idx ON moderation_report_resolution ("actionId");

CREATE TABLE IF NOT EXISTS moderation_event (
    id                serial PRIMARY KEY,
    action            varchar NOT NULL,
    "subjectType"     varchar NOT NULL,
    "subjectDid"      varchar NOT NULL,
    "subjectUri"      varchar,
    "subjectCid"      varchar,
    comment           text,
    meta              jsonb,
    "createdAt"       varchar NOT NULL,
    "createdBy"       varchar NOT NULL,
    "reversedAt"      varchar,
    "reversedBy"      varchar,
    "durationInHours" integer,
    "expiresAt"       varchar,
    "reversedReason"  text,
    "createLabelVals" varchar,
    "negateLabelVals" varchar,
    "legacyRefId"     integer
);

CREATE TABLE IF NOT EXISTS moderation_subject_status (
    id               serial PRIMARY KEY,
    did              varchar NOT NULL,
    -- '' rather than NULL for account subjects, so that (did, recordPath) can be unique.
    "recordPath"     varchar NOT NULL DEFAULT '',
    "blobCids"       jsonb,
    "recordCid"      varchar,
    "reviewState"    varchar NOT NULL,
    comment          varchar,
    "muteUntil"      varchar,
    "lastReviewedAt" varchar,
    "lastReviewedBy" varchar,
    "lastReportedAt" varchar,
    takendown        boolean NOT NULL DEFAULT false,
    "suspendUntil"   varchar,
    "createdAt"      varchar NOT NULL,
    "updatedAt"      varchar NOT NULL,
    CONSTRAINT moderation_status_unique_idx UNIQUE (did, "recordPath")
);
CREATE INDEX IF NOT EXISTS moderation_subject_status_blob_cids_idx ON moderation_subject_status USING gin ("blobCids");

-- Suggestions curated by the operator.
CREATE TABLE IF NOT EXISTS suggested_follow (
    did     varchar PRIMARY KEY,
    "order" integer NOT NULL
);

CREATE TABLE IF NOT EXISTS suggested_feed (
    uri     varchar PRIMARY KEY,
    "order" integer NOT NULL
);

CREATE TABLE IF NOT EXISTS tagged_suggestion (
    tag           varchar NOT NULL,
    subject       varchar NOT NULL,
    "subjectType" varchar NOT NULL,
    CONSTRAINT tagged_suggestion_pkey PRIMARY KEY (tag, subject)
);

-- Per-account private data (preferences and the like, written through the API).
CREATE TABLE IF NOT EXISTS private_data (
    "actorDid"  varchar NOT NULL,
    namespace   varchar NOT NULL,
    key         varchar NOT NULL,
    payload     text    NOT NULL,
    "indexedAt" varchar NOT NULL,
    "updatedAt" varchar NOT NULL,
    CONSTRAINT private_data_pkey PRIMARY KEY ("actorDid", namespace, key)
);
