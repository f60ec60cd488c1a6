"""Annotated dependencies the routes declare: the session and the caller with the needed permission."""

from typing import Annotated

from fastapi import Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from hub.api.auth import Caller, administrator, corrector, reader, session

Db = Annotated[AsyncSession, Depends(session)]
Reader = Annotated[Caller, Depends(reader)]
Corrector = Annotated[Caller, Depends(corrector)]
Administrator = Annotated[Caller, Depends(administrator)]
# Bounded so that no number reaches the store beyond its 64-bit columns (SQLite raises OverflowError, PostgreSQL
# a DataError: a 500 for what is the client's mistake).
MAX_ROW_ID = 2**63 - 1
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id")]
