"""The PostgreSQL connector: libpq (psycopg, ADBC) for sessions and loads, asyncpg to relay binary COPY."""
