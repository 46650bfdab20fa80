-- Errors by stage and cohort.
-- Question: what went wrong, at which stage and in which cohort, how often, and how many
--   of those inputs still have no analysed result?
-- Grain: one row per stage, cohort and error message (row numbers left out, so the same
--   mistake on many rows of a list is one row), over every committed run.
-- Parameters: $min_videos (rows about fewer distinct inputs are masked: small-cell
--   suppression; a message can name a video).

with

errors_by_input as (
    select
        e.stage,
        e.cohort,
        e.error_class,
        regexp_replace(e.message, '^row [0-9]+: ', '') as message,
        coalesce(e.video_key, 'row:' || coalesce(e.url, e.input)) as input,
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
        case when not suppressed then error_class end as error_class,
        case when not suppressed then message end as message,
        case when not suppressed then inputs end as inputs,
        case when not suppressed then errors end as errors,
        case when not suppressed then still_failing end as still_failing,
        case when not suppressed then last_run_id end as last_run_id
    from grouped
)

select * from final order by stage, cohort, inputs desc nulls last, message
