#!/usr/bin/env python3
"""Writes the sync_decode seed corpus: postcard encodings of SyncRequest and
SyncResponse values (the harness zstd-compresses its input itself). Postcard:
unsigned ints as LEB128 varints, signed ones zigzag-encoded first, strings and
sequences length-prefixed, Option as a 0/1 byte, enums by variant index.
Run from the repository root: python3 fuzz/seedgen/sync_seeds.py"""
import os

KINDS = ["opening", "receipt", "sale", "customer_return", "supplier_return",
         "transfer_out", "transfer_in", "adjustment", "scrap"]


def uv(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def iv(n, bits=64):
    return uv((n << 1) ^ (n >> (bits - 1)) if n >= 0 else ((n << 1) ^ -1) & ((1 << bits) - 1))


def s(text):
    b = text.encode()
    return uv(len(b)) + b


def opt(text):
    return b"\x00" if text is None else b"\x01" + s(text)


def movement(seq, kind, loc, sku, qty_micro, unit_cost="12.5", lot="", price=None,
             cp=None, ref=None, reason=None, transfer=None,
             occurred_ms=1_793_584_800_000, offset_min=480, recorded_ms=1_793_584_801_000):
    return (uv(seq) + uv(KINDS.index(kind)) + s(loc) + s(sku) + s(lot) + iv(qty_micro)
            + s(unit_cost) + opt(price) + opt(cp) + opt(ref) + opt(reason) + opt(transfer)
            + iv(occurred_ms) + iv(offset_min, 16) + iv(recorded_ms))


def request(from_seq, movements, last=None, cursor=0, locations=(), time_ms=1_793_584_802_000):
    body = uv(from_seq) + uv(len(movements)) + b"".join(movements)
    body += uv(last if last is not None else from_seq + len(movements) - 1) + uv(cursor)
    body += uv(len(locations)) + b"".join(s(i) + s(n) for i, n in locations)
    return body + iv(time_ms)


def response(hwm, accepted, dups, quarantined, incoming, time_ms=1_793_584_802_000):
    body = uv(hwm) + uv(accepted) + uv(dups)
    body += uv(len(quarantined)) + b"".join(uv(q) + s(r) for q, r in quarantined)
    body += uv(len(incoming))
    for cur, tid, frm, to, sku, lot, qty, cost, sent, off in incoming:
        body += uv(cur) + s(tid) + s(frm) + s(to) + s(sku) + s(lot) + iv(qty) + s(cost) + iv(sent) + iv(off, 16)
    return body + iv(time_ms)


SEEDS = {
    "request_empty": request(1, [], last=0),
    "request_day": request(1, [
        movement(1, "opening", "BJ01/main", "TEA-1", 10_000_000, "100"),
        movement(2, "receipt", "BJ01/main", "TEA-1", 5_500_000, "120", ref="PO-1", cp="西湖茶厂"),
        movement(3, "sale", "BJ01/main", "TEA-1", -1_500_000, "106.96", price="198", cp="张三, Ltd", ref="SO-1"),
        movement(4, "customer_return", "BJ01/main", "TEA-1", 500_000, "106.96", price="198"),
        movement(5, "scrap", "BJ01/main", "茶-2", -1_000_000, "3", lot="L1", reason="broken"),
        movement(6, "adjustment", "BJ01/back", "TEA-1", -250_000, "0", reason="count"),
        movement(7, "supplier_return", "BJ01/main", "TEA-1", -1_000_000, "120", ref="RTV-1"),
    ], locations=[("main", "主仓"), ("back", "back room")]),
    "request_transfers": request(1, [
        movement(1, "opening", "BJ01/main", "TEA-1", 10_000_000, "100"),
        movement(2, "transfer_out", "BJ01/main", "TEA-1", -4_000_000, "100", cp="SH01/main", transfer="T-BJ01-2"),
        movement(3, "transfer_in", "BJ01/main", "TEA-1", 1_000_000, "12.5", cp="SH01/main", transfer="T-SH01-2"),
        movement(4, "transfer_out", "BJ01/main", "TEA-1", -1_000_000, "100", cp="BJ01/back", transfer="T-BJ01-4"),
        movement(5, "transfer_in", "BJ01/back", "TEA-1", 1_000_000, "100", cp="BJ01/main", transfer="T-BJ01-4"),
    ], cursor=3),
    "request_refused_records": request(1, [
        movement(1, "sale", "SH01/main", "TEA-1", -1_000_000),
        movement(2, "sale", "BJ01/main", "TEA-1", 1_000_000),
        movement(3, "receipt", "BJ01/main", "TEA-1", 1, "-1"),
        movement(4, "receipt", "BJ01/main", "", 1_000_000),
        movement(5, "receipt", "BJ01/main", "TEA-1", 9_223_372_036_854_775_807, "79228162514264337593543950335"),
        movement(6, "receipt", "BJ01/main", "TEA-1", 1_000_000, occurred_ms=-9_223_372_036_854_775_808, offset_min=-32768),
    ]),
    "request_gap": request(9, [movement(9, "receipt", "BJ01/main", "TEA-1", 1_000_000)], last=9),
    "response": response(7, 3, 1, [(5, "location BJ01/x: no such location")], [
        (1, "T-SH01-9", "SH01/main", "main", "TEA-1", "", 1_000_000, "80", 1_793_584_800_000, 480),
        (2, "T-SH01-10", "SH01/main", "back", "LOT-1", "L1", 5, "0.5", -1, -60),
    ]),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus-seed", "sync_decode")
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds to {os.path.normpath(out)}")
