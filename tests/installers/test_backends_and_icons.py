"""The GPU builds of llama.cpp staged into llama_cpp/lib, and the icons drawn from the SVG."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.installers.common import INSTALLERS, ROOT, _module

# -- llama.cpp backends and icons ------------------------------------------------------------------------------


def test_llama_build_uses_the_version_pyproject_pins() -> None:
    from importlib.metadata import version

    backends = _module(INSTALLERS / "llama_backends.py")
    assert backends.llama_requirement() == f"llama-cpp-python=={version('llama-cpp-python')}"


def test_stage_copies_backends_and_the_cuda_runtime_into_llama_cpp_lib(tmp_path: Path) -> None:
    """The layout llama-cpp-python 0.3.36 leaves on Windows with GGML_BACKEND_DL=ON and GGML_CPU_ALL_VARIANTS=ON
    (read from its CMake install rules; file contents are stand-ins): the named backends in llama_cpp/lib, the
    CPU variants only in the wheel's bin/ folder, which ggml's own install rules fill with every backend."""
    backends = _module(INSTALLERS / "llama_backends.py")
    site = tmp_path / "site-packages"
    lib, bin_dir, cuda = site / "llama_cpp" / "lib", site / "bin", tmp_path / "cuda" / "bin"
    for folder, names in (
        (lib, ["llama.dll", "ggml.dll", "ggml-base.dll", "ggml-cuda.dll", "ggml-vulkan.dll"]),
        (bin_dir, ["ggml.dll", "ggml-base.dll", "ggml-cuda.dll", "ggml-vulkan.dll", "ggml-cpu-x64.dll"]),
        (bin_dir, ["ggml-cpu-sse42.dll", "ggml-cpu-haswell.dll"]),
        (cuda, ["cudart64_12.dll", "cublas64_12.dll", "cublasLt64_12.dll", "nvrtc64_120_0.dll", "nvcc.exe"]),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / name).write_text(f"{folder.name}/{name}")

    found = backends.stage(site, cuda, required=["cuda", "vulkan", "cpu-haswell"])
    assert found == ["cpu-haswell", "cpu-sse42", "cpu-x64", "cuda", "vulkan"]
    assert (lib / "ggml-cpu-haswell.dll").read_text() == "bin/ggml-cpu-haswell.dll"
    assert (lib / "ggml-cuda.dll").read_text() == "lib/ggml-cuda.dll"  # what the package had is kept
    assert (lib / "cublasLt64_12.dll").is_file()
    assert not (lib / "nvrtc64_120_0.dll").exists()
    assert not (lib / "nvcc.exe").exists()

    with pytest.raises(backends.StageError, match="no metal backend"):
        backends.stage(site, required=["metal"])
    (cuda / "cudart64_12.dll").unlink()
    with pytest.raises(backends.StageError, match=r"No cudart64_\*\.dll"):
        backends.stage(site, cuda)


def test_backend_names_of_every_system() -> None:
    backends = _module(INSTALLERS / "llama_backends.py")
    names = {
        "ggml-cuda.dll": "cuda",
        "ggml-cpu-alderlake.dll": "cpu-alderlake",
        "libggml-vulkan.so": "vulkan",
        "libggml-metal.dylib": "metal",
        "libggml-cpu.so": "cpu",
        "libggml-base.so": None,
        "ggml-base.dll": None,
        "libggml-cpu.so.0": None,
        "ggml.dll": None,
        "llama.dll": None,
    }
    assert {name: backends.backend_name(name) for name in names} == names


def _ico_sizes(data: bytes) -> list[tuple[int, str]]:
    reserved, kind, count = (int.from_bytes(data[i : i + 2], "little") for i in (0, 2, 4))
    assert (reserved, kind) == (0, 1)
    entries = []
    for index in range(count):
        entry = data[6 + 16 * index : 22 + 16 * index]
        size, offset = entry[0] or 256, int.from_bytes(entry[12:16], "little")
        entries.append((size, "png" if data[offset : offset + 4] == b"\x89PNG" else "bmp"))
    return entries


def test_icons_are_drawn_from_the_svg(qapp: object, tmp_path: Path) -> None:
    from PySide6.QtGui import QImage, QImageReader

    icons = _module(INSTALLERS / "make_icons.py")
    expected = [(size, "png" if size >= 128 else "bmp") for size in icons.ICO_SIZES]
    checked_in = ROOT / "resources" / "icons"
    assert _ico_sizes((checked_in / "moss.ico").read_bytes()) == expected
    assert QImage(str(checked_in / "moss.png")).size().width() == 256

    ico, png = icons.write_icons(tmp_path)
    assert _ico_sizes(ico.read_bytes()) == expected
    reader = QImageReader(str(ico))
    assert reader.imageCount() == len(expected)
    for index, (size, _) in enumerate(expected):
        reader.jumpToImage(index)
        image = reader.read()
        assert (image.width(), image.height()) == (size, size)
        assert image.pixelColor(0, 0).alpha() == 0  # the rounded corner is transparent
        assert image.pixelColor(size // 2, size // 8).name() == "#3f7a4a"  # moss green, the right way up
    assert QImage(str(png)).pixelColor(128, 30).name() == "#3f7a4a"
