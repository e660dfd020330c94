"""Realistic chat text for the synthetic engine, benchmarks and screenshots (never shown in a real chat).

Questions people ask a local model, answers in Markdown with headings, lists, tables and fenced code (what
makes the chat view's renderer work), and reasoning in gpt-oss's own style ("The user asks… We need to…").
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.types import Message, Role


@dataclass(frozen=True, slots=True)
class Exchange:
    question: str
    reasoning: str
    answer: str


CSV_EXCHANGE = Exchange(
    question="How do I read a 20 GB CSV file in Python without running out of memory? I only need a few "
    "columns and the total per customer.",
    reasoning="The user wants to process a 20 GB CSV that does not fit in memory. They need a few columns and an "
    "aggregate per customer. Options: the csv module streaming row by row, pandas with usecols and chunksize, "
    "or polars' lazy scan_csv which streams and aggregates in parallel. We should show pandas chunks since it "
    "is the most familiar, mention polars as faster, and compare memory. A small table would help. Keep the "
    "code correct: groupby on each chunk, then combine the partial sums. Mention dtype to save memory.",
    answer="""## Stream it in chunks

Reading the whole file with `pd.read_csv("orders.csv")` loads all 20 GB at once. Instead, read only the columns \
you need, a million rows at a time, and combine partial totals:

```python
import pandas as pd

totals = None
for chunk in pd.read_csv(
    "orders.csv",
    usecols=["customer_id", "amount"],
    dtype={"customer_id": "int64", "amount": "float32"},
    chunksize=1_000_000,
):
    part = chunk.groupby("customer_id")["amount"].sum()
    totals = part if totals is None else totals.add(part, fill_value=0)

totals.sort_values(ascending=False).to_csv("totals.csv")
```

Memory stays at the size of one chunk (about 40 MB here), whatever the size of the file.

### Which tool to use

| approach | peak memory | speed on 20 GB |
| --- | --- | --- |
| `pd.read_csv` (whole file) | ~60 GB | fails |
| pandas with `chunksize` | ~40 MB | ~6 min |
| polars `scan_csv` (lazy) | ~300 MB | ~45 s |

- **`usecols`** skips the other columns while parsing, which is most of the saving.
- **`dtype`** avoids 64-bit floats where 32 bits are enough.
- If you can add a dependency, **polars** streams and uses every core:

```python
import polars as pl

(pl.scan_csv("orders.csv")
   .group_by("customer_id")
   .agg(pl.col("amount").sum())
   .sink_csv("totals.csv"))
```""",
)

_EXCHANGES = (
    CSV_EXCHANGE,
    Exchange(
        question="Why does my asyncio program hang when I call `requests.get` inside a coroutine?",
        reasoning="The user mixes blocking requests with asyncio. The event loop is single-threaded, so a blocking "
        "call stops every other task. Suggest httpx.AsyncClient or asyncio.to_thread. Provide an example.",
        answer="""### The event loop is blocked

`requests.get` is a *blocking* call: while it waits for the network, the whole event loop waits with it, so \
no other task runs.

Two fixes:

1. Use an async HTTP client such as `httpx`:

```python
import asyncio
import httpx

async def fetch_all(urls: list[str]) -> list[int]:
    async with httpx.AsyncClient(timeout=10) as client:
        responses = await asyncio.gather(*(client.get(u) for u in urls))
    return [r.status_code for r in responses]
```

2. Or keep `requests` and move it off the loop with `await asyncio.to_thread(requests.get, url)`.

> Rule of thumb: inside `async def`, anything that can wait must be awaited.""",
    ),
    Exchange(
        question="Can you explain what a Python decorator with arguments looks like?",
        reasoning="They ask about decorators with arguments: that is a function returning a decorator. Show "
        "a retry decorator with functools.wraps, explain the three levels briefly.",
        answer="""A decorator with arguments is a function that **returns** a decorator. Three levels:

- the outer function takes the arguments (`times=3`),
- the middle one takes the function being decorated,
- the inner one runs on every call.

```python
import functools
import time

def retry(times: int = 3, delay: float = 0.5):
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for attempt in range(1, times + 1):
                try:
                    return func(*args, **kwargs)
                except ConnectionError:
                    if attempt == times:
                        raise
                    time.sleep(delay * attempt)
        return wrapper
    return decorate

@retry(times=5)
def download(url: str) -> bytes: ...
```

`functools.wraps` keeps the original name and docstring, which tracebacks and `help()` rely on.""",
    ),
    Exchange(
        question="What's the fastest way to find duplicate files in a folder tree?",
        reasoning="Duplicate files: group by size first (cheap), then hash only candidates, possibly first hash "
        "a small prefix. Use pathlib and hashlib. Mention hard links and symlinks.",
        answer="""Compare cheap things first, so that most files are never read:

1. **Group by size**: files of different sizes cannot be equal.
2. **Hash the first 64 KB** of files that share a size.
3. **Hash the whole file** only when those match.

