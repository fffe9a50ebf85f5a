"""How llama.cpp runs a model on this machine: decided by measuring, then cached.

llama.cpp's CPU backend can keep weights in *extra buffer types*: AMX tiles on Intel
Xeons (Sapphire Rapids and newer) and repacked layouts for AVX2/AVX-512/NEON. They are
its fast paths, and on some CPU, model and build combinations they crash the process:
on a Xeon with AMX, llama-cpp-python 0.3.36 (built from source) segfaults in
``ggml_backend_amx_mul_mat`` on any prompt longer than one token, for Q4_0, Q4_1 and
Q8_0 weights alike. A segfault cannot be caught, so it is looked for in a child
process: the first use of a model on a machine runs a short real generation there
(a 64-token prompt, then a few tokens) with the fast paths on and, if that child dies,
again with them off. The outcome, with the speeds the child measured, is cached per
model file, llama.cpp version and CPU flags, so a new CPU, model or build is measured
afresh and an unchanged one costs nothing.

The same measurement picks the weights' format for a small model. Its first token waits
for the whole prompt to be read, and llama.cpp reads Q4_1 weights (the bundled model's)
at ~290 tokens/s on two AVX-512 cores against ~530 tokens/s for F16, while it writes the
answer faster from Q4_1 (~80 against ~50 tokens/s). So for a GGUF under 512 MB an F16
copy is made once (llama.cpp's own converter; Q4_1 -> F16 is exact) and kept when it
gives the same greedy tokens and a shorter typical question (a 600-token prompt and a
64-token answer). ``RAG_LLM_F16=off`` keeps the file as it is.

Run as ``python -m rag.models.llama_runtime probe MODEL 0|1 THREADS`` or
``... convert SOURCE TARGET`` (what the probe and the conversion do, in a child).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.errors import ModelError

__all__ = [
    "Probe",
    "Runtime",
    "choose_runtime",
    "convert_to_f16",
    "cpu_flags",
    "describe_cpu",
    "run_probe",
    "use_extra_buffers",
]

#: A probe that has not finished in this long is treated as a failure of that setting.
PROBE_TIMEOUT_S = 180.0
#: Models whose file is at most this big get an F16 copy tried (about four times larger).
F16_MAX_BYTES = 512 * 1024 * 1024
#: The typical question the formats are compared on: prompt tokens read, answer tokens.
TYPICAL_PROMPT, TYPICAL_ANSWER = 600, 64
#: CPU features that change which llama.cpp kernels run (shown to people, and recorded).
_NOTABLE = (
    ("amx_tile", "AMX"),
    ("avx512f", "AVX-512"),
    ("avx512_bf16", "AVX-512 BF16"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx2", "AVX2"),
    ("fma", "FMA"),
    ("f16c", "F16C"),
    ("asimd", "NEON"),
    ("sve", "SVE"),
)


@dataclass(frozen=True, slots=True)
class Probe:
    """What one probe child reported: whether it finished, how, and how fast."""

    ok: bool
    detail: str
    """``ok`` or why not: ``killed by SIGSEGV``, ``exit code 1: ...``, ``timed out``."""
    prefill_tps: float | None = None
    decode_tps: float | None = None
    tokens: tuple[int, ...] = ()
    """The first tokens the model wrote, greedily: two formats agree when these do."""

    def seconds(self) -> float:
        """How long the typical question would take at the measured speeds."""
        assert self.prefill_tps and self.decode_tps
        return TYPICAL_PROMPT / self.prefill_tps + TYPICAL_ANSWER / self.decode_tps


@dataclass(frozen=True, slots=True)
class Runtime:
    """How llama.cpp runs one model on this machine."""

    extra_buffers: bool
    """llama.cpp's fast weight layouts (AMX, repacking) are on."""
    reason: str
    """Why, in words a person can act on."""
    cpu: str
    """The CPU features that matter, e.g. ``AMX, AVX-512, AVX2``."""
    prefill_tps: float | None = None
    decode_tps: float | None = None
    weights: str | None = None
    """The GGUF file to load: an F16 copy of the model, or None for the model itself."""
    weights_reason: str = ""

    def describe(self) -> str:
        speed = ""
        if self.prefill_tps and self.decode_tps:
            speed = (
                f"; measured {self.prefill_tps:.0f} tokens/s reading, "
                f"{self.decode_tps:.0f} tokens/s writing"
            )
        weights = f"; {self.weights_reason}" if self.weights_reason else ""
        return f"{self.reason}{weights} (CPU: {self.cpu or 'unknown'}){speed}"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``); empty where unknown."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def describe_cpu(flags: frozenset[str]) -> str:
    return ", ".join(label for flag, label in _NOTABLE if flag in flags)


