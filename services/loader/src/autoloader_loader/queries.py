"""Request/reply answers about tables (the API's ``GET …/table`` and ``…/table/sample``)."""

from __future__ import annotations

from typing import Any

from autoloader_core.errors import FieldError, ValidationFailed
from autoloader_loader.engine import MAX_SAMPLE_ROWS, LoaderEngine, TableRef

DEFAULT_SAMPLE_ROWS = 100


class TableQueries:
    """RPC handlers: each takes the decoded request dict and returns a JSON-able result."""

    def __init__(self, engine: LoaderEngine) -> None:
        self._engine = engine

    async def table_info(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{tenant_id, catalog, database, table, cluster_id?}`` -> the table's description.

        Raises:
            ValidationFailed: A field is missing or not a string.
            NotFoundError: The table does not exist yet.
        """
        info: dict[str, Any] = await self._engine.table_info(_table_ref(request))
        return info

    async def table_sample(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{..., limit, columns}`` -> ``{rows: [...]}``.

        Raises:
            ValidationFailed: A field is invalid, or a column is not in the table.
            NotFoundError: The table does not exist yet.
        """
        ref = _table_ref(request)
        limit = request.get("limit", DEFAULT_SAMPLE_ROWS)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_SAMPLE_ROWS:
            raise ValidationFailed([FieldError("limit", f"must be an integer from 1 to {MAX_SAMPLE_ROWS}")])
        columns = request.get("columns")
        if columns is not None and not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
            raise ValidationFailed([FieldError("columns", "must be a list of column names or null")])
        rows = await self._engine.table_sample(ref, limit=limit, columns=columns or None)
        return {"rows": rows}


def _table_ref(request: dict[str, Any]) -> TableRef:
    errors = [
        FieldError(name, "is required (a non-empty string)")
        for name in ("tenant_id", "catalog", "database", "table")
        if not isinstance(request.get(name), str) or not request[name]
    ]
    cluster_id = request.get("cluster_id")
    if cluster_id is not None and not (isinstance(cluster_id, str) and cluster_id):
        errors.append(FieldError("cluster_id", "must be a cluster id or null"))
    if errors:
        raise ValidationFailed(errors)
    return TableRef(request["tenant_id"], request["catalog"], request["database"], request["table"], cluster_id)
