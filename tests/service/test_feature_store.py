"""Stored hashes as feature vectors: every value a finite number, the bad field named."""

from __future__ import annotations

import pytest

from service.errors import FeatureDataError, ServiceConfigError
from service.feature_store import RedisFeatureStore, parse_hash


def test_numbers_are_parsed() -> None:
    assert parse_hash("7", {"mean_radius": "14.1", "mean_area": "1e3"}) == {
        "mean_radius": 14.1,
        "mean_area": 1000.0,
    }


@pytest.mark.parametrize(
    ("text", "problem"), [("big", "is not a number"), ("inf", "is not finite"), ("nan", "is not finite")]
)
def test_a_bad_value_is_named_with_its_field(text: str, problem: str) -> None:
    with pytest.raises(FeatureDataError, match=f"features:7: field mean_area='{text}' {problem}"):
        parse_hash("7", {"mean_radius": "14.1", "mean_area": text})


def test_finite_values_whose_sum_overflows_are_kept() -> None:
    assert parse_hash("7", {"a": "1e308", "b": "1e308"}) == {"a": 1e308, "b": 1e308}


def test_urls_are_checked_when_the_store_is_built() -> None:
    with pytest.raises(ServiceConfigError, match="must look like redis://"):
        RedisFeatureStore("http://127.0.0.1:6379", timeout=0.1)
