"""A variational autoencoder over architectures, with transformer encoder and decoder (paper 002, section 3).

An architecture is a fixed-length sequence of tokens, one per position of its encoding (an NB201 cell:
6 edges, 5 operations each). The encoder (token + position embeddings, transformer layers, mean
pooling) maps it to the mean and log-variance of a Gaussian over z; the decoder (z projected to one
vector per position, transformer layers) gives per-position logits over that position's own choices
only, so every decoded sequence is made of legal tokens. Loss: reconstruction cross-entropy plus the
KL divergence to N(0, I) (eq. 2).

Example:
    >>> import numpy as np
    >>> tokens = np.array([[0, 1, 2], [1, 1, 0], [2, 0, 1]])
    >>> vae = ArchitectureVAE([3, 2, 3], seed=0)
    >>> _ = vae.fit(tokens, epochs=300)
    >>> vae.reconstruction_accuracy(tokens)
    1.0
    >>> samples = vae.sample(5, np.random.default_rng(0))
    >>> samples.shape, bool((samples < np.array([3, 2, 3])).all())
    ((5, 3), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from archtune.errors import ConfigError


class ArchitectureVAE(nn.Module):
    """Transformer VAE over token sequences with ``vocab_sizes[p]`` choices at position ``p``.

    Args:
        vocab_sizes: number of choices per position.
        d_model, heads, layers: transformer width, attention heads and depth (encoder and decoder each).
        latent: dimension of z.
        kl_weight: weight of the KL term once warmed up (1 is the plain ELBO of eq. 2; the default 0.1, a
            beta-VAE, keeps z informative on the few dozen architectures a round trains on, where the
            plain ELBO collapses the posterior and the decoder forgets the input).
        seed: initial weights and training draws.
    """

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        d_model: int = 32,
        heads: int = 4,
        layers: int = 2,
        latent: int = 8,
        kl_weight: float = 0.1,
        seed: int = 0,
    ):
        super().__init__()
        if not vocab_sizes or min(vocab_sizes) < 1:
            raise ConfigError(f"every position needs at least one choice, got {list(vocab_sizes)}")
        torch.manual_seed(seed)
        self.vocab_sizes = [int(v) for v in vocab_sizes]
        self.latent = latent
        self.kl_weight = kl_weight
        self.seed = seed
        positions, total = len(self.vocab_sizes), sum(self.vocab_sizes)
        offsets = np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]])
        self.offsets: torch.Tensor
        self.illegal: torch.Tensor
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long))
        legal = torch.zeros(positions, total, dtype=torch.bool)
        for p, (start, size) in enumerate(zip(offsets, self.vocab_sizes, strict=True)):
            legal[p, start : start + size] = True
        self.register_buffer("illegal", ~legal)

        def stack() -> nn.TransformerEncoder:
            layer = nn.TransformerEncoderLayer(
                d_model, heads, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True
            )
            return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

        self.token_embedding = nn.Embedding(total, d_model)
        self.position_embedding = nn.Parameter(torch.randn(positions, d_model) * 0.1)
        self.encoder = stack()
        self.to_mu = nn.Linear(d_model, latent)
        self.to_logvar = nn.Linear(d_model, latent)
        self.from_z = nn.Linear(latent, d_model)
        self.decoder = stack()
        self.to_logits = nn.Linear(d_model, total)

    # -- the model -------------------------------------------------------------------------------
    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | tokens); ``tokens`` holds choice indices, shape (batch, positions)."""
        h = self.token_embedding(tokens + self.offsets) + self.position_embedding
        pooled = self.encoder(h).mean(dim=1)
        return self.to_mu(pooled), self.to_logvar(pooled)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits (batch, positions, total vocabulary); illegal choices of each position are -inf."""
        h = self.from_z(z).unsqueeze(1) + self.position_embedding
        logits = self.to_logits(self.decoder(h))
        return logits.masked_fill(self.illegal, float("-inf"))

    def loss(
        self, tokens: torch.Tensor, generator: torch.Generator | None = None, warmup: float = 1.0
    ) -> torch.Tensor:
        """Negative ELBO per architecture: reconstruction cross-entropy + warmup * kl_weight * KL(q || N(0, I))."""
        mu, logvar = self.encode(tokens)
        noise = torch.randn(mu.shape, generator=generator)
        z = mu + noise * torch.exp(0.5 * logvar)
        logits = self.decode(z)
        target = tokens + self.offsets
        reconstruction = nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (reconstruction + warmup * self.kl_weight * kl) / len(tokens)

    # -- use -------------------------------------------------------------------------------------
    def fit(self, tokens: np.ndarray, epochs: int = 200, lr: float = 3e-3, batch: int = 64) -> list[float]:
        """Train on ``tokens`` (rows = architectures); returns the loss per epoch.

        The KL weight rises linearly from 0 over the first half of the epochs (KL warm-up), so the
        decoder learns to use z before the prior pulls the codes together.
        """
        data = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
        self._check(data)
        generator = torch.Generator().manual_seed(self.seed)
        optimiser = torch.optim.Adam(self.parameters(), lr=lr)
        self.train()
        losses = []
        for epoch in range(epochs):
            warmup = min(1.0, 2 * epoch / epochs)
            order = torch.randperm(len(data), generator=generator)
            total = 0.0
            for start in range(0, len(data), batch):
                chunk = data[order[start : start + batch]]
                optimiser.zero_grad()
                loss = self.loss(chunk, generator, warmup)
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
                total += float(loss.detach()) * len(chunk)
            losses.append(total / len(data))
        self.eval()
        return losses

    @torch.no_grad()
    def reconstruction_accuracy(self, tokens: np.ndarray) -> float:
        """Share of architectures whose decoded mean latent reproduces every token."""
        data = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
        self._check(data)
        mu, _ = self.encode(data)
        decoded = self.decode(mu).argmax(dim=-1) - self.offsets
        return float((decoded == data).all(dim=1).float().mean())

    @torch.no_grad()
    def sample(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """``n`` architectures from p(tokens | z), z ~ N(0, I): choice indices, shape (n, positions)."""
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        z = torch.randn(n, self.latent, generator=generator)
        probs = torch.softmax(self.decode(z) / temperature, dim=-1)
        picks = torch.multinomial(probs.flatten(0, 1), 1, generator=generator).view(n, -1)
        return (picks - self.offsets).numpy()

    def _check(self, data: torch.Tensor) -> None:
        sizes = torch.as_tensor(self.vocab_sizes)
        if (
            data.ndim != 2
            or data.shape[1] != len(self.vocab_sizes)
            or (data < 0).any()
            or (data >= sizes).any()
        ):
            raise ConfigError(
                f"tokens must be (n, {len(self.vocab_sizes)}) choice indices below {self.vocab_sizes}"
            )
