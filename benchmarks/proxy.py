"""hybrid serve vs LiteLLM's proxy, in front of the same instant fake upstream, in one interleaved run.

    python benchmarks/proxy.py [--rounds 3] [--requests 150] [--seconds 3] [--litellm-venv PATH]

The upstream is a minimal Anthropic Messages API (raw ASGI on uvicorn, answers at once) in its own
process. Both proxies take OpenAI chat-completions requests and call it through their Anthropic
backends: hybrid with model ``hybrid:cloud`` (classifier, policy, trace to SQLite, all on), LiteLLM
with an ``anthropic/...`` model and ``api_base``. Each round measures, in rotating order, the
upstream called directly and each proxy: one request at a time (latency), then 32 at once for a
few seconds (requests/s). Added latency = the proxy's percentile minus the direct one.

LiteLLM (``litellm[proxy]``) is installed into a separate venv the first time (``--litellm-venv``);
it is not a project dependency. Everything listens on 127.0.0.1. Prints a table; asserts nothing.

    python benchmarks/proxy.py --trace-cost [--rounds 6] [--seconds 3]

measures instead what the trace costs the server: ``hybrid serve`` with the trace on against
``hybrid --no-log serve``, the same upstream behind both, requests/s at concurrency 32 and latency at 1,
in alternating order (LiteLLM is not needed).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

LITELLM = "litellm[proxy]==1.106.12"  # 1.107+ need litellm-proxy, which the registry here lacks
FAKE_KEY = "sk-bench-5f0c2a9e81d34b7aa6e1c0d2f94b3e77"  # LiteLLM's master key too (it refuses a weak one)
MODEL = "claude-sonnet-4-6"
ANSWER = {"id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL,
          "content": [{"type": "text", "text": "Paris is the capital of France."}], "stop_reason": "end_turn",
          "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 7}}


# -- the instant upstream ---------------------------------------------------------------------
def _sse(answer: dict) -> bytes:
    text = answer["content"][0]["text"]
    events = [
        ("message_start", {"type": "message_start", "message": {**answer, "content": [], "stop_reason": None,
                                                                 "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 7}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


STREAMED = _sse(ANSWER)
WHOLE = json.dumps(ANSWER).encode()


async def upstream(scope, receive, send) -> None:
    """An Anthropic Messages API that answers every request at once, whole or streamed (run with ``--lifespan off``)."""
    raw, more = b"", True
    while more:
        message = await receive()
        raw += message.get("body", b"")
        more = message.get("more_body", False)
    stream = b'"stream":true' in raw.replace(b" ", b"")
    body, kind = (STREAMED, b"text/event-stream") if stream else (WHOLE, b"application/json")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answers(port: int, path: str, body: dict, proc: subprocess.Popen, log: Path,
                       timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited early; its log ({log}) ends:\n{log.read_text()[-3000:]}")
        try:
            status, _ = Client(port).post(path, body)
            if status == 200:
                return
        except (OSError, RuntimeError):  # not listening yet, or not ready to answer
            pass
        time.sleep(0.5)
    raise SystemExit(f"nothing answered 200 on 127.0.0.1:{port}{path} within {timeout_s:g} s")


class Client:
    """One kept-alive connection (http.client: the cheapest client, so the proxies are what is timed)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: dict) -> tuple[int, float]:
        data = json.dumps(body).encode()
        t0 = time.perf_counter()
        self.conn.request("POST", path, data, {"content-type": "application/json", "x-api-key": FAKE_KEY,
                                                "authorization": f"Bearer {FAKE_KEY}",
                                                "anthropic-version": "2023-06-01"})
        response = self.conn.getresponse()
        response_body = response.read()
        elapsed = time.perf_counter() - t0
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {response_body[:200]!r}")
        return response.status, elapsed


# -- the three targets ----------------------------------------------------------------------------
def targets(up: int, hybrid: int, litellm: int) -> dict[str, tuple[int, str, dict]]:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    return {
        "direct": (up, "/v1/messages", {"model": MODEL, "max_tokens": 32, "messages": messages}),
        "hybrid": (hybrid, "/v1/chat/completions", {"model": "hybrid:cloud", "max_tokens": 32, "messages": messages}),
        "litellm": (litellm, "/v1/chat/completions", {"model": "claude", "max_tokens": 32, "messages": messages}),
    }


def one_at_a_time(port: int, path: str, body: dict, n: int) -> list[float]:
    client = Client(port)
    return [client.post(path, body)[1] for _ in range(n)]


def many_at_once(port: int, path: str, body: dict, concurrency: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        client, mine = Client(port), []
        while time.perf_counter() < stop:
            mine.append(client.post(path, body)[1])
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - t0), latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


