-- Do the cohorts differ in the emotions their faces show? (after Sharma et al. 2023, Figure 5)
-- Question: what share of each cohort's face-frames shows each emotion, side by side, with
--   the negative emotions (the paper's valence map) marked, and each cohort's total
--   negative share, also with surprise apart?
-- Grain: one row per emotion label and cohort (every label of the model, zeros included),
--   ordered negative labels first, for one analysis (model and settings); labels smoothed
--   along each track. `valence_ambiguous` is the label's valence with surprise apart.
--   `negative_share` and `negative_share_excl_surprise` repeat the cohort's totals on
--   each of its rows. `--format html` draws the figure: grouped bars per label.
-- Keys: label, negative, valence_ambiguous, cohort (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $model_id, $analysis_id (default: the latest run's analysis of the model,
--   by default the latest run's model; analyses are never pooled), $min_videos (cells whose
--   cohort has fewer videos with faces are masked: small-cell suppression).
--   $validation (default: the analysis's latest `affectflow validate`): with a validation
--   the report adds share_frames_corrected (the matrix method) with 95% CIs of a joint
--   bootstrap of videos and validation subjects (queries/corrections.py, after the SQL); the
--   notes name the validation or say the shares are uncorrected.

with

model_faces as (
    select cohort, video_key, smoothed_label as label
    from faces
    where model_id = $model_id and analysis_id = $analysis_id
),

labels as (
    select
        label,
        valence,
        valence_ambiguous,
        valence = 'negative' as negative,
        valence_ambiguous = 'negative' as negative_excl_surprise
    from label_valence
    where model_id = $model_id and analysis_id = $analysis_id
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
        l.valence_ambiguous,
        l.negative,
        l.negative_excl_surprise,
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
        valence_ambiguous,
        cohort,
        videos < $min_videos as suppressed,
        videos,
        frames as face_frames,
        frames / cells.face_frames as share_frames,
        sum(frames) filter (where negative) over (partition by cohort)
            / cells.face_frames as negative_share,
        sum(frames) filter (where negative_excl_surprise) over (partition by cohort)
            / cells.face_frames as negative_share_excl_surprise
    from cells
)

select * from final order by negative desc, label, cohort
