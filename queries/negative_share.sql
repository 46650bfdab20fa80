-- Negative-affect share per cohort, with a bootstrap 95% CI clustered by video.
-- Question: what share of each cohort's face-frames shows a negative emotion, and how sure
--   are we, given that frames of one video are not independent?
-- Grain: one row per cohort, for one model.
-- Method: the share is negative face-frames / face-frames over the cohort's videos with
--   faces. The CI is a percentile bootstrap that resamples videos (not frames) with
--   replacement within each cohort, $n_boot times; draw j of replicate b picks video
--   hash('seed:cohort:b:j') mod n (a string hash: well mixed), so the same seed gives
--   the same interval.
-- Parameters: $model_id (default: the model of the latest run), $n_boot (replicates,
--   default 1000), $seed (default 42), $min_videos (cohorts with fewer videos with faces
--   are masked: small-cell suppression).

with

video_counts as (
    select cohort, video_key, face_frames, negative_frames
    from video_affect
    where model_id = $model_id and face_frames > 0
),

numbered as (
    select
        *,
        row_number() over (partition by cohort order by video_key) - 1 as video_number,
        count(*) over (partition by cohort) as cohort_videos
    from video_counts
),

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

draws as (
    select
        e.cohort,
        replicate.range as replicate,
        hash(concat_ws(':', $seed, e.cohort, replicate.range, draw.range)) % e.videos
            as video_number
    from estimates as e
    cross join range($n_boot::bigint) as replicate
    cross join lateral range(e.videos) as draw
),

replicates as (
    select d.cohort, d.replicate, sum(n.negative_frames) / sum(n.face_frames) as share
    from draws as d
    join numbered as n on n.cohort = d.cohort and n.video_number = d.video_number
    group by d.cohort, d.replicate
),

intervals as (
    select
        cohort,
        quantile_cont(share, 0.025) as ci_low,
        quantile_cont(share, 0.975) as ci_high
    from replicates
    group by cohort
),

final as (
    select
        e.cohort,
        e.videos < $min_videos as suppressed,
        case when not suppressed then e.videos end as videos,
        case when not suppressed then e.face_frames end as face_frames,
        case when not suppressed then e.negative_frames end as negative_frames,
        case when not suppressed then round(e.negative_share, 4) end as negative_share,
        case when not suppressed then round(i.ci_low, 4) end as ci_low,
        case when not suppressed then round(i.ci_high, 4) end as ci_high
    from estimates as e
    join intervals as i using (cohort)
)

select * from final order by cohort
