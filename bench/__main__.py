"""`make bench`: run every benchmark and print its figures."""

from __future__ import annotations

from bench import sqlite_to_parquet


def main() -> None:
    sqlite_to_parquet.main()


if __name__ == "__main__":
    main()
