"""Estimated cost of a rewriting run, for `--rewrites.dry_run=true` and the usage summary.

PRICES are US dollars per million tokens (input, output) of OpenAI's standard (online) tier, as
published in 2025; the Batch API costs half (BATCH_DISCOUNT). A model is priced by its exact name,
else by the longest listed prefix ("gpt-4o-2024-11-20" -> "gpt-4o"); unknown models get no price
(tokens are still estimated). The table applies on OpenAI's own endpoint only: a local server may
give its model any name, so there a model is priced by `rewrites.price_per_million_tokens` or shown
as "no price". Prices change: check https://openai.com/api/pricing before trusting a figure, and add
a model here when you use it.

Tokens are estimated without a tokenizer, at ~4 characters per token (English prose with OpenAI's
tokenizers), plus a few tokens of chat formatting per message. A rewrite is assumed to be about as
long as the text it rewrites (capped at `rewrites.max_tokens`).
"""

from __future__ import annotations

from typing import Optional

PRICES = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
BATCH_DISCOUNT = 0.5
NO_PRICE = "no price"
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def estimate_tokens(text: str) -> int:
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def price_of(model: str) -> Optional[tuple[float, float]]:
    if model in PRICES:
        return PRICES[model]
    prefixes = [name for name in PRICES if model.startswith(name + "-")]
    return PRICES[max(prefixes, key=len)] if prefixes else None


def cost_at(price: tuple[float, float], input_tokens: int, output_tokens: int, batch: bool) -> float:
    """Dollars for this many tokens at `price` (input, output) per million tokens."""
    dollars = (input_tokens * price[0] + output_tokens * price[1]) / 1e6
    return dollars * (BATCH_DISCOUNT if batch else 1.0)


def cost(model: str, input_tokens: int, output_tokens: int, batch: bool) -> Optional[float]:
    """Dollars for this many tokens, or None when the model is not in PRICES."""
    price = price_of(model)
    return None if price is None else cost_at(price, input_tokens, output_tokens, batch)


def cost_text(cost: Optional[float], batch: bool, price_key: str) -> str:
    """An estimated cost as a dry run shows it; `price_key` is the setting that prices an unpriced model."""
    if cost is None:
        return f"no price (this model on this server; {price_key}: [input, output] prices it)"
    return f"${cost:,.2f}" + (" (Batch API price, 50% off)" if batch else "")


def plan_lines(title: str, plan: dict, batch: bool, price_key: str, output_note: str = "") -> list[str]:
    """A dry run's block for one plan of requests (an engine's `estimate`): requests, tokens, cost."""
    return [title,
            f"  requests:                {plan['requests']:,} ({plan['cached']:,} answered from the cache, "
            f"{plan['to_send']:,} to send)",
            f"  estimated input tokens:  {plan['input_tokens']:,}",
            f"  estimated output tokens: {plan['output_tokens']:,}" + (f" ({output_note})" if output_note else ""),
            f"  estimated cost:          {cost_text(plan['cost_usd'], batch, price_key)}"]
