"""The store on SQLAlchemy (`store.SqlStore`): a SQLite file by default, any SQL database by `BOT_DATABASE_URL`.
One module per subject, each a part of `SqlStore`; `tables` is the schema."""
