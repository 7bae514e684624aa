"""Database adapter: SQLAlchemy 2.0 models shared by every process, repositories, migrations."""
