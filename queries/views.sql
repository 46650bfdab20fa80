-- Views over the warehouse, for reports and for analysts' own SQL.
-- They build on the committed views of `warehouse/committed.sql` (runs, video_rows,
-- face_rows, errors), which run first: only committed runs are visible.

-- label_valence: one row per model and label, the valence map each run recorded.
create or replace temp view label_valence as
select distinct model_id, entry.key as label, entry.value as valence
from (select model_id, unnest(map_entries(valence)) as entry from runs);

-- input_key(video_key, cohort, url, row_number): what one input of `videos` is: its
-- video, or (a row naming no valid video) its list row, so distinct bad rows that share
-- a URL stay distinct.
create or replace temp macro input_key(video_key, cohort, url, row_number) as
coalesce(video_key, concat_ws(':', 'row', cohort, row_number, url));

-- latest_videos: one row per video (or per invalid list row) and model, its final
-- result: the latest analysed one (ok or no_faces), else its latest failure. Skipped rows
-- (they only point at an earlier run) and superseded runs are left out. `video_name` names the video for people: the
-- list's `note`, else the file name of a local video, else its URL (the key when none).
create or replace temp view latest_videos as
select
    *,
    coalesce(
        nullif(trim(attributes['note']), ''),
        case when video_key like 'local-%' then parse_filename(url) end,
        url,
        video_key
    ) as video_name
from video_rows
where status <> 'skipped'
qualify row_number() over (
    partition by input_key(video_key, cohort, url, row_number), model_id
    order by status in ('ok', 'no_faces') desc, run_id desc
) = 1;

-- videos: the same rows as latest_videos (the name the reports use).
create or replace temp view videos as
select * from latest_videos;

-- faces: one row per face per sampled frame, from the run that `videos` shows.
create or replace temp view faces as
select f.*, lv.valence
from face_rows as f
join videos as v
    on f.video_key = v.video_key and f.run_id = v.run_id and f.model_id = v.model_id
left join label_valence as lv
    on f.model_id = lv.model_id and f.label = lv.label
where v.status = 'ok';

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

-- videos_with_faces(model): a table macro; the video_affect rows (cohort, video_key,
-- face_frames, negative_frames) of one model's videos with at least one face: the videos
-- that negative-share estimates, bootstraps and permutations count.
create or replace temp macro videos_with_faces(model) as table
select cohort, video_key, face_frames, negative_frames
from video_affect
where model_id = model and face_frames > 0;

-- bootstrap_shares(model, n_boot, seed): a table macro; one row per cohort and bootstrap
-- replicate: the negative share of the cohort's videos with faces, resampled with
-- replacement (videos, not frames: frames of one video are not independent). Draw j of
-- replicate b picks video number hash('seed:cohort:b:j') mod n, videos numbered by key
-- within the cohort, so the same seed gives the same draws in every report that uses it.
create or replace temp macro bootstrap_shares(model, n_boot, seed) as table
with
numbered as (
    select
        cohort,
        face_frames,
        negative_frames,
        row_number() over (partition by cohort order by video_key) - 1 as video_number,
        count(*) over (partition by cohort) as videos
    from videos_with_faces(model)
),
draws as (
    select
        c.cohort,
        replicate.range as replicate,
        hash(concat_ws(':', seed, c.cohort, replicate.range, draw.range)) % c.videos
            as video_number
    from (select distinct cohort, videos from numbered) as c
    cross join range(n_boot::bigint) as replicate
    cross join lateral range(c.videos) as draw
)
select d.cohort, d.replicate, sum(n.negative_frames) / sum(n.face_frames) as share
from draws as d
join numbered as n on n.cohort = d.cohort and n.video_number = d.video_number
group by d.cohort, d.replicate;
