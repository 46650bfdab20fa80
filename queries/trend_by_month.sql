-- Negative affect by upload month.
-- Question: per cohort, how does the negative-affect share of face-frames (paper's map;
--   with surprise apart; by probability) change with the month the videos were uploaded
--   (`upload_date`, 'YYYYMMDD' from the site's metadata)?
-- Grain: one row per cohort and upload month ('YYYY-MM'; null: upload date unknown), for
--   one analysis (model and settings); analysed videos (ok or no_faces) only; labels
--   smoothed along each track.
-- Keys: cohort, upload_month (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $model_id, $analysis_id (default: the latest run's analysis of the model,
--   by default the latest run's model; analyses are never pooled), $min_videos (months built
--   from fewer analysed videos are masked: small-cell suppression).

with

model_videos as (
    select
        cohort,
        video_key,
        face_frames,
        negative_frames,
        negative_frames_excl_surprise,
        p_negative_sum,
        strftime(try_strptime(upload_date, '%Y%m%d'), '%Y-%m') as upload_month
    from video_affect
    where model_id = $model_id and analysis_id = $analysis_id
),

months as (
    select
        cohort,
        upload_month,
        count(*) as videos,
        count(*) filter (where face_frames > 0) as videos_with_faces,
        sum(face_frames) as face_frames,
        sum(negative_frames) as negative_frames,
        sum(negative_frames_excl_surprise) as negative_frames_excl_surprise,
        sum(p_negative_sum) as p_negative_sum
    from model_videos
    group by cohort, upload_month
),

final as (
    select
        cohort,
        upload_month,
        videos < $min_videos as suppressed,
        videos,
        videos_with_faces,
        face_frames,
        case
            when face_frames > 0
                then negative_frames / face_frames
        end as negative_share,
        case
            when face_frames > 0
                then negative_frames_excl_surprise / face_frames
        end as negative_share_excl_surprise,
        case
            when face_frames > 0 then p_negative_sum / face_frames
        end as p_negative
    from months
)

select * from final order by cohort, upload_month nulls last
