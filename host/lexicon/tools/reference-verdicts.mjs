// Records the reference AppView's lexicon verdict on every record of the real CAR fixtures.
//
// Usage (from the checkout):
//   node host/lexicon/tools/reference-verdicts.mjs "$(scripts/realnet-setup)" ../shared \
//     > host/lexicon/tests/data/reference-verdicts.json
//
// The realnet harness installs the reference packages (@atproto/bsky and the @atproto/lex
// validator it indexes with). Each CAR is read with @atproto/repo as the reference reads it;
// each record whose collection has a record lexicon in shared/lexicons is validated with
// @atproto/lex-schema in its default mode (strict, validate), as the AppView's indexer does.
// The output lists, per file, the record count and the records that are invalid (with the
// reference's error path) or have no lexicon (skipped); every other record is valid.

import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [realnetDir, sharedDir] = process.argv.slice(2)
if (!realnetDir || !sharedDir) {
  console.error('usage: reference-verdicts.mjs <realnet dir> <shared dir>')
  process.exit(2)
}
const load = (pkg, file) =>
  import(pathToFileURL(path.join(realnetDir, 'node_modules', pkg, 'dist', file)).href)
const { LexiconSchemaBuilder, LexiconIterableIndexer } = await load('@atproto/lex-document', 'index.js')
const { readCarWithRoot, MemoryBlockstore } = await load('@atproto/repo', 'index.js')
const { ReadableRepo } = await load('@atproto/repo', 'readable-repo.js')

function jsonFiles(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? jsonFiles(path.join(dir, e.name))
        : e.name.endsWith('.json') ? [path.join(dir, e.name)] : [],
    )
    .sort()
}

// The runtime schema builder wants every ref with a '#' (generated code has no such limit).
function withExplicitMain(node) {
  if (Array.isArray(node)) return node.forEach(withExplicitMain)
  if (node && typeof node === 'object') {
    if (node.type === 'ref' && !node.ref.includes('#')) node.ref += '#main'
    if (node.type === 'union') node.refs = node.refs.map((r) => (r.includes('#') ? r : `${r}#main`))
    Object.values(node).forEach(withExplicitMain)
  }
}

const docs = jsonFiles(path.join(sharedDir, 'lexicons')).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')))
docs.forEach(withExplicitMain)
const byId = new Map(docs.map((d) => [d.id, d]))
const indexer = new LexiconIterableIndexer(docs)
const schemas = new Map()
async function recordSchema(nsid) {
  if (!schemas.has(nsid)) {
    const isRecord = byId.get(nsid)?.defs.main?.type === 'record'
    schemas.set(nsid, isRecord ? await LexiconSchemaBuilder.build(indexer, `${nsid}#main`) : null)
  }
  return schemas.get(nsid)
}

// `$.embed.images[0].image` → `record/embed/images/0/image`
const toPath = (issuePath) =>
  ['record', ...issuePath.map(String)].join('/')

const realDir = path.join(sharedDir, 'fixtures', 'real')
const cars = fs
  .readdirSync(realDir, { recursive: true })
  .filter((f) => /\.(car|repo)$/.test(f))
  .sort()
const out = {}
for (const file of cars) {
  const entry = { records: 0, invalid: {}, skipped: [] }
  try {
    const { root, blocks } = await readCarWithRoot(fs.readFileSync(path.join(realDir, file)))
    const repo = await ReadableRepo.load(new MemoryBlockstore(blocks), root)
    for await (const { collection, rkey, record } of repo.walkRecords()) {
      entry.records++
      const key = `${collection}/${rkey}`
      const schema = await recordSchema(collection)
      if (!schema) {
        entry.skipped.push(key)
        continue
      }
      const result = schema.safeValidate(record)
      if (!result.success) {
        const issue = result.reason.issues[0]
        entry.invalid[key] = { path: toPath(issue.path), message: result.reason.message }
      }
    }
  } catch (error) {
    entry.unreadable = String(error.message ?? error)
  }
  out[file] = entry
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n')
