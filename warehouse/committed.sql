-- What "committed" means, for Python (`warehouse.sql.connect`) and the analysts' views
-- (`queries/views.sql`) alike: a run is committed once its `runs` row exists, and a
-- unit of a run still going (or killed) once its marker exists (`warehouse/units.py`);
-- the end of a run compacts its units into the run's files. Rows of anything else (a
-- unit killed before its marker, a run killed mid-compaction) are invisible.
-- Defined before this file runs (`warehouse/sql.py`): the relations of each table's files,
-- videos_files, faces_files, errors_files, runs_files, and of its unit files,
-- videos_unit_files, faces_unit_files, errors_unit_files, committed_unit_files (DuckDB's
-- read_parquet of the file globs for a local warehouse, Arrow datasets for a remote
-- one). Every file also holds its cohort column, so the partition folders are not read
-- as columns.

-- The relations only the views below need live in an in-memory catalog of their own,
-- `internal` (internal.units, internal.video_rows, internal.face_rows): `show tables`
-- lists what analysts query, and nothing of this is ever written to a database file.
attach if not exists ':memory:' as internal;

-- runs: one row per committed run.
create or replace temp view runs as
select * from runs_files;

-- internal.units: one row per committed unit of a run without its `runs` row yet.
create or replace view internal.units as
select * from committed_unit_files
where run_id not in (select run_id from runs);

-- committed_rows: the rows of one table (the names of its run files' relation and its
-- unit files' relation) that belong to a committed run or unit.
create or replace temp macro committed_rows(run_files, unit_files) as table
select t.*
from query_table(run_files) as t
where t.run_id in (select run_id from runs)
union all by name
select t.*
from query_table(unit_files) as t
where t.unit_id in (select unit_id from internal.units);

-- internal.video_rows: every `videos` row of every committed run and unit (skipped ones
-- included). `input_key` is stored (`schemas/rows.py`: item_key); rows written before
-- that column get it here, from the same parts (`<video key>#<row>`, else the list row).
create or replace view internal.video_rows as
select * replace (
    coalesce(
        input_key,
        video_key || '#' || row_number,
        video_key,
        concat_ws(':', 'row', cohort, row_number, url)
    ) as input_key
)
from committed_rows('videos_files', 'videos_unit_files');

-- internal.face_rows: every `faces` row of every committed run and unit.
create or replace view internal.face_rows as
select * from committed_rows('faces_files', 'faces_unit_files');

-- errors: one row per dead letter of a committed run or unit.
create or replace temp view errors as
select * replace (
    coalesce(
        input_key,
        video_key || '#' || row_number,
        video_key,
        concat_ws(':', 'row', cohort, row_number, coalesce(url, input))
    ) as input_key
)
from committed_rows('errors_files', 'errors_unit_files');

-- is_done(status): a `videos` row that needs no new analysis under its analysis_id
-- (analysed, with or without faces). The one definition of "done", for the graph's
-- "already done?", refresh and the reports.
create or replace temp macro is_done(status) as status in ('ok', 'no_faces');

-- done_videos(analysis): one row per video a committed run or unit analysed under
-- `analysis` (is_done).
create or replace temp macro done_videos(analysis) as table
select distinct video_key from internal.video_rows
where analysis_id = analysis and is_done(status);

-- settled_videos(analysis, retry_failed): one row per video a new run under `analysis`
-- leaves alone: done, and unless retry_failed, failed there with an error retrying
-- cannot fix (a 404, a video too long). The one definition of "settled", for the
-- graph's "already done?" (analyze retries every failure: retry_failed) and refresh.
create or replace temp macro settled_videos(analysis, retry_failed) as table
select video_key from done_videos(analysis)
union
select v.video_key
from internal.video_rows as v
join errors as e on e.run_id = v.run_id and e.video_key = v.video_key
where not retry_failed
    and v.analysis_id = analysis
    and v.status = 'failed'
    and not e.retryable;
