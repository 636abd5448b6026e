-- Bookkeeping of the reference's migrator (kysely), so that the reference treats this schema as
-- fully migrated.
--
-- `serve-appview` without --migrate only checks that the schema has tables; the reference's migrator
-- (`serve-appview --migrate`, `Database.migrateToLatest*` of @atproto/bsky) reads `kysely_migration`
-- and runs every migration whose name is not recorded there. Without these rows it would try to
-- create every table again and fail on the first one. The rows name the 61 migrations of
-- @atproto/bsky 0.0.280 (the package the harness runs), which this schema covers; with them that
-- migrator finds nothing pending and changes nothing.
--
-- Not recorded: divy/backfill's _20251009T040222812Z (backfill-init, adds record.rev, which 0001
-- has). 0.0.280's migrator refuses a schema that records a migration it does not know ("corrupted
-- migrations"), and the harness runs 0.0.280. divy/backfill's migrator in turn refuses this schema
-- because of the 0.0.280 names it does not know: it stops before changing anything.
--
-- The two tables are created as kysely creates them. Timestamps must increase in name order (kysely
-- sorts executed migrations by timestamp, then checks them against its ordered list).
CREATE TABLE IF NOT EXISTS kysely_migration (
    name        varchar(255) NOT NULL PRIMARY KEY,
    "timestamp" varchar(255) NOT NULL
);

CREATE TABLE IF NOT EXISTS kysely_migration_lock (
    id        varchar(255) NOT NULL PRIMARY KEY,
    is_locked integer      NOT NULL DEFAULT 0
);

INSERT INTO kysely_migration_lock (id, is_locked) VALUES ('migration_lock', 0)
ON CONFLICT (id) DO NOTHING;

INSERT INTO kysely_migration (name, "timestamp")
SELECT
    m.name,
    to_char((now() AT TIME ZONE 'UTC') + (m.position - 1) * interval '1 millisecond',
            'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
FROM unnest(ARRAY[
    '_20230309T045948368Z',  -- init
    '_20230408T152211201Z',  -- notification-init
    '_20230417T210628672Z',  -- moderation-init
    '_20230420T211446071Z',  -- did-cache
    '_20230427T194702079Z',  -- notif-record-index
    '_20230605T144730094Z',  -- post-profile-aggs
    '_20230607T211442112Z',  -- feed-generator-init
    '_20230608T155101190Z',  -- algo-whats-hot-view
    '_20230608T201813132Z',  -- mute-lists
    '_20230608T205147239Z',  -- mutes
    '_20230609T153623961Z',  -- blocks
    '_20230609T232122649Z',  -- actor-deletion-indexes
    '_20230610T203555962Z',  -- suggested-follows
    '_20230611T215300060Z',  -- actor-state
    '_20230620T161134972Z',  -- post-langs
    '_20230627T212437895Z',  -- optional-handle
    '_20230629T220835893Z',  -- remove-post-hierarchy
    '_20230703T045536691Z',  -- feed-and-label-indices
    '_20230720T164800037Z',  -- posts-cursor-idx
    '_20230807T035309811Z',  -- feed-item-delete-invite-for-user-idx
    '_20230808T172902639Z',  -- repo-rev
    '_20230810T203349843Z',  -- action-duration
    '_20230817T195936007Z',  -- native-notifications
    '_20230830T205507322Z',  -- suggested-feeds
    '_20230904T211011773Z',  -- block-lists
    '_20230906T222220386Z',  -- thread-gating
    '_20230920T213858047Z',  -- add-tags-to-post
    '_20230929T192920807Z',  -- record-cursor-indexes
    '_20231003T202833377Z',  -- create-moderation-subject-status
    '_20231220T225126090Z',  -- blob-takedowns
    '_20240124T023719200Z',  -- tagged-suggestions
    '_20240226T225725627Z',  -- labelers
    '_20240530T170337073Z',  -- account-deactivation
    '_20240606T171229898Z',  -- thread-mutes
    '_20240606T222548219Z',  -- starter-packs
    '_20240719T203853939Z',  -- priority-notifs
    '_20240723T220700077Z',  -- quotes-post-aggs
    '_20240723T220703655Z',  -- quotes
    '_20240801T193939827Z',  -- post-gate
    '_20240808T224251220Z',  -- post-gate-flags
    '_20240829T211238293Z',  -- simplify-actor-sync
    '_20240831T134810923Z',  -- pinned-posts
    '_20241114T153108102Z',  -- add-starter-packs-name
    '_20250116T222618297Z',  -- post-embed-video
    '_20250207T174822012Z',  -- add-label-exp
    '_20250404T163421487Z',  -- verifications
    '_20250526T023712742Z',  -- like-repost-via
    '_20250528T221913281Z',  -- add-record-tags
    '_20250602T190357447Z',  -- add-private-data
    '_20250611T140649895Z',  -- add-activity-subscription
    '_20250627T025331240Z',  -- add-actor-age-assurance-columns
    '_20250812T183735692Z',  -- add-bookmarks
    '_20250813T174955711Z',  -- add-post-agg-bookmarks
    '_20251120T004738098Z',  -- update-actor-age-assurance-v2
    '_20260112T133951271Z',  -- add-drafts
    '_20260604T224952774Z',  -- post-embed-gallery-image
    '_20260618T200000000Z',  -- add-mute-scope
    '_20260729T223157563Z',  -- add-op-thread-reply
    '_20260819T170000000Z',  -- add-like-subject-sort-index
    '_20260827T200000000Z',  -- reference-list-opt-outs
    '_20260904T130000000Z'   -- remove-last-seen-priority-notifs
]) WITH ORDINALITY AS m (name, position)
ON CONFLICT (name) DO NOTHING;
