"""Real, labelled text data vendored for the demo, tests and benchmarks (see NOTICE.md)."""

import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
_URL = re.compile(r"https?://\S+|\bwww\.\S+|\b\w+\.(?:ly|in|co|com|gd|st|me)/\S*")


def strip_urls(text: str) -> str:
    """Remove links: the outlets' URL shorteners would otherwise give each topic away."""
    return " ".join(_URL.sub(" ", text).split())


def health_tweets(*, without_urls: bool = False) -> pd.DataFrame:
    """UCI Health News in Twitter: 63k tweets from 16 outlets; columns ``outlet``, ``text``."""
    df = pd.read_csv(HERE / "healthtweets.csv.gz", dtype=str, keep_default_na=False)
    if without_urls:
        df["text"] = df["text"].map(strip_urls)
        df = df[df["text"] != ""].reset_index(drop=True)
    return df


def chatterbot() -> pd.DataFrame:
    """chatterbot-corpus English: ~2k prompt/reply pairs in 21 categories (``category``,
    ``prompt``, ``reply``)."""
    return pd.read_csv(HERE / "chatterbot.csv.gz", dtype=str, keep_default_na=False)
