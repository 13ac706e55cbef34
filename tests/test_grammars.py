"""Each grammar against the edges of what its consumer takes (hecate/grammars.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hecate import grammars


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", "0.1"),
        ("1", "1"),
        ("+1", "1"),
        ("1.", "1"),
        (".5", "0.5"),
        ("1.5Gi", str(1.5 * 2**30)),
        ("1e3", "1000"),
        ("1E3", "1000"),  # E3 is an exponent, not exa: the longest suffix wins, as in Kubernetes
        ("2E", str(2 * 10**18)),
        ("500000n", None),  # 0.0005: finer than a thousandth
        ("1000u", "0.001"),
        ("0e99", "0"),
        ("8Ei", None),  # 2^63: one past the cap
        ("0.1m", None),  # finer than a thousandth: the API server would read 1m
        ("1n", None),
        ("1.0001", None),
        ("-1", None),
        ("1e-4", None),
        ("1e400", None),
        ("1 Gi", None),
        ("1gi", None),
        ("１", None),  # a fullwidth digit
        ("1\n", None),
        ("", None),
    ],
)
def test_quantities_are_what_the_api_server_reads(text, value):
    expected = None if value is None else Decimal(value)
    assert grammars.parse_quantity(text) == expected


@given(st.integers(min_value=0, max_value=2**63 - 1), st.sampled_from(["", "m", "k", "Ki"]))
def test_every_representable_quantity_is_taken_at_its_value(number, suffix):
    scale = {"": 1, "m": Decimal("0.001"), "k": 1000, "Ki": 1024}[suffix]
    amount = Decimal(number) * scale
    result = grammars.parse_quantity(f"{number}{suffix}")
    assert result == (amount if amount <= grammars.QUANTITY_MAX else None)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("1m", True),
        ("1h30m", True),
        ("1.5s", True),
        ("100ms", True),
        ("2562047h", True),
        ("2562048h", False),  # past an int64 of nanoseconds: Go refuses it
        ("0.0000000001s", False),  # finer than a nanosecond: Go would read 0s
        ("1d", False),
        ("1", False),
        ("-1s", False),
        ("1m ", False),
        ("", False),
    ],
)
def test_flux_durations(text, ok):
    assert grammars.is_flux_duration(text) is ok


@pytest.mark.parametrize(
    ("url", "http", "repository"),
    [
        ("http://localhost:11434", True, True is False),
        ("https://ollama.internal:443/api", True, True),
        ("http://[::1]:11434", True, False),
        ("http://127.0.0.1/repo", True, True),  # http only on loopback, for a repository
        ("http://git.example.com/repo", True, False),
        ("ssh://git@github.com/org/repo", False, True),
        ("https://host:99999", False, False),
        ("https://host:0/x", False, False),
        ("https://host:8a/x", False, False),
        ("https://ho st/x", False, False),
        ("https://host/x?ref=main", False, False),
        ("https://host/x#main", False, False),
        ("https://host/%zz", False, False),
        ("https://-host-/x", False, False),
        ("https://host./x", False, False),
        ("HTTPS://host/x", False, False),
        ("https://hôst/x", False, False),
        ("https://host/x\n", False, False),
        ("https://1.2.3/x", False, False),
        ("https:///x", False, False),
        ("host:11434", False, False),
    ],
)
def test_urls(url, http, repository):
    assert grammars.is_http_url(url) is http
    assert grammars.is_repository_url(url) is repository


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("ghcr.io/hecate-social/hecate-daemon", True),
        ("registry.internal:5000/hecate/daemon", True),
        ("localhost/daemon", True),
        ("daemon", True),
        ("hecate/hecate__daemon", True),
        ("hecate/hecate--daemon", True),
        ("hecate/a..b", False),
        ("hecate/a._b", False),
        ("hecate/a___b", False),
        ("hecate/-daemon", False),
        ("Hecate", False),
        ("ghcr.io/Hecate/daemon", False),
        ("ghcr.io/hecate/daemon:0.7.2", False),
        ("ghcr.io/hecate/daemon@sha256:" + "0" * 64, False),
        ("ghcr.io//daemon", False),
        ("ghcr.io/" + "a" * 250, False),  # past 255 characters
    ],
)
def test_image_repositories(image, ok):
    assert grammars.is_image_repository(image) is ok


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("0.7.2", True),
        ("0.8.0-rc.1", True),
        ("0.7", False),
        ("0.7.2-" + "a" * 130, False),  # past an image tag's 128
        ("0.7.2-" + "a" * 57, True),  # 63: a label value's longest
        ("0.7.2-" + "a" * 58, False),  # 64: an image tag, but no label value
        ("0.7.2-" + "a" * 100, False),
        ("0.8.0-rc.", False),  # a label value ends in a letter or digit
        ("0.8.0-rc-", False),
    ],
)
def test_release_versions_are_image_tags_and_label_values(version, ok):
    assert grammars.is_release_version(version) is ok
    if ok:
        assert grammars.is_image_tag(version) and grammars.is_label_value(version)


@pytest.mark.parametrize(
    ("branch", "ok"),
    [
        ("main", True),
        ("release/0.7", True),
        ("a/.b", False),
        ("a//b", False),
        ("a.lock/b", False),
        ("a.lock", False),
        ("a..b", False),
        ("@", False),
        ("a@{b", False),
        ("-a", False),
        ("a.", False),
        ("a b", False),
        ("a\x7f", False),
        ("a:b", False),
        ("/a", False),
        ("a/", False),
    ],
)
def test_branches_as_git_check_ref_format_takes_them(branch, ok):
    assert grammars.is_branch(branch) is ok


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("nvidia.com/gpu", True),
        ("hecate.test/gpu", True),
        ("gpu", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("Nvidia.com/gpu", False),  # the prefix is a DNS subdomain: lowercase
        ("/gpu", False),
        ("nvidia.com/", False),
        ("gpu-", False),
    ],
)
def test_label_keys(key, ok):
    assert grammars.is_label_key(key) is ok


def test_names_are_bounded_as_the_api_server_bounds_them():
    assert grammars.is_dns_label("a" * 63) and not grammars.is_dns_label("a" * 64)
    assert grammars.is_dns_subdomain("a" * 253) and not grammars.is_dns_subdomain("a" * 254)
    assert grammars.is_label_value("") and not grammars.is_label_value("a" * 64)
    assert grammars.is_env_name("OPENAI_API_KEY") and not grammars.is_env_name("1KEY")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        *(("600s", 600), ("90m", 5400), ("24h", 86400), ("7d", 604800)),
        *(("0h", None), ("１h", None), ("24", None), ("h", None), ("1.5h", None)),
        *(("24h ", None), ("-1h", None), ("1h30m", None)),
    ],
)
def test_token_durations(text, seconds):
    assert grammars.token_duration_seconds(text) == seconds
