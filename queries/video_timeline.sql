-- Per-video emotion timeline.
-- Question: within each video, how does the mix of emotions on its faces change over
--   time (share of the face-frames of each time bin per label)?
-- Grain: one row per video (named by `video_name`: the list's note, the file name or the
--   URL), time bin ($bin_s seconds from the start) and label seen (smoothed along each
--   track), for one analysis (model and settings). Every row is built from one video, so
--   all rows are masked unless $min_videos is 1 (small-cell suppression). `--format html`
--   draws one panel per video.
-- Keys: cohort, video_key, bin_start_s, label (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $model_id, $analysis_id (default: the latest run's analysis of the model,
--   by default the latest run's model; analyses are never pooled), $bin_s (default 1.0),
--   $video_key (default: every video), $min_videos (default 5).

with

model_faces as (
    select
        cohort,
        video_key,
        smoothed_label as label,
        floor(timestamp_ms / 1000 / $bin_s::double) * $bin_s::double as bin_start_s
    from faces
    where
        model_id = $model_id
        and analysis_id = $analysis_id
        and ($video_key is null or video_key = $video_key)
),

bins as (
    select cohort, video_key, bin_start_s, label, count(*) as frames
    from model_faces
    group by cohort, video_key, bin_start_s, label
),

names as (
    select video_key, video_name
    from videos
    where model_id = $model_id and analysis_id = $analysis_id
),

final as (
    select
        b.cohort,
        b.video_key,
        b.bin_start_s,
        b.label,
        1 < $min_videos as suppressed,
        n.video_name,
        b.frames as face_frames,
        b.frames / sum(b.frames) over (partition by b.video_key, b.bin_start_s) as share_frames
    from bins as b
    left join names as n using (video_key)
)

select * from final order by cohort, video_key, bin_start_s, label
