// The Statusphere example in JavaScript: `xyz.statusphere.status` records (`{status, createdAt}`,
// a one-emoji status) become rows of the plugin's own table `plugin_statusphere.status`.
//
// The same plugin as `../../rust` (same declaration, same outcomes for every operation), built
// with componentize-js: `plugins/examples/statusphere/build.sh js`.

import * as sdk from './sdk.js';
import { debugStr } from './rustDebug.js';

export const COLLECTION = 'xyz.statusphere.status';

// The fields of an `xyz.statusphere.status` record this plugin reads (both text).
const FIELDS = ['status', 'createdAt'];

/** The declaration: one table, keyed by the record's AT-URI, indexed by author. */
function describe() {
  const status = {
    name: 'status',
    owner: 'plugin',
    columns: [
      sdk.column('uri', 'text'),
      sdk.column('authorDid', 'text'),
      sdk.column('status', 'text'),
      sdk.column('createdAt', 'timestamp'),
      sdk.column('indexedAt', 'timestamp'),
    ],
    primaryKey: ['uri'],
    uniqueKeys: [],
    indexes: [['authorDid']],
  };
  return {
    name: 'statusphere',
    version: '0.1.0',
    collections: [COLLECTION],
    events: { identity: false, account: false, label: false },
    encoding: 'dag-cbor',
    tables: [status],
    aggregates: [],
    reads: [],
    migrations: [],
  };
}

/** The rows one version of a status produces: one row of `status`. */
function project(record) {
  const { status, createdAt } = record.value;
  const size = new TextEncoder().encode(status).length;
  if (size === 0 || size > 32) {
    throw new sdk.InvalidRecord(`status must be 1 to 32 bytes, not ${size}`);
  }
  if (!sdk.isDatetime(createdAt)) {
    throw new sdk.InvalidRecord(`createdAt ${debugStr(createdAt)} is not a datetime`);
  }
  return [
    sdk.upsert(
      'status',
      { uri: sdk.text(record.uri) },
      {
        authorDid: sdk.text(record.op.did),
        status: sdk.text(status),
        createdAt: sdk.timestamp(createdAt),
        indexedAt: sdk.timestamp(record.op.indexedAt),
      },
    ),
  ];
}

/** The exported `sluice:indexer/plugin` interface. */
export const plugin = {
  describe,
  indexRecords: (ops, _answers) => sdk.indexRecords(ops, FIELDS, project),
  indexEvents: (events, _answers) => sdk.indexEvents(events),
};
