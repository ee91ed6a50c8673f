"""The MCU section of BENCHMARKS.md: what the generated firmware costs on a Cortex-M4.

Instructions per inference for TFLM's reference kernels and CMSIS-NN at -Os and -O2 (QEMU mps2-an386 with
`-icount shift=0`, counted by SysTick), flash and RAM of the example app (main.cc, CMSIS-NN -Os), and the
time per window on real parts estimated from an assumed range of cycles per instruction.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from convert.flatbuffer import ops_of
from device_runtime.contract import load_contract
from firmware_gen import check, tflm_build
from firmware_gen.cli import tflm_root
from firmware_gen.generate import generate
from firmware_gen.tflm_build import Target

VARIANTS = [Target("m4", k, o) for k in ("reference", "cmsis-nn") for o in ("-Os", "-O2")]
WINDOWS = 3  # instruction counts barely vary between windows; reference kernels take ~1 s each under QEMU
CPI = (1.0, 1.5)  # cycles per instruction assumed for a Cortex-M4 with flash wait states
CLOCKS_MHZ = (64, 160)  # nRF52840 (Arduino Nano 33 BLE Sense); a fast M4 such as an STM32G4 or RA4M2


def measure(model_path: str | Path) -> dict:
    """Build and run every variant on a few real test windows; the figures `markdown` prints."""
    model = Path(model_path).resolve()
    contract, ops, tflm = load_contract(model), ops_of(model.read_bytes()), tflm_root(None)
    windows = check.model_test_data(contract, None, "hapt")[0][:WINDOWS]
    results = {"model": model.name, "stride_ms": 1000.0 * contract.stride / contract.sample_rate_hz,
               "cpi": list(CPI), "clocks_mhz": list(CLOCKS_MHZ), "variants": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(model, out)
        for target in VARIANTS:
            elf = check.build_app(out, "har", target, tflm, ops)
            run = check.run_windows(elf, target, windows)
            results["variants"].append({"kernels": target.kernels, "optimisation": target.optimisation,
                                        "instructions_per_inference": run["instructions_per_inference"],
                                        **tflm_build.section_sizes(elf)})
            results["arena_used_bytes"] = max(run["arena_used_bytes"], results.get("arena_used_bytes", 0))
        app = check.build_app(out, "har", VARIANTS[2], tflm, ops, kind="main")
        results["example_app"] = tflm_build.section_sizes(app)
        results["arena_bytes"] = check.arena_bytes(out, "har")
        results["arena_fits_bytes"] = check.tight_arena(results["arena_used_bytes"])
        tight = check.build_app(out, "har", VARIANTS[2], tflm, ops, kind="main", arena=results["arena_fits_bytes"])
        results["example_app_tight"] = tflm_build.section_sizes(tight)
    return results


def _ms(instructions: int, cpi: float, mhz: int) -> float:
    return instructions * cpi / (mhz * 1e3)


def markdown(results: dict) -> str:
    low, high = results["cpi"]
    clocks = results["clocks_mhz"]
    lines = [
        "## Microcontroller (Cortex-M4, `har firmware --check`)",
        "",
        f"{results['model']} on TensorFlow Lite Micro, built with arm-none-eabi-gcc for a Cortex-M4F and run on "
        "QEMU mps2-an386 with `-icount shift=0` (one instruction per virtual nanosecond, counted with SysTick), "
        f"mean of {WINDOWS} test windows (`har firmware --check` compares CMSIS-NN -Os with the Python TFLM "
        f"interpreter on every window). Time per window assumes {low:g}-{high:g} cycles per "
        f"instruction; a window must take well under the {results['stride_ms']:.0f} ms stride.",
        "",
        "| kernels | flags | instructions / inference | " + " | ".join(f"ms at {c} MHz" for c in clocks)
        + " | text / data / bss (check app) |",
        "|---|---|---|" + "---|" * len(clocks) + "---|",
    ]
    for v in results["variants"]:
        n = v["instructions_per_inference"]
        times = " | ".join(f"{_ms(n, low, c):.0f}-{_ms(n, high, c):.0f}" for c in clocks)
        lines.append(f"| {v['kernels']} | {v['optimisation']} | {n / 1e6:.2f} M | {times} | "
                     f"{v['text_bytes']:,} / {v['data_bytes']:,} / {v['bss_bytes']:,} |")
    app = results["example_app"]
    lines += [
        "",
        f"Example app (main.cc, CMSIS-NN -Os): flash {app['text_bytes'] + app['data_bytes']:,} B "
        f"(text + data), RAM {app['data_bytes'] + app['bss_bytes']:,} B (data + bss, the tensor arena included); "
        f"TFLM uses {results['arena_used_bytes']:,} B of the generated {results['arena_bytes']:,} B arena"
        + (f" (sized from the 64-bit host); built with the {results['arena_fits_bytes']:,} B that `har firmware "
           f"--check` reports for this core (`-DHAR_TENSOR_ARENA_SIZE`), RAM "
           f"{tight['data_bytes'] + tight['bss_bytes']:,} B." if (tight := results.get("example_app_tight")) else "."),
        "",
    ]
    return "\n".join(lines)
