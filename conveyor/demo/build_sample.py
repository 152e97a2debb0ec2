"""Build `sample.db`, the demo's source database (run once by developers; the file ships).

    python -m conveyor.demo.build_sample

Deterministic: the same file every time. A small shop: customers, products, orders and
order items, with decimals, dates, timestamps, booleans, unicode text and NULLs.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from decimal import Decimal
from pathlib import Path

SAMPLE = Path(__file__).with_name("sample.db")

FIRST = [
    "Ana",
    "Björn",
    "Chloé",
    "Dmitri",
    "Émile",
    "Fatima",
    "György",
    "Hana",
    "Iñigo",
    "Jürgen",
    "Kenji",
    "Léa",
    "Mateus",
    "Nadia",
    "Øystein",
    "Priya",
    "Quentin",
    "Rūta",
    "Søren",
    "Tomás",
    "Ulla",
    "Vân",
    "Wei",
    "Xóchitl",
    "Yusuf",
    "Zoë",
    "李",
    "Олег",
    "José",
    "Małgorzata",
]
LAST = [
    "García",
    "Müller",
    "Dubois",
    "Kowalski",
    "Nakamura",
    "O'Brien",
    "Şahin",
    "Novák",
    "Rossi",
    "Andersson",
    "Ferreira",
    "Nguyễn",
    "王",
    "Иванов",
    "Smith",
    "Haddad",
    "Van der Berg",
    "Lefèvre",
]
CITIES = [
    "Lisboa",
    "München",
    "Zürich",
    "Kraków",
    "São Paulo",
    "Malmö",
    "Reykjavík",
    "東京",
    "Zagreb",
    None,
]
PRODUCTS = [
    "Widget",
    "Gadget",
    "Sprocket",
    "Gizmo",
    "Doohickey",
    "Thingamajig",
    "Whatsit",
    "Contraption",
]
ADJECTIVES = [
    "Deluxe",
    "Mini",
    "Pro",
    "Eco",
    "Ultra",
    "Classic",
    "Smart",
    "Rugged",
    "Café ☕",
    "Snow ❄",
]


def build(path: Path = SAMPLE) -> None:
    """Write the sample database to `path`, replacing it."""
    rng = random.Random(20261122)
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE customers (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, city TEXT,
            signup_date DATE NOT NULL, is_active BOOLEAN NOT NULL, credit_limit DECIMAL(12,2)
        );
        CREATE TABLE products (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,
            unit_price DECIMAL(10,2) NOT NULL, weight_kg REAL, discontinued BOOLEAN NOT NULL
        );
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
            ordered_at TIMESTAMP NOT NULL, shipped_at TIMESTAMP, status TEXT NOT NULL,
            total DECIMAL(12,2) NOT NULL, note TEXT, updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE order_items (
            order_id INTEGER NOT NULL REFERENCES orders(id), line INTEGER NOT NULL,
            product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
            unit_price DECIMAL(10,2) NOT NULL, PRIMARY KEY (order_id, line)
        );
        """
    )
    start = dt.date(2022, 1, 1)
    customers = []
    for cid in range(1, 2001):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = (
            None
            if rng.random() < 0.05
            else f"{first}.{last}.{cid}@example.com".lower().replace(" ", "")
        )
        limit = None if rng.random() < 0.1 else str(Decimal(rng.randrange(50_000, 2_000_000)) / 100)
        signup = start + dt.timedelta(days=rng.randrange(0, 900))
        customers.append(
            (
                cid,
                f"{first} {last}",
                email,
                rng.choice(CITIES),
                signup.isoformat(),
                rng.random() > 0.15,
                limit,
            )
        )
    db.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?,?)", customers)
    products = []
    for pid in range(1, 201):
        price = Decimal(rng.randrange(199, 99_999)) / 100
        weight = None if rng.random() < 0.1 else round(rng.uniform(0.05, 40.0), 3)
        products.append(
            (
                pid,
                f"{rng.choice(ADJECTIVES)} {rng.choice(PRODUCTS)} {pid}",
                rng.choice(PRODUCTS).lower(),
                str(price),
                weight,
                rng.random() < 0.08,
            )
        )
    db.executemany("INSERT INTO products VALUES (?,?,?,?,?,?)", products)
    prices = {p[0]: Decimal(p[3]) for p in products}
    orders, items = [], []
    epoch = dt.datetime(2023, 1, 1, 8, 0, 0)
    for oid in range(1, 5001):
        ordered = epoch + dt.timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        shipped = (
            None if rng.random() < 0.2 else ordered + dt.timedelta(hours=rng.randrange(2, 240))
        )
        status = (
            "open"
            if shipped is None
            else rng.choice(["shipped", "shipped", "delivered", "returned"])
        )
        total = Decimal(0)
        for line in range(1, rng.randrange(1, 6) + 1):
            pid = rng.randrange(1, 201)
            quantity = rng.randrange(1, 10)
            total += prices[pid] * quantity
            items.append((oid, line, pid, quantity, str(prices[pid])))
        note = rng.choice(
            [None, None, None, "gift wrap 🎁", "leave at the door", "Rückruf erbeten", "«urgent»"]
        )
        updated = (shipped or ordered) + dt.timedelta(minutes=rng.randrange(0, 600))
        orders.append(
            (
                oid,
                rng.randrange(1, 2001),
                ordered.isoformat(sep=" "),
                shipped.isoformat(sep=" ") if shipped else None,
                status,
                str(total),
                note,
                updated.isoformat(sep=" "),
            )
        )
    db.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)", orders)
    db.executemany("INSERT INTO order_items VALUES (?,?,?,?,?)", items)
    db.commit()
    db.execute("VACUUM")
    db.close()


if __name__ == "__main__":
    build()
    print(f"wrote {SAMPLE}")
