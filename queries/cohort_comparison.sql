-- Cohort comparison of negative affect.
-- Question: how much larger is the negative-affect share of cohort A than of cohort B
--   (difference with a bootstrap 95% CI), and how likely is a difference that large by
--   chance (a permutation p-value)?
-- Grain: one row: the two cohorts, for one analysis (model and settings). Videos, not
--   frames, are the unit of both the bootstrap and the permutations.
-- Method: shares are negative face-frames / face-frames over each cohort's videos with
--   faces (labels smoothed along each track), under the paper's valence map (surprise
--   negative); difference_excl_surprise is the same difference with surprise its own
--   'ambiguous' class, with its bootstrap CI (no p-value). CI: percentile bootstrap, videos resampled with replacement within each cohort
--   $n_boot times (the `bootstrap_shares` macro of views.sql: the same draws as
--   negative_share for the same seed). p-value: the cohort labels of the pooled videos
--   are shuffled $n_perm times (videos ordered by hash('seed:perm:permutation:video_key'));
--   p = (1 + permutations with |difference| >= |observed|) / (1 + $n_perm), two-sided.
--   Same seed, same numbers.
-- Keys: cohort_a, cohort_b (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $cohort_a, $cohort_b (default: the first two cohorts by name), $model_id,
--   $analysis_id (default: the latest run's analysis of the model, by default the latest
--   run's model; analyses are never pooled), $n_boot (default 1000), $n_perm (default
--   1000), $seed (default 42), $min_videos (the row is masked when either cohort has
--   fewer videos with faces: small-cell suppression).
--   $validation (default: the analysis's latest `affectflow validate`): with a validation
--   the report adds difference_corrected and difference_excl_surprise_corrected (Rogan-
--   Gladen shares) with 95% CIs of a joint bootstrap of videos and validation subjects
--   (queries/corrections.py, after the SQL); the notes name the validation or say the shares
--   are uncorrected.

with

video_counts as (select * from videos_with_faces($model_id, $analysis_id)),

first_cohort as (
    select coalesce($cohort_a, min(cohort)) as cohort_a from video_counts
),

chosen as (
    select
        f.cohort_a,
        coalesce(
            $cohort_b, (select min(cohort) from video_counts where cohort <> f.cohort_a)
        ) as cohort_b
    from first_cohort as f
),

pool as (
    select vc.*, vc.cohort = c.cohort_a as in_a
    from video_counts as vc
    join chosen as c on vc.cohort in (c.cohort_a, c.cohort_b)
),

sides as (
    select
        in_a,
        cohort,
        count(*) as videos,
        sum(face_frames) as face_frames,
        sum(negative_frames) / sum(face_frames) as share,
        sum(negative_frames_excl_surprise) / sum(face_frames) as share_excl_surprise
    from pool
    group by in_a, cohort
),

observed as (
    select
        a.videos as videos_a,
        b.videos as videos_b,
        a.share as share_a,
        b.share as share_b,
        a.share - b.share as difference,
        a.share_excl_surprise - b.share_excl_surprise as difference_excl_surprise
    from sides as a
    join sides as b on a.in_a and not b.in_a
),

boot_shares as (
    select b.cohort = c.cohort_a as in_a, b.replicate, b.share, b.share_excl_surprise
    from bootstrap_shares($model_id, $analysis_id, $n_boot, $seed) as b
    join chosen as c on b.cohort in (c.cohort_a, c.cohort_b)
),

boot_differences as (
    select
        a.share - b.share as difference,
        a.share_excl_surprise - b.share_excl_surprise as difference_excl_surprise
    from boot_shares as a
    join boot_shares as b on a.replicate = b.replicate and a.in_a and not b.in_a
),

shuffled as (
    select
        permutation.range as permutation,
        p.face_frames,
        p.negative_frames,
        row_number() over (
            partition by permutation.range
            order by
                hash(concat_ws(':', $seed, 'perm', permutation.range, p.video_key)),
                p.video_key
        ) <= (select videos_a from observed) as in_a
    from range($n_perm::bigint) as permutation
    cross join pool as p
),

permuted as (
    select
        sum(negative_frames) filter (where in_a) / sum(face_frames) filter (where in_a)
        - sum(negative_frames) filter (where not in_a) / sum(face_frames) filter (where not in_a)
            as difference
    from shuffled
    group by permutation
),

tests as (
    select
        (select quantile_cont(difference, 0.025) from boot_differences) as ci_low,
        (select quantile_cont(difference, 0.975) from boot_differences) as ci_high,
        (select quantile_cont(difference_excl_surprise, 0.025) from boot_differences)
            as excl_surprise_ci_low,
        (select quantile_cont(difference_excl_surprise, 0.975) from boot_differences)
            as excl_surprise_ci_high,
        (1 + count(*) filter (where abs(pm.difference) >= abs(o.difference) - 1e-12))
        / (1 + count(*)) as p_value
    from permuted as pm, observed as o
),

final as (
    select
        c.cohort_a,
        c.cohort_b,
        least(o.videos_a, o.videos_b) < $min_videos as suppressed,
        o.videos_a,
        o.videos_b,
        o.share_a as negative_share_a,
        o.share_b as negative_share_b,
        o.difference,
        t.ci_low,
        t.ci_high,
        t.p_value,
        o.difference_excl_surprise,
        t.excl_surprise_ci_low,
        t.excl_surprise_ci_high
    from chosen as c, observed as o, tests as t
)

select * from final
