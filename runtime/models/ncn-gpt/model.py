"""A small GPT-2-style decoder whose forward pass has the Hugging Face KV-cache layout."""

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GptConfig:
    vocab_size: int = 4096
    n_positions: int = 256
    n_embd: int = 256
    n_layer: int = 4
    n_head: int = 8

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    def __init__(self, config: GptConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_mlp_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.n_head, width // self.n_head).transpose(1, 2)

    def forward(self, x, mask=None, past_key=None, past_value=None):
        batch, length, width = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(width, dim=2)
        q, k, v = self.heads(q), self.heads(k), self.heads(v)
        if past_key is not None:
            k = torch.cat([past_key, k], dim=2)
            v = torch.cat([past_value, v], dim=2)
        if mask is None:
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            attended = torch.softmax(scores, dim=-1) @ v
        attended = attended.transpose(1, 2).reshape(batch, length, width)
        x = x + self.c_proj(attended)
        x = x + self.c_mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, k, v


class Gpt(nn.Module):
    def __init__(self, config: GptConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.apply(self._init)
        for block in self.blocks:
            for proj in (block.c_proj, block.c_mlp_proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        # Output projection tied to the token embedding.
        return self.ln_f(x) @ self.wte.weight.t()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Training path: no cache, causal attention over the whole window."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.wte(input_ids) + self.wpe(positions)[None]
        for block in self.blocks:
            x, _, _ = block(x)
        return self.logits(x)


class GptWithCache(nn.Module):
    """Export wrapper: (input_ids, attention_mask, position_ids, past k/v...) -> (logits, present k/v...)."""

    def __init__(self, gpt: Gpt) -> None:
        super().__init__()
        self.gpt = gpt

    def forward(self, input_ids, attention_mask, position_ids, *past):
        length = input_ids.shape[1]
        past_length = past[0].shape[2]
        query_positions = torch.arange(length, device=input_ids.device) + past_length
        key_positions = torch.arange(past_length + length, device=input_ids.device)
        causal = key_positions[None, :] <= query_positions[:, None]
        mask = causal[None, None, :, :] & (attention_mask[:, None, None, :] > 0)
        x = self.gpt.wte(input_ids) + self.gpt.wpe(position_ids)
        presents = []
        for i, block in enumerate(self.gpt.blocks):
            x, k, v = block(x, mask, past[2 * i], past[2 * i + 1])
            presents += [k, v]
        return (self.gpt.logits(x), *presents)
