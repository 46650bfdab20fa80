-- Negative-affect share per cohort, with a bootstrap 95% CI clustered by video.
-- Question: what share of each cohort's face-frames shows a negative emotion, and how sure
--   are we, given that frames of one video are not independent?
-- Grain: one row per cohort, for one model.
-- Method: the share is negative face-frames / face-frames over the cohort's videos with
--   faces. The CI is a percentile bootstrap that resamples videos (not frames) with
--   replacement within each cohort, $n_boot times (the `bootstrap_shares` macro of
--   views.sql: draw j of replicate b picks video hash('seed:cohort:b:j') mod n, a string
--   hash, well mixed), so the same seed gives the same interval.
-- Parameters: $model_id (default: the model of the latest run), $n_boot (replicates,
--   default 1000), $seed (default 42), $min_videos (cohorts with fewer videos with faces
--   are masked: small-cell suppression).

with

video_counts as (select * from videos_with_faces($model_id)),

estimates as (
    select
        cohort,
        count(*) as videos,
        sum(face_frames) as face_frames,
        sum(negative_frames) as negative_frames,
        sum(negative_frames) / sum(face_frames) as negative_share
    from video_counts
    group by cohort
),

intervals as (
    select
        cohort,
        quantile_cont(share, 0.025) as ci_low,
        quantile_cont(share, 0.975) as ci_high
    from bootstrap_shares($model_id, $n_boot, $seed)
    group by cohort
),

final as (
    select
        e.cohort,
        e.videos < $min_videos as suppressed,
        case when not suppressed then e.videos end as videos,
        case when not suppressed then e.face_frames end as face_frames,
        case when not suppressed then e.negative_frames end as negative_frames,
        case when not suppressed then e.negative_share end as negative_share,
        case when not suppressed then i.ci_low end as ci_low,
        case when not suppressed then i.ci_high end as ci_high
    from estimates as e
    join intervals as i using (cohort)
)

select * from final order by cohort