def run_probe(model: Path, extra_buffers: bool, threads: int) -> Probe:
    """Load ``model`` in a child process and generate a little; how that went."""
    command = [
        sys.executable,
        "-m",
        "rag.models.llama_runtime",
        "probe",
        str(model),
        "1" if extra_buffers else "0",
        str(threads),
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": _package_root()},
        )
    except subprocess.TimeoutExpired:
        return Probe(False, f"timed out after {PROBE_TIMEOUT_S:g} s")
    if done.returncode == 0:
        try:
            got = json.loads(done.stdout.strip().splitlines()[-1])
            return Probe(True, "ok", got["prefill_tps"], got["decode_tps"], tuple(got["tokens"]))
        except (IndexError, ValueError, KeyError, TypeError):
            return Probe(False, f"unreadable report: {done.stdout[-200:]!r}")
    return Probe(False, _exit_detail(done.returncode, done.stderr))


def _exit_detail(code: int, stderr: str) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
    return f"exit code {code}" + (f": {last.strip()[:200]}" if last else "")


def _package_root() -> str:
    root = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{existing}" if existing else root


ProbeRunner = Callable[[Path, bool, int], Probe]
Converter = Callable[[Path, Path], None]


def choose_runtime(
    model: Path,
    cache_dir: Path,
    threads: int,
    *,
    f16: bool = True,
    flags: frozenset[str] | None = None,
    probe: ProbeRunner = run_probe,
    convert: Converter | None = None,
    version: str | None = None,
) -> Runtime:
    """How to run ``model`` here: cached, or measured now (a few seconds, once).

    ``f16``: try an F16 copy of a small model (see the module's notes). ``flags``
    (default: this CPU's), ``probe``, ``convert`` and ``version`` (default: the installed
    llama-cpp-python) are parameters so the decision can be tested as on other CPUs.
    Raises :class:`ModelError` when the model cannot run at all.
    """
    flags = cpu_flags() if flags is None else flags
    version = version or _llama_version()
    key = _cache_key(model, flags, version, threads, f16)
    path = cache_dir / "llama-runtime.json"
    with _locked(cache_dir / "llama-runtime.lock"):
        cached = _read(path).get(key)
        if cached is not None and _still_there(cached):
            return Runtime(**cached)  # type: ignore[arg-type]
        runtime, measured = _measure(model, flags, threads, probe)
        if f16 and model.stat().st_size <= F16_MAX_BYTES:
            copy = cache_dir / "gguf" / f"{model.stem}-{key[:16]}.F16.gguf"
            runtime = _try_f16(runtime, measured, model, copy, threads, probe, convert)
        entries = _read(path)
        entries[key] = asdict(runtime)
        _write(path, entries)
    return runtime


def _measure(
    model: Path, flags: frozenset[str], threads: int, probe: ProbeRunner
) -> tuple[Runtime, Probe]:
    cpu = describe_cpu(flags)
    fast = probe(model, True, threads)
    if fast.ok:
        reason = "llama.cpp's fast weight layouts (AMX, repacking) work on this CPU"
        return Runtime(True, reason, cpu, fast.prefill_tps, fast.decode_tps), fast
    plain = probe(model, False, threads)
    if plain.ok:
        reason = (
            f"llama.cpp's fast weight layouts (AMX, repacking) crashed on this CPU "
            f"({fast.detail}); running without them"
        )
        return Runtime(False, reason, cpu, plain.prefill_tps, plain.decode_tps), plain
    raise ModelError(
        f"llama.cpp cannot run {model} on this machine: with its fast weight layouts "
        f"{fast.detail}; without them {plain.detail}"
    )


def _try_f16(
    runtime: Runtime,
    original: Probe,
    model: Path,
    copy: Path,
    threads: int,
    probe: ProbeRunner,
    convert: Converter | None,
) -> Runtime:
    """``runtime`` with the F16 copy as its weights, if that answers the same and faster."""
    from dataclasses import replace

    try:
        if not copy.is_file():
            (convert or convert_to_f16)(model, copy)
    except ModelError as exc:
        return replace(runtime, weights_reason=f"no F16 copy ({exc})")
    candidate = probe(copy, runtime.extra_buffers, threads)
    if not candidate.ok or candidate.tokens != original.tokens:
        why = "it wrote other tokens" if candidate.ok else candidate.detail
        copy.unlink(missing_ok=True)
        return replace(runtime, weights_reason=f"F16 weights not used ({why})")
    if candidate.seconds() >= original.seconds():
        copy.unlink(missing_ok=True)
        return replace(
            runtime,
            weights_reason=f"F16 weights not faster here "
            f"({candidate.seconds():.2f} s against {original.seconds():.2f} s a question)",
        )
    return replace(
        runtime,
        prefill_tps=candidate.prefill_tps,
        decode_tps=candidate.decode_tps,
        weights=str(copy),
        weights_reason=f"an F16 copy of the weights answers a typical question in "
        f"{candidate.seconds():.2f} s instead of {original.seconds():.2f} s",
    )


