-- Posts, their embeds and interactions, feed items, gates, feed generators and the "what's hot"
-- view: the reference AppView's dataplane schema (see 0001 for the conventions, README.md for the
-- origin of each table).

-- app.bsky.feed.post records.
CREATE TABLE IF NOT EXISTS post (
    uri                      varchar PRIMARY KEY,
    cid                      varchar NOT NULL,
    creator                  varchar NOT NULL,
    text                     varchar NOT NULL,
    "replyRoot"              varchar,
    "replyRootCid"           varchar,
    "replyParent"            varchar,
    "replyParentCid"         varchar,
    "createdAt"              varchar NOT NULL,
    "indexedAt"              varchar NOT NULL,
    "sortAt"                 varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    langs                    jsonb,
    "invalidReplyRoot"       boolean,
    "violatesThreadGate"     boolean,
    tags                     jsonb,
    "violatesEmbeddingRules" boolean,
    "hasThreadGate"          boolean,
    "hasPostGate"            boolean
);
CREATE INDEX IF NOT EXISTS post_creator_cursor_idx ON post (creator, "sortAt", cid);
CREATE INDEX IF NOT EXISTS post_order_by_idx ON post ("sortAt", cid);
-- Covers uri so that the recursive walk down a thread is an index-only scan.
CREATE INDEX IF NOT EXISTS post_replyparent_idx ON post ("replyParent") INCLUDE (uri);

-- Per-post counters.
CREATE TABLE IF NOT EXISTS post_agg (
    uri             varchar PRIMARY KEY,
    "likeCount"     bigint NOT NULL DEFAULT 0,
    "replyCount"    bigint NOT NULL DEFAULT 0,
    "repostCount"   bigint NOT NULL DEFAULT 0,
    "quoteCount"    bigint NOT NULL DEFAULT 0,
    "bookmarkCount" bigint NOT NULL DEFAULT 0
);

