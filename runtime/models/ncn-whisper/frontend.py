"""The audio front end, written once and mirrored in TypeScript
(runtime/src/runtimes/speech-to-text/log-mel.ts, resample.ts): any-rate PCM -> 16 kHz
-> whisper's 80-bin log-mel (n_fft 400, hop 160, periodic Hann window, centred frames
with reflect padding, librosa's Slaney mel filterbank, log10 clamped to max - 8, then
(x + 4) / 4). Both sides compute in float64 so they agree to ~1e-6."""

import math

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
RESAMPLE_ZEROS = 16


def resample_taps(in_rate: int, out_rate: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-phase filter taps: output n sits at input n * in / out, whose fractional part
    repeats every out / gcd(in, out) outputs."""
    scale = min(1.0, out_rate / in_rate)
    half_width = RESAMPLE_ZEROS / scale
    period = out_rate // math.gcd(in_rate, out_rate)
    reach = math.ceil(half_width)
    offsets = np.arange(-reach + 1, reach + 1)
    frac = (np.arange(period, dtype=np.int64) * in_rate % out_rate) / out_rate
    d = frac[:, None] - offsets[None, :]
    window = np.where(np.abs(d) < half_width, 0.5 * (1 + np.cos(np.pi * d / half_width)), 0.0)
    return scale * np.sinc(scale * d) * window, offsets, period


_TAPS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, int]] = {}


def resample(audio: np.ndarray, in_rate: int, out_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Windowed-sinc resampling (Hann window over 16 zero crossings of the lower rate)."""
    if in_rate == out_rate:
        return audio.astype(np.float64)
    if (in_rate, out_rate) not in _TAPS:
        _TAPS[(in_rate, out_rate)] = resample_taps(in_rate, out_rate)
    taps, offsets, period = _TAPS[(in_rate, out_rate)]
    out_length = (len(audio) * out_rate) // in_rate
    step = in_rate // math.gcd(in_rate, out_rate)  # input samples per period of outputs
    margin = len(offsets)
    padded = np.concatenate([np.zeros(margin), audio.astype(np.float64), np.zeros(margin + step)])
    out = np.empty(out_length)
    stride = padded.strides[0]
    for phase in range(min(period, out_length)):
        count = len(range(phase, out_length, period))
        base = margin + phase * in_rate // out_rate + offsets[0]
        view = np.lib.stride_tricks.as_strided(padded[base:], (count, len(offsets)), (step * stride, stride))
        out[phase::period] = view @ taps[phase]
    return out


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=80): Slaney scale and norm."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(SAMPLE_RATE / 2.0)), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    weights = np.zeros((N_MELS, len(fft_freqs)))
    for i in range(N_MELS):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return weights


_FILTERS = mel_filters()
_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """16 kHz samples in [-1, 1] -> [80, frames] with frames = len // 160."""
    padded = np.pad(audio.astype(np.float64), N_FFT // 2, mode="reflect")
    frames = 1 + (len(padded) - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    spectrum = np.fft.rfft(padded[index] * _WINDOW, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2)[:-1]  # whisper drops the last frame
    mel = power @ _FILTERS.T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).T


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV -> float samples (channels averaged, as the runtime does), rate."""
    import struct

    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, rate, channels, bits, samples = 12, 0, 0, 0, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
        elif chunk == b"data":
            # espeak-ng --stdout writes 0x7fffffff sizes: the data runs to the end
            body = data[pos + 8 :] if size >= 0x7FFFFFF0 else body
            samples = np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2")
            break
        pos += 8 + size + (size & 1)
    if samples is None or bits != 16:
        raise ValueError("expected 16-bit PCM data")
    frames = len(samples) // channels
    mono = samples[: frames * channels].reshape(frames, channels).astype(np.float64).mean(axis=1)
    return mono / 32768.0, rate
