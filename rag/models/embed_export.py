"""The fast embedding path: the bundled sentence embedder as an int8 ONNX graph.

Built once, locally, from the model folder's own weights (nothing is downloaded):

1. ``torch.onnx.export`` of the encoder with mean pooling and L2 normalisation inside
   the graph (TorchScript exporter, opset 17);
2. onnxruntime's BERT fusions (fused attention, skip layer norm, bias GELU);
3. dynamic int8 quantisation of the weights, per output channel.

On CISI, run as :class:`rag.models.embed.OnnxEmbedder` runs it, this is 2.3x faster than
sentence-transformers on torch and loses no retrieval quality (nDCG@10 +0.005;
``bench/embed_backends.py``). ``make install`` builds it (``rag prepare``); otherwise the
first use does (about 20 s). The result is cached under
``model_cache`` in a folder keyed by a hash of the weights and of the tool versions, so
a new model or a new onnxruntime gets a new graph.

Building needs torch, transformers and ``onnx``; running needs only onnxruntime and
tokenizers. The build runs in a child process: after tracing, the traced torch module
no longer gave the same vectors (torch 2.13 / transformers 5.24), and the export's
memory must not stay in the app.

Run as ``python -m rag.models.embed_export MODEL_DIR FOLDER`` (what :func:`prepared_graph` does).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from rag.errors import ModelError

__all__ = [
    "GRAPH",
    "export_graph",
    "fuse_graph",
    "graph_folder",
    "prepared_graph",
    "quantise_graph",
    "unsupported",
]

log = logging.getLogger(__name__)

OPSET = 17
RECIPE = "bert-fused-int8-per-channel-v1"
GRAPH = "model-int8.onnx"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_SUPPORTED_TYPES = {"bert"}


def unsupported(model_dir: Path) -> str | None:
    """None when this recipe fits the model (a BERT encoder with mean pooling), else why not."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError) as exc:
        return f"cannot read the model's configuration: {exc}"
    if config.get("model_type") not in _SUPPORTED_TYPES:
        return f"model type {config.get('model_type')!r} is not a BERT encoder"
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        return f"pooling {sorted(modes)} is not mean pooling"
    if not any((model_dir / w).is_file() for w in _WEIGHTS):
        return "no weights file (model.safetensors or pytorch_model.bin)"
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed"
    return None


def graph_folder(model_dir: Path, cache: Path) -> Path:
    """Where the graph for these weights and these tool versions lives. The weights are
    known by size and modification time (a pip-installed model keeps both)."""
    digest = hashlib.sha256(f"{RECIPE} opset{OPSET}".encode())
    for tool in ("torch", "transformers", "onnxruntime"):
        digest.update(f" {tool}={_version(tool)}".encode())
    for name in ("config.json", *_WEIGHTS):  # by size and time: hashing 90 MB takes 0.2 s
        file = model_dir / name
        if file.is_file():
            stat = file.stat()
            digest.update(f" {name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    name = model_dir.name if model_dir.name != "model" else model_dir.parent.name
    return cache / "embedders" / f"{name}-{digest.hexdigest()[:16]}"


def prepared_graph(model_dir: Path, cache: Path) -> Path:
    """The int8 graph of ``model_dir``, built now (in a child process) if not cached yet.

    Several processes may ask at once: one builds under a file lock, the others wait."""
    folder = graph_folder(model_dir, cache)
    graph = folder / GRAPH
    if graph.is_file():
        return graph
    if importlib.util.find_spec("onnx") is None:
        raise ModelError("building the ONNX embedder needs the onnx package (pip install onnx)")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not graph.is_file():
            log.warning("preparing the fast embedder for %s, once (about 15 s)", model_dir)
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "rag.models.embed_export", str(model_dir), str(folder)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0 or not graph.is_file():
                tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
                raise ModelError(f"cannot build the ONNX embedder: {' / '.join(tail)}")
            log.info("fast embedder ready in %.1f s: %s", time.perf_counter() - started, graph)
    return graph


def build(model_dir: Path, folder: Path) -> dict[str, float]:
    """Export, fuse and quantise into ``folder``/GRAPH; seconds per step. Intermediate
    graphs stay in a temporary folder; the result appears atomically."""
    warnings.simplefilter("ignore")  # the tracer's and the quantiser's advice, every build
    logging.getLogger().setLevel(logging.ERROR)
    folder.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        plain, fused, quantised = (Path(tmp) / n for n in ("plain.onnx", "fused.onnx", GRAPH))
        for step, fn in (
            ("export", lambda: export_graph(model_dir, plain)),
            ("fuse", lambda: fuse_graph(model_dir, plain, fused)),
            ("quantise", lambda: quantise_graph(fused, quantised)),
        ):
            started = time.perf_counter()
            fn()
            seconds[step] = round(time.perf_counter() - started, 2)
        os.replace(quantised, folder / GRAPH)
    meta = {"model": str(model_dir), "recipe": RECIPE, "seconds": seconds}
    (folder / "build.json").write_text(json.dumps(meta, indent=1))
    return seconds


def export_graph(model_dir: Path, out: Path) -> None:
    """The encoder, mean pooling and L2 normalisation as one ONNX graph."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(
        str(model_dir), attn_implementation="eager", local_files_only=True
    ).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            # Keywords: transformers 5's BertModel.forward no longer takes these positionally.
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    ids = torch.randint(1000, 2000, (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0  # a padded row: trace the masking path that batches take
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(
            Pooled(),
            (ids, mask, torch.zeros_like(ids)),
            str(out),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def fuse_graph(model_dir: Path, source: Path, out: Path) -> None:
    """onnxruntime's BERT fusions, for this model's head count and width."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_dir / "config.json").read_text())
    fused = optimize_model(
        str(source),
        model_type="bert",
        num_heads=config["num_attention_heads"],
        hidden_size=config["hidden_size"],
        opt_level=1,
    )
    fused.save_model_to_file(str(out))


def quantise_graph(
    source: Path, out: Path, weight_type: str = "QInt8", per_channel: bool = True
) -> None:
    """Dynamic quantisation: int8 weights (per output channel by default), activations
    quantised per call."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        source,
        out,
        weight_type=QuantType[weight_type],
        per_channel=per_channel,
        # Fused ops (Attention, SkipLayerNormalization) defeat shape inference of their outputs.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


if __name__ == "__main__":
    from rag.privacy import lock_down

    lock_down()
    print(json.dumps(build(Path(sys.argv[1]), Path(sys.argv[2]))))