-- Embeds of a post, one table per kind (`position` is the image's index, as text).
CREATE TABLE IF NOT EXISTS post_embed_image (
    "postUri"  varchar NOT NULL,
    "position" varchar NOT NULL,
    "imageCid" varchar NOT NULL,
    alt        varchar NOT NULL,
    CONSTRAINT post_embed_image_pkey PRIMARY KEY ("postUri", "position")
);

CREATE TABLE IF NOT EXISTS post_embed_gallery_image (
    "postUri"  varchar NOT NULL,
    "position" varchar NOT NULL,
    "imageCid" varchar NOT NULL,
    alt        varchar NOT NULL,
    CONSTRAINT post_embed_gallery_image_pkey PRIMARY KEY ("postUri", "position")
);

CREATE TABLE IF NOT EXISTS post_embed_external (
    "postUri"   varchar PRIMARY KEY,
    uri         varchar NOT NULL,
    title       varchar NOT NULL,
    description varchar NOT NULL,
    "thumbCid"  varchar
);

CREATE TABLE IF NOT EXISTS post_embed_record (
    "postUri"  varchar NOT NULL,
    "embedUri" varchar NOT NULL,
    "embedCid" varchar NOT NULL,
    CONSTRAINT post_embed_record_pkey PRIMARY KEY ("postUri", "embedUri")
);

CREATE TABLE IF NOT EXISTS post_embed_video (
    "postUri"  varchar NOT NULL,
    "videoCid" varchar NOT NULL,
    alt        varchar,
    CONSTRAINT post_embed_video_pkey PRIMARY KEY ("postUri")
);

-- Quote posts, by quoted subject.
CREATE TABLE IF NOT EXISTS quote (
    uri          varchar PRIMARY KEY,
    cid          varchar NOT NULL,
    subject      varchar NOT NULL,
    "subjectCid" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    "sortAt"     varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED
);
CREATE INDEX IF NOT EXISTS quote_subject_cursor_idx ON quote (subject, "sortAt", cid);

-- app.bsky.feed.repost records.
CREATE TABLE IF NOT EXISTS repost (
    uri          varchar PRIMARY KEY,
    cid          varchar NOT NULL,
    creator      varchar NOT NULL,
    subject      varchar NOT NULL,
    "subjectCid" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    "sortAt"     varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    via          varchar,
    "viaCid"     varchar,
    CONSTRAINT repost_unique_subject UNIQUE (creator, subject)
);
CREATE INDEX IF NOT EXISTS repost_subject_idx ON repost (subject);
CREATE INDEX IF NOT EXISTS repost_order_by_idx ON repost ("sortAt", cid);

-- app.bsky.feed.like records.
CREATE TABLE IF NOT EXISTS "like" (
    uri          varchar PRIMARY KEY,
    cid          varchar NOT NULL,
    creator      varchar NOT NULL,
    subject      varchar NOT NULL,
    "subjectCid" varchar NOT NULL,
    "createdAt"  varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    "sortAt"     varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED,
    via          varchar,
    "viaCid"     varchar,
    CONSTRAINT like_unique_subject UNIQUE (subject, creator)
);
CREATE INDEX IF NOT EXISTS like_creator_cursor_idx ON "like" (creator, "sortAt", cid);
CREATE INDEX IF NOT EXISTS like_subject_sort_at_creator_idx ON "like" (subject, "sortAt" DESC) INCLUDE (creator);

-- Posts and reposts as they appear in author feeds and timelines (`type` is 'post' or 'repost').
CREATE TABLE IF NOT EXISTS feed_item (
    uri             varchar PRIMARY KEY,
    cid             varchar NOT NULL,
    type            varchar NOT NULL,
    "postUri"       varchar NOT NULL,
    "originatorDid" varchar NOT NULL,
    "sortAt"        varchar NOT NULL
);
CREATE INDEX IF NOT EXISTS feed_item_cursor_idx ON feed_item ("sortAt", cid);
CREATE INDEX IF NOT EXISTS feed_item_originator_cursor_idx ON feed_item ("originatorDid", "sortAt", cid);
CREATE INDEX IF NOT EXISTS feed_item_post_uri_idx ON feed_item ("postUri");

-- app.bsky.feed.threadgate records (one per post).
CREATE TABLE IF NOT EXISTS thread_gate (
    uri         varchar PRIMARY KEY,
    cid         varchar NOT NULL,
    creator     varchar NOT NULL,
    "postUri"   varchar NOT NULL UNIQUE,
    "createdAt" varchar NOT NULL,
    "indexedAt" varchar NOT NULL
);

-- app.bsky.feed.postgate records (one per post).
CREATE TABLE IF NOT EXISTS post_gate (
    uri         varchar PRIMARY KEY,
    cid         varchar NOT NULL,
    creator     varchar NOT NULL,
    "postUri"   varchar NOT NULL UNIQUE,
    "createdAt" varchar NOT NULL,
    "indexedAt" varchar NOT NULL
);

-- Replies by a thread's original poster.
CREATE TABLE IF NOT EXISTS op_thread_reply (
    "rootUri"   varchar NOT NULL,
    "parentUri" varchar NOT NULL,
    uri         varchar NOT NULL,
    "deletedAt" varchar,
    CONSTRAINT op_thread_reply_pkey PRIMARY KEY ("rootUri", uri)
);

-- app.bsky.feed.generator records.
CREATE TABLE IF NOT EXISTS feed_generator (
    uri                 varchar PRIMARY KEY,
    cid                 varchar NOT NULL,
    creator             varchar NOT NULL,
    "feedDid"           varchar NOT NULL,
    "displayName"       varchar,
    description         varchar,
    "descriptionFacets" varchar,
    "avatarCid"         varchar,
    "createdAt"         varchar NOT NULL,
    "indexedAt"         varchar NOT NULL,
    "sortAt"            varchar NOT NULL GENERATED ALWAYS AS (least("createdAt", "indexedAt")) STORED
);
CREATE INDEX IF NOT EXISTS feed_generator_creator_index ON feed_generator (creator);

-- Bookmarks and drafts (private, written through the API).
CREATE TABLE IF NOT EXISTS bookmark (
    creator      varchar NOT NULL,
    key          varchar NOT NULL,
    "subjectUri" varchar NOT NULL,
    "subjectCid" varchar NOT NULL,
    "indexedAt"  varchar NOT NULL,
    CONSTRAINT bookmark_pkey PRIMARY KEY (creator, key),
    CONSTRAINT bookmark_unique_uri_creator UNIQUE ("subjectUri", creator)
);

CREATE TABLE IF NOT EXISTS draft (
    creator     varchar NOT NULL,
    key         varchar NOT NULL,
    "createdAt" varchar NOT NULL,
    "updatedAt" varchar NOT NULL,
    payload     text    NOT NULL,
    CONSTRAINT draft_pkey PRIMARY KEY (creator, key)
);
CREATE INDEX IF NOT EXISTS draft_creator_updated_at_key_idx ON draft (creator, "updatedAt", key);

-- Parameters of the materialized views below, with the reference's defaults.
CREATE TABLE IF NOT EXISTS view_param (
    name  varchar PRIMARY KEY,
    value varchar
);
INSERT INTO view_param (name, value) VALUES
    ('whats_hot_like_threshold', '2'),
    ('whats_hot_interval', '1day')
ON CONFLICT (name) DO NOTHING;

-- "What's hot": recent top-level posts with more likes than the threshold, scored by likes decayed
-- over age in hours, score = likes / (hours + 2) ^ 1.8. Refreshed by whoever operates the AppView
-- (REFRESH MATERIALIZED VIEW CONCURRENTLY needs the unique index).
CREATE MATERIALIZED VIEW IF NOT EXISTS algo_whats_hot_view AS
SELECT
    post.uri AS uri,
    post.cid AS cid,
    round(1000000 * (post_agg."likeCount"
        / ((EXTRACT(epoch FROM age(now(), post."indexedAt"::timestamp)) / 3600 + 2) ^ 1.8))) AS score
FROM post
INNER JOIN post_agg ON post_agg.uri = post.uri
WHERE post."indexedAt" > (
        SELECT to_char(now() - value::interval, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS val
        FROM view_param
        WHERE name = 'whats_hot_interval'
    )
    AND post."replyParent" IS NULL
    AND post_agg."likeCount" > (
        SELECT value::integer AS val
        FROM view_param
        WHERE name = 'whats_hot_like_threshold'
    );
CREATE UNIQUE INDEX IF NOT EXISTS algo_whats_hot_view_uri_idx ON algo_whats_hot_view (uri);
CREATE INDEX IF NOT EXISTS algo_whats_hot_view_cursor_idx ON algo_whats_hot_view (score, cid);
