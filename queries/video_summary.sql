-- Per-video summary.
-- Question: for each video, what was analysed (status, duration, upload date), how many
--   faces and persons were seen, how often, and what share of its face-frames is negative
--   (paper's map; with surprise apart; by probability)?
-- Grain: one row per video, for one analysis (model and settings); labels smoothed along
--   each track; `video_name` is the list's note, else the file name of a local video,
--   else its URL. Every row is built from one video, so all rows are masked unless
--   $min_videos is 1 (small-cell suppression; for analysts' own checks).
-- Keys: cohort, video_key (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $model_id, $analysis_id (default: the latest run's analysis of the model,
--   by default the latest run's model; analyses are never pooled), $min_videos (default 5).

with

model_videos as (
    select
        video_key,
        cohort,
        status,
        is_done(status) as analysed,
        video_name,
        duration_s,
        upload_date,
        frames_sampled
    from videos
    where model_id = $model_id and analysis_id = $analysis_id and video_key is not null
),

model_faces as (
    select
        video_key,
        smoothed_label as label,
        smoothed_valence as valence,
        smoothed_valence_ambiguous as valence_ambiguous,
        p_negative,
        track_id
    from faces
    where model_id = $model_id and analysis_id = $analysis_id
),

face_stats as (
    select
        video_key,
        count(*) as face_frames,
        count(distinct track_id) as persons,
        avg(case when valence = 'negative' then 1.0 else 0.0 end) as negative_share,
        avg(case when valence_ambiguous = 'negative' then 1.0 else 0.0 end)
            as negative_share_excl_surprise,
        avg(p_negative) as p_negative,
        mode(label) as top_label
    from model_faces
    group by video_key
),

final as (
    select
        v.cohort,
        v.video_key,
        1 < $min_videos as suppressed,
        v.video_name,
        v.status,
        v.duration_s,
        v.upload_date,
        v.frames_sampled,
        case when v.analysed then coalesce(f.face_frames, 0) end as face_frames,
        case when v.analysed then coalesce(f.persons, 0) end as persons,
        case
            when v.analysed and v.duration_s > 0
                then coalesce(f.face_frames, 0) / (v.duration_s / 60)
        end as face_frames_per_minute,
        f.negative_share,
        f.negative_share_excl_surprise,
        f.p_negative,
        f.top_label
    from model_videos as v
    left join face_stats as f using (video_key)
)

select * from final order by cohort, video_key
