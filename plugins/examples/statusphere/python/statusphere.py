"""The Statusphere example in Python: `xyz.statusphere.status` records (`{status, createdAt}`, a
one-emoji status) become rows of the plugin's own table `plugin_statusphere.status`.

The same plugin as `../rust` (same declaration, same outcomes for every operation), built with
componentize-py: `plugins/examples/statusphere/build.sh python`.
"""

from wit_world import exports
from wit_world.imports import types

import sluice_sdk as sdk
from rust_debug import debug_str

COLLECTION = "xyz.statusphere.status"

# The fields of an `xyz.statusphere.status` record this plugin reads (both text).
FIELDS = ["status", "createdAt"]


def describe() -> types.PluginInfo:
    """The declaration: one table, keyed by the record's AT-URI, indexed by author."""
    status = types.Table(
        name="status",
        owner=types.TableOwner.PLUGIN,
        columns=[
            sdk.text_column("uri"),
            sdk.text_column("authorDid"),
            sdk.text_column("status"),
            sdk.timestamp_column("createdAt"),
            sdk.timestamp_column("indexedAt"),
        ],
        primary_key=["uri"],
        unique_keys=[],
        indexes=[["authorDid"]],
    )
    return types.PluginInfo(
        name="statusphere",
        version="0.1.0",
        collections=[COLLECTION],
        events=types.EventKinds(0),
        encoding=types.RecordEncoding.DAG_CBOR,
        tables=[status],
        aggregates=[],
        reads=[],
        migrations=[],
    )


def project(record: sdk.Version) -> list[types.RowOp]:
    """The rows one version of a status produces: one row of `status`."""
    status = record.value["status"]
    size = len(status.encode())
    if size == 0 or size > 32:
        raise sdk.InvalidRecord(f"status must be 1 to 32 bytes, not {size}")
    created_at = record.value["createdAt"]
    if not sdk.is_datetime(created_at):
        raise sdk.InvalidRecord(f"createdAt {debug_str(created_at)} is not a datetime")
    return [
        sdk.upsert(
            "status",
            key={"uri": types.Value_Text(record.uri)},
            columns={
                "authorDid": types.Value_Text(record.op.did),
                "status": types.Value_Text(status),
                "createdAt": types.Value_Timestamp(created_at),
                "indexedAt": types.Value_Timestamp(record.op.indexed_at),
            },
        )
    ]


class Plugin(exports.Plugin):
    """The exported `sluice:indexer/plugin` interface."""

    def describe(self) -> types.PluginInfo:
        return describe()

    def index_records(
        self, ops: list[types.RecordOp], answers: list[types.Answer]
    ) -> list[types.Outcome]:
        return sdk.index_records(ops, FIELDS, project)

    def index_events(
        self, events: list[types.NetworkEvent], answers: list[types.Answer]
    ) -> list[types.Outcome]:
        return sdk.index_events(events)
