"""Creating the schema on first use, safely when several processes start at once."""

from __future__ import annotations

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from dqx.orm.models import Base

__all__ = ["ensure_schema"]


def ensure_schema(engine: Engine) -> None:
    tables = set(Base.metadata.tables)
    if tables <= set(inspect(engine).get_table_names()):
        return
    try:
        Base.metadata.create_all(engine, checkfirst=True)
    except SQLAlchemyError:
        # Another process may have created the tables between our look and our
        # CREATE; that is success. Anything else is a real failure.
        if not tables <= set(inspect(engine).get_table_names()):
            raise
