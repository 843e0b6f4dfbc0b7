"""Which VAD ends turns at a noisy gate? Speech mixed with synthetic gate noise at several SNRs.

    .venv/bin/python bench/bench_vad.py [--rate 8000] [--out docs/vad-table.md]

Speech: pt-BR utterances synthesised once with espeak-ng into tests/fixtures/media/ (committed; regenerated only
if missing). Noise, synthesised here with a fixed seed:

- traffic: brown noise + engine hum with vehicles passing (slow swells)
- wind: pink noise with random gusts (0.2-2 Hz amplitude modulation) and low rumble
- babble: twelve overlapped, reversed utterances (speech-like spectrum and rhythm, no words): a crowd
- hiss: white noise (a bad intercom line)

Each case is 3 s of noise, the utterance (active level -26 dBFS), 3 s of noise; noise never stops, as on a
real line. Per engine, noise and SNR it reports:

- recall: speech frames (clean-signal energy within 35 dB of its peak) the VAD calls speech
- false+: noise-only frames it calls speech
- ended: cases where the endpointer (default settings) ends the turn within 1.5 s after speech stops
- false turns: turns started during the 3 s of noise before the utterance
- dur err: median |detected duration - true duration| of the ended turns (ms)
- onset: median time from the true speech onset to UtteranceStarted (ms)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audiosocket.endpointing import Endpointer, EndpointingConfig, UtteranceEnded, UtteranceStarted  # noqa: E402
from audiosocket.vad import SileroVad, Vad, WebRtcVad  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "media"
UTTERANCES = {
    "entrega-501": ("pt-br", 160, "Boa tarde, eu vim entregar uma encomenda para o apartamento quinhentos e um."),
    "visita-maria": ("pt-br+f3", 150, "Oi, é o Carlos. Vim visitar a dona Maria, do bloco dois."),
    "mercado": ("pt-br+m3", 175, "Entrega do mercado."),
    "tecnico": ("pt-br+f2", 165, "Sou o técnico da internet, tenho uma visita agendada para hoje à tarde."),
}
SNRS = (20, 10, 5, 0)
NOISES = ("traffic", "wind", "babble", "hiss")
LEAD_S = 3.0
TAIL_S = 3.0


def ensure_fixtures() -> None:
    """Synthesise the test utterances (16 kHz mono WAV) with espeak-ng if they are not there yet."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, (voice, speed, text) in UTTERANCES.items():
        path = FIXTURES / f"{name}.wav"
        if path.exists():
            continue
        raw = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], check=True, capture_output=True
        ).stdout
        subprocess.run(
            ["sox", "-D", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16", str(path)], input=raw, check=True
        )


def load_wav(path: Path, rate: int) -> np.ndarray:
    with wave.open(str(path)) as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
        source = wav.getframerate()
    if source != rate:
        import soxr

        data = soxr.resample(data, source, rate)
    return data


def frames_of(signal: np.ndarray, rate: int) -> np.ndarray:
    size = rate // 50
    count = len(signal) // size
    return signal[: count * size].reshape(count, size)


def rms_db(x: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(x**2) + 1e-12))


def speech_labels(clean: np.ndarray, rate: int) -> np.ndarray:
    energy = np.array([rms_db(f) for f in frames_of(clean, rate)])
    return energy > energy.max() - 35  # type: ignore[no-any-return]


def _lowpass(x: np.ndarray, alpha: float) -> np.ndarray:
    out = np.empty_like(x)
    acc = 0.0
    for i, v in enumerate(x):
        acc += alpha * (v - acc)
        out[i] = acc
    return out


def _envelope(rng: np.random.Generator, n: int, rate: int, low_hz: float, depth: float) -> np.ndarray:
    """A slowly varying positive gain: low-passed noise sampled at 100 Hz, interpolated."""
    steps = n * 100 // rate + 2
    control = _lowpass(rng.standard_normal(steps), low_hz / 100 * 2 * np.pi)
    control = control / (np.abs(control).max() + 1e-9)
    gain = np.interp(np.arange(n) / rate * 100, np.arange(steps), control)
    return np.exp(depth * gain)  # type: ignore[no-any-return]


