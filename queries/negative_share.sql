-- Negative-affect share per cohort, with a bootstrap 95% CI clustered by video.
-- Question: what share of each cohort's face-frames shows a negative emotion (the paper's
--   valence map, and with surprise apart; by label and by probability), and how sure are
--   we, given that frames of one video are not independent?
-- Grain: one row per cohort, for one analysis (model and settings).
-- Method: negative_share is negative face-frames / face-frames over the cohort's videos
--   with faces (labels smoothed along each track; the paper's map counts surprise as
--   negative); negative_share_excl_surprise counts surprise as its own 'ambiguous' class;
--   p_negative is the mean probability of the negative labels (paper's map). Each CI is a
--   percentile bootstrap that resamples videos (not frames) with replacement within each
--   cohort, $n_boot times (the `bootstrap_shares` macro of views.sql: draw j of replicate
--   b picks video hash('seed:cohort:b:j') mod n, a string hash, well mixed), so the same
--   seed gives the same intervals.
-- Keys: cohort (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $model_id, $analysis_id (default: the latest run's analysis of the model,
--   by default the latest run's model; analyses are never pooled), $n_boot (replicates,
--   default 1000), $seed (default 42), $min_videos (cohorts with fewer videos with faces
--   are masked: small-cell suppression).
--   $validation (default: the analysis's latest `affectflow validate`): with a validation
--   the report adds negative_share_corrected and negative_share_excl_surprise_corrected
--   (Rogan-Gladen) with 95% CIs of a joint bootstrap of videos and validation subjects
--   (queries/corrections.py, after the SQL); the notes name the validation or say the shares
--   are uncorrected.

with

video_counts as (select * from videos_with_faces($model_id, $analysis_id)),

estimates as (
    select
        cohort,
        count(*) as videos,
        sum(face_frames) as face_frames,
        sum(negative_frames) as negative_frames,
        sum(negative_frames) / sum(face_frames) as negative_share,
        sum(negative_frames_excl_surprise) / sum(face_frames) as negative_share_excl_surprise,
        sum(p_negative_sum) / sum(face_frames) as p_negative
    from video_counts
    group by cohort
),

intervals as (
    select
        cohort,
        quantile_cont(share, 0.025) as ci_low,
        quantile_cont(share, 0.975) as ci_high,
        quantile_cont(share_excl_surprise, 0.025) as excl_surprise_ci_low,
        quantile_cont(share_excl_surprise, 0.975) as excl_surprise_ci_high,
        quantile_cont(p_share, 0.025) as p_ci_low,
        quantile_cont(p_share, 0.975) as p_ci_high
    from bootstrap_shares($model_id, $analysis_id, $n_boot, $seed)
    group by cohort
),

final as (
    select
        e.cohort,
        e.videos < $min_videos as suppressed,
        e.videos,
        e.face_frames,
        e.negative_frames,
        e.negative_share,
        i.ci_low,
        i.ci_high,
        e.negative_share_excl_surprise,
        i.excl_surprise_ci_low,
        i.excl_surprise_ci_high,
        e.p_negative,
        i.p_ci_low,
        i.p_ci_high
    from estimates as e
    join intervals as i using (cohort)
)

select * from final order by cohort
