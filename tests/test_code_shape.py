"""The code stays readable: no source file over 300 lines, no function over 60 (templates excepted)."""
import ast

from conftest import REPO

FOLDERS = ["train", "convert", "firmware_gen", "device_runtime", "bench", "tests"]
MAX_FILE_LINES, MAX_FUNCTION_LINES = 300, 60


def sources():
    yield REPO / "har.py"
    for folder in FOLDERS:
        yield from sorted((REPO / folder).rglob("*.py"))


def test_files_and_functions_stay_short():
    long_files, long_functions = [], []
    for path in sources():
        text = path.read_text()
        name = path.relative_to(REPO)
        if text.count("\n") > MAX_FILE_LINES:
            long_files.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}:{node.lineno} {node.name}(): {length} lines")
    assert not long_files and not long_functions, "\n".join(long_files + long_functions)
