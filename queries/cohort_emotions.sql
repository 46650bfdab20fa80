-- Cohort emotion distribution.
-- Question: which emotions do the faces of each cohort show, counted by face-frames
--   and by tracked persons (each person counted once, with their most frequent label)?
-- Grain: one row per cohort and label, for one analysis (model and settings); labels
--   smoothed along each track.
-- Keys: cohort, label (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $model_id, $analysis_id (default: the latest run's analysis of the model,
--   by default the latest run's model; analyses are never pooled), $min_videos (cells built
--   from fewer distinct videos are masked: small-cell suppression).
--   $validation (default: the analysis's latest `affectflow validate`): with a validation
--   the report adds share_frames_corrected (the matrix method) with 95% CIs of a joint
--   bootstrap of videos and validation subjects (queries/corrections.py, after the SQL); the
--   notes name the validation or say the shares are uncorrected.

with

face_frames as (
    select cohort, smoothed_label as label, video_key
    from faces
    where model_id = $model_id and analysis_id = $analysis_id
),

cohort_totals as (
    select cohort, count(*) as cohort_frames from face_frames group by cohort
),

person_labels as (
    select cohort, label, video_key
    from persons
    where model_id = $model_id and analysis_id = $analysis_id
),

person_totals as (
    select cohort, count(*) as cohort_persons from person_labels group by cohort
),

frame_counts as (
    select cohort, label, count(*) as frames, count(distinct video_key) as videos
    from face_frames
    group by cohort, label
),

person_counts as (
    select cohort, label, count(*) as persons from person_labels group by cohort, label
),

final as (
    select
        fc.cohort,
        fc.label,
        fc.videos < $min_videos as suppressed,
        fc.videos,
        fc.frames as face_frames,
        fc.frames / ct.cohort_frames as share_frames,
        coalesce(pc.persons, 0) as persons,
        coalesce(pc.persons, 0) / pt.cohort_persons as share_persons
    from frame_counts as fc
    join cohort_totals as ct using (cohort)
    join person_totals as pt using (cohort)
    left join person_counts as pc using (cohort, label)
)

select * from final order by cohort, label
