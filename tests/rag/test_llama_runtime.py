"""How llama.cpp runs on a CPU: the decision logic, with faked CPU flags and probe
children that really crash (a segfault in a real process), and the F16 choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.models.llama_runtime import (
    Probe,
    _exit_detail,
    choose_runtime,
    cpu_flags,
    describe_cpu,
)

SAPPHIRE_RAPIDS = frozenset("fpu sse2 avx2 fma f16c avx512f avx512_bf16 amx_tile amx_int8".split())
ZEN4 = frozenset("fpu sse2 avx2 fma f16c avx512f avx512_bf16".split())
SEGFAULT = "import ctypes; ctypes.string_at(0)"
FINE = (
    "import json; print(json.dumps({'prefill_tps': 300.0, 'decode_tps': 80.0, 'tokens': [1, 2]}))"
)


class ChildProbe:
    """Runs a real child per probe: one that segfaults where the fast path is on and
    ``crash_fast`` says so (as llama.cpp's AMX kernel does), else one that reports."""

    def __init__(self, crash_fast: bool, crash_plain: bool = False) -> None:
        self.crash_fast = crash_fast
        self.crash_plain = crash_plain
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, model: Path, extra: bool, threads: int) -> Probe:
        self.calls.append((model.name, extra))
        crash = self.crash_fast if extra else self.crash_plain
        done = subprocess.run(
            [sys.executable, "-c", SEGFAULT if crash else FINE], capture_output=True, text=True
        )
        if done.returncode != 0:
            return Probe(False, _exit_detail(done.returncode, done.stderr))
        got = json.loads(done.stdout)
        return Probe(True, "ok", got["prefill_tps"], got["decode_tps"], tuple(got["tokens"]))


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + bytes(64))
    return path


def test_a_crashing_fast_path_falls_back_and_says_why(model: Path, tmp_path: Path) -> None:
    probe = ChildProbe(crash_fast=True)
    runtime = choose_runtime(
        model, tmp_path / "cache", 2, f16=False, flags=SAPPHIRE_RAPIDS, probe=probe
    )
    assert runtime.extra_buffers is False
    assert "SIGSEGV" in runtime.reason and "crashed" in runtime.reason
    assert "AMX" in runtime.cpu and runtime.prefill_tps == 300.0
    assert probe.calls == [("tiny.gguf", True), ("tiny.gguf", False)]


def test_a_working_fast_path_is_kept(model: Path, tmp_path: Path) -> None:
    probe = ChildProbe(crash_fast=False)
    runtime = choose_runtime(model, tmp_path / "cache", 2, f16=False, flags=ZEN4, probe=probe)
    assert runtime.extra_buffers is True and "work" in runtime.reason
    assert probe.calls == [("tiny.gguf", True)]


def test_the_decision_is_cached_per_cpu_model_and_version(model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = ChildProbe(crash_fast=True)
    choose_runtime(model, cache, 2, f16=False, flags=SAPPHIRE_RAPIDS, probe=first, version="1")
    again = ChildProbe(crash_fast=False)  # would decide otherwise: must not be asked
    cached = choose_runtime(
        model, cache, 2, f16=False, flags=SAPPHIRE_RAPIDS, probe=again, version="1"
    )
    assert cached.extra_buffers is False and again.calls == []
    # Another CPU, another llama.cpp build or a changed model file: measured afresh.
    for changed in (
        {"flags": ZEN4, "version": "1"},
        {"flags": SAPPHIRE_RAPIDS, "version": "2"},
    ):
        fresh = ChildProbe(crash_fast=False)
        runtime = choose_runtime(model, cache, 2, f16=False, probe=fresh, **changed)  # type: ignore[arg-type]
        assert runtime.extra_buffers is True and fresh.calls
    model.write_bytes(b"GGUF" + bytes(65))
    fresh = ChildProbe(crash_fast=True)
    choose_runtime(model, cache, 2, f16=False, flags=SAPPHIRE_RAPIDS, probe=fresh, version="1")
    assert fresh.calls


def test_a_model_that_crashes_either_way_is_a_clear_error(model: Path, tmp_path: Path) -> None:
    probe = ChildProbe(crash_fast=True, crash_plain=True)
    with pytest.raises(ModelError, match=r"cannot run .*tiny.gguf.*SIGSEGV.*SIGSEGV"):
        choose_runtime(model, tmp_path / "cache", 2, f16=False, flags=ZEN4, probe=probe)


class Speeds:
    """A probe reporting given speeds and tokens per file (the F16 comparison's input)."""

    def __init__(self, table: dict[str, Probe]) -> None:
        self.table = table

    def __call__(self, model: Path, extra: bool, threads: int) -> Probe:
        return self.table["f16" if model.name.endswith(".F16.gguf") else "original"]


def _convert(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())


@pytest.mark.parametrize(
    ("f16", "kept", "why"),
    [
        (Probe(True, "ok", 550.0, 50.0, (1, 2)), True, "F16 copy"),
        (Probe(True, "ok", 550.0, 50.0, (1, 3)), False, "other tokens"),
        (Probe(True, "ok", 320.0, 50.0, (1, 2)), False, "not faster"),
        (Probe(False, "killed by SIGSEGV"), False, "SIGSEGV"),
    ],
)
def test_an_f16_copy_is_kept_only_when_it_answers_the_same_and_faster(
    model: Path, tmp_path: Path, f16: Probe, kept: bool, why: str
) -> None:
    original = Probe(True, "ok", 300.0, 80.0, (1, 2))
    probe = Speeds({"original": original, "f16": f16})
    cache = tmp_path / "cache"
    runtime = choose_runtime(model, cache, 2, flags=ZEN4, probe=probe, convert=_convert)
    assert why in runtime.weights_reason
    copies = list((cache / "gguf").glob("*.F16.gguf"))
    if kept:
        assert runtime.weights is not None and Path(runtime.weights) in copies
        assert runtime.prefill_tps == 550.0
    else:
        assert runtime.weights is None and copies == []


def test_cpu_flags_read_x86_and_arm(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_tile\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd sve\n")
    assert cpu_flags(x86) == {"fpu", "avx2", "amx_tile"}
    assert describe_cpu(cpu_flags(arm)) == "NEON, SVE"
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_use_extra_buffers_sets_llama_cpp_defaults_without_stacking() -> None:
    code = (
        "from rag.models.llama_runtime import use_extra_buffers\n"
        "import llama_cpp.llama_cpp as lib\n"
        "use_extra_buffers(False); a = lib.llama_model_default_params().use_extra_bufts\n"
        "use_extra_buffers(True); b = lib.llama_model_default_params().use_extra_bufts\n"
        "use_extra_buffers(False); c = lib.llama_model_default_params().use_extra_bufts\n"
        "print(a, b, c, lib.llama_model_default_params.rag_original.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "False", "llama_model_default_params"]
