-- Data quality per cohort.
-- Question: per cohort, how many videos failed (and at which stage most often), how many
--   had no face, and how many face-frames per minute of analysed video were found?
-- Grain: one row per cohort, for one analysis (model and settings); every input row of
--   the cohort counts (failed rows too, each invalid list row on its own: its `input_key`).
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
        case when not suppressed then c.videos end as videos,
        case when not suppressed then c.videos_ok end as videos_ok,
        case when not suppressed then c.videos_no_faces end as videos_no_faces,
        case when not suppressed then c.videos_failed end as videos_failed,
        case when not suppressed then c.videos_failed / c.videos end as failed_share,
        case when not suppressed then c.videos_no_faces / c.videos end as no_faces_share,
        case when not suppressed then es.top_failed_stage end as top_failed_stage,
        case when not suppressed then c.minutes end as minutes_analysed,
        case when not suppressed then c.face_frames end as face_frames,
        case
            when not suppressed and c.minutes > 0 then c.face_frames / c.minutes
        end as faces_per_minute,
        case
            when not suppressed and c.frames_sampled > 0
                then c.face_frames / c.frames_sampled
        end as faces_per_sampled_frame
    from cohorts as c
    left join error_stages as es using (cohort)
)

select * from final order by cohort
