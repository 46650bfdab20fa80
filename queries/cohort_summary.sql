-- Cohort summary.
-- Question: per cohort, how many videos were analysed, how many faces and persons were
--   seen, and what share of face-frames and of persons shows a negative emotion, under
--   the paper's valence map (surprise negative) and with surprise apart, by label and by
--   probability?
-- Grain: one row per cohort, for one analysis (model and settings).
-- Measures (labels smoothed along each track): negative_share: face-frames whose label
--   is negative in the paper's map (anger, disgust, fear, sadness, surprise);
--   negative_share_excl_surprise: the same with surprise its own 'ambiguous' class;
--   ambiguous_share: face-frames labelled surprise; p_negative(_excl_surprise): mean
--   probability of the negative labels (no argmax); person_negative_share(_excl_surprise):
--   the mean over persons (tracks) of each person's negative share, one vote per person.
-- Keys: cohort (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $model_id, $analysis_id (default: the latest run's analysis of the model,
--   by default the latest run's model; analyses are never pooled), $min_videos (cohorts
--   with fewer distinct analysed videos are masked: small-cell suppression).
--   $validation (default: the analysis's latest `affectflow validate`): with a validation
--   the report adds negative_share_corrected and negative_share_excl_surprise_corrected
--   (Rogan-Gladen) (queries/corrections.py, after the SQL); the notes name the validation or
--   say the shares are uncorrected.

with

cohort_videos as (
    select
        cohort,
        count(*) filter (where status = 'ok') as videos_ok,
        count(*) filter (where status = 'no_faces') as videos_no_faces,
        count(*) filter (where status = 'failed') as videos_failed
    from videos
    where model_id = $model_id and analysis_id = $analysis_id and cohort is not null
    group by cohort
),

cohort_faces as (
    select
        cohort,
        count(*) as face_frames,
        avg(case when smoothed_valence = 'negative' then 1.0 else 0.0 end) as negative_share,
        avg(case when smoothed_valence_ambiguous = 'negative' then 1.0 else 0.0 end)
            as negative_share_excl_surprise,
        avg(case when smoothed_valence_ambiguous = 'ambiguous' then 1.0 else 0.0 end)
            as ambiguous_share,
        avg(p_negative) as p_negative,
        avg(p_negative_excl_surprise) as p_negative_excl_surprise,
        mode(smoothed_label) as top_label
    from faces
    where model_id = $model_id and analysis_id = $analysis_id
    group by cohort
),

cohort_persons as (
    select
        cohort,
        count(*) as persons,
        avg(negative_share) as person_negative_share,
        avg(negative_share_excl_surprise) as person_negative_share_excl_surprise
    from persons
    where model_id = $model_id and analysis_id = $analysis_id
    group by cohort
),

final as (
    select
        cv.cohort,
        cv.videos_ok + cv.videos_no_faces < $min_videos as suppressed,
        cv.videos_ok,
        cv.videos_no_faces,
        cv.videos_failed,
        coalesce(cf.face_frames, 0) as face_frames,
        coalesce(cp.persons, 0) as persons,
        cf.negative_share,
        cf.negative_share_excl_surprise,
        cf.ambiguous_share,
        cf.p_negative,
        cf.p_negative_excl_surprise,
        cp.person_negative_share,
        cp.person_negative_share_excl_surprise,
        cf.top_label
    from cohort_videos as cv
    left join cohort_faces as cf using (cohort)
    left join cohort_persons as cp using (cohort)
)

select * from final order by cohort
