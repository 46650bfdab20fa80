-- What "committed" means, for Python (`warehouse.sql.connect`) and the analysts' views
-- (`queries/views.sql`) alike: a run is committed once its `runs` row exists, and a
-- unit of a run still going (or killed) once its marker exists (`warehouse/units.py`);
-- the end of a run compacts its units into the run's files. Rows of anything else (a
-- unit killed before its marker, a run killed mid-compaction) are invisible.
-- Bound before this file runs: the file globs videos_glob, faces_glob, errors_glob,
-- runs_glob, the unit globs videos_units_glob, faces_units_glob, errors_units_glob and
-- committed_units_glob (each matches at least an empty file). Every file also holds its
-- cohort column, so the partition folders are not read as columns (hive_partitioning = false).

-- The relations only the views below need live in an in-memory catalog of their own,
-- `internal` (internal.units, internal.video_rows, internal.face_rows): `show tables`
-- lists what analysts query, and nothing of this is ever written to a database file.
attach if not exists ':memory:' as internal;

-- runs: one row per committed run.
create or replace temp view runs as
select * from read_parquet(
    getvariable('runs_glob'), union_by_name = true, hive_partitioning = false
);

-- internal.units: one row per committed unit of a run without its `runs` row yet.
create or replace view internal.units as
select * from read_parquet(
    getvariable('committed_units_glob'), union_by_name = true, hive_partitioning = false
)
where run_id not in (select run_id from runs);

-- committed_rows: the rows of one table (its run files' glob and its unit files' glob)
-- that belong to a committed run or unit.
create or replace temp macro committed_rows(run_files, unit_files) as table
select t.*
from read_parquet(run_files, union_by_name = true, hive_partitioning = false) as t
where t.run_id in (select run_id from runs)
union all by name
select t.*
from read_parquet(unit_files, union_by_name = true, hive_partitioning = false) as t
where t.unit_id in (select unit_id from internal.units);

-- internal.video_rows: every `videos` row of every committed run and unit (skipped ones included).
create or replace view internal.video_rows as
select * from committed_rows(getvariable('videos_glob'), getvariable('videos_units_glob'));

-- internal.face_rows: every `faces` row of every committed run and unit.
create or replace view internal.face_rows as
select * from committed_rows(getvariable('faces_glob'), getvariable('faces_units_glob'));

-- errors: one row per dead letter of a committed run or unit.
create or replace temp view errors as
select * from committed_rows(getvariable('errors_glob'), getvariable('errors_units_glob'));
