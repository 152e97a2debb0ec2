"""The SQLite connector: a database file through the standard library's sqlite3."""
