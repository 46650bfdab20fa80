-- Sharma et al. 2023, Figure 5: "depressed individuals express more negative emotions".
-- Question: what share of each cohort's face-frames shows each emotion, side by side, with
--   the negative emotions (the model's valence map) marked, and each cohort's total
--   negative share?
-- Grain: one row per emotion label and cohort (every label of the model, zeros included),
--   ordered negative labels first, for one model. `negative_share` repeats the cohort's
--   total on each of its rows. `--format html` draws the figure: grouped bars per label.
-- Parameters: $model_id (default: the model of the latest run), $min_videos (cells whose
--   cohort has fewer videos with faces are masked: small-cell suppression).

with

model_faces as (
    select cohort, video_key, label from faces where model_id = $model_id
),

labels as (
    select label, valence, valence = 'negative' as negative
    from label_valence
    where model_id = $model_id
),

cohorts as (
    select
        cohort,
        count(distinct video_key) as videos,
        count(*) as face_frames
    from model_faces
    group by cohort
),

label_counts as (
    select cohort, label, count(*) as frames from model_faces group by cohort, label
),

cells as (
    select
        c.cohort,
        l.label,
        l.valence,
        l.negative,
        c.videos,
        c.face_frames,
        coalesce(lc.frames, 0) as frames
    from cohorts as c
    cross join labels as l
    left join label_counts as lc on lc.cohort = c.cohort and lc.label = l.label
),

final as (
    select
        label,
        negative,
        cohort,
        videos < $min_videos as suppressed,
        case when not suppressed then videos end as videos,
        case when not suppressed then frames end as face_frames,
        case when not suppressed then frames / face_frames end as share_frames,
        case
            when not suppressed
                then sum(frames) filter (where negative) over (partition by cohort)
                    / face_frames
        end as negative_share
    from cells
)

select * from final order by negative desc, label, cohort
