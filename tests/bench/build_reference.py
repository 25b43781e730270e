"""Reference for bench:build: item-item cosine top-K with numpy/scipy on the generator's CSV.

usage: build_reference.py EVENTS_CSV OUT_TSV K MIN_SUPPORT HALF_LIFE_DAYS

Computes what `elevens build --algorithm cosine` computes with its caps off: per event weight
type_weight * 0.5 ** (age / half_life) (age counted back from the newest event), summed per (user, item);
cosine of the item columns from the sparse product X^T X; pairs need MIN_SUPPORT co-occurring users (B^T B of
the binary matrix); the top K per item by score, ties by lower item index. CSV parsing is part of the time.
Writes one line per item with neighbours: item_id TAB comma-separated neighbour ids, best first.
"""

import sys
import time

import numpy as np
import scipy.sparse as sp

TYPE_WEIGHTS = {b"view": 1.0, b"fav": 2.0, b"cart": 3.0, b"purchase": 5.0, b"click": 1.0}
DAY_MS = 86_400_000.0


def factorize(column):
    """Dense codes in first-seen order and the distinct values (a dict beats sorting strings with np.unique)."""
    codes = {}
    index = np.fromiter((codes.setdefault(v, len(codes)) for v in column.tolist()), dtype=np.int64, count=len(column))
    return np.array(list(codes), dtype=object), index


def read_events(path):
    """user_id, item_id, type, timestamp columns of event_id,user_id,item_id,type,timestamp,session_id."""
    fields = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4), dtype="S32")
    users, user_idx = factorize(fields[:, 0])
    items, item_idx = factorize(fields[:, 1])
    types, type_idx = factorize(fields[:, 2])
    timestamps = fields[:, 3].astype(np.float64)
    type_weight = np.array([TYPE_WEIGHTS.get(t, 0.0) for t in types])[type_idx]
    return users, items, user_idx, item_idx, type_weight, timestamps


def main():
    path, out_path = sys.argv[1], sys.argv[2]
    k, min_support, half_life_days = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    started = time.perf_counter()
    users, items, user_idx, item_idx, type_weight, timestamps = read_events(path)
    parsed = time.perf_counter()

    keep = type_weight > 0
    age_days = (timestamps.max() - timestamps[keep]) / DAY_MS
    weight = type_weight[keep] * np.power(0.5, age_days / half_life_days)
    x = sp.csr_matrix((weight, (user_idx[keep], item_idx[keep])), shape=(len(users), len(items)))
    x.sum_duplicates()
    binary = x.copy()
    binary.data[:] = 1.0
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    dot = (x.T.tocsr() @ x).tocsr()
    support = (binary.T.tocsr() @ binary).tocsr()
    dot.sort_indices()
    support.sort_indices()
    multiplied = time.perf_counter()

    lines = []
    for i in range(len(items)):
        start, end = dot.indptr[i], dot.indptr[i + 1]
        cols = dot.indices[start:end]
        # Both products have the same sparsity pattern and sorted indices, so their rows line up.
        supp = support.data[support.indptr[i] : support.indptr[i + 1]]
        mask = (cols != i) & (supp >= min_support)
        cols = cols[mask]
        if len(cols) == 0:
            continue
        scores = dot.data[start:end][mask] / (norms[i] * norms[cols])
        positive = scores > 0
        cols, scores = cols[positive], scores[positive]
        if len(cols) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            cols, scores = cols[top], scores[top]
        order = np.lexsort((cols, -scores))
        lines.append(items[i].decode() + "\t" + ",".join(items[c].decode() for c in cols[order]))
    with open(out_path, "w") as out:
        out.write("\n".join(lines) + "\n")
    finished = time.perf_counter()
    print(
        f"reference: {len(timestamps)} events, {len(users)} users, {len(items)} items; "
        f"parse {parsed - started:.1f}s, products {multiplied - parsed:.1f}s, top-K {finished - multiplied:.1f}s"
    )


if __name__ == "__main__":
    main()
