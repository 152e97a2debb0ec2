"""The SQLite connector: a database file through ADBC's SQLite driver, Arrow in and out."""
