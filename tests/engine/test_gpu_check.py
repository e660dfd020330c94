"""tools/gpu_check, the one-command check on a GPU machine: its CPU dry run, and the kit `prepare` makes.

The GPU step itself runs only on a GPU machine (bench/README.md); these tests keep everything else about it
working between GPU sessions: the same orchestration, measuring, replica writing and reporting on the CPU build
and a tiny model, and a real `prepare` (llama-cpp-python's source from the package index, trimmed) whose source
CMake still configures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from app.engine.hardware import GIB
from tools.gpu_check import cuda_parts, report
from tools.gpu_check.build import cmake_args, unpack
from tools.gpu_check.prepare import keep

ROOT = Path(__file__).resolve().parents[2]


def gpu_check(*args: str | Path, cwd: Path = ROOT, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.gpu_check", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory, tiny_gpt_oss: Path) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("gpu-check")
    work, out = folder / "work", folder / "out"
    done = gpu_check("run", "--cpu-dry-run", "--model", tiny_gpt_oss, "--work", work, "--out", out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results: dict[str, Any] = json.loads((folder / "out" / report.JSON_NAME).read_text(encoding="utf-8"))
    results["markdown"] = (folder / "out" / report.MARKDOWN_NAME).read_text(encoding="utf-8")
    results["folder"] = folder
    return results


def test_the_dry_run_plans_the_full_size_replicas_as_the_gpu_run_will(dry_run: dict[str, Any]) -> None:
    replicas = dry_run["steps"]["replicas"]
    assert replicas["20b"]["live"] and not replicas["120b"]["live"]
    assert replicas["20b"]["size_bytes"] > 12 * 10**9 and replicas["20b"]["disk_bytes"] < 80 * 2**20
    small = dry_run["cases"]["20b-16g"]["plan"]
    assert small["fits"] and small["n_gpu_layers"] == 24 and small["n_cpu_moe"] == 0
    assert small["vram_bytes"] <= 16 * GIB
    big = dry_run["cases"]["120b-16g"]["plan"]
    assert big["fits"] and 0 < big["n_cpu_moe"] < 36 and big["vram_bytes"] <= 16 * GIB
    parts = big["parts"]
    assert parts["gpu_weights"] + parts["gpu_kv"] + parts["gpu_compute"] == big["vram_bytes"]
    assert parts["ram_weights"] > 40 * GIB  # the experts of most layers
    assert "memory" not in dry_run["cases"]["120b-16g"], "planned only: a CPU cannot hold it"


def test_the_dry_run_loads_measures_and_compares_on_the_cpu(dry_run: dict[str, Any]) -> None:
    case = dry_run["cases"]["model-cpu"]
    assert case["errors"] == {}
    assert case["load"]["n_ctx"] == case["plan"]["n_ctx"]
    buffers = case["memory"]["buffers"]
    assert buffers["device_bytes"] == 0 and buffers["by_buffer"]["CPU KV"] > 0
    assert case["memory"]["device_idle"] is None  # no GPU here: nothing pretends otherwise
    speed = case["speed"]
    assert speed["generated"] == [16] or max(speed["generated"]) <= 16  # the tiny model may end early
    assert speed["deterministic"]
    for contender in ("bare", "engine"):
        assert speed[contender]["prompt_tps"] > 0 and speed[contender]["decode_tps"] > 0
    assert speed["prompt_tokens"] == speed["engine_prompt_tokens"] >= 256
    assert case["first_token"]["prompt_tokens"] >= 1000
    turns = case["turns"]
    assert len(turns) == 3 and turns[0]["evaluated_tokens"] == turns[0]["prompt_tokens"]
    assert all(t["evaluated_tokens"] < t["prompt_tokens"] for t in turns[1:]), "later turns reuse the KV cache"


def test_the_dry_run_writes_the_tables_and_says_what_it_is(dry_run: dict[str, Any]) -> None:
    markdown = dry_run["markdown"]
    assert "A CPU dry run" in markdown
    for heading in ("## Memory: the plan against the load", "## Speed:", "## A conversation", "## Verdicts"):
        assert heading in markdown
    assert "| 120b-16g | 36/36 layers on GPU, experts of" in markdown
    assert "| model-cpu |" in markdown
    assert dry_run["mode"] == "cpu-dry-run" and dry_run["errors"] == {} and dry_run["skipped"] == {}


def test_verdicts_flag_a_plan_over_its_budget_and_a_slow_engine() -> None:
    mib = 2**20
    case = {
        "plan": {"vram_bytes": 15 * GIB, "ram_bytes": 2 * GIB},
        "machine": {"simulated": True, "gpu_total": 16 * GIB},
        "memory": {
            "device_idle": 500 * mib,
            "device_after_context": 1000 * mib,
            "device_after_reply": 500 * mib + 16 * GIB + 300 * mib,
            "buffers": {"device_bytes": 14 * GIB, "host_bytes": 2 * GIB},
        },
        "speed": {"decode_ratio": 0.95, "prompt_ratio": 1.01},
    }
    findings = report.memory_findings(case)
    assert findings["device_used_by_process"] == 16 * GIB + 300 * mib
    assert findings["cuda_context"] == 500 * mib
    assert findings["vram_error"] == pytest.approx(15 / 14 - 1, abs=1e-4)
    assert findings["fits_budget"] is False
    lines = report.verdicts({"cases": {"120b-16g": case}})
    assert any("GPU estimate +7.1%" in line and "MISSED" in line for line in lines)
    assert any("RAM estimate +0.0%" in line and line.endswith("ok)") for line in lines)
    assert any("used 16.29 GiB of the device with a 16.00 GiB plan (MISSED)" in line for line in lines)
    assert any("decoding: 0.950" in line and "MISSED" in line for line in lines)
    assert any("prompt processing: 1.010" in line and line.endswith("ok)") for line in lines)


def test_the_trim_keeps_what_a_cuda_build_needs_and_drops_the_rest() -> None:
    kept = [
        "llama_cpp/llama.py",
        "CMakeLists.txt",
        "pyproject.toml",
        "vendor/llama.cpp/CMakeLists.txt",
        "vendor/llama.cpp/cmake/common.cmake",
        "vendor/llama.cpp/src/llama.cpp",
        "vendor/llama.cpp/ggml/src/ggml.c",
        "vendor/llama.cpp/ggml/src/ggml-backend-impl.h",
        "vendor/llama.cpp/ggml/src/ggml-cuda/fattn.cu",
        "vendor/llama.cpp/ggml/src/ggml-cpu/CMakeLists.txt",
        "vendor/llama.cpp/vendor/nlohmann/json.hpp",
    ]
    dropped = [
        "docs/index.md",
        "vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf",
        "vendor/llama.cpp/docs/build.md",
        "vendor/llama.cpp/tools/ui/index.html",
        "vendor/llama.cpp/examples/simple/simple.cpp",
        "vendor/llama.cpp/ggml/src/ggml-vulkan/ggml-vulkan.cpp",
        "vendor/llama.cpp/ggml/src/ggml-metal",
        "vendor/llama.cpp/vendor/cpp-httplib/httplib.h",
        "vendor/llama.cpp/convert_hf_to_gguf.py",
    ]
    assert [path for path in kept if not keep(path)] == []
    assert [path for path in dropped if keep(path)] == []


REQUIRED = (
    "llama_cpp/__init__.py",
    "llama_cpp/llama_cpp.py",
    "vendor/llama.cpp/CMakeLists.txt",
    "vendor/llama.cpp/include/llama.h",
    "vendor/llama.cpp/src/CMakeLists.txt",
    "vendor/llama.cpp/ggml/CMakeLists.txt",
    "vendor/llama.cpp/ggml/src/ggml-cuda/CMakeLists.txt",
    "vendor/llama.cpp/ggml/src/ggml-cuda/fattn-vec.cuh",
    "vendor/llama.cpp/ggml/src/ggml-cuda/template-instances/mmq-instance-mxfp4.cu",
    "vendor/llama.cpp/ggml/src/ggml-cpu/CMakeLists.txt",
)


def test_prepare_makes_a_kit_under_the_limit_whose_source_configures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `prepare`: llama-cpp-python's source from pip's cache folder or the package index (about a minute
    the first time), trimmed; the wheels; the code's copy, which imports on its own; then CMake configures the
    trimmed llama.cpp for the CPU, and for CUDA where nvcc is installed."""
    kit = tmp_path / "gpu-kit"
    done = gpu_check("prepare", kit, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Kit ready" in done.stdout and "python3 -m tools.gpu_check run" in done.stdout
    manifest = json.loads((kit / "KIT.json").read_text(encoding="utf-8"))
    assert manifest["total_bytes"] <= 60 * 2**20
    assert manifest["selfcheck"]["ok"]
    wheels = {w.split("-")[0].lower() for w in manifest["wheels"]}
    assert wheels == {"gguf", "diskcache", "jinja2", "markupsafe", "typing_extensions"}
    assert (kit / "moss" / "app" / "engine" / "planner.py").is_file()
    assert (kit / "moss" / "app" / "devtools" / "gpt_oss_template.jinja").is_file()
    assert not (kit / "moss" / "app" / "qt").exists() and not (kit / "moss" / "app" / "ui").exists()
    (archive,) = kit.glob("llama-cpp-python-*-src.tar.gz")
    with tarfile.open(archive) as tar:
        names = {name.partition("/")[2] for name in tar.getnames()}
    assert [path for path in REQUIRED if path not in names] == []
    assert not any(name.startswith(("vendor/llama.cpp/models/", "vendor/llama.cpp/docs/")) for name in names)

    source = unpack(archive, tmp_path / "src") / "vendor" / "llama.cpp"
    configure = cmake_args(source, tmp_path / "build-cpu", cuda_arch=None)
    done = subprocess.run(configure, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    if shutil.which("nvcc") is None:
        return  # CUDA's compiler is not installed here: the CUDA configure runs where it is
    extra, found = fake_cuda(tmp_path, monkeypatch, driver=True)
    configure = cmake_args(source, tmp_path / "build-cuda", cuda_arch="90-real", extra=tuple(extra))
    done = subprocess.run(configure, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Using CMAKE_CUDA_ARCHITECTURES=90-real" in done.stdout
    assert "FlashAttention K-V type combinations: f16-f16;q4_0-q4_0;q8_0-q8_0;bf16-bf16" in done.stdout
    ninja = (tmp_path / "build-cuda" / "build.ninja").read_text(encoding="utf-8")
    assert f"{found['shim']}/lib/libcublas.so" in ninja if found["shim"] else "libcublas.so" in ninja
    assert "libcuda.so" in ninja, "linked with the driver: ggml's virtual-memory pool, as users' builds have it"


def fake_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, driver: bool) -> tuple[list[str], dict[str, Any]]:
    """cuda_parts.shim over a fake pip-wheel cuBLAS and, with ``driver``, a fake mounted driver library (empty
    files: CMake only checks that they exist), as on the GPU machine, whose CUDA has only the compiler."""
    wheel = tmp_path / "site" / "nvidia" / "cu13"
    (wheel / "include").mkdir(parents=True)
    (wheel / "lib").mkdir()
    for name in ("include/cublas_v2.h", "include/cublas_api.h", "lib/libcublas.so.13", "lib/libcublasLt.so.13"):
        (wheel / name).write_bytes(b"")
    mounted = tmp_path / "nvidia-driver" / "lib64"
    mounted.mkdir(parents=True)
    if driver:
        (mounted / "libcuda.so.1").write_bytes(b"")
    monkeypatch.setattr(cuda_parts, "wheel_roots", lambda: [wheel])
    monkeypatch.setattr(cuda_parts, "DRIVER_DIRS", (str(mounted),))
    return cuda_parts.shim(tmp_path / "work")


@pytest.mark.parametrize("driver", [True, False], ids=["driver", "no-driver"])
def test_the_cuda_shim_points_cmake_at_cublas_from_the_wheels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: bool
) -> None:
    extra, found = fake_cuda(tmp_path, monkeypatch, driver=driver)
    if found["cublas"] and "site" not in found["cublas"]:
        pytest.skip(f"this CUDA installation has its own cuBLAS ({found['cublas']}): no shim is needed")
    shim = tmp_path / "work" / "cuda-shim"
    assert (shim / "lib" / "libcublas.so").resolve() == (tmp_path / "site/nvidia/cu13/lib/libcublas.so.13").resolve()
    assert (shim / "lib" / "libcublasLt.so.13").is_symlink()
    assert (shim / "include" / "cublas_v2.h").is_symlink()
    assert f"-DCMAKE_LIBRARY_PATH={shim / 'lib'}" in extra
    assert f"-DCMAKE_CUDA_FLAGS=-I{shim / 'include'}" in extra
    assert cuda_parts.library_path(found)[0] == str(tmp_path / "site/nvidia/cu13/lib")
    if "stubs" in (found["driver"] or ""):
        return  # this CUDA installation has the driver's link stub: the linker uses it
    if driver:
        assert (shim / "lib" / "libcuda.so").resolve() == (tmp_path / "nvidia-driver/lib64/libcuda.so.1").resolve()
        assert not (shim / "lib" / "libcuda.so.1").exists(), "the loader must find the real driver, not a link"
        assert "-DGGML_CUDA_NO_VMM=ON" not in extra
    else:
        assert "-DGGML_CUDA_NO_VMM=ON" in extra and "GGML_CUDA_NO_VMM" in found["note"]
