"""Everything that touches bytes: Parquet in and out, SQLite, schemas, atomic publish.

How data flows through storage (all readers and writers take a path or fsspec URL and an
optional filesystem; nothing here reads configuration):

1. ``bars.scan_symbols`` counts each input symbol's rows from Parquet metadata, for planning;
   ``bars.load_bars`` reads one batch of symbols (any Parquet layout, pushed-down filters) and
   casts it to ``schemas.BARS``;
2. ``validate.validate_bars`` keeps the clean symbols (timestamps sorted) and quarantines the
   rest with a reason; every row is either kept or counted in a quarantine record;
3. tasks stage their results with ``outputs.write_staged`` under ``<root>/_staging/<run_id>/``;
4. the flow commits them with ``outputs.publish_parquet`` into ``<root>/<table>/run_key=<key>/``
   (atomic per table, a rerun of a key replaces it) and ``db.publish_run_rows`` into
   ``barpipe.db`` in one transaction; ``db`` also keeps the run registry;
5. readers use ``outputs.read_output`` (committed files only) and the SQLite tables.

``schemas`` declares every table once; ``fs`` resolves paths and URLs and writes atomically.
Errors are ``compute.errors.DataError`` (unusable input) or ``StorageError`` (outputs).
"""
