// Records the reference AppView's lexicon verdicts on mutations of real records.
//
// Usage (from the checkout):
//   node host/lexicon/tools/reference-mutations.mjs "$(scripts/realnet-setup)" ../shared \
//     > host/lexicon/tests/data/reference-mutations.json
//
// Takes one record of each record type found in the real CAR fixtures (and one post of each
// shape: embed type, reply, facets), then, for every position in it, deletes the value or
// replaces it with each of a set of values chosen to hit lexicon rules (wrong types, unsafe
// integers, long strings, blobs good and bad, CIDs, odd datetimes, foreign $types). Every
// fourth mutation is kept. Each is validated with @atproto/lex-schema in its default mode
// (strict, validate), as the AppView's indexer does; the output holds the base records, the
// replacement values, and per mutation [base, path, op, value index, valid, error path].

import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [realnetDir, sharedDir] = process.argv.slice(2)
if (!realnetDir || !sharedDir) {
  console.error('usage: reference-mutations.mjs <realnet dir> <shared dir>')
  process.exit(2)
}
const load = (pkg, file) =>
  import(pathToFileURL(path.join(realnetDir, 'node_modules', pkg, 'dist', file)).href)
const { LexiconSchemaBuilder, LexiconIterableIndexer } = await load('@atproto/lex-document', 'index.js')
const { readCarWithRoot, MemoryBlockstore } = await load('@atproto/repo', 'index.js')
const { ReadableRepo } = await load('@atproto/repo', 'readable-repo.js')
const { lexToJson, jsonToLex } = await load('@atproto/lex-json', 'index.js')

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

// Base records: the first of each type, and of each post shape, that the reference accepts.
const bases = []
const seen = new Set()
for (const file of ['shrike/calabro.car', 'repo-stream/little.car', 'indigo/bnewbold.robocracy.org.20250310005405.car', 'indigo/fakermaker.repo.car']) {
  const { root, blocks } = await readCarWithRoot(fs.readFileSync(path.join(sharedDir, 'fixtures', 'real', file)))
  const repo = await ReadableRepo.load(new MemoryBlockstore(blocks), root)
  for await (const { collection, record } of repo.walkRecords()) {
    const schema = await recordSchema(collection)
    if (!schema || !schema.safeValidate(record).success) continue
    const shape = collection === 'app.bsky.feed.post'
      ? [collection, record.embed?.$type, 'reply' in record, 'facets' in record, record.embed?.media?.$type].join()
      : collection
    if (seen.has(shape)) continue
    seen.add(shape)
    bases.push({ collection, record: lexToJson(record) })
  }
}

const RAW = 'bafkreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq'
const CBOR = 'bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq'
const values = [
  null, true, 0, -1, 9007199254740992, 9007199254740991, '', 'x', 'a'.repeat(3001), [], [1], {},
  { $type: 'com.example.unknown' }, { $bytes: 'AAAA' }, { $link: RAW },
  { $type: 'blob', ref: { $link: RAW }, mimeType: 'image/png', size: 100 },
  { $type: 'blob', ref: { $link: CBOR }, mimeType: 'image/png', size: 100 },
  { cid: RAW, mimeType: 'image/jpeg' },
  '2023-02-30T00:00:00Z', '2023-01-01T00:00:00', 'did:plc:abc', 'at://did:plc:abc/app.bsky.feed.post/3k',
  'EN', 'en-US', 'app.bsky.feed.defs#requestLess', RAW, 'alice.test', 'https://example.com',
  'com.example.unknown', 5, 'blob',
]
const TYPE_VALUES = [values.indexOf('com.example.unknown'), values.indexOf(5), values.indexOf('blob')]

function* positions(node, at, depth) {
  yield [at, node]
  if (depth > 7) return
  if (Array.isArray(node)) {
    for (let i = 0; i < Math.min(node.length, 3); i++) yield* positions(node[i], [...at, i], depth + 1)
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) yield* positions(v, [...at, k], depth + 1)
  }
}
const mutations = []
bases.forEach((base, b) => {
  for (const [at, node] of positions(base.record, [], 0)) {
    if (at.length > 0) {
      mutations.push([b, at, 'delete', null])
      for (let v = 0; v < values.length - 3; v++) mutations.push([b, at, 'set', v])
    }
    if (node && typeof node === 'object' && !Array.isArray(node)) {
      for (const v of TYPE_VALUES) mutations.push([b, [...at, '$type'], 'set', v])
    }
  }
})

const cases = []
for (const [i, [b, at, op, v]] of mutations.entries()) {
  if (i % 4 !== 0) continue
  const record = structuredClone(bases[b].record)
  let parent = record
  for (const key of at.slice(0, -1)) parent = parent[key]
  const last = at[at.length - 1]
  if (op === 'delete') {
    if (Array.isArray(parent)) parent.splice(last, 1)
    else delete parent[last]
  } else {
    parent[last] = structuredClone(values[v])
  }
  const result = (await recordSchema(bases[b].collection)).safeValidate(jsonToLex(record, { strict: false }))
  const errorPath = result.success ? null : ['record', ...result.reason.issues[0].path.map(String)].join('/')
  cases.push([b, at, op, v, result.success, errorPath])
}
// One case per line, so that a change of verdict shows as a one-line diff.
process.stdout.write(
  `{"values": ${JSON.stringify(values)},\n"bases": ${JSON.stringify(bases)},\n"cases": [\n` +
    cases.map((c) => JSON.stringify(c)).join(',\n') +
    '\n]}\n',
)
