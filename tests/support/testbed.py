"""The real Asterisk 22 test bed (scripts/asterisk-testbed) as seen from tests."""

from __future__ import annotations

import os
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "asterisk-testbed"


@dataclass(frozen=True)
class Testbed:
    __test__ = False

    root: Path
    env: dict[str, str]
    instance: str = ""  # "b": the second Asterisk (scripts/asterisk-testbed, PORTARIA_TESTBED_INSTANCE)

    @property
    def ari_url(self) -> str:
        return self.env["PORTARIA_ARI_URL"]

    @property
    def ari_password(self) -> str:
        return self.env["PORTARIA_ARI_PASSWORD"]

    def cli(self, command: str) -> str:
        return run_testbed("cli", command, instance=self.instance)


def run_testbed(*args: str, instance: str = "") -> str:
    env = os.environ | {"PORTARIA_TESTBED_INSTANCE": instance}
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"asterisk-testbed {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def read_env(instance: str = "") -> dict[str, str]:
    pairs = (line.split("=", 1) for line in run_testbed("env", instance=instance).splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def wav_written(path: Path) -> bool:
    """The recording is there with its header whole: MixMonitor writes it out after the call's hang-up, so
    right after it a file can exist and still be too short to read."""
    try:
        with wave.open(str(path)) as handle:
            return handle.getnframes() > 0
    except (FileNotFoundError, EOFError, wave.Error):
        return False


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as handle:
        rate = handle.getframerate()
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    return data, rate


def voiced_span_s(samples: np.ndarray, rate: int, *, threshold_dbfs: float = -40.0) -> tuple[float, float]:
    """First and last time (s) where 20 ms windows are louder than the threshold; (0, 0) if never."""
    window = rate // 50
    count = len(samples) // window
    if count == 0:
        return 0.0, 0.0
    frames = samples[: count * window].astype(np.float64).reshape(count, window)
    rms = np.sqrt(np.mean(frames**2, axis=1)) / 32768
    loud = np.nonzero(20 * np.log10(np.maximum(rms, 1e-9)) > threshold_dbfs)[0]
    if loud.size == 0:
        return 0.0, 0.0
    return loud[0] / 50, (loud[-1] + 1) / 50
