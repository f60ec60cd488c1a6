"""Annotated dependencies the routes declare: the session and the caller with the needed permission."""

from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from hub.api.auth import Caller, administrator, corrector, reader, session

Db = Annotated[AsyncSession, Depends(session)]
Reader = Annotated[Caller, Depends(reader)]
Corrector = Annotated[Caller, Depends(corrector)]
Administrator = Annotated[Caller, Depends(administrator)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]
