"""A report's rows as a pandas DataFrame whose dtypes depend on its SQL types alone.

Masked cells (small-cell suppression) are typed nulls: NaN in a float column, `pd.NA` in
an integer (`Int64`) or boolean (`boolean`) column, so `df.mean()` works on a masked
report as on an unmasked one, and a column's dtype never changes with the data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_INTEGER = re.compile(r"^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$")
_DECIMAL = re.compile(r"^DECIMAL\(\d+,\s*(\d+)\)$")
_FLOAT = ("DOUBLE", "FLOAT", "REAL")


def pandas_dtype(sql_type: str) -> str:
    """The pandas dtype of a DuckDB column type (`BIGINT` -> `Int64`; maps, lists: object)."""
    sql_type = sql_type.upper()
    decimal = _DECIMAL.match(sql_type)
    if _INTEGER.match(sql_type) or (decimal and decimal.group(1) == "0"):
        return "Int64"
    if sql_type in _FLOAT or decimal:
        return "float64"
    if sql_type == "BOOLEAN":
        return "boolean"
    if sql_type == "VARCHAR":
        return "str"
    if sql_type == "DATE" or sql_type.startswith("TIMESTAMP"):
        return "datetime64[us, UTC]" if "TIME ZONE" in sql_type else "datetime64[us]"
    return "object"


def _column(values: list[Any], dtype: str) -> Any:
    import pandas as pd

    if dtype == "Int64":
        values = [None if v is None else int(v) for v in values]
    elif dtype == "float64":
        values = [None if v is None else float(v) for v in values]
    return pd.Series(values, dtype=dtype)


def typed_frame(columns: Sequence[str], types: Sequence[str], rows: Sequence[tuple]) -> Any:
    """A DataFrame of `rows` with one dtype per column from its SQL type (`types`)."""
    import pandas as pd

    if not types:  # a result without types (built by hand): pandas decides
        return pd.DataFrame.from_records(list(rows), columns=list(columns))
    data = {
        i: _column([row[i] for row in rows], pandas_dtype(kind)) for i, kind in enumerate(types)
    }
    frame = pd.DataFrame(data, columns=list(data))
    frame.columns = list(columns)  # by position: an analyst's SQL may repeat a name
    return frame


def _arrow_type(sql_type: str) -> Any:
    import pyarrow as pa

    kinds = {
        "Int64": pa.int64(),
        "float64": pa.float64(),
        "boolean": pa.bool_(),
        "str": pa.string(),
    }
    dtype = pandas_dtype(sql_type)
    if sql_type.upper() == "DATE":
        return pa.date32()
    if dtype.startswith("datetime64"):
        return pa.timestamp("us", tz="UTC" if "UTC" in dtype else None)
    return kinds.get(dtype)  # None: Arrow infers it (maps, lists)


def arrow_table(columns: Sequence[str], types: Sequence[str], rows: Sequence[tuple]) -> Any:
    """A pyarrow Table of `rows`, one Arrow type per column from its SQL type."""
    import pyarrow as pa

    arrays = []
    for i, kind in enumerate(types or ["?"] * len(columns)):
        values = [row[i] for row in rows]
        target = _arrow_type(kind) if types else None
        if target is not None and pa.types.is_integer(target):
            values = [None if v is None else int(v) for v in values]
        elif target is not None and pa.types.is_floating(target):
            values = [None if v is None else float(v) for v in values]
        arrays.append(pa.array(values, type=target))
    return pa.Table.from_arrays(arrays, names=list(columns))
