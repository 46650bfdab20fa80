-- Views over the warehouse, for reports and for analysts' own SQL.
-- They build on the committed views of `warehouse/committed.sql` (runs, errors,
-- internal.video_rows, internal.face_rows), which run first: only committed runs are
-- visible.

-- label_valence: one row per analysis and label: the two valence maps its runs recorded.
-- `valence` is the paper's map (Sharma et al. 2023: surprise counts as negative);
-- `valence_ambiguous` sets surprise apart as its own 'ambiguous' class.
create or replace temp view label_valence as
select distinct
    analysis_id,
    model_id,
    entry.key as label,
    entry.value as valence,
    valence_ambiguous[entry.key] as valence_ambiguous
from (select analysis_id, model_id, valence_ambiguous, unnest(map_entries(valence)) as entry
    from runs);

-- latest_videos: one row per video (or per invalid list row) and analysis (model and
-- settings: `analysis_id`), its final result: the latest analysed one (ok or no_faces),
-- else its latest failure.
-- Skipped rows (they only point at an earlier run) and superseded runs are left out; a
-- video written twice by one run (a retried bundle, before the run's end compacts it)
-- shows its first unit.
-- Reports read one analysis_id: results of other settings never pool. `video_name` names
-- the video for people: the list's `note`, else the file name of a local video, else its
-- URL (the key when none).
create or replace temp view latest_videos as
select
    *,
    coalesce(
        nullif(trim(attributes['note']), ''),
        case when video_key like 'local-%' then parse_filename(url) end,
        url,
        video_key
    ) as video_name
from internal.video_rows
where status <> 'skipped'
qualify row_number() over (
    partition by coalesce(video_key, input_key), analysis_id  -- the video, else its list row
    order by is_done(status) desc, run_id desc, unit_id
) = 1;

-- videos: the same rows as latest_videos (the name the reports use).
create or replace temp view videos as
select * from latest_videos;

-- faces: one row per face per sampled frame, from the run that `videos` shows, with its
-- analysis_id. Per-frame: `label`, `scores` and `valence` (the paper's map of `label`).
-- Smoothed along the track (what the reports count; rows of runs from before smoothing
-- repeat the per-frame values): `smoothed_label`, `smoothed_scores`, `smoothed_valence`
-- and `smoothed_valence_ambiguous` (the maps of smoothed_label), and `p_negative` and
-- `p_negative_excl_surprise`: the probability mass of the negative labels under each map.
create or replace temp view faces as
with
labelled as (
    select
        f.* replace (
            coalesce(f.smoothed_label, f.label) as smoothed_label,
            coalesce(f.smoothed_scores, f.scores) as smoothed_scores
        ),
        v.analysis_id,
        r.valence as paper_map,
        r.valence_ambiguous as ambiguous_map
    from internal.face_rows as f
    join videos as v
        on f.video_key = v.video_key and f.run_id = v.run_id and f.model_id = v.model_id
        and f.unit_id is not distinct from v.unit_id
    join runs as r on f.run_id = r.run_id
    where v.status = 'ok'
)
select
    * exclude (paper_map, ambiguous_map),
    paper_map[label] as valence,
    paper_map[smoothed_label] as smoothed_valence,
    ambiguous_map[smoothed_label] as smoothed_valence_ambiguous,
    list_sum(list_transform(
        map_entries(smoothed_scores),
        lambda e: if(paper_map[e.key] = 'negative', e.value, 0.0)
    )) as p_negative,
    list_sum(list_transform(
        map_entries(smoothed_scores),
        lambda e: if(ambiguous_map[e.key] = 'negative', e.value, 0.0)
    )) as p_negative_excl_surprise
from labelled;

-- persons: one row per tracked face (analysis, video, track): its face-frames, most
-- frequent smoothed label, and its own negative shares (argmax under both maps, and
-- probability-weighted). Reports' per-person shares average these, one vote per person.
create or replace temp view persons as
select
    analysis_id,
    video_key,
    cohort,
    model_id,
    track_id,
    count(*) as face_frames,
    mode(smoothed_label) as label,
    avg(case when smoothed_valence = 'negative' then 1.0 else 0.0 end) as negative_share,
    avg(case when smoothed_valence_ambiguous = 'negative' then 1.0 else 0.0 end)
        as negative_share_excl_surprise,
    avg(p_negative) as p_negative,
    avg(p_negative_excl_surprise) as p_negative_excl_surprise
from faces
group by all;

-- video_affect: one row per analysed video (ok or no_faces) and analysis: its
-- face-frames; negative face-frames under the paper's map and under the map with surprise
-- apart; ambiguous (surprise) face-frames; the summed P(negative) under each map;
-- persons. The unit that the bootstrap and permutation reports resample: frames of one
-- video are not independent.
create or replace temp view video_affect as
select
    v.video_key,
    v.cohort,
    v.model_id,
    v.analysis_id,
    v.status,
    v.duration_s,
    v.upload_date,
    count(f.label) as face_frames,
    count(f.label) filter (where f.smoothed_valence = 'negative') as negative_frames,
    count(f.label) filter (where f.smoothed_valence_ambiguous = 'negative')
        as negative_frames_excl_surprise,
    count(f.label) filter (where f.smoothed_valence_ambiguous = 'ambiguous')
        as ambiguous_frames,
    coalesce(sum(f.p_negative), 0) as p_negative_sum,
    coalesce(sum(f.p_negative_excl_surprise), 0) as p_negative_excl_surprise_sum,
    count(distinct f.track_id) as persons
from videos as v
left join faces as f
    on f.video_key = v.video_key and f.run_id = v.run_id and f.analysis_id = v.analysis_id
    and f.unit_id is not distinct from v.unit_id
where is_done(v.status)
group by all;

-- videos_with_faces(model, analysis): a table macro; the video_affect rows (cohort,
-- video_key, face_frames, negative_frames, negative_frames_excl_surprise, p_negative_sum,
-- p_negative_excl_surprise_sum) of one analysis's videos with at least one face: the
-- videos that negative-share estimates, bootstraps and permutations count.
create or replace temp macro videos_with_faces(model, analysis) as table
select
    cohort,
    video_key,
    face_frames,
    negative_frames,
    negative_frames_excl_surprise,
    p_negative_sum,
    p_negative_excl_surprise_sum
from video_affect
where model_id = model and analysis_id = analysis and face_frames > 0;

-- bootstrap_shares(model, analysis, n_boot, seed): a table macro; one row per cohort and
-- bootstrap replicate: the negative shares of the cohort's videos with faces (`share`:
-- paper's map; `share_excl_surprise`: surprise apart; `p_share`, `p_share_excl_surprise`:
-- mean P(negative) under each), resampled with replacement (videos, not frames: frames
-- of one video are not independent). Draw j of
-- replicate b picks video number hash('seed:cohort:b:j') mod n, videos numbered by key
-- within the cohort, so the same seed gives the same draws in every report that uses it.
create or replace temp macro bootstrap_shares(model, analysis, n_boot, seed) as table
with
numbered as (
    select
        cohort,
        face_frames,
        negative_frames,
        negative_frames_excl_surprise,
        p_negative_sum,
        p_negative_excl_surprise_sum,
        row_number() over (partition by cohort order by video_key) - 1 as video_number,
        count(*) over (partition by cohort) as videos
    from videos_with_faces(model, analysis)
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
select
    d.cohort,
    d.replicate,
    sum(n.negative_frames) / sum(n.face_frames) as share,
    sum(n.negative_frames_excl_surprise) / sum(n.face_frames) as share_excl_surprise,
    sum(n.p_negative_sum) / sum(n.face_frames) as p_share,
    sum(n.p_negative_excl_surprise_sum) / sum(n.face_frames) as p_share_excl_surprise
from draws as d
join numbered as n on n.cohort = d.cohort and n.video_number = d.video_number
group by d.cohort, d.replicate;
