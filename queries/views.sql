-- Views over the warehouse, for reports and for analysts' own SQL.
-- The runner binds the file globs of each table with `set variable` before this file
-- runs (videos_glob, faces_glob, errors_glob, runs_glob) and registers `label_valence`
-- (model_id, label, valence) from the model registry.
-- Only committed runs (those with a `runs` row) are visible.

-- runs: one row per committed run.
create or replace temp view runs as
select * from read_parquet(getvariable('runs_glob'), union_by_name = true);

-- label_valence: one row per model and label, the valence map each run recorded.
create or replace temp view label_valence as
select distinct model_id, entry.key as label, entry.value as valence
from (select model_id, unnest(map_entries(valence)) as entry from runs);

-- video_rows: every `videos` row of every committed run (skipped ones included).
create or replace temp view video_rows as
select v.*
from read_parquet(getvariable('videos_glob'), union_by_name = true) as v
where v.run_id in (select run_id from runs);

-- videos: one row per video and model: its latest analysed result (ok or no_faces),
-- else its latest failure. Skipped rows only point at an earlier run.
create or replace temp view videos as
select *
from video_rows
where status <> 'skipped'
qualify row_number() over (
    partition by coalesce(video_key, 'row:' || url), model_id
    order by status in ('ok', 'no_faces') desc, run_id desc
) = 1;

-- faces: one row per face per sampled frame, from the run that `videos` shows.
create or replace temp view faces as
select f.*, lv.valence
from read_parquet(getvariable('faces_glob'), union_by_name = true) as f
join videos as v
    on f.video_key = v.video_key and f.run_id = v.run_id and f.model_id = v.model_id
left join label_valence as lv
    on f.model_id = lv.model_id and f.label = lv.label
where v.status = 'ok';

-- errors: one row per dead letter of a committed run.
create or replace temp view errors as
select e.*
from read_parquet(getvariable('errors_glob'), union_by_name = true) as e
where e.run_id in (select run_id from runs);

-- persons: one row per tracked face (video, track) with its most frequent label.
create or replace temp view persons as
select
    video_key,
    cohort,
    model_id,
    track_id,
    count(*) as face_frames,
    mode(label) as label,
    avg(case when valence = 'negative' then 1.0 else 0.0 end) as negative_share
from faces
group by all;

-- video_affect: one row per analysed video (ok or no_faces) and model: its face-frames,
-- negative face-frames (the model's valence map) and tracked persons. The unit that the
-- bootstrap and permutation reports resample: frames of one video are not independent.
create or replace temp view video_affect as
select
    v.video_key,
    v.cohort,
    v.model_id,
    v.status,
    v.duration_s,
    v.upload_date,
    count(f.label) as face_frames,
    count(f.label) filter (where f.valence = 'negative') as negative_frames,
    count(distinct f.track_id) as persons
from videos as v
left join faces as f
    on f.video_key = v.video_key and f.run_id = v.run_id and f.model_id = v.model_id
where v.status in ('ok', 'no_faces')
group by all;
