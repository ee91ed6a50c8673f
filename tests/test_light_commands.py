"""Light commands stay light: `har firmware`, `har data` and the Pi runtime never import TensorFlow."""
import subprocess
import sys

import pytest
from conftest import REPO, write

PROBE = """
import sys
sys.argv[0] = "har"
{call}
loaded = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith(("tensorflow.", "tf_keras", "keras")))
print("HEAVY", loaded)
"""


def heavy_modules(call: str, cwd) -> str:
    result = subprocess.run([sys.executable, "-c", PROBE.format(call=call)], capture_output=True, text=True,
                            cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("argv", [
    ["data", "summary", "--data", "recordings", "--format", "csv", "--window", "20", "--stride", "10"],
    ["firmware", "MODEL", "--out", "fw"],
    ["firmware", "--help"],
])
def test_har_commands_import_no_tensorflow(argv, tiny_model, tmp_path):
    argv = [str(tiny_model) if a == "MODEL" else a for a in argv]
    for subject in "abcd":  # a small CSV dataset: the data layer's imports, not a parse of all of HAPT
        rows = "".join(f"{i * 20},{i % 7},1,{'walk' if i < 50 else 'sit'}\n" for i in range(100))
        write(tmp_path / "recordings" / f"{subject}.csv", "timestamp_ms,ax,ay,activity\n" + rows)
    call = f"import har\ntry:\n    har.main({argv!r})\nexcept SystemExit:\n    pass"
    assert heavy_modules(call, tmp_path) == "HEAVY []"


def test_device_runtime_replay_imports_no_tensorflow(tiny_model, tmp_path):
    replay = tmp_path / "r.csv"
    replay.write_text("".join(f"{i * 20},0,0,1,0,0,0\n" for i in range(300)))
    call = (f"sys.path.insert(0, {str(REPO)!r})\nfrom device_runtime.cli import main\n"
            f"main(['--model', {str(tiny_model)!r}, '--replay', {str(replay)!r}])")
    assert heavy_modules(call, tmp_path) == "HEAVY []"
