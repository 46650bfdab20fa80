-- What "committed" means, for Python (`warehouse.sql.connect`) and the analysts' views
-- (`queries/views.sql`) alike: a run is committed once its `runs` row exists; rows of
-- any other run (killed, or still in progress) are invisible.
-- Bound before this file runs: the file globs videos_glob, faces_glob, errors_glob and
-- runs_glob. Every file also holds its cohort column, so the partition folders are not
-- read as columns (hive_partitioning = false).

-- runs: one row per committed run.
create or replace temp view runs as
select * from read_parquet(
    getvariable('runs_glob'), union_by_name = true, hive_partitioning = false
);

-- video_rows: every `videos` row of every committed run (skipped ones included).
create or replace temp view video_rows as
select v.*
from read_parquet(
    getvariable('videos_glob'), union_by_name = true, hive_partitioning = false
) as v
where v.run_id in (select run_id from runs);

-- face_rows: every `faces` row of every committed run.
create or replace temp view face_rows as
select f.*
from read_parquet(
    getvariable('faces_glob'), union_by_name = true, hive_partitioning = false
) as f
where f.run_id in (select run_id from runs);

-- errors: one row per dead letter of a committed run.
create or replace temp view errors as
select e.*
from read_parquet(
    getvariable('errors_glob'), union_by_name = true, hive_partitioning = false
) as e
where e.run_id in (select run_id from runs);