```python
from collections import defaultdict
from hashlib import blake2b
from pathlib import Path

def digest(path: Path, limit: int | None = None) -> str:
    h = blake2b()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            if limit and f.tell() >= limit:
                break
    return h.hexdigest()

by_size = defaultdict(list)
for p in Path("~/Pictures").expanduser().rglob("*"):
    if p.is_file() and not p.is_symlink():
        by_size[p.stat().st_size].append(p)
```

On a typical photo library this reads well under 5% of the bytes.""",
    ),
    Exchange(
        question="How should I structure a small Flask app so it doesn't become one giant file?",
        reasoning="They want project structure for Flask. Recommend application factory, blueprints, config "
        "objects, and tests with the test client. A tree diagram in a code block helps.",
        answer="""Use an **application factory** and **blueprints**. A layout that scales well:

```text
myapp/
  __init__.py      # create_app()
  config.py
  auth/
    __init__.py    # auth = Blueprint("auth", __name__)
    routes.py
  billing/
    routes.py
tests/
  test_auth.py
```

```python
from flask import Flask

def create_app(config: str = "myapp.config.Production") -> Flask:
    app = Flask(__name__)
    app.config.from_object(config)
    from myapp.auth import auth
    app.register_blueprint(auth, url_prefix="/auth")
    return app
```

Tests then build their own app with `create_app("myapp.config.Testing")`, so nothing leaks between them.""",
    ),
    Exchange(
        question="Write a SQL query that gives each customer's most recent order.",
        reasoning="Greatest-n-per-group. Use a window function ROW_NUMBER over partition by customer ordered "
        "by date desc; mention an index on (customer_id, ordered_at).",
        answer="""This is the classic *greatest-n-per-group* problem. A window function is the clearest way:

```sql
SELECT customer_id, order_id, ordered_at, total
FROM (
    SELECT o.*,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at DESC) AS rn
    FROM orders AS o
) AS ranked
WHERE rn = 1;
```

An index on `(customer_id, ordered_at DESC)` lets the database read each customer's newest row directly \
instead of sorting the whole table.""",
    ),
)

_FOLLOW_UPS = (
    "Thanks! Could you show the same thing with type hints and a short test?",
    "That works. What would change if the data lived in S3 instead of on disk?",
    "Makes sense. Is there a pitfall I should watch out for in production?",
)


def sample_conversation(n_messages: int) -> list[Message]:
    """A long chat of ``n_messages`` alternating questions and Markdown answers (with reasoning), in order."""
    messages: list[Message] = []
    i = 0
    while len(messages) < n_messages:
        exchange = _EXCHANGES[i % len(_EXCHANGES)]
        question = exchange.question if i < len(_EXCHANGES) else _FOLLOW_UPS[i % len(_FOLLOW_UPS)]
        messages.append(Message(Role.USER, question))
        if len(messages) < n_messages:
            messages.append(Message(Role.ASSISTANT, exchange.answer, exchange.reasoning))
        i += 1
    return messages


def long_markdown(min_chars: int) -> str:
    """One long Markdown answer (headings, lists, a table, several code blocks) of at least ``min_chars``."""
    parts: list[str] = []
    size = 0
    i = 0
    while size < min_chars:
        answer = _EXCHANGES[i % len(_EXCHANGES)].answer
        parts.append(answer if answer.startswith("#") else f"## Part {i + 1}\n\n{answer}")
        size += len(parts[-1]) + 2
        i += 1
    return "\n\n".join(parts)


LONG_REASONING = (
    "The user asks for a thorough walkthrough. We need to cover streaming reads, grouping, async I/O and "
    "project structure, with code for each. Let's make sure each code block is complete and runnable, keep "
    "the prose short between them, and add a table comparing the approaches. We should also mention memory "
    "limits and how to test each piece. "
)

TRAIN_EXCHANGE = Exchange(
    question="A train leaves at 9:40 and arrives at 13:05, with one 25-minute stop on the way. The line is "
    "270 km long. What is its average speed while moving?",
    reasoning="We need the moving time. Departure 9:40, arrival 13:05: that is 3 h 25 min in total. Subtract "
    "the 25-minute stop: 3 h 0 min of moving time. Distance 270 km. Average speed = 270 / 3 = 90 km/h. Check: "
    '9:40 + 3:25 = 13:05, yes. The question says "while moving", so the stop is excluded. Answer 90 km/h; '
    "also mention the average including the stop: 270 / (41/12) h ≈ 79 km/h, in case they meant that.",
    answer="""**90 km/h** while moving.

1. Total journey: 9:40 → 13:05 is **3 h 25 min**.
2. Minus the 25-minute stop: **3 h** of moving time.
3. 270 km ÷ 3 h = **90 km/h**.

Counting the stop as well, the average over the whole journey is 270 km ÷ 3.42 h ≈ **79 km/h**.""",
)