# -- starting the servers -----------------------------------------------------------------------
def ensure_litellm(venv: Path) -> Path:
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        print(f"installing {LITELLM} into {venv} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LITELLM], check=True)
    return exe


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def serve_hybrid(port: int, env: dict[str, str], log: Path, *, trace: bool = True) -> subprocess.Popen:
    flags = [] if trace else ["--no-log"]
    return start([sys.executable, "-m", "hybrid.cli", *flags, "serve", "--port", str(port)], env, log)


def hybrid_env(base_env: dict[str, str], home: Path, upstream_port: int) -> dict[str, str]:
    return {**base_env, "HYBRID_HOME": str(home), "ANTHROPIC_API_KEY": FAKE_KEY,
            "HYBRID_BACKENDS__SONNET__BASE_URL": f"http://127.0.0.1:{upstream_port}",
            "HYBRID_BACKENDS__SONNET__MAX_RETRIES": "0", "HYBRID_CACHE__ENABLED": "false"}


def start_upstream(port: int, base_env: dict[str, str], log: Path) -> subprocess.Popen:
    return start([sys.executable, "-m", "uvicorn", "--port", str(port), "--log-level", "warning", "--no-access-log",
                  "--lifespan", "off", "proxy:upstream"], {**base_env, "PYTHONPATH": str(Path(__file__).parent)}, log)


def cpu_seconds(stat: str) -> float | None:
    """User + system CPU seconds so far of the process or thread whose /proc stat file is ``stat``
    (``/proc/PID/stat``, ``/proc/self/task/TID/stat``); None where there is no /proc."""
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def trace_cost(args: argparse.Namespace, tmp: Path, base_env: dict[str, str]) -> None:
    """``hybrid serve`` with the trace on vs ``--no-log``, in front of the same instant upstream."""
    up, on, off = free_port(), free_port(), free_port()
    procs = [start_upstream(up, base_env, tmp / "upstream.log"),
             serve_hybrid(on, hybrid_env(base_env, tmp / "on", up), tmp / "on.log"),
             serve_hybrid(off, hybrid_env(base_env, tmp / "off", up), tmp / "off.log", trace=False)]
    try:
        body = targets(up, on, on)["hybrid"][2]
        wait_until_answers(up, "/v1/messages", targets(up, on, on)["direct"][2], procs[0], tmp / "upstream.log")
        plan = {"trace on": on, "--no-log": off}
        for (name, port), proc in zip(plan.items(), procs[1:]):
            wait_until_answers(port, "/v1/chat/completions", body, proc, tmp / f"{'on' if port == on else 'off'}.log")
            one_at_a_time(port, "/v1/chat/completions", body, 30)  # warm-up
        rps: dict[str, list[float]] = {n: [] for n in plan}
        seq: dict[str, list[float]] = {n: [] for n in plan}
        cpu: dict[str, list[float]] = {n: [] for n in plan}  # the server's CPU per request under load
        pids = {"trace on": procs[1].pid, "--no-log": procs[2].pid}
        for r in range(args.rounds):
            for name in (list(plan) if r % 2 == 0 else list(plan)[::-1]):
                seq[name] += one_at_a_time(plan[name], "/v1/chat/completions", body, args.requests)
                before = cpu_seconds(f"/proc/{pids[name]}/stat") or 0.0
                throughput, latencies = many_at_once(plan[name], "/v1/chat/completions", body, args.concurrency,
                                                     args.seconds)
                rps[name].append(throughput)
                cpu[name].append(((cpu_seconds(f"/proc/{pids[name]}/stat") or 0.0) - before) / len(latencies))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
        ratios = [a / b for a, b in zip(rps["trace on"], rps["--no-log"])]
        print(f"\n{args.rounds} alternating rounds; load average {os.getloadavg()[0]:.1f}")
        print(f"{'':28}{'trace on':>10}{'--no-log':>10}{'on / off':>10}")
        med = {n: statistics.median(v) for n, v in rps.items()}
        print(f"{f'requests/s at c={args.concurrency}':28}{med['trace on']:>10.0f}{med['--no-log']:>10.0f}"
              f"{med['trace on'] / med['--no-log']:>10.0%}")
        per = {n: statistics.median(v) * 1000 for n, v in cpu.items()}
        print(f"{'server CPU per request (ms)':28}{per['trace on']:>10.2f}{per['--no-log']:>10.2f}"
              f"{per['trace on'] / per['--no-log']:>10.2f}")
        p50 = {n: pct(v, 50) * 1000 for n, v in seq.items()}
        print(f"{'p50 latency at c=1 (ms)':28}{p50['trace on']:>10.2f}{p50['--no-log']:>10.2f}"
              f"{p50['trace on'] / p50['--no-log']:>10.2f}")
        print(f"\nthroughput with the trace on, per round: {', '.join(f'{x:.0%}' for x in ratios)} "
              f"(median {statistics.median(ratios):.0%}; goal >= 90%)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=150, help="sequential requests per target per round")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of 32-at-once load per target per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--litellm-venv", type=Path, default=Path(tempfile.gettempdir()) / "hybrid-bench-litellm")
    parser.add_argument("--trace-cost", action="store_true", help="hybrid serve with the trace on vs --no-log")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hybrid-proxy-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("HYBRID_", "ANTHROPIC_"))}
    if args.trace_cost:
        try:
            trace_cost(args, tmp, base_env)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    litellm_exe = ensure_litellm(args.litellm_venv)
    up, hy, ll = free_port(), free_port(), free_port()
    procs = [start_upstream(up, base_env, tmp / "upstream.log"),
             serve_hybrid(hy, hybrid_env(base_env, tmp / "home", up), tmp / "hybrid.log")]
    config = tmp / "litellm.yaml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "model_list": [{"model_name": "claude", "litellm_params": {
            "model": f"anthropic/{MODEL}", "api_base": f"http://127.0.0.1:{up}", "api_key": FAKE_KEY}}],
        "litellm_settings": {"telemetry": False, "drop_params": True},
        "general_settings": {"master_key": FAKE_KEY}}))
    litellm_env = {**base_env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    procs.append(start([str(litellm_exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(ll)],
                       litellm_env, tmp / "litellm.log"))
    try:
        plan = targets(up, hy, ll)
        for i, (name, (port, path, body)) in enumerate(plan.items()):
            wait_until_answers(port, path, body, procs[i], tmp / f"{['upstream', 'hybrid', 'litellm'][i]}.log")
        seq: dict[str, list[float]] = {n: [] for n in plan}
        conc: dict[str, list[float]] = {n: [] for n in plan}
        rps: dict[str, list[float]] = {n: [] for n in plan}
        for name, (port, path, body) in plan.items():  # warm-up
            one_at_a_time(port, path, body, 20)
        names = list(plan)
        for r in range(args.rounds):
            order = names[r % 3:] + names[:r % 3]
            for name in order:
                port, path, body = plan[name]
                seq[name] += one_at_a_time(port, path, body, args.requests)
                throughput, latencies = many_at_once(port, path, body, args.concurrency, args.seconds)
                rps[name].append(throughput)
                conc[name] += latencies
            print(f"round {r + 1}/{args.rounds} done", flush=True)
        report(seq, conc, rps, args)
        rows = trace_rows(tmp / "home" / "data" / "trace.db")
        print(f"\nhybrid trace: {rows} requests logged to SQLite (trace on).")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)


def trace_rows(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM requests WHERE status = 'done'").fetchone()[0]


def report(seq: dict[str, list[float]], conc: dict[str, list[float]], rps: dict[str, list[float]], args) -> None:
    ms = 1000.0
    print(f"\n{args.rounds} interleaved rounds; {args.requests} sequential requests and {args.seconds:g} s at "
          f"concurrency {args.concurrency} per target per round. Added latency = proxy percentile - direct.")
    print(f"{'':34}{'hybrid':>10}{'LiteLLM':>10}{'hybrid/LiteLLM':>16}")
    goals = {}
    for label, data in (("c=1", seq), (f"c={args.concurrency}", conc)):
        for q in (50, 95, 99):
            direct = pct(data["direct"], q)
            h, li = pct(data["hybrid"], q) - direct, pct(data["litellm"], q) - direct
            print(f"{f'added p{q} at {label} (ms)':34}{h * ms:>10.2f}{li * ms:>10.2f}{h / li:>16.2f}")
            goals[(label, q)] = h / li
    med = {n: statistics.median(v) for n, v in rps.items()}
    print(f"{f'requests/s at c={args.concurrency}':34}{med['hybrid']:>10.0f}{med['litellm']:>10.0f}"
          f"{med['hybrid'] / med['litellm']:>16.2f}")
    print(f"{'(direct upstream: p50 c=1 ms, req/s)':34}{pct(seq['direct'], 50) * ms:>10.2f}{med['direct']:>10.0f}")
    print(f"\ngoal: added p50 at c=1 <= 0.5x LiteLLM: {goals[('c=1', 50)]:.2f}x "
          f"({'met' if goals[('c=1', 50)] <= 0.5 else 'NOT met'}); "
          f">= 2x its requests/s at c={args.concurrency}: {med['hybrid'] / med['litellm']:.2f}x "
          f"({'met' if med['hybrid'] / med['litellm'] >= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
