"""Builds of the generated sources against a TensorFlow Lite Micro tree: host (g++) and Cortex-M4 (QEMU).

TFLM's framework, the model's kernels and CMSIS-NN are third-party code that never changes between models,
and compiling them costs minutes on a small machine. Their object files go to a cache keyed by compiler,
flags and tree (HAR_FIRMWARE_CACHE, default ~/.cache/har-firmware), so a second model recompiles only its
own generated sources. The generated sources get the strict warnings; the third-party tree its own.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

M4_DIR = Path(__file__).resolve().parent / "m4"
JOBS = 2  # the machines this runs on are small and shared
STRICT = ["-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-pedantic"]
COMMON = ["-fno-exceptions", "-DTF_LITE_STATIC_MEMORY", "-ffunction-sections", "-fdata-sections"]
CXX_ONLY = ["-std=c++17", "-fno-rtti", "-fno-threadsafe-statics"]
M4_CPU = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
# Kernel source of each builtin op (plus its `_common.cc` when the tree has one).
KERNELS = {
    "ADD": "add", "AVERAGE_POOL_2D": "pooling", "CONCATENATION": "concatenation", "CONV_2D": "conv",
    "DEPTHWISE_CONV_2D": "depthwise_conv", "DEQUANTIZE": "dequantize", "EXPAND_DIMS": "expand_dims",
    "FULLY_CONNECTED": "fully_connected", "LOGISTIC": "logistic", "MAX_POOL_2D": "pooling", "MEAN": "reduce",
    "MUL": "mul", "PACK": "pack", "QUANTIZE": "quantize", "RELU": "activations", "RESHAPE": "reshape",
    "SHAPE": "shape", "SOFTMAX": "softmax", "SQUEEZE": "squeeze", "STRIDED_SLICE": "strided_slice",
    "SUB": "sub", "TANH": "tanh", "TRANSPOSE": "transpose", "UNPACK": "unpack",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "unidirectional_sequence_lstm",
}
ALWAYS_KERNELS = ["kernel_util", "micro_tensor_utils"]
KERNEL_EXTRAS = {"unidirectional_sequence_lstm": ["lstm_eval"]}
FRAMEWORK_SKIP = ("_test", "/test", "mock", "fake", "/tools/", "/examples/", "/python/", "benchmark")


class BuildError(RuntimeError):
    """A compiler, linker or emulator step failed; the message carries its command and output."""


@dataclass(frozen=True)
class Target:
    """Where the code runs, which kernels it uses and how it is optimised."""

    name: str = "host"  # "host" or "m4"
    kernels: str = "reference"  # "reference" or "cmsis-nn"
    optimisation: str = "-O2"

    def tool(self, cxx: bool) -> str:
        prefix = "arm-none-eabi-" if self.name == "m4" else ""
        return prefix + ("g++" if cxx else "gcc")

    def flags(self, tflm: Path, strict: bool = False) -> list[str]:
        """Compiler flags; `strict` (our own sources) takes the tree's headers as system headers, so the
        warnings are about our code, not TFLM's (which builds with -Wno-unused-parameter)."""
        flags = [self.optimisation, *COMMON, *(M4_CPU if self.name == "m4" else [])]
        includes = [tflm / "tflm", *(tflm / "tflm/third_party" / d for d in ("flatbuffers/include", "gemmlowp", "ruy", "kissfft"))]
        if self.kernels == "cmsis-nn":
            flags.append("-DCMSIS_NN")
            includes += [tflm / "cmsis-nn", tflm / "cmsis-nn/Include", tflm / "cmsis/CMSIS/Core/Include"]
        return flags + [f"{'-isystem' if strict else '-I'}{path}" for path in includes]


def run(args: list, cwd: Path | None = None, timeout: float = 900, stdin=None) -> str:
    """The command's stdout; BuildError naming it if it fails or runs past `timeout` seconds."""
    try:
        result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=stdin)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{' '.join(map(str, args))[:600]}\nno result within {timeout:g} s") from None
    if result.returncode != 0:
        raise BuildError(f"{' '.join(map(str, args))[:600]}\nexit {result.returncode}:\n{(result.stderr or result.stdout)[-3000:]}")
    return result.stdout


def cache_dir(tflm: Path, target: Target) -> Path:
    """One folder per compiler version, flags and tree: objects in it never go stale."""
    root = Path(os.environ.get("HAR_FIRMWARE_CACHE") or Path.home() / ".cache" / "har-firmware")
    sums = tflm / "SHA256SUMS"
    tree = sums.read_bytes() if sums.exists() else str(tflm.resolve()).encode()
    compiler = run([target.tool(True), "--version"]).splitlines()[0]
    key = hashlib.sha256(repr((compiler, target.flags(tflm))).encode() + tree).hexdigest()[:16]
    return root / f"{target.name}-{target.kernels}{target.optimisation}-{key}"


