-- Cohort summary.
-- Question: per cohort, how many videos were analysed, how many faces and persons were
--   seen, and what share of face-frames shows a negative emotion (the model's valence map)?
-- Grain: one row per cohort, for one model.
-- Parameters: $model_id (default: the model of the latest run), $min_videos (cohorts
--   with fewer distinct analysed videos are masked: small-cell suppression).

with

cohort_videos as (
    select
        cohort,
        count(*) filter (where status = 'ok') as videos_ok,
        count(*) filter (where status = 'no_faces') as videos_no_faces,
        count(*) filter (where status = 'failed') as videos_failed
    from videos
    where model_id = $model_id and cohort is not null
    group by cohort
),

cohort_faces as (
    select
        cohort,
        count(*) as face_frames,
        count(distinct (video_key, track_id)) as persons,
        avg(case when valence = 'negative' then 1.0 else 0.0 end) as negative_share,
        mode(label) as top_label
    from faces
    where model_id = $model_id
    group by cohort
),

final as (
    select
        cv.cohort,
        cv.videos_ok + cv.videos_no_faces < $min_videos as suppressed,
        case when not suppressed then cv.videos_ok end as videos_ok,
        case when not suppressed then cv.videos_no_faces end as videos_no_faces,
        case when not suppressed then cv.videos_failed end as videos_failed,
        case when not suppressed then coalesce(cf.face_frames, 0) end as face_frames,
        case when not suppressed then coalesce(cf.persons, 0) end as persons,
        case when not suppressed then cf.negative_share end as negative_share,
        case when not suppressed then cf.top_label end as top_label
    from cohort_videos as cv
    left join cohort_faces as cf using (cohort)
)

select * from final order by cohort
