"""The one declarative base every table of the hotline derives from."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
