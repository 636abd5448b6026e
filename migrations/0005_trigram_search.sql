-- Trigram search: the pg_trgm extension and the GiST indexes behind actor and starter pack search
-- (`actor.handle`, `profile.displayName`, `starter_pack.name`).
--
-- Extensions are database-wide. The reference creates pg_trgm in schema `public` and connects with
-- `search_path = "<schema>", public`, so one copy serves every schema of the database. Create it
-- there too when it is missing (in the current schema if the database has no `public`); when it is
-- already installed, wherever that is, leave it alone: the trigram indexes below look its schema up.
-- A concurrent creation by another migrator (ours run under an advisory lock, the reference's do
-- not) is not an error.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN
            CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
        ELSE
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        END IF;
    END IF;
EXCEPTION
    WHEN unique_violation OR duplicate_object THEN
        NULL;
END
$$;

-- The operator class is qualified with the extension's schema, so that the indexes are created
-- whatever the search_path of the migrating connection holds.
DO $$
DECLARE
    trgm_schema text;
BEGIN
    SELECT n.nspname INTO STRICT trgm_schema
    FROM pg_extension e
    JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';

    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS actor_handle_tgrm_idx ON actor USING gist (handle %I.gist_trgm_ops)',
        trgm_schema);
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS profile_display_name_tgrm_idx ON profile USING gist ("displayName" %I.gist_trgm_ops)',
        trgm_schema);
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS starter_pack_name_tgrm_idx ON starter_pack USING gist (name %I.gist_trgm_ops)',
        trgm_schema);
END
$$;
