"""Reading speed of the MIKO release reader at the paper's size (137K posts).

Writes a release file of N posts (the MIKO train posts replicated under distinct image names),
then reads it with ``MikoReader`` and prints posts/s and the peak memory of the process, and
the time of the streaming JSON decode alone (what is left is validation).

    python benchmarks/bench_readers.py [--posts 137000]   (after `source scripts/env.sh`)
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import dump, machine  # noqa: E402
from kg_builder.core.models import PostRecord  # noqa: E402
from kg_builder.core.settings import Settings  # noqa: E402
from kg_builder.inputs.json_stream import iter_json_array  # noqa: E402
from kg_builder.inputs.readers import MikoReader  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=137_000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/readers.json"))
    args = ap.parse_args()
    base = json.loads((Settings().data_dir / "miko" / "train.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.json"
        with path.open("w", encoding="utf-8") as fh:
            fh.write("[\n")
            for i in range(args.posts):
                record = dict(base[i % len(base)])
                record["image"] = f"{i}.jpg"
                fh.write(("  " if i == 0 else ",\n  ") + json.dumps(record, ensure_ascii=False))
            fh.write("\n]\n")
        size_mb = path.stat().st_size / 1e6
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        elements = sum(1 for _ in iter_json_array(path))
        decode_s = time.perf_counter() - started
        started = time.perf_counter()
        reader = MikoReader(path)
        posts = sum(isinstance(item, PostRecord) for item in reader)
        seconds = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {machine()}")
    print(f"MIKO release file: {args.posts:,} posts, {size_mb:,.0f} MB")
    print(f"streaming JSON decode alone (one pass): {elements:,} elements in {decode_s:.1f}s")
    print(f"MikoReader (two passes, validation): {posts:,} posts in {seconds:.1f}s = "
          f"{posts / seconds:,.0f} posts/s; "
          f"peak RSS {rss_after:,.0f} MiB (before reading {rss_before:,.0f} MiB)")
    dump(args.out, {"posts": posts, "seconds": round(seconds, 2),
                    "decode_seconds": round(decode_s, 2), "file_mb": round(size_mb),
                    "peak_rss_mib": round(rss_after), "rss_before_mib": round(rss_before)})


if __name__ == "__main__":
    main()
