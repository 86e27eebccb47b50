"""What can be tested here of macOS and Windows: the engine without Linux-only `os` functions, and the hosts'
path and command logic with Windows paths (drive letters, backslashes, UNC)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ENV, ROOT
from videomatte_client import engine_argv, hashes_to_printf, printf_to_hashes, sequence_path

NO_LINUX = {**ENV, "PYTHONPATH": str(ROOT / "tests" / "nolinux")}


def test_core_cli_tests_pass_without_linux_only_os_functions():
    probe = subprocess.run([sys.executable, "-c", "import os; print(hasattr(os, 'sched_getaffinity'))"],
                           capture_output=True, text=True, env=NO_LINUX)
    assert probe.stdout.strip() == "False", "the stand-in for macOS/Windows must take effect"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cli_run.py",
                           "tests/test_service.py", "-k", "not filesystem and not disk_full"],
                          capture_output=True, text=True, env=NO_LINUX, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_engine_setting_with_spaces_and_windows_paths():
    assert engine_argv("videomatte-hq") == ["videomatte-hq"]
    assert engine_argv("/Volumes/Pipeline Tools/venv/bin/python -m videomatte_hq") == [
        "/Volumes/Pipeline", "Tools/venv/bin/python", "-m", "videomatte_hq"]  # unquoted: a shell splits it too
    assert engine_argv('"/Volumes/Pipeline Tools/venv/bin/videomatte-hq" --device cuda') == [
        "/Volumes/Pipeline Tools/venv/bin/videomatte-hq", "--device", "cuda"]
    assert engine_argv(r'"C:\Program Files\vmhq\python.exe" -m videomatte_hq', windows=True) == [
        r"C:\Program Files\vmhq\python.exe", "-m", "videomatte_hq"]
    assert engine_argv(r"C:\vmhq\Scripts\videomatte-hq.exe", windows=True) == [r"C:\vmhq\Scripts\videomatte-hq.exe"]
    assert engine_argv(r"\\farm\tools\vmhq\videomatte-hq.exe --device cuda:1", windows=True) == [
        r"\\farm\tools\vmhq\videomatte-hq.exe", "--device", "cuda:1"]


def test_existing_engine_path_with_spaces_is_one_argument(tmp_path):
    engine = tmp_path / "Pipeline Tools" / "videomatte-hq"
    engine.parent.mkdir()
    engine.write_text("#!/bin/sh\n")
    assert engine_argv(str(engine)) == [str(engine)]


def test_sequence_patterns_with_windows_paths():
    assert hashes_to_printf(r"C:\shots\sh010\plate.####.exr") == r"C:\shots\sh010\plate.%04d.exr"
    assert printf_to_hashes(r"\\nas\show\sh010\plate.%04d.exr") == r"\\nas\show\sh010\plate.####.exr"
    assert sequence_path(r"D:\out\alpha\######.png", 1001) == r"D:\out\alpha\001001.png"
    assert sequence_path("C:/shots/a b/plate.%04d.exr", 7) == "C:/shots/a b/plate.0007.exr"


def test_nuke_logic_with_windows_paths_and_an_engine_with_spaces():
    import fake_nuke

    sys.modules.setdefault("nuke", fake_nuke.make_module())
    from videomatte_nuke import logic

    plan = logic.plate_plan("Read", {"file": "C:/shots/sh010/plate.%04d.exr", "colorspace": "linear"}, "D:/out", False)
    assert (plan.pattern, plan.render) == ("C:/shots/sh010/plate.####.exr", False)
    settings = logic.Settings.from_knobs({"engine": '"/Volumes/Pipeline Tools/venv/bin/videomatte-hq" --threads 4',
                                          "output_dir": "//nas/show/sh010/matte", "anchor_frame": 1001},
                                         (1001, 1010), 1001)
    argv = logic.engine_command(settings, plan, "//nas/show/sh010/anchor.1001.exr", False).argv()
    assert argv[:3] == ["/Volumes/Pipeline Tools/venv/bin/videomatte-hq", "--threads", "4"]
    assert argv[argv.index("--output-dir") + 1] == "//nas/show/sh010/matte"
