"""A small whisper-shaped speech recogniser: conv front end over 80-bin log-mel frames,
a pre-norm transformer encoder with sinusoidal positions, a decoder with learned
positions, causal self-attention, cross-attention and tied output embeddings. A CTC head
on the encoder speeds up learning the alignment; it is training-only and not exported.

The export wrappers give the Hugging Face whisper ONNX signatures:
encoder (input_features -> last_hidden_state), decoder (input_ids, encoder_hidden_states
-> logits, present.{i}.decoder/encoder.key/value) and decoder with past (input_ids,
past_key_values.{i}.decoder/encoder.key/value -> logits, present.{i}.decoder.key/value).
"""

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class WhisperConfig:
    vocab_size: int = 33
    n_mels: int = 80
    d_model: int = 192
    n_head: int = 4
    encoder_layers: int = 4
    decoder_layers: int = 3
    max_source_positions: int = 1500
    max_target_positions: int = 128
    conv_strides: tuple[int, int] = (1, 2)

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoids(length: int, channels: int) -> torch.Tensor:
    log_timescale_increment = math.log(10000) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


class Attention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        scale = 1.0 / math.sqrt(q.shape[-1])
        scores = torch.matmul(q, k.transpose(-1, -2)) * scale
        if bias is not None:
            scores = scores + bias
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        b, h, t, hd = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h * hd))

    def keys(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.k_proj(x)), self.split(self.v_proj(x))


class EncoderLayer(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.self_attn = Attention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        h = self.self_attn_layer_norm(x)
        k, v = self.self_attn.keys(h)
        x = x + self.self_attn.attend(self.self_attn.split(self.self_attn.q_proj(h)), k, v, bias)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class DecoderLayer(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.self_attn = Attention(d, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x, self_k, self_v, self_bias, cross_k, cross_v, cross_bias):
        """self_k/self_v already hold the past and this step's keys."""
        h = self.self_attn_layer_norm(x)
        x = x + self.self_attn.attend(self.self_attn.split(self.self_attn.q_proj(h)), self_k, self_v, self_bias)
        h = self.encoder_attn_layer_norm(x)
        x = x + self.encoder_attn.attend(self.encoder_attn.split(self.encoder_attn.q_proj(h)), cross_k, cross_v, cross_bias)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class Encoder(nn.Module):
    def __init__(self, c: WhisperConfig):
        super().__init__()
        self.conv1 = nn.Conv1d(c.n_mels, c.d_model, 3, stride=c.conv_strides[0], padding=1)
        self.conv2 = nn.Conv1d(c.d_model, c.d_model, 3, stride=c.conv_strides[1], padding=1)
        self.register_buffer("embed_positions", sinusoids(c.max_source_positions, c.d_model), persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(c.d_model, c.n_head) for _ in range(c.encoder_layers))
        self.layer_norm = nn.LayerNorm(c.d_model)

    def forward(self, features: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        x = F.gelu(self.conv2(F.gelu(self.conv1(features)))).transpose(1, 2)
        x = x + self.embed_positions[: x.shape[1]]
        for layer in self.layers:
            x = layer(x, bias)
        return self.layer_norm(x)


class Decoder(nn.Module):
    def __init__(self, c: WhisperConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.d_model)
        self.embed_positions = nn.Embedding(c.max_target_positions, c.d_model)
        self.layers = nn.ModuleList(DecoderLayer(c.d_model, c.n_head) for _ in range(c.decoder_layers))
        self.layer_norm = nn.LayerNorm(c.d_model)
        # small embeddings: they are also the output projection (tied), so logits start near 0
        nn.init.normal_(self.embed_tokens.weight, std=0.02)
        nn.init.normal_(self.embed_positions.weight, std=0.02)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.layer_norm(x), self.embed_tokens.weight.t())


class Whisper(nn.Module):
    def __init__(self, c: WhisperConfig):
        super().__init__()
        self.config = c
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        self.ctc_head = nn.Linear(c.d_model, c.vocab_size)

    def frames_out(self, frames: torch.Tensor) -> torch.Tensor:
        for s in self.config.conv_strides:
            frames = (frames - 1) // s + 1
        return frames

    def forward(self, features, frame_lengths, tokens):
        """Training pass: features [B, 80, T] (padded), tokens [B, L] -> (logits, ctc_log_probs, enc_lengths)."""
        enc_lengths = self.frames_out(frame_lengths)
        t_out = self.frames_out(torch.tensor(features.shape[2])).item()
        pad = torch.arange(t_out)[None, :] >= enc_lengths[:, None]
        bias = torch.zeros(pad.shape).masked_fill(pad, float("-inf"))[:, None, None, :]
        enc = self.encoder(features, bias)
        dec = self.decoder
        length = tokens.shape[1]
        x = dec.embed_tokens(tokens) + dec.embed_positions.weight[:length]
        causal = torch.full((length, length), float("-inf")).triu(1)
        for layer in dec.layers:
            h = layer.self_attn_layer_norm(x)
            k, v = layer.self_attn.keys(h)
            ck, cv = layer.encoder_attn.keys(enc)
            x = layer(x, k, v, causal, ck, cv, bias)
        ctc = F.log_softmax(self.ctc_head(enc), dim=-1)
        return dec.logits(x), ctc, enc_lengths


class EncoderExport(nn.Module):
    def __init__(self, model: Whisper):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, input_features):
        return self.encoder(input_features)


class DecoderExport(nn.Module):
    """First step: no past. Returns logits and every present (decoder and encoder)."""

    def __init__(self, model: Whisper):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, input_ids, encoder_hidden_states):
        dec = self.decoder
        length = input_ids.shape[1]
        x = dec.embed_tokens(input_ids) + dec.embed_positions.weight[:length]
        causal = torch.full((length, length), float("-inf")).triu(1)
        presents = []
        for layer in dec.layers:
            k, v = layer.self_attn.keys(layer.self_attn_layer_norm(x))
            ck, cv = layer.encoder_attn.keys(encoder_hidden_states)
            x = layer(x, k, v, causal, ck, cv, None)
            presents += [k, v, ck, cv]
        return (dec.logits(x), *presents)


class DecoderWithPastExport(nn.Module):
    """Later steps: past decoder keys grow, encoder keys are reused; one or more new tokens."""

    def __init__(self, model: Whisper):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, input_ids, *past):
        dec = self.decoder
        past_length = past[0].shape[2]
        length = input_ids.shape[1]
        positions = torch.arange(length) + past_length
        x = dec.embed_tokens(input_ids) + dec.embed_positions(positions)[None]
        total = past_length + length
        # row r may see columns up to past_length + r
        causal = torch.where(
            torch.arange(total)[None, :] > (positions[:, None]),
            torch.tensor(float("-inf")), torch.tensor(0.0),
        )
        presents = []
        for i, layer in enumerate(dec.layers):
            pk, pv, ck, cv = past[4 * i : 4 * i + 4]
            k, v = layer.self_attn.keys(layer.self_attn_layer_norm(x))
            k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
            x = layer(x, k, v, causal, ck, cv, None)
            presents += [k, v]
        return (dec.logits(x), *presents)
