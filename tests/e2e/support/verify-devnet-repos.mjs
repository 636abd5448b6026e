// Verifies repo CARs with the official implementation: `@atproto/repo`'s `verifyRepoCar` reads each
// CAR (checking every block against its CID), checks the commit's DID and its signature against the
// given did:key, and walks the MST to every record. Each record of a collection the reference AppView
// indexes (app.bsky.*, chat.bsky.*) is then checked against the AppView's own lexicon schema, the one
// its indexer validates records with before indexing them.
//
// usage: node verify-devnet-repos.mjs --realnet-dir DIR MANIFEST.json
// MANIFEST.json: [{"car": "<path>", "did": "did:plc:…", "key": "did:key:…"}, …]
// Prints one JSON line: {"repos", "verified", "records", "validated", "unvalidated_collections",
// "failures": [first few], "invalid": [first few]}. Exit 0 only when everything verified and validated.
// Run it with the realnet's Node 22 (DIR/node_modules/.bin/node).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const { values: opts, positionals } = parseArgs({
  options: { 'realnet-dir': { type: 'string' } },
  allowPositionals: true,
})
if (!opts['realnet-dir'] || positionals.length !== 1) {
  console.error('usage: verify-devnet-repos.mjs --realnet-dir DIR MANIFEST.json')
  process.exit(2)
}

// Resolve the packages from the realnet install, not from this file's folder.
const realnet = path.resolve(opts['realnet-dir'])
const requireFromRealnet = createRequire(path.join(realnet, 'package.json'))
const repo = await import(pathToFileURL(requireFromRealnet.resolve('@atproto/repo')).href)
const bskyMain = requireFromRealnet.resolve('@atproto/bsky')
const lexicons = await import(
  pathToFileURL(path.join(path.dirname(bskyMain), 'lexicons', 'index.js')).href
)

// `app.bsky.feed.post` → the schema object the indexer uses (`app.bsky.feed.post.main`).
const schemaFor = (nsid) => {
  let node = lexicons
  for (const part of nsid.split('.')) {
    node = node?.[part]
    if (node === undefined) return undefined
  }
  return node?.main
}

const manifest = JSON.parse(readFileSync(positionals[0], 'utf8'))
const report = {
  repos: manifest.length,
  verified: 0,
  records: 0,
  validated: 0,
  unvalidated_collections: {},
  failures: [],
  invalid: [],
}
let invalidCount = 0
for (const entry of manifest) {
  try {
    const bytes = new Uint8Array(readFileSync(entry.car))
    const { creates, commit } = await repo.verifyRepoCar(bytes, entry.did, entry.key)
    if (!commit?.cid) throw new Error('no commit')
    report.verified++
    // The creates name their records; read them from the (CID-checked) blocks.
    const { blocks } = await repo.readCarWithRoot(bytes)
    for (const create of creates) {
      report.records++
      const recordBytes = blocks.get(create.cid)
      if (!recordBytes) throw new Error(`record ${create.collection}/${create.rkey} missing`)
      create.record = repo.cborToLexRecord(recordBytes)
      const schema = create.collection.startsWith('app.bsky.') || create.collection.startsWith('chat.bsky.')
        ? schemaFor(create.collection)
        : undefined
      if (!schema) {
        report.unvalidated_collections[create.collection] =
          (report.unvalidated_collections[create.collection] ?? 0) + 1
        continue
      }
      try {
        schema.check(create.record)
        report.validated++
      } catch (err) {
        invalidCount++
        if (report.invalid.length < 10) {
          report.invalid.push({
            did: entry.did,
            path: `${create.collection}/${create.rkey}`,
            error: String(err?.message ?? err).slice(0, 300),
          })
        }
      }
    }
  } catch (err) {
    if (report.failures.length < 10) {
      report.failures.push({ did: entry.did, error: String(err?.message ?? err).slice(0, 300) })
    }
  }
}
report.invalid_count = invalidCount
process.stdout.write(JSON.stringify(report) + '\n')
process.exit(report.verified === report.repos && invalidCount === 0 ? 0 : 1)
