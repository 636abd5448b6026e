// Creates the reference AppView's schema with the reference's own migrator: runs the migrations of the
// `@atproto/bsky` package installed in a realnet directory (see scripts/realnet-setup) into a Postgres
// schema (created if missing), then prints one JSON line `{"migrated": <number applied now>}`.
//
// usage: node reference-migrate.mjs --realnet-dir DIR --pg-url URL --pg-schema NAME
// Run it with the realnet's Node 22 (DIR/node_modules/.bin/node).
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const { values: opts } = parseArgs({
  options: {
    'realnet-dir': { type: 'string' },
    'pg-url': { type: 'string' },
    'pg-schema': { type: 'string' },
  },
})
for (const name of ['realnet-dir', 'pg-url', 'pg-schema']) {
  if (!opts[name]) {
    console.error(`reference-migrate: --${name} is required`)
    process.exit(2)
  }
}

// Resolve the package from the realnet install, not from this file's folder.
const requireFromRealnet = createRequire(path.join(path.resolve(opts['realnet-dir']), 'package.json'))
const bsky = await import(pathToFileURL(requireFromRealnet.resolve('@atproto/bsky')).href)

const db = new bsky.Database({ url: opts['pg-url'], schema: opts['pg-schema'] })
try {
  const results = await db.migrateToLatestOrThrow()
  process.stdout.write(JSON.stringify({ migrated: results.length }) + '\n')
} finally {
  await db.close()
}
