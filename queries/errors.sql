-- Errors by stage and cohort.
-- Question: what went wrong, at which stage and in which cohort, how often, and how many
--   of those inputs still have no analysed result?
-- Grain: one row per stage, cohort and error message (row numbers left out, so the same
--   mistake on many rows of a list is one row), over every committed run.
-- Keys: stage, cohort (what a row is about; a masked row shows only these: small-cell
--   suppression, applied by the runner to every other column)
-- Parameters: $min_videos (rows about fewer distinct inputs are masked: small-cell
--   suppression; a message can name a video).

with

errors_by_input as (
    select
        e.stage,
        e.cohort,
        e.error_class,
        regexp_replace(e.message, '^row [0-9]+: ', '') as message,
        coalesce(e.video_key, e.input_key) as input,  -- the video, else its list row
        e.run_id,
        exists (
            select 1 from videos as v
            where v.status = 'failed'
                and v.run_id = e.run_id
                and v.video_key is not distinct from e.video_key
                and v.url is not distinct from coalesce(e.url, e.input)
        ) as still_failing
    from errors as e
),

grouped as (
    select
        stage,
        cohort,
        error_class,
        message,
        count(distinct input) as inputs,
        count(*) as errors,
        count(distinct input) filter (where still_failing) as still_failing,
        max(run_id) as last_run_id
    from errors_by_input
    group by stage, cohort, error_class, message
),

final as (
    select
        stage,
        cohort,
        inputs < $min_videos as suppressed,
        error_class,
        message,
        inputs,
        errors,
        still_failing,
        last_run_id
    from grouped
)

select * from final order by stage, cohort, inputs desc nulls last, message
