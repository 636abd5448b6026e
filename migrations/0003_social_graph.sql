-- Follows, blocks, mutes, lists, starter packs, verifications and activity subscriptions: the
-- reference AppView's dataplane schema (see 0001 for the conventions, README.md for the origin of
-- each table).

-- app.bsky.graph.follow records.
CREATE TABLE IF NOT EXISTS follow (
    uri          varchar PRIMARY KEY,
    cid          varchar NOT NULL,
    creator      varchar NOT NULL,
    "subjectDid" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    "sortAt"     varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    CONSTRAINT follow_unique_subject UNIQUE (creator, "subjectDid")
);
CREATE INDEX IF NOT EXISTS follow_creator_cursor_idx ON follow (creator, "sortAt", cid);
CREATE INDEX IF NOT EXISTS follow_subject_cursor_idx ON follow ("subjectDid", "sortAt", cid);

-- app.bsky.graph.block records.
CREATE TABLE IF NOT EXISTS actor_block (
    uri          varchar PRIMARY KEY,
    cid          varchar NOT NULL,
    creator      varchar NOT NULL,
    "subjectDid" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    "sortAt"     varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    CONSTRAINT actor_block_unique_subject UNIQUE (creator, "subjectDid")
);
CREATE INDEX IF NOT EXISTS actor_block_subjectdid_idx ON actor_block ("subjectDid");

-- Account mutes (private, written through the API). With either scope flag set, only that kind of
-- content is muted.
CREATE TABLE IF NOT EXISTS mute (
    "subjectDid"     varchar NOT NULL,
    "mutedByDid"     varchar NOT NULL,
    "createdAt"      varchar NOT NULL,
    "onlyReposts"    boolean NOT NULL DEFAULT false,
    "onlyQuoteposts" boolean NOT NULL DEFAULT false,
    CONSTRAINT mute_pkey PRIMARY KEY ("mutedByDid", "subjectDid")
);

-- app.bsky.graph.list records.
CREATE TABLE IF NOT EXISTS list (
    uri                 varchar PRIMARY KEY,
    cid                 varchar NOT NULL,
    creator             varchar NOT NULL,
    name                varchar NOT NULL,
    purpose             varchar NOT NULL,
    description         varchar,
    "descriptionFacets" varchar,
    "avatarCid"         varchar,
    "createdAt"         varchar NOT NULL,
    "indexedAt"         varchar NOT NULL,
    "sortAt"            varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED
);
CREATE INDEX IF NOT EXISTS list_creator_idx ON list (creator);

-- app.bsky.graph.listitem records.
CREATE TABLE IF NOT EXISTS list_item (
    uri          varchar PRIMARY KEY,
    cid          varchar NOT NULL,
    creator      varchar NOT NULL,
    "subjectDid" varchar NOT NULL,
    "listUri"    varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    "sortAt"     varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    CONSTRAINT list_item_unique_subject_in_list UNIQUE ("listUri", "subjectDid")
);
CREATE INDEX IF NOT EXISTS list_item_creator_idx ON list_item (creator);
CREATE INDEX IF NOT EXISTS list_item_subject_idx ON list_item ("subjectDid");

-- List mutes (private, written through the API).
CREATE TABLE IF NOT EXISTS list_mute (
    "listUri"    varchar NOT NULL,
    "mutedByDid" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    CONSTRAINT list_mute_pkey PRIMARY KEY ("mutedByDid", "listUri")
);

-- app.bsky.graph.listblock records.
CREATE TABLE IF NOT EXISTS list_block (
    uri          varchar PRIMARY KEY,
    cid          varchar NOT NULL,
    creator      varchar NOT NULL,
    "subjectUri" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    "sortAt"     varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    CONSTRAINT list_block_unique_subject UNIQUE (creator, "subjectUri")
);

-- app.bsky.graph.referencelistoptout records (an account opting out of a list, subjectUri).
CREATE TABLE IF NOT EXISTS reference_list_opt_out (
    uri          varchar PRIMARY KEY,
    cid          varchar NOT NULL,
    creator      varchar NOT NULL,
    "subjectUri" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    "sortAt"     varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    CONSTRAINT reference_list_opt_out_unique_subject UNIQUE (creator, "subjectUri")
);

-- Thread mutes (private, written through the API).
CREATE TABLE IF NOT EXISTS thread_mute (
    "rootUri"    varchar NOT NULL,
    "mutedByDid" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    CONSTRAINT thread_mute_pkey PRIMARY KEY ("rootUri", "mutedByDid")
);

-- app.bsky.graph.starterpack records. The trigram index on name is in 0005_trigram_search.sql.
CREATE TABLE IF NOT EXISTS starter_pack (
    uri         varchar PRIMARY KEY,
    cid         varchar NOT NULL,
    creator     varchar NOT NULL,
    "createdAt" varchar NOT NULL,
    "indexedAt" varchar NOT NULL,
    "sortAt"    varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    name        varchar
);
CREATE INDEX IF NOT EXISTS starter_pack_creator_order_by_idx ON starter_pack (creator, "sortAt", cid);

-- app.bsky.graph.verification records (note: the generated column is "sortedAt" here).
CREATE TABLE IF NOT EXISTS verification (
    uri           varchar PRIMARY KEY,
    cid           varchar NOT NULL,
    rkey          varchar NOT NULL,
    creator       varchar NOT NULL,
    subject       varchar NOT NULL,
    handle        varchar NOT NULL,
    "displayName" varchar NOT NULL,
    "createdAt"   varchar NOT NULL,
    "indexedAt"   varchar NOT NULL,
    "sortedAt"    varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    CONSTRAINT verification_unique_subject_creator UNIQUE (subject, creator)
);

-- Activity (post/reply notification) subscriptions (private, written through the API).
CREATE TABLE IF NOT EXISTS activity_subscription (
    creator      varchar NOT NULL,
    "subjectDid" varchar NOT NULL,
    key          varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    post         boolean NOT NULL,
    reply        boolean NOT NULL,
    CONSTRAINT activity_subscription_pkey PRIMARY KEY (creator, key),
    CONSTRAINT activity_subscription_unique_creator_subject_did UNIQUE (creator, "subjectDid")
);
