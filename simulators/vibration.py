"""Vibration: bearing defect frequencies, raw waveform snippets for all machines at once, and their features.

A snippet is a short accelerometer record (``SNIPPET_S`` seconds at ``SNIPPET_FS_HZ``) synthesized for
every machine in one array ``[n_machines, n_samples]``: broadband noise, shaft harmonics (1x grows with
imbalance, 2x with misalignment), an electrical 2x-line-frequency tone (winding faults), and decaying
resonance bursts repeated at BPFO (outer race) or at BPFI, amplitude-modulated by the shaft (inner race).
Features come from the FFT: overall RMS, kurtosis, crest factor, the RMS level in narrow bands around 1x
and 2x of the raw spectrum, and around BPFO and BPFI of the squared-envelope spectrum, which is where
bearing defects show. The synthesizer keeps the high-frequency part (noise and bursts, what a high-pass
above the shaft harmonics would leave) apart, so the envelope needs one FFT instead of three.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

SNIPPET_S = 0.125
SNIPPET_FS_HZ = 8192.0
LINE_HZ = 50.0
FEATURE_NAMES: tuple[str, ...] = (
    "vib_rms_g",
    "vib_kurtosis",
    "vib_crest",
    "vib_1x_g",
    "vib_2x_g",
    "vib_bpfo_env",
    "vib_bpfi_env",
)


@dataclass(frozen=True, slots=True)
class BearingFrequencies:
    """Defect frequencies in Hz for every machine: outer race, inner race, ball spin, cage."""

    bpfo: FloatArray
    bpfi: FloatArray
    bsf: FloatArray
    ftf: FloatArray


def bearing_frequencies(
    shaft_hz: FloatArray | float,
    n_balls: FloatArray | float,
    ball_diameter: FloatArray | float,
    pitch_diameter: FloatArray | float,
    contact_angle_deg: FloatArray | float,
) -> BearingFrequencies:
    """Standard kinematic defect frequencies of a rolling bearing with a stationary outer race."""
    f = np.asarray(shaft_hz, dtype=np.float64)
    n = np.asarray(n_balls, dtype=np.float64)
    ratio = np.asarray(ball_diameter, dtype=np.float64) / np.asarray(pitch_diameter, dtype=np.float64)
    cos_a = np.cos(np.deg2rad(np.asarray(contact_angle_deg, dtype=np.float64)))
    return BearingFrequencies(
        bpfo=n / 2.0 * f * (1.0 - ratio * cos_a),
        bpfi=n / 2.0 * f * (1.0 + ratio * cos_a),
        bsf=f / (2.0 * ratio) * (1.0 - (ratio * cos_a) ** 2),
        ftf=f / 2.0 * (1.0 - ratio * cos_a),
    )


@dataclass(frozen=True, slots=True)
class VibrationSeverity:
    """Fault severities in 0..1 per machine that shape the snippet."""

    outer: FloatArray
    inner: FloatArray
    imbalance: FloatArray
    misalignment: FloatArray
    winding: FloatArray


class SnippetSynth:
    """Synthesizes raw snippets for all machines at once from a fixed bank of noise records."""

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        duration_s: float = SNIPPET_S,
        fs_hz: float = SNIPPET_FS_HZ,
        bank_size: int = 256,
    ) -> None:
        self.rng = rng
        self.fs_hz = fs_hz
        self.n_samples = round(duration_s * fs_hz)
        self.t = (np.arange(self.n_samples, dtype=np.float32) / np.float32(fs_hz))[None, :]
        self._bank = rng.standard_normal((bank_size, self.n_samples), dtype=np.float32)

    def synthesize(
        self,
        shaft_hz: FloatArray,
        orders: BearingFrequencies,
        severity: VibrationSeverity,
        resonance_hz: FloatArray,
        phase: FloatArray,
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Raw snippets in g ``[n, samples]`` and their high-frequency part (what a high-pass keeps)."""
        n = shaft_hz.size
        col = _column
        t = self.t
        speed = np.clip(shaft_hz / 25.0, 0.0, 4.0)
        running = shaft_hz > 0.5
        noise_g = np.where(running, 0.02 + 0.03 * speed, 0.003)
        rows = self.rng.integers(0, self._bank.shape[0], size=n)
        signs = np.where(self.rng.random(n) < 0.5, -1.0, 1.0)
        high = self._bank[rows] * col(noise_g * signs)
        for amplitude, rate, modulated in (
            (severity.outer, orders.bpfo, False),
            (severity.inner, orders.bpfi, True),
        ):
            idx = np.flatnonzero(amplitude * running > 0)
            if idx.size == 0:
                continue
            rate_a = col(rate[idx])
            decay = np.minimum(np.float32(0.0025), np.float32(0.2) / rate_a)
            cycles = t * rate_a + col(phase[idx] / (2 * np.pi))
            since = (cycles - np.floor(cycles)) / rate_a
            burst = np.exp(-since / decay) * np.sin(np.float32(2 * np.pi) * col(resonance_hz[idx]) * since)
            gain = col(2.5 * amplitude[idx] * speed[idx])
            if modulated:
                gain = gain * (0.55 + 0.45 * np.cos(np.float32(2 * np.pi) * t * col(shaft_hz[idx])))
            high[idx] += gain * burst
        two_pi_t = np.float32(2 * np.pi) * t
        a1 = (0.02 + 0.5 * severity.imbalance + 0.1 * severity.misalignment) * speed**2
        a2 = (0.008 + 0.35 * severity.misalignment) * speed**2
        shaft_phase = two_pi_t * col(shaft_hz) + col(phase)
        low = col(a1) * np.sin(shaft_phase) + col(a2) * np.sin(2 * shaft_phase + np.float32(0.7))
        low += col(0.25 * severity.winding * running) * np.sin(two_pi_t * np.float32(2 * LINE_HZ))
        return high + low, high


