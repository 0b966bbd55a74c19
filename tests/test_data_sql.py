"""SQL helpers and macros of the data layer, each against an independent Python computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optinter.data import sql

M32 = np.uint64(0xFFFFFFFF)


def _fmix32(x: np.ndarray) -> np.ndarray:
    """murmur3's 32-bit finaliser, written from its published definition."""
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x85EBCA6B)) & M32
    x = x ^ (x >> np.uint64(13))
    x = (x * np.uint64(0xC2B2AE35)) & M32
    return x ^ (x >> np.uint64(16))


def split_reference(row_ids: np.ndarray, seed: int, train: float, valid: float) -> np.ndarray:
    r = row_ids.astype(np.uint64)
    seed_mix = _fmix32(np.array([seed], np.uint64) & M32)
    h = _fmix32(_fmix32((r & M32) ^ seed_mix) ^ (r >> np.uint64(32)))
    u = h.astype(np.float64) / 2.0**32
    return np.where(u < train, 0, np.where(u < train + valid, 1, 2)).astype(np.uint8)


@pytest.fixture(scope="module")
def con():
    c = sql.connect({"threads": 2, "memory_limit": "512MB"})
    yield c
    c.close()


def test_quote_ident_accepts_names_and_rejects_injection():
    assert sql.quote_ident("C1") == '"C1"'
    assert sql.quote_ident("device_conn_type") == '"device_conn_type"'
    for bad in ['C1"; DROP TABLE x; --', "a b", "", "1abc", None, 'x"']:
        with pytest.raises(ValueError):
            sql.quote_ident(bad)


def test_repeat_blocks_expand_with_quoted_identifiers():
    stmt = "SELECT * FROM (\n    -- repeat cols joined by UNION ALL\n    SELECT $n[{pos}], {ident} FROM t\n    -- end repeat\n)"
    out = sql.expand(stmt, {"cols": ["a", "b"]})
    assert 'SELECT $n[1], "a" FROM t\nUNION ALL\n    SELECT $n[2], "b" FROM t' in out
    with pytest.raises(KeyError):
        sql.expand(stmt, {})
    with pytest.raises(ValueError):
        sql.expand(stmt, {"cols": ["ok", "not ok"]})


@pytest.mark.parametrize("seed", [0, 7, 2022, 2**40 + 3])
def test_split_code_matches_reference_and_fractions(con, seed):
    ids = np.r_[np.arange(20_000), 2**33 + np.arange(50), 2**40 + 17].astype(np.int64)
    got = np.array([r[0] for r in con.execute(
        "SELECT split_code(r, $seed, 0.8, 0.9) FROM unnest($ids) WITH ORDINALITY t(r, i) ORDER BY i",
        {"seed": seed, "ids": ids.tolist()}).fetchall()], np.uint8)
    np.testing.assert_array_equal(got, split_reference(ids, seed, 0.8, 0.1))
    share = np.bincount(got[:20_000], minlength=3) / 20_000
    np.testing.assert_allclose(share, [0.8, 0.1, 0.1], atol=0.01)


def test_split_depends_on_seed(con):
    q = "SELECT list(split_code(r, $seed, 0.8, 0.9) ORDER BY r) FROM range(2000) t(r)"
    a = con.execute(q, {"seed": 1}).fetchall()[0][0]
    b = con.execute(q, {"seed": 2}).fetchall()[0][0]
    assert a != b


def test_log_bucket_matches_python(con):
    xs = [None, -3, 0, 1, 2, 3, 7, 20, 100, 12345, 1618112]
    got = [r[0] for r in con.execute(
        "SELECT log_bucket(x) FROM unnest($xs::BIGINT[]) WITH ORDINALITY t(x, i) ORDER BY i",
        {"xs": xs}).fetchall()]
    want = ["" if x is None else str(int(math.floor(math.log(x) ** 2))) if x > 2 else str(x)
            for x in xs]
    assert got == want


def _py_os_browser(ua: str) -> str:
    ua = ua.lower()
    os_ = next((o for o in ["windows", "ios", "mac", "android", "linux"] if o in ua), "other")
    br = next((b for b in ["chrome", "sogou", "maxthon", "safari", "firefox", "theworld", "opera",
                           "ie"] if b in ua), "other")
    return f"{os_}_{br}"


def test_os_browser_and_slotprice_follow_make_ipinyou_data(con):
    uas = ["Mozilla/5.0 (Windows NT 5.1) AppleWebKit/537.17 (KHTML, like Gecko) Chrome/24.0 Safari/537.17",
           "Mozilla/5.0 (iPhone; CPU iPhone OS 6_0 like Mac OS X) Safari", "Opera/9.80 (X11; Linux)",
           "curl/7", "windows_ie", "other_other", "mac_safari"]
    got = [r[0] for r in con.execute(
        "SELECT os_browser(u) FROM unnest($u) WITH ORDINALITY t(u, i) ORDER BY i", {"u": uas}).fetchall()]
    assert got == [_py_os_browser(u) for u in uas]
    prices = ["0", "1", "10", "11", "50", "51", "100", "101", "238"]
    got = [r[0] for r in con.execute(
        "SELECT slotprice_bucket(p) FROM unnest($p) WITH ORDINALITY t(p, i) ORDER BY i", {"p": prices}).fetchall()]
    assert got == ["0", "1-10", "1-10", "11-50", "11-50", "51-100", "51-100", "101+", "101+"]