def make_noise(kind: str, n: int, rate: int, rng: np.random.Generator, speech: list[np.ndarray]) -> np.ndarray:
    t = np.arange(n) / rate
    match kind:
        case "traffic":
            spectrum = np.fft.rfft(rng.standard_normal(n))
            freqs = np.fft.rfftfreq(n, 1 / rate)
            brown = np.fft.irfft(spectrum / np.maximum(freqs, 20.0), n)  # 1/f^2 power, flat below 20 Hz
            hum = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) / k for k, f in enumerate((55, 110, 165), 1))
            passing = 1 + sum(2.5 * np.exp(-(((t - c) / 0.8) ** 2)) for c in np.arange(0.5, n / rate, 2.7))
            noise = (brown / (brown.std() + 1e-9) + 0.5 * hum) * passing
        case "wind":
            spectrum = np.fft.rfft(rng.standard_normal(n))
            freqs = np.fft.rfftfreq(n, 1 / rate)
            spectrum /= np.sqrt(np.maximum(freqs, 10.0))  # pink
            spectrum[freqs > 2500] *= 0.3
            pink = np.fft.irfft(spectrum, n)
            noise = pink / pink.std() * _envelope(rng, n, rate, 1.0, 1.5)
        case "babble":
            noise = np.zeros(n)
            for talker in range(12):
                source = speech[talker % len(speech)][::-1]
                reps = np.tile(source, n // len(source) + 2)
                start = int(rng.integers(0, len(source)))
                noise += reps[start : start + n] * rng.uniform(0.6, 1.0)
        case "hiss":
            noise = rng.standard_normal(n)
        case _:
            raise ValueError(kind)
    return noise  # type: ignore[no-any-return]


@dataclass
class Case:
    mix: np.ndarray
    labels: np.ndarray  # per frame: clean speech present
    speech_start: float  # seconds
    speech_end: float


def build_case(clean: np.ndarray, noise_kind: str, snr: int, rate: int, seed: int, speech: list[np.ndarray]) -> Case:
    rng = np.random.default_rng(seed)
    lead, tail = int(LEAD_S * rate), int(TAIL_S * rate)
    labels_clean = speech_labels(clean, rate)
    active = frames_of(clean, rate)[labels_clean]
    clean = clean * (10 ** (-26 / 20) * 32768 / np.sqrt(np.mean(active**2)))
    active_db = rms_db(frames_of(clean, rate)[labels_clean])
    padded = np.concatenate((np.zeros(lead), clean, np.zeros(tail)))
    noise = make_noise(noise_kind, len(padded), rate, rng, speech)
    noise *= 10 ** ((active_db - snr - rms_db(noise)) / 20)
    mix = np.clip(padded + noise, -32768, 32767)
    labels = np.concatenate((np.zeros(lead // (rate // 50), bool), labels_clean, np.zeros(tail // (rate // 50), bool)))
    frame_s = 0.02
    voiced = np.flatnonzero(labels)
    return Case(mix.astype("<i2"), labels, voiced[0] * frame_s, (voiced[-1] + 1) * frame_s)


@dataclass
class Outcome:
    speech_hits: int = 0
    speech_frames: int = 0
    noise_hits: int = 0
    noise_frames: int = 0
    ended: int = 0
    cases: int = 0
    false_turns: int = 0
    duration_errors: list[float] | None = None
    onsets: list[float] | None = None
    cpu_s: float = 0.0
    frames: int = 0


def run_case(vad: Vad, case: Case, rate: int, outcome: Outcome, config: EndpointingConfig) -> None:
    vad.reset()
    endpointer = Endpointer(config, rate)
    mix_frames = frames_of(case.mix.astype(np.float64), rate).astype("<i2")
    quiet_after = case.speech_end + 0.3
    started: list[UtteranceStarted] = []
    ended: list[UtteranceEnded] = []
    for index, frame in enumerate(mix_frames):
        now = (index + 1) * 0.02
        tick = time.process_time()
        speech = vad.is_speech(frame.tobytes())
        outcome.cpu_s += time.process_time() - tick
        outcome.frames += 1
        if case.labels[index]:
            outcome.speech_frames += 1
            outcome.speech_hits += speech
        elif now <= case.speech_start or now > quiet_after:
            outcome.noise_frames += 1
            outcome.noise_hits += speech
        for event in endpointer.feed(now, speech, frame.tobytes()):
            if isinstance(event, UtteranceStarted):
                started.append(event)
            elif isinstance(event, UtteranceEnded):
                ended.append(event)
    outcome.cases += 1
    outcome.false_turns += sum(1 for s in started if s.onset < case.speech_start - 0.1)
    real = [e for e in ended if case.speech_start < e.at <= case.speech_end + 1.5]
    if real and real[-1].at >= case.speech_end and not real[-1].truncated:
        outcome.ended += 1
        assert outcome.duration_errors is not None
        last_voice = real[-1].at - real[-1].delay_ms / 1000
        onset = min(e.at - (e.delay_ms + e.duration_ms) / 1000 for e in real)
        true_ms = (case.speech_end - case.speech_start) * 1000
        outcome.duration_errors.append(abs((last_voice - onset) * 1000 - true_ms))
    real_starts = [s for s in started if s.onset >= case.speech_start - 0.1]
    if real_starts:
        assert outcome.onsets is not None
        outcome.onsets.append((real_starts[0].at - case.speech_start) * 1000)


def engines(rate: int) -> dict[str, Callable[[], Vad]]:
    return {
        "webrtc mode 2": lambda: WebRtcVad(rate, 2),
        "webrtc mode 3": lambda: WebRtcVad(rate, 3),
        "silero 0.5": lambda: SileroVad(rate, 0.5),
        "silero 0.6": lambda: SileroVad(rate, 0.6),
        "silero 0.7": lambda: SileroVad(rate, 0.7),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--silence-ms", type=int, default=EndpointingConfig().silence_ms)
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()
    ensure_fixtures()
    rate = args.rate
    config = EndpointingConfig(silence_ms=args.silence_ms)
    speech = [load_wav(FIXTURES / f"{name}.wav", rate) for name in UTTERANCES]
    cases = {
        (noise, snr): [
            build_case(clean, noise, snr, rate, seed=1000 * i + snr, speech=speech) for i, clean in enumerate(speech)
        ]
        for noise in NOISES
        for snr in SNRS
    }
    clean_cases = [build_case(clean, "hiss", 60, rate, seed=i, speech=speech) for i, clean in enumerate(speech)]
    lines = [
        f"VAD on noisy gate audio, {rate} Hz, endpointer silence {config.silence_ms} ms, "
        f"{len(speech)} utterances per cell (one 3 s noise lead + utterance + 3 s tail each)",
        "",
        "| engine | noise | SNR dB | recall | false+ | ended | false turns | dur err ms | onset ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    totals: dict[str, Outcome] = {}
    for name, factory in engines(rate).items():
        vad = factory()
        total = totals.setdefault(name, Outcome(duration_errors=[], onsets=[]))
        for key, group in [(("clean", 60), clean_cases), *cases.items()]:
            noise, snr = key
            outcome = Outcome(duration_errors=[], onsets=[])
            for case in group:
                run_case(vad, case, rate, outcome, config)
            for field in ("speech_hits", "speech_frames", "noise_hits", "noise_frames", "ended", "cases"):
                setattr(total, field, getattr(total, field) + getattr(outcome, field))
            total.false_turns += outcome.false_turns
            total.cpu_s += outcome.cpu_s
            total.frames += outcome.frames
            assert outcome.duration_errors is not None and outcome.onsets is not None
            lines.append(
                f"| {name} | {noise} | {snr if noise != 'clean' else '-'} "
                f"| {outcome.speech_hits / max(outcome.speech_frames, 1):.2f} "
                f"| {outcome.noise_hits / max(outcome.noise_frames, 1):.2f} "
                f"| {outcome.ended}/{outcome.cases} | {outcome.false_turns} "
                f"| {statistics.median(outcome.duration_errors) if outcome.duration_errors else float('nan'):.0f} "
                f"| {statistics.median(outcome.onsets) if outcome.onsets else float('nan'):.0f} |"
            )
    lines += ["", "| engine | recall | false+ | turns ended | false turns | CPU µs/frame |"]
    lines += ["|---|---|---|---|---|---|"]
    for name, total in totals.items():
        lines.append(
            f"| {name} | {total.speech_hits / total.speech_frames:.2f} | {total.noise_hits / total.noise_frames:.2f} "
            f"| {total.ended}/{total.cases} | {total.false_turns} | {total.cpu_s / total.frames * 1e6:.0f} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
