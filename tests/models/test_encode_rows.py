"""PriceTransformer.encode_rows: the export's row-sharing encoder equals encode() on the
gathered windows and reads only each window's own rows, for consecutive and scattered rows."""

from __future__ import annotations

import pytest
import torch

from quantray.models import PriceTransformer

from .conftest import MINI_WINDOW as L
from .conftest import mini_model


def _model(**changes: object) -> PriceTransformer:
    """The one-layer mini model: the shape ``encode_rows`` shares per-row work for."""
    return mini_model(**{"n_layers": 1, **changes}).eval()


def _windows(table: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    return table[ends[:, None] + torch.arange(-L + 1, 1)]  # [B, L] rows -> [B, L, F]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"q_lora_rank": 12, "v_head_dim": 8},  # latent queries; padded values for SDPA
        {"ffn": "moe", "num_experts": 3, "top_k": 2},
        {"ffn": "geglu", "n_layers": 2},  # deeper: gathers the windows
    ],
)
def test_equals_encode_of_the_gathered_windows(changes: dict) -> None:
    model = _model(**changes)
    table = torch.randn(90, 11)
    # Two runs of consecutive days with a gap between them, as around a symbol boundary.
    ends = torch.cat([torch.arange(L - 1, 50), torch.arange(60, 90)])
    torch.testing.assert_close(
        model.encode_rows(table, ends), model.encode(_windows(table, ends)), atol=1e-6, rtol=1e-5
    )


def test_a_window_reads_only_its_own_rows() -> None:
    model = _model()
    table = torch.randn(80, 11)
    ends = torch.arange(L - 1, 80)
    before = model.encode_rows(table, ends)
    changed = table.clone()
    changed[40] += 5.0  # a day inside windows ending at rows 40 .. 40 + L - 1 only
    after = model.encode_rows(changed, ends)
    moved = (after - before).abs().amax(dim=1) > 1e-4  # [B]
    reads_40 = (ends >= 40) & (ends <= 40 + L - 1)
    assert torch.equal(moved, reads_40)


def test_scattered_rows_give_the_same_features() -> None:
    model = _model()
    table = torch.randn(400, 11)
    ends = torch.tensor([30, 200, 399])  # table rows >> B + 2L: the gathering path
    torch.testing.assert_close(
        model.encode_rows(table, ends), model.encode(_windows(table, ends)), atol=1e-6, rtol=1e-5
    )
