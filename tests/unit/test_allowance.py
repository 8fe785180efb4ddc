"""The cost estimator against the Always Free allowances, with dollar figures worked by hand."""

from __future__ import annotations

import pytest

from model.allowance import (
    A1_ALLOWANCES,
    BLOCK_USD_PER_GB_MONTH,
    Instance,
    egress_alarm_bytes,
    estimate_monthly_cost,
)

PAYG, FREE_2026 = A1_ALLOWANCES["payg"], A1_ALLOWANCES["free-2026"]
SEEDS = Instance(ocpus=4, memory_gb=24, boot_volume_gb=50)


def test_the_seeds_server_is_free_on_payg() -> None:
    assert estimate_monthly_cost([SEEDS], PAYG).total_usd == 0


def test_the_seeds_server_costs_on_the_2026_allowance() -> None:
    # 4 x 730 - 1500 = 1420 OCPU-hours x $0.01 = $14.20; 24 x 730 - 9000 = 8520 GB-hours x $0.0015 = $12.78.
    estimate = estimate_monthly_cost([SEEDS], FREE_2026)
    assert estimate.ocpu_usd == pytest.approx(14.20)
    assert estimate.memory_usd == pytest.approx(12.78)
    assert estimate.total_usd == pytest.approx(26.98)
    assert "1420 OCPU-hours over" in estimate.explain()


def test_two_ocpus_and_12_gb_are_free_on_either_allowance() -> None:
    small = Instance(2, 12, 50)
    assert estimate_monthly_cost([small], FREE_2026).total_usd == 0
    assert estimate_monthly_cost([small], PAYG).total_usd == 0


def test_a_disk_over_200_gb_costs_per_gb() -> None:
    # 250 GB - 200 GB = 50 GB x ($0.0255 + 10 x $0.0017) = 50 x $0.0425 = $2.125.
    estimate = estimate_monthly_cost([Instance(2, 12, 250)], FREE_2026)
    assert pytest.approx(0.0425) == BLOCK_USD_PER_GB_MONTH
    assert estimate.block_usd == pytest.approx(2.125)
    assert estimate.total_usd == pytest.approx(2.12)


def test_two_instances_are_summed_against_one_allowance() -> None:
    # Two seeds servers on PAYG: 8 x 730 - 3000 = 2840 OCPU-h ($28.40), 48 x 730 - 18000 = 17040 GB-h ($25.56).
    estimate = estimate_monthly_cost([SEEDS, SEEDS], PAYG)
    assert estimate.total_usd == pytest.approx(53.96)
    assert estimate_monthly_cost([Instance(2, 12, 50), Instance(2, 12, 50)], PAYG).total_usd == 0


def test_egress_alarms_are_shares_of_the_months_10_tb() -> None:
    assert egress_alarm_bytes(1.0) == 10_000_000_000_000
    assert egress_alarm_bytes(0.8) == 8_000_000_000_000


@pytest.mark.parametrize(("terabytes", "usd"), [(6.6, 0.0), (10, 0.0), (13.2, 32.0), (19.8, 98.0), (33, 230.0)])
def test_egress_beyond_10_tb_is_priced_as_the_seeds_reckon(terabytes: float, usd: float) -> None:
    # seed 001: one space 6.6 TB free; two 13.2 TB about $32; three 19.8 TB $98; five 33 TB $230.
    assert estimate_monthly_cost([SEEDS], PAYG, egress_tb=terabytes).total_usd == pytest.approx(usd)