def third_party_sources(tflm: Path, ops: list[str], kernels: str) -> list[Path]:
    """Framework, the kernels of `ops` (CMSIS-NN's where it has one) and, for CMSIS-NN, its library."""
    tree = tflm / "tflm"
    framework = [p for p in sorted(tree.glob("tensorflow/**/*.cc"))
                 if "/micro/kernels/" not in p.as_posix() and not any(s in p.as_posix() for s in FRAMEWORK_SKIP)]
    kernel_dir = tree / "tensorflow/lite/micro/kernels"
    names = {KERNELS[op] for op in ops}
    names = sorted(names | set(ALWAYS_KERNELS) | {extra for name in names for extra in KERNEL_EXTRAS.get(name, [])})
    chosen = []
    for name in names:
        optimised = kernel_dir / "cmsis_nn" / f"{name}.cc"
        chosen.append(optimised if kernels == "cmsis-nn" and optimised.exists() else kernel_dir / f"{name}.cc")
        chosen.append(kernel_dir / f"{name}_common.cc")
    sources = framework + [p for p in dict.fromkeys(chosen) if p.exists()]
    if kernels == "cmsis-nn":
        sources += [p for p in sorted((tflm / "cmsis-nn/Source").rglob("*.c")) if not p.stem.endswith(("_f16", "_f32"))]
    return sources


def compile_objects(sources: list[Path], root: Path, out: Path, target: Target, tflm: Path, extra: list[str] = ()) -> list[Path]:
    """Object files of `sources` under `out`, compiling only those not already there (2 at a time)."""
    def one(source: Path) -> Path:
        name = source.relative_to(root).as_posix() if source.is_relative_to(root) else source.name
        obj = out / (name + ".o")
        if not obj.exists():
            obj.parent.mkdir(parents=True, exist_ok=True)
            cxx = source.suffix in (".cc", ".cpp")
            language = CXX_ONLY if cxx else ["-std=c99"]
            tmp = obj.with_suffix(f".{os.getpid()}.tmp")
            run([target.tool(cxx), *language, *target.flags(tflm, strict=bool(extra)), *extra, "-c", source, "-o", tmp])
            tmp.replace(obj)  # a killed build never leaves half an object in the cache
        return obj

    with ThreadPoolExecutor(JOBS) as pool:
        return list(pool.map(one, sources))


def build(sources_dir: Path, app_sources: list[Path], build_dir: Path, target: Target, tflm: Path, ops: list[str],
          defines: tuple[str, ...] = ()) -> Path:
    """Link the app (generated sources, compiled strictly) with the cached third-party objects."""
    tflm = tflm.resolve()
    third_party = compile_objects(third_party_sources(tflm, ops, target.kernels), tflm, cache_dir(tflm, target), target, tflm)
    build_dir.mkdir(parents=True, exist_ok=True)
    for old in build_dir.rglob("*.o"):
        old.unlink()  # the app's own objects are rebuilt every time: they are small and model-specific
    app = compile_objects(app_sources, sources_dir, build_dir / "obj", target, tflm, [*STRICT, *defines, f"-I{sources_dir}"])
    exe = build_dir / ("app.elf" if target.name == "m4" else "app")
    link = [target.tool(True), *target.flags(tflm), "-Wl,--gc-sections", *app, *third_party, "-o", exe]
    if target.name == "m4":
        startup = compile_objects([M4_DIR / "startup.c"], M4_DIR, build_dir / "obj", target, tflm)
        link[2:2] = ["-T", M4_DIR / "mps2_an386.ld", "--specs=nano.specs", "--specs=rdimon.specs", *startup]
    run(link + ["-lm"])
    return exe


def section_sizes(elf: Path) -> dict[str, int]:
    """text, data and bss bytes of an ELF, as arm-none-eabi-size (Berkeley format) counts them."""
    line = run(["arm-none-eabi-size", elf]).splitlines()[1].split()
    return {"text_bytes": int(line[0]), "data_bytes": int(line[1]), "bss_bytes": int(line[2])}


def run_m4(elf: Path, cwd: Path, timeout: float) -> str:
    """Run under QEMU with one virtual nanosecond per instruction, so SysTick counts instructions."""
    return run(["qemu-system-arm", "-M", "mps2-an386", "-cpu", "cortex-m4", "-display", "none", "-monitor", "none",
                "-serial", "null", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                "-kernel", elf], cwd=cwd, timeout=timeout)
