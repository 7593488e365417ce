"""Everything that touches bytes: Parquet in, Delta tables out, SQLite, schemas, the run protocol.

How data flows through storage (all readers and writers take a path or fsspec URL and an
optional filesystem; nothing here reads configuration):

1. ``bars.scan_symbols`` counts each input symbol's rows from Parquet metadata, for planning;
   ``bars.load_bars`` reads one batch of symbols (any Parquet layout, pushed-down filters) and
   casts it to ``schemas.BARS``;
2. ``validate.validate_bars`` keeps the clean symbols (timestamps sorted) and quarantines the
   rest with a reason; every row is either kept or counted in a quarantine record;
3. tasks stage their results with ``outputs.write_staged`` under ``<root>/_staging/<run_id>/``;
   ``state.classify`` decides per symbol what the night publishes (new, restated, extended,
   unchanged) from the fingerprints in ``barpipe.db``'s ``publish_state``;
4. ``runs.publish`` commits them into the Delta tables ``<root>/<table>/`` (``delta``) and then
   ``db.commit_night`` writes the mirrored rows, publish state and table versions in one
   SQLite transaction; ``runs.recover`` rolls back what a dead run left; ``db`` also keeps
   the run registry;
5. readers use ``outputs.read_output`` (the latest committed version) and the SQLite tables.

``schemas`` declares every table's columns, ``tables`` declares the output tables (kind,
keys, SQLite mirror) once; ``fs`` resolves paths and URLs and writes atomically.
Errors are ``compute.errors.DataError`` (unusable input) or ``StorageError`` (outputs).
"""
