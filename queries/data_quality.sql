-- Data quality per cohort.
-- Question: per cohort, how many videos failed (and at which stage most often), how many
--   list rows repeated a video named before (`duplicate`), how many had no face, and how
--   many face-frames (one per face per sampled frame) per minute of analysed video were found?
-- Grain: one row per cohort, for one analysis (model and settings); every input row of
--   the cohort counts (failed rows too, each invalid list row on its own: its `input_key`).
-- Keys: cohort (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $model_id, $analysis_id (default: the latest run's analysis of the model,
--   by default the latest run's model; analyses are never pooled), $min_videos (cohorts with
--   fewer videos are masked: small-cell suppression).

with

model_videos as (
    select
        cohort,
        coalesce(video_key, input_key) as video,
        status,
        duration_s,
        frames_sampled,
        faces_detected
    from videos
    where model_id = $model_id and analysis_id = $analysis_id and cohort is not null
),

model_errors as (
    select e.cohort, e.stage
    from errors as e
    join videos as v
        on e.run_id = v.run_id
        and e.video_key is not distinct from v.video_key
        and e.row_number is not distinct from v.row_number
    where v.model_id = $model_id and v.analysis_id = $analysis_id and v.status = 'failed'
),

error_stages as (
    select cohort, mode(stage) as top_failed_stage from model_errors group by cohort
),

cohorts as (
    select
        cohort,
        count(distinct video) as videos,
        count(*) filter (where status = 'ok') as videos_ok,
        count(*) filter (where status = 'no_faces') as videos_no_faces,
        count(*) filter (where status = 'failed') as videos_failed,
        count(*) filter (where status = 'duplicate') as videos_duplicate,
        sum(duration_s) filter (where is_done(status)) / 60 as minutes,
        sum(frames_sampled) as frames_sampled,
        sum(faces_detected) as face_frames
    from model_videos
    group by cohort
),

final as (
    select
        c.cohort,
        c.videos < $min_videos as suppressed,
        c.videos,
        c.videos_ok,
        c.videos_no_faces,
        c.videos_failed,
        c.videos_duplicate,
        c.videos_failed / c.videos as failed_share,
        c.videos_no_faces / c.videos as no_faces_share,
        es.top_failed_stage,
        c.minutes as minutes_analysed,
        c.face_frames,
        case
            when c.minutes > 0 then c.face_frames / c.minutes
        end as face_frames_per_minute,
        case
            when c.frames_sampled > 0
                then c.face_frames / c.frames_sampled
        end as faces_per_sampled_frame
    from cohorts as c
    left join error_stages as es using (cohort)
)

select * from final order by cohort
