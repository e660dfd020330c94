"""History-scale benchmark: the sidebar list, search and opening a long conversation on a generated history.

    .venv/bin/python bench/history_scale.py [--db PATH] [--conversations 10000] [--messages 1000000]
                                            [--long 5000] [--repeat 7] [--json]

The history is made by ``HistoryStore.open`` (the real migrations), then filled with SQL in large
transactions through the real FTS triggers. Messages are random sentences over a Zipf-like vocabulary (20,000
made-up words with English and technical words among them), ids in time order across conversations; user and
assistant alternate, 30% of replies have reasoning; 1% of the conversations have a regenerated reply (two
children under one parent); one conversation has ``--long`` messages on its active path (plus one older
reply near its end). The file is reused while ``--db`` was generated with the same parameters (its
``bench_meta`` table); ``measure()`` times it. Figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.conversation import auto_title
from app.storage.database import connect
from app.storage.history import HistoryStore
from app.storage.search import match_expression, search

# The columns the generator fills (named: later schema versions add columns, with their defaults).
MESSAGE_COLUMNS = (
    "id, conversation_id, parent_id, role, content, reasoning, model, prompt_tokens, completion_tokens, "
    "tokens_per_second, ttft_s, finish_reason, status, created_at, selected_at"
)
SEED = 20261122
END = 1795305600.0  # 2026-11-22 UTC: the newest message
YEAR = 365 * 86400.0
VOCABULARY, POOL = 20_000, 200_000  # generated words; sentences the messages are drawn from
BATCH = 20_000  # messages per transaction
VERSION = 2  # of the generator: a history made by another is made again
COMMON_WORDS = (
    "the of and to a in is it that for you with on as this be are at or not can by but from have if we "
    "will use an your which when then so do all more one there what also"
)
TECH_WORDS = (
    "python function server memory token model cache thread socket kernel compiler pointer tensor gradient "
    "query index schema docker kubernetes latency throughput database transaction buffer parser lexer syntax "
    "variable closure iterator generator decorator exception stack heap allocator garbage mutex semaphore "
    "deadlock scheduler process container network router packet protocol encryption certificate signature "
    "hashing checksum compression archive backup snapshot replica cluster shard partition consensus leader "
    "timeout retry webhook endpoint request response header cookie session browser render layout widget "
    "button window dialog layer shader texture vertex matrix vector scalar integer float boolean string "
    "array dictionary tuple benchmark profiler debugger breakpoint logging metrics dashboard alert monitor "
    "deployment pipeline artifact release version branch commit merge rebase conflict review license "
    "dependency package module library framework plugin extension template config environment terminal "
    "shell script regex unicode encoding decoder embedding attention transformer quantization inference "
    "training dataset validation accuracy precision recall optimizer scheduler checkpoint weights prompt "
    "context sampling temperature reasoning"
)
COMMON, TECH = COMMON_WORDS.split(), TECH_WORDS.split()
RARE, ABSENT = "quasicrystal", "quetzalcoatl"  # cannot come out of the consonant-vowel word generator
CONSONANTS, VOWELS = "bdfgklmnprstvz", "aeiou"
SEARCH_TARGET_MS, OPEN_TARGET_MS = 100.0, 300.0


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def _words(rng: random.Random) -> list[str]:
    """The vocabulary by rank: English glue words first, technical words spread over the ranks."""
    syllables = [c + v for c in CONSONANTS for v in VOWELS]
    known = set(COMMON) | set(TECH)
    generated: list[str] = []
    while len(generated) < VOCABULARY:
        word = "".join(rng.choices(syllables, k=rng.randint(2, 4))) + rng.choice(["", "", "n", "s", "r"])
        if word not in known:
            known.add(word)
            generated.append(word)
    words = COMMON + generated
    tech = rng.sample(TECH, len(TECH))
    for i, word in enumerate(tech):  # log-uniform ranks from 20 to the end: a known word at every frequency
        words.insert(int(20 * (len(words) / 20) ** ((i + 0.5) / len(tech))), word)
    return words


def _layout(rng: random.Random, conversations: int, messages: int, long: int) -> list[dict]:
    """Per conversation: message times along the active path and an optional alternative reply (a branch)."""
    others = conversations - 1
    spare = messages - (long + 1) - 2 * others
    if others < 1 or spare < 0 or long < 4:
        raise SystemExit("need --conversations >= 2, --long >= 4 and about 2 messages per conversation")
    raw = [rng.lognormvariate(0, 0.7) for _ in range(others)]
    counts = [2 + int(r * spare / sum(raw)) for r in raw]
    for i in rng.sample(range(others), messages - (long + 1) - sum(counts)):
        counts[i] += 1
    branched = set(rng.sample([i for i, n in enumerate(counts) if n >= 4], max(1, others // 100)))
    layout = []
    for i, n in enumerate([*counts, long + 1]):
        is_long = i == others
        chain = n if not (is_long or i in branched) else n - 1
        gap = (60.0, 6000.0) if is_long else (5.0, 400.0)
        t = END - 200 * 86400 if is_long else rng.uniform(END - 3 * YEAR, END - chain * gap[1])
        times = [t := t + rng.uniform(*gap) for _ in range(chain)]
        alt: tuple = ()
        if chain < n:  # the first reply at j, regenerated: the older sibling is a leaf, the newer goes on
            j = max(1, chain - 10) | 1 if is_long else rng.randrange(1, chain, 2)
            alt = (j, times[j - 1] + 0.3 * (times[j] - times[j - 1]))
        layout.append({"times": times, "alt": alt})
    return layout


def generate(db: Path, params: dict) -> dict:
    """Fill a new history at ``db``; returns what measure() needs (queries, ids)."""
    started = time.perf_counter()
    rng = random.Random(SEED)
    words = _words(rng)
    cum = list(itertools.accumulate(1.0 / (r + 2.7) for r in range(len(words))))  # Zipf-Mandelbrot
    pool = [" ".join(rng.choices(words, cum_weights=cum, k=rng.randint(4, 18))) for _ in range(POOL)]
    sentence_df = Counter(w for s in pool for w in set(s.split()))
    pool = [s[0].upper() + s[1:] + "." for s in pool]
    sizes = [s.count(" ") + 1 for s in pool]
    layout = sorted(
        _layout(rng, params["conversations"], params["messages"], params["long"]), key=lambda c: c["times"][0]
    )
    # Messages get their ids in time order across conversations, as when they were written.
    events = sorted((t, ci, pos) for ci, c in enumerate(layout) for pos, t in enumerate([*c["times"], *c["alt"][1:]]))
    ids = [[0] * (len(c["times"]) + len(c["alt"][1:])) for c in layout]
    for message_id, (_t, ci, pos) in enumerate(events, 1):
        ids[ci][pos] = message_id
    pinned, rare = set(rng.sample(range(len(layout)), 5)), set(rng.sample(range(len(events)), 10))
    models = ["gpt-oss-20b", "qwen3-8b", "llama-3.1-8b"]

    HistoryStore.open(db).close()  # the schema, by the app's own migrations
    con = connect(db)
    con.execute("PRAGMA cache_size = -262144")  # 256 MiB for the load; measure() uses the app's defaults
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO conversations (id, uid, title, created_at, updated_at, model, pinned, current_leaf_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (ci + 1, f"{rng.getrandbits(128):032x}", auto_title(rng.choice(pool)), c["times"][0], c["times"][-1],
             rng.choice(models), int(ci in pinned), ids[ci][len(c["times"]) - 1])
            for ci, c in enumerate(layout)
        ),
    )  # fmt: skip
    con.execute("COMMIT")
    spread: Counter[int] = Counter()  # sentences per message, for the expected share of messages with a word

    def text(n_words: int) -> list[str]:
        parts: list[str] = []
        while n_words > 0:
            i = rng.randrange(POOL)
            parts.append(pool[i])
            n_words -= sizes[i]
        return parts

    def paragraphs(parts: list[str]) -> str:
        return "\n\n".join(" ".join(parts[k : k + 3]) for k in range(0, len(parts), 3))

    def rows(start: int, stop: int) -> Iterator[tuple]:
        for n in range(start, stop):
            t, ci, pos = events[n]
            times, alt = layout[ci]["times"], layout[ci]["alt"]
            parent_pos = alt[0] - 1 if pos == len(times) else pos - 1  # the alternative: a child of alt[0] - 1
            user = pos % 2 == 0 and pos < len(times)
            content = text(int(20 + (100 if user else 380) * rng.random() ** 2))
            reasoning = None if user or rng.random() > 0.3 else text(rng.randint(50, 300))
            spread[len(content) + len(reasoning or ())] += 1
            if n in rare:
                content.insert(rng.randrange(len(content) + 1), f"The {RARE} again.")
            reply = (models[ci % 3], rng.randint(200, 8000), sum(map(len, content)) // 4, rng.uniform(15, 90),
                     rng.uniform(0.1, 2), "stop")  # fmt: skip
            yield (
                ids[ci][pos], ci + 1, ids[ci][parent_pos] if parent_pos >= 0 else None, "user" if user else "assistant",
                paragraphs(content), reasoning and paragraphs(reasoning), *(("", *[None] * 5) if user else reply),
                "complete", t, t,
            )  # fmt: skip

    for start in range(0, len(events), BATCH):
        con.execute("BEGIN")
        con.executemany(
            f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({', '.join('?' * 15)})",
            rows(start, min(start + BATCH, len(events))),
        )
        con.execute("COMMIT")
        if (start + BATCH) % 200_000 == 0:
            log(f"  {start + BATCH:,} messages, {time.perf_counter() - started:.0f} s")

    def share(word: str) -> float:  # expected fraction of messages holding the word
        f = sentence_df[word] / POOL
        return sum(k * (1 - (1 - f) ** s) for s, k in spread.items()) / len(events)

    # The medium word's first three letters (the prefix query) also start generated words, as typing does.
    shared = [w for w in TECH if len(w) >= 5 and w[0] in CONSONANTS and w[1] in VOWELS and w[2] in CONSONANTS]
    medium = min(shared, key=lambda w: abs(share(w) - 0.01))
    common = min((w for w in TECH if len(w) >= 5), key=lambda w: abs(share(w) - 0.20))
    branched = [ci for ci, c in enumerate(layout) if c["alt"]]
    long_ci = max(branched, key=lambda ci: len(layout[ci]["times"]))
    queries = {"rare": RARE, "medium": medium, "common": common, "two words": f"{medium} {RARE}"}
    info = {
        "params": params,
        "queries": {**queries, "prefix": medium[:3], "no match": ABSENT},
        "long_id": long_ci + 1,
        # The newer reply at a branch point (switch_sibling(id, -1) shows the older) of a short and the long chat.
        "branch": {label: ids[ci][layout[ci]["alt"][0]] for label, ci in (("typical", branched[0]), ("long", long_ci))},
        "generate_s": round(time.perf_counter() - started, 1),
    }
    con.execute("CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO bench_meta VALUES ('info', ?)", (json.dumps(info),))
    con.close()  # the last connection: the WAL is checkpointed and removed
    return info


def prepare(db: Path, params: dict) -> dict:
    """The benchmark history at ``db``: reused when made with ``params``, else (re)generated."""
    if db.exists():
        con = sqlite3.connect(db)
        try:
            info = json.loads(con.execute("SELECT value FROM bench_meta WHERE key = 'info'").fetchone()[0])
        except (sqlite3.Error, TypeError):
            raise SystemExit(f"{db} exists and is not a benchmark history; not touching it") from None
        finally:
            con.close()
        if info["params"] == params:
            log(f"reusing {db} (generated in {info['generate_s']} s)")
            return info
    log(f"generating {db}: {params}")
    partial = db.with_name(f"{db.name}.{os.getpid()}.partial")  # a run beside this one makes its own
    try:
        info = generate(partial, params)
    except BaseException:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        raise
    for suffix in ("-wal", "-shm"):  # a stale WAL must not be played onto the new file
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    partial.replace(db)
    return info


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _stats(times: list[float], **extra: object) -> dict:
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2), **extra}


def measure(db_path: Path, repeat: int = 7) -> dict:
    """Time what the app reads on ``db_path`` (a generated history); {name: {median_ms, max_ms, ...}}."""
    con = sqlite3.connect(db_path)
    info = json.loads(con.execute("SELECT value FROM bench_meta WHERE key = 'info'").fetchone()[0])
    con.close()
    results: dict[str, dict] = {}
    store = HistoryStore.open(db_path, recover=False)
    results["list 200"] = _stats(_timed(lambda: store.list_conversations(limit=200), repeat))
    results["count"] = _stats(_timed(store.count_conversations, repeat))
    for label, query in info["queries"].items():
        con = connect(db_path, read_only=True)  # as search_history: a connection of its own
        cold = _timed(lambda q=query, c=con: search(c, q, limit=50), 1)[0]
        warm = _timed(lambda q=query, c=con: search(c, q, limit=50), repeat)
        sql = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?"
        matches = con.execute(sql, (match_expression(query),)).fetchone()[0]
        con.close()
        extra = {"cold_ms": round(cold, 2), "target_ms": SEARCH_TARGET_MS, "query": query, "matches": matches}
        results[f"search {label}"] = _stats(warm, **extra)
    cid = info["long_id"]
    first_paint = _timed(lambda: (store.conversation(cid), store.path(cid, last=60)), repeat)
    results["open long: first paint"] = _stats(first_paint, target_ms=OPEN_TARGET_MS)
    results["open long: path_length"] = _stats(_timed(lambda: store.path_length(cid), repeat))
    results["open long: full path"] = _stats(_timed(lambda: store.path(cid), repeat))
    for label, message_id in info["branch"].items():
        times: list[float] = []
        for _ in range(repeat):  # to the older reply and back: the history ends as it was
            start = time.perf_counter()
            older = store.switch_sibling(message_id, -1)
            middle = time.perf_counter()
            back = store.switch_sibling(older, +1)
            times += [(middle - start) * 1000, (time.perf_counter() - middle) * 1000]
            assert older != message_id and back == message_id
        results[f"switch branch ({label})"] = _stats(times)
    store.close()
    return results


def machine() -> dict:
    def proc(path: str, key: str) -> str:  # a field of /proc/cpuinfo or /proc/meminfo ("" elsewhere)
        lines = Path(path).read_text().splitlines() if Path(path).exists() else []
        return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), "")

    ram = proc("/proc/meminfo", "MemTotal").split()
    return {
        "cpu_count": os.cpu_count(), "cpu": proc("/proc/cpuinfo", "model name") or platform.processor(),
        "ram_gib": round(int(ram[0]) / 2**20, 1) if ram else None, "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/moss-history-scale.db"))
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--long", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    params = {"conversations": args.conversations, "messages": args.messages, "long": args.long, "seed": SEED}
    params["generator"] = VERSION
    info = prepare(args.db, params)
    db_mb = sum(Path(f"{args.db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{args.db}{s}").exists()) / 2**20
    results = measure(args.db, args.repeat)
    if args.json:
        report = {"machine": machine(), "params": params, "generate_s": info["generate_s"], "db_mb": round(db_mb, 1)}
        print(json.dumps({**report, "results": results}, indent=2))
        return 0
    print(f"{args.db}: {params}, generated in {info['generate_s']} s, {db_mb:.0f} MB; times in ms, {args.repeat} runs")
    print(f"{'':34}{'median':>9}{'max':>9}{'cold':>9}{'target':>8}  {'':4}  matches")
    for name, r in results.items():
        cold, target = r.get("cold_ms"), r.get("target_ms")
        worst = max(r["median_ms"], cold or 0.0)
        verdict = "" if target is None else "ok" if worst < target else "SLOW"
        label = f"{name} ({r['query']!r})" if "query" in r else name
        print(
            f"{label[:33]:34}{r['median_ms']:9.1f}{r['max_ms']:9.1f}{'' if cold is None else f'{cold:.1f}':>9}"
            f"{'' if target is None else f'<{target:.0f}':>8}  {verdict:4}  {r.get('matches', '')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