def snippet_features(
    wave: NDArray[np.float32],
    high: NDArray[np.float32],
    shaft_hz: FloatArray,
    orders: BearingFrequencies,
    *,
    fs_hz: float = SNIPPET_FS_HZ,
) -> NDArray[np.float64]:
    """Features ``[n_machines, len(FEATURE_NAMES)]`` of raw snippets (see FEATURE_NAMES for the order).

    ``high`` is the high-frequency part of ``wave`` (above the shaft harmonics): its square is the
    squared envelope whose spectrum shows the bearing defect frequencies.
    """
    n_samples = wave.shape[1]
    x = wave - wave.mean(axis=1, keepdims=True)
    x2 = x * x
    var = np.mean(x2, axis=1, dtype=np.float64)
    safe = np.maximum(var, 1e-12)
    kurtosis = np.mean(x2 * x2, axis=1, dtype=np.float64) / safe**2
    crest = np.max(np.abs(x), axis=1) / np.sqrt(safe)
    freqs = np.fft.rfftfreq(n_samples, 1.0 / fs_hz)
    scale = 2.0 / n_samples**2
    spectrum = np.fft.rfft(x.astype(np.float64), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2) * scale
    envelope = (high * high).astype(np.float64)
    envelope -= envelope.mean(axis=1, keepdims=True)
    env_spectrum = np.fft.rfft(envelope, axis=1)
    env_power = (env_spectrum.real**2 + env_spectrum.imag**2) * scale
    return np.stack(
        [
            np.sqrt(var),
            kurtosis,
            crest,
            np.sqrt(band_power(power, freqs, shaft_hz)),
            np.sqrt(band_power(power, freqs, 2.0 * shaft_hz)),
            np.sqrt(band_power(env_power, freqs, orders.bpfo)),
            np.sqrt(band_power(env_power, freqs, orders.bpfi)),
        ],
        axis=1,
    )


def band_power(
    power: NDArray[np.floating], freqs: NDArray[np.floating], centre_hz: NDArray[np.floating]
) -> FloatArray:
    """Sum of a one-sided power spectrum in a band around each row's centre (±5 %, at least ±1 bin)."""
    resolution = float(freqs[1] - freqs[0])
    half = np.maximum(0.05 * centre_hz, 1.01 * resolution)
    last = power.shape[1] - 1
    lo = np.clip(np.ceil((centre_hz - half) / resolution), 0, last).astype(np.intp)
    hi = np.clip(np.floor((centre_hz + half) / resolution), 0, last).astype(np.intp)
    width = int(np.max(hi - lo, initial=0)) + 1
    cols = lo[:, None] + np.arange(width)[None, :]
    inside = cols <= hi[:, None]
    picked = np.take_along_axis(power, np.minimum(cols, last), axis=1)
    total = np.sum(picked * inside, axis=1)
    return np.where((centre_hz > 0.5) & (hi >= lo), total, 0.0)


def _column(values: FloatArray | NDArray[np.bool_] | float) -> NDArray[np.float32]:
    return np.asarray(values, dtype=np.float32).reshape(-1, 1)
