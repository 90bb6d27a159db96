"""Closed-form M/M/c results (Erlang C): the anchor the simulator is checked against.

Poisson arrivals at rate `lam`, exponential service at rate `mu` per server, `c` servers, one FCFS
queue without limit. Offered load a = lam / mu, utilisation rho = a / c (must be < 1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MMc:
    lam: float
    mu: float
    c: int

    def __post_init__(self) -> None:
        if self.lam <= 0:
            raise ValueError(f"lam={self.lam} must be > 0")
        if self.mu <= 0:
            raise ValueError(f"mu={self.mu} must be > 0")
        if self.c < 1:
            raise ValueError(f"c={self.c} must be >= 1")
        if self.utilisation >= 1:
            raise ValueError(
                f"utilisation={self.utilisation} must be < 1 (lam={self.lam}, mu={self.mu}, c={self.c})"
            )

    @property
    def offered_load(self) -> float:
        return self.lam / self.mu

    @property
    def utilisation(self) -> float:
        return self.lam / (self.c * self.mu)

    @property
    def erlang_b(self) -> float:
        """Blocking probability of M/M/c/c, by the stable recursion B(k) = a B(k-1) / (k + a B(k-1))."""
        a, b = self.offered_load, 1.0
        for k in range(1, self.c + 1):
            b = a * b / (k + a * b)
        return b

    @property
    def erlang_c(self) -> float:
        """Probability that an arrival has to wait: C = B / (1 - rho (1 - B))."""
        b, rho = self.erlang_b, self.utilisation
        return b / (1.0 - rho * (1.0 - b))

    @property
    def mean_wait(self) -> float:
        """Mean time in queue Wq = C / (c mu - lam)."""
        return self.erlang_c / (self.c * self.mu - self.lam)

    @property
    def mean_response(self) -> float:
        """Mean time in system W = Wq + 1 / mu."""
        return self.mean_wait + 1.0 / self.mu

    @property
    def mean_in_system(self) -> float:
        """L = lam W (Little's law)."""
        return self.lam * self.mean_response
