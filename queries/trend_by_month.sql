-- Negative affect by upload month.
-- Question: per cohort, how does the negative-affect share of face-frames change with the
--   month the videos were uploaded (`upload_date`, 'YYYYMMDD' from the site's metadata)?
-- Grain: one row per cohort and upload month ('YYYY-MM'; null: upload date unknown), for
--   one model; analysed videos (ok or no_faces) only.
-- Parameters: $model_id (default: the model of the latest run), $min_videos (months built
--   from fewer analysed videos are masked: small-cell suppression).

with

model_videos as (
    select
        cohort,
        video_key,
        face_frames,
        negative_frames,
        strftime(try_strptime(upload_date, '%Y%m%d'), '%Y-%m') as upload_month
    from video_affect
    where model_id = $model_id
),

months as (
    select
        cohort,
        upload_month,
        count(*) as videos,
        count(*) filter (where face_frames > 0) as videos_with_faces,
        sum(face_frames) as face_frames,
        sum(negative_frames) as negative_frames
    from model_videos
    group by cohort, upload_month
),

final as (
    select
        cohort,
        upload_month,
        videos < $min_videos as suppressed,
        case when not suppressed then videos end as videos,
        case when not suppressed then videos_with_faces end as videos_with_faces,
        case when not suppressed then face_frames end as face_frames,
        case
            when not suppressed and face_frames > 0
                then negative_frames / face_frames
        end as negative_share
    from months
)

select * from final order by cohort, upload_month nulls last
