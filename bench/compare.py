#!/usr/bin/env python3
"""Compares a peer's scores with leadq's, lead by lead.

    compare.py OUT_LEADQ.csv OUT_PEER.csv [--merges MERGES.csv] [--show N]

Both files are joined on lead_id. For the leads in both, prints the share
whose fit, engagement (|difference| <= 0.01), grade, band, priority, MQL and
SQL agree, and how many leads are in only one of the files.

leadq merges duplicate leads and rejects invalid rows; the peers do
neither. With --merges (the file written by `leadq qualify --merges`), the
figures are also given for the leads that leadq did not merge (their id is
neither a survivor nor a merged id): a merged lead carries the events and
fields of all its records, so some differences there are expected. Leads
only in the peer's file are split into merged-away ids and the rest (rows
leadq rejected).

Only the standard library is used, so any Python 3 runs it.
"""

import argparse
import csv
import sys

TOLERANCE = 0.01 + 1e-9


FIELDS = ["fit", "engagement", "grade", "band", "priority", "mql", "sql"]


def read(path):
    """lead_id -> the compared fields (other columns are dropped)."""
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        header = next(r)
        need = {"lead_id", "fit", "engagement", "grade", "priority", "mql"}
        missing = need - set(header)
        if missing:
            sys.exit(f"{path}: missing columns {', '.join(sorted(missing))}")
        id_at = header.index("lead_id")
        at = [header.index(c) if c in header else None for c in FIELDS]
        return {
            row[id_at]: {c: (row[i] if i is not None else None) for c, i in zip(FIELDS, at)}
            for row in r
            if row
        }


def read_merges(path):
    ids = set()
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            ids.add(row["survivor"])
            ids.update(x for x in row["merged_ids"].split(" ") if x)
    return ids


def as_bool(v):
    return (v or "").strip().lower() in ("true", "1", "yes")


def number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


CHECKS = [
    ("fit", lambda a, b: abs(number(a["fit"]) - number(b["fit"])) <= TOLERANCE),
    ("engagement", lambda a, b: abs(number(a["engagement"]) - number(b["engagement"])) <= TOLERANCE),
    ("grade", lambda a, b: a["grade"] == b["grade"]),
    ("band", lambda a, b: str(a.get("band")) == str(b.get("band"))),
    ("priority", lambda a, b: a["priority"] == b["priority"]),
    ("mql", lambda a, b: as_bool(a["mql"]) == as_bool(b["mql"])),
    ("sql", lambda a, b: as_bool(a.get("sql")) == as_bool(b.get("sql"))),
]


def agreement(ids, ours, theirs):
    """{check: (agreeing, disagreeing ids)} over `ids`."""
    out = {}
    for name, same in CHECKS:
        bad = [i for i in ids if not same(ours[i], theirs[i])]
        out[name] = (len(ids) - len(bad), bad)
    return out


def main():
    ap = argparse.ArgumentParser(description="Compare a peer's lead scores with leadq's.")
    ap.add_argument("leadq", help="leadq qualify output (CSV)")
    ap.add_argument("peer", help="peer output (CSV)")
    ap.add_argument("--merges", help="leadq's --merges file, to report unmerged leads separately")
    ap.add_argument("--show", type=int, default=0, help="print up to N disagreeing leads per check")
    ap.add_argument("--label", default=None, help="name of the peer in the report")
    args = ap.parse_args()

    ours = read(args.leadq)
    theirs = read(args.peer)
    merged = read_merges(args.merges) if args.merges else set()
    common = sorted(ours.keys() & theirs.keys())
    only_ours = ours.keys() - theirs.keys()
    only_theirs = theirs.keys() - ours.keys()

    label = args.label or args.peer
    print(f"### leadq vs {label}")
    print()
    print(f"- leads in leadq: {len(ours):,}; in peer: {len(theirs):,}; in both: {len(common):,}")
    print(f"- only in leadq: {len(only_ours):,}")
    if args.merges:
        merged_away = only_theirs & merged
        print(
            f"- only in peer: {len(only_theirs):,} "
            f"({len(merged_away):,} merged into another lead by leadq, "
            f"{len(only_theirs) - len(merged_away):,} other, e.g. rows leadq rejected)"
        )
    else:
        print(f"- only in peer: {len(only_theirs):,}")
    print()

    groups = [("all common leads", common)]
    if args.merges:
        unmerged = [i for i in common if i not in merged]
        groups.append(("common leads not merged by leadq", unmerged))
        groups.append(("common leads merged by leadq", [i for i in common if i in merged]))
    results = [(title, ids, agreement(ids, ours, theirs)) for title, ids in groups]

    names = [n for n, _ in CHECKS]
    print("| leads | n | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for title, ids, res in results:
        cells = []
        for n in names:
            ok, _ = res[n]
            cells.append(f"{100.0 * ok / len(ids):.2f}%" if ids else "-")
        print(f"| {title} | {len(ids):,} | " + " | ".join(cells) + " |")
    print()

    if args.show:
        _, _, res = results[1] if len(results) > 1 else results[0]
        for n in names:
            _, bad = res[n]
            for i in bad[: args.show]:
                a, b = ours[i], theirs[i]
                print(
                    f"  {n} differs for {i}: leadq fit={a['fit']} eng={a['engagement']} "
                    f"{a['priority']} mql={a['mql']} sql={a.get('sql')} | peer fit={b['fit']} "
                    f"eng={b['engagement']} {b['priority']} mql={b['mql']} sql={b.get('sql')}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
