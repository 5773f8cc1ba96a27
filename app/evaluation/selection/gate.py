"""The promotion gate's luck check: is a slice's chosen run better than the best of its trials by chance? (pure)

Reads a slice's ``selection`` check (``slice_report``) and refuses, with the
failing statistic and its value, when:

- the run was not measured (the statistics cover a slice's best and
  robust-best runs only; a slice too short or with one trial has none);
- its Deflated Sharpe Ratio is below ``min_dsr`` (the DSR paper's bar for a
  discovery is 0.95) over the slice's cumulative effective trials;
- the slice's PBO is above ``max_pbo``: picking the in-sample best of its grid
  does no better than the median out of sample too often.

``min_dsr <= 0`` together with ``max_pbo >= 1`` switches the check off.
"""

from __future__ import annotations

from typing import Any


def luck_check_on(*, min_dsr: float, max_pbo: float) -> bool:
    """Whether the luck check judges anything at these settings (module docstring)."""
    return min_dsr > 0 or max_pbo < 1


def luck_refusal(selection: dict[str, Any] | None, *, chosen: str | None, min_dsr: float, max_pbo: float) -> str | None:
    """Return why the ``chosen`` run (a key of ``selection``: 'best', 'robust', ...) is no better than luck,
    or None when it passes."""
    if not luck_check_on(min_dsr=min_dsr, max_pbo=max_pbo):
        return None
    selection = selection or {}
    if selection.get("status") != "measured" or chosen not in selection:
        why = selection.get("reason") or "only a slice's best and robust-best runs are measured"
        return f"no selection statistics: {why}"
    trials, run = selection["trials"], selection[chosen]
    if run["dsr"] < min_dsr:
        over = f"over {trials['cumulative']:,} trials, effective {trials['effective_cumulative']:,}"
        return f"luck: DSR {run['dsr']:.2f} < {min_dsr:.2f} {over}"
    pbo = selection["pbo"]
    if pbo["pbo"] > max_pbo:
        return f"luck: PBO {pbo['pbo']:.2f} > {max_pbo:.2f} over {pbo['splits']:,} splits of {trials['job']:,} trials"
    return None