def convert_to_f16(source: Path, target: Path) -> None:
    """Write ``source``'s weights as F16 to ``target`` with llama.cpp's converter, in a
    child process (C code: a crash must not end this one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    command = [sys.executable, "-m", "rag.models.llama_runtime", "convert", str(source)]
    try:
        done = subprocess.run(
            [*command, str(partial)],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": _package_root()},
        )
    except subprocess.TimeoutExpired as exc:
        partial.unlink(missing_ok=True)
        raise ModelError(f"converting {source.name} took over {PROBE_TIMEOUT_S:g} s") from exc
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ModelError(f"converting {source.name}: {_exit_detail(done.returncode, done.stderr)}")
    os.replace(partial, target)


def _still_there(cached: dict[str, object]) -> bool:
    weights = cached.get("weights")
    return weights is None or Path(str(weights)).is_file()


def _cache_key(model: Path, flags: frozenset[str], version: str, threads: int, f16: bool) -> str:
    try:
        info = model.stat()
    except OSError as exc:
        raise ModelError(f"GGUF model not found: {model}") from exc
    identity: list[object] = [str(model.resolve()), info.st_size, info.st_mtime_ns, version]
    identity += [threads, f16, sorted(flags)]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]


def _llama_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return "unknown"


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, entries: dict[str, dict[str, object]]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One probe at a time per cache folder (a UI and a CLI starting together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def use_extra_buffers(enabled: bool) -> None:
    """Make every llama.cpp model this process loads from now on use, or not use, the
    extra buffer types. llama-cpp-python builds its model parameters from
    ``llama_model_default_params()`` inside ``Llama.__init__`` and offers no argument
    for this field, so the default itself is replaced (in a process of its own)."""
    import llama_cpp.llama_cpp as lib

    current = lib.llama_model_default_params
    original = getattr(current, "rag_original", current)

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = enabled
        return params

    defaults.rag_original = original  # type: ignore[attr-defined]
    lib.llama_model_default_params = defaults


_PROBE_TEXT = (
    "Passage 1: The quarterly report lists revenue, costs and staff numbers for each "
    "region, and explains why the northern office missed its target by four percent. "
    "Passage 2: The travel policy allows a per diem of 45 pounds at home and 70 abroad. "
)


def _probe_main(model: str, extra: str, threads: str) -> None:
    """The probe child: load, read a 256-token prompt, write 16 tokens greedily."""
    use_extra_buffers(extra == "1")
    from llama_cpp import Llama

    llm = Llama(
        model_path=model,
        n_ctx=512,
        n_threads=int(threads),
        n_threads_batch=int(threads),
        verbose=False,
        seed=0,
    )
    prompt = llm.tokenize((_PROBE_TEXT * 8).encode())[:255] + llm.tokenize(b" Answer:")[-1:]
    written: list[int] = []
    started = time.perf_counter()
    first = 0.0
    for token in llm.generate(prompt, temp=0.0):
        written.append(int(token))
        if len(written) == 1:
            first = time.perf_counter() - started
        if len(written) >= 16:
            break
    total = time.perf_counter() - started
    report = {
        "prefill_tps": len(prompt) / max(first, 1e-6),
        "decode_tps": (len(written) - 1) / max(total - first, 1e-6),
        "tokens": written[:8],
    }
    print(json.dumps(report))


def _convert_main(source: str, target: str) -> None:
    """The conversion child: ``source``'s weights as F16 in ``target``."""
    import ctypes

    import llama_cpp.llama_cpp as lib

    params = lib.llama_model_quantize_default_params()
    params.ftype = lib.LLAMA_FTYPE_MOSTLY_F16
    params.allow_requantize = True
    params.nthread = len(os.sched_getaffinity(0))
    if lib.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params)) != 0:
        sys.exit("llama.cpp's converter failed")


if __name__ == "__main__":
    if sys.argv[1] == "probe":
        _probe_main(*sys.argv[2:5])
    elif sys.argv[1] == "convert":
        _convert_main(*sys.argv[2:4])
