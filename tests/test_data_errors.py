"""Bad raw input (issue 13): one-line `DataError`s naming the file, the physical line (header
counted) or field, and what was expected, with nothing left at the output path. Every bad file is
derived from the real samples into tmp_path."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from optinter.data.ingest import ingest
from optinter.data.readers import DataError, _line_ending_problem

CFG = {"threads": 2, "memory_limit": "512MB"}
CRITEO = "criteo/dac_head10000/train.txt"
AVAZU = "avazu/head10000/train.csv"
IPY_TRAIN = "ipinyou/make-ipinyou-data/2259/train.log.txt"
AVAZU_EXPECTED = ("expected the Avazu header (24 comma-separated columns "
                  "id,click,hour,C1,...,C20,C21)")
INT64 = "(expected -9223372036854775808 to 9223372036854775807)"


def _lines(samples_dir: Path, name: str, n: int = 30) -> list[str]:
    return (samples_dir / name).read_text().splitlines()[:n]


def _write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes("".join(line + end for line in lines).encode())
    return path


def _set(line: str, sep: str, k: int, value: str) -> str:
    f = line.split(sep)
    f[k] = value
    return sep.join(f)


def _fails(fmt: str, src: Path, tmp_path: Path) -> str:
    """The DataError message of ingesting `src`, checked to be one line that leaves no file."""
    out = tmp_path / "out" / "raw.parquet"
    with pytest.raises(DataError) as info:
        ingest(fmt, src, out, CFG)
    msg = str(info.value)
    assert "\n" not in msg and "\r" not in msg and "\t" not in msg and "\0" not in msg
    assert not out.exists() and (not out.parent.exists() or list(out.parent.iterdir()) == [])
    return msg


def _table(fmt: str, src: Path, out: Path):
    ingest(fmt, src, out, CFG)
    return pq.read_table(out).replace_schema_metadata()


# ------------------------------------------------------------------------------ Avazu header

AVAZU_HEADERS = {
    "missing": (lambda h: h.rsplit(",", 1)[0], "missing column C21"),
    "renamed": (lambda h: h.replace(",click,", ",label,"),
                "missing column click; unexpected column 'label' (field 2)"),
    "extra": (lambda h: h + ",C22", "unexpected column 'C22' (field 25)"),
    "repeated": (lambda h: h + ",C14", "unexpected column 'C14' (field 25)"),
    "trailing_space": (lambda h: h + " ", "missing column C21; unexpected column 'C21 ' (field 24)"),
    "misplaced": (lambda h: h.replace("C14,C15", "C15,C14"),
                  "columns out of order: field 17 is C15 (expected C14), field 18 is C14 (expected C15)"),
    "quoted": (lambda h: ",".join(f'"{c}"' for c in h.split(",")),
               "found the column names quoted; quoted fields are not part of the Avazu format"),
    "no_header": (None, "found no Avazu column name in '1000009418151094273,0,14102100,1005,0,1f...'; "
                        "is the header line missing?"),
}


@pytest.mark.parametrize("case", sorted(AVAZU_HEADERS))
def test_avazu_header_names_the_columns_that_differ(samples_dir, tmp_path, case):
    edit, detail = AVAZU_HEADERS[case]
    lines = _lines(samples_dir, AVAZU)
    lines = lines[1:] if edit is None else [edit(lines[0])] + lines[1:]
    src = _write(tmp_path / "bad.csv", lines)
    assert _fails("avazu", src, tmp_path) == f"{src}: line 1: {AVAZU_EXPECTED}; {detail}"


def test_avazu_utf8_bom_is_accepted_plain_and_gzip(samples_dir, tmp_path):
    text = "".join(line + "\n" for line in _lines(samples_dir, AVAZU, 200)).encode()
    plain, bom, bom_gz = tmp_path / "p.csv", tmp_path / "bom.csv", tmp_path / "bom.csv.gz"
    plain.write_bytes(text)
    bom.write_bytes(b"\xef\xbb\xbf" + text)
    bom_gz.write_bytes(gzip.compress(b"\xef\xbb\xbf" + text))
    want = _table("avazu", plain, tmp_path / "p.parquet")
    assert want.num_rows == 199
    assert _table("avazu", bom, tmp_path / "b.parquet").equals(want)
    assert _table("avazu", bom_gz, tmp_path / "g.parquet").equals(want)


# ------------------------------------------------------------------------------ Avazu quoting

@pytest.mark.parametrize("value", ['"1fbe,01fe"', '"1fbe01fe"'])
def test_avazu_quoted_field_is_not_part_of_the_format(samples_dir, tmp_path, value):
    lines = _lines(samples_dir, AVAZU)
    lines[7] = _set(lines[7], ",", 5, value)  # physical line 8 (the header is line 1)
    src = _write(tmp_path / "bad.csv", lines)
    assert _fails("avazu", src, tmp_path) == (
        f"{src}: line 8: site_id: found the quoted field '{value}'; quoted fields are not part of "
        "the Avazu format (expected 24 comma-separated fields, none quoted)")


# ------------------------------------------------------------------------------ line endings

MIXED = "expected one line-ending style in the whole file (convert it with dos2unix)"


@pytest.mark.parametrize("first,later,line_no", [("\r\n", "\n", 11), ("\n", "\r\n", 11)])
@pytest.mark.parametrize("gz", [False, True])
def test_mixed_line_endings_name_the_first_line_that_differs(samples_dir, tmp_path, first, later,
                                                             line_no, gz):
    lines = _lines(samples_dir, CRITEO)
    data = "".join(line + (first if i < line_no - 1 else later) for i, line in enumerate(lines))
    src = tmp_path / ("mixed.txt.gz" if gz else "mixed.txt")
    src.write_bytes(gzip.compress(data.encode()) if gz else data.encode())
    name = {"\n": "LF", "\r\n": "CRLF"}
    assert _fails("criteo", src, tmp_path) == (
        f"{src}: line {line_no}: ends with {name[later]}, but line 1 ends with {name[first]}; {MIXED}")


def test_mixed_line_endings_count_the_avazu_header_and_stray_cr(samples_dir, tmp_path):
    lines = _lines(samples_dir, AVAZU)
    src = tmp_path / "bad.csv"
    src.write_bytes("".join(line + ("\n" if i == 12 else "\r\n") for i, line in enumerate(lines)).encode())
    assert _fails("avazu", src, tmp_path) == (
        f"{src}: line 13: ends with LF, but line 1 ends with CRLF; {MIXED}")
    lines[5] = lines[5][:30] + "\r" + lines[5][30:]
    _write(src, lines)
    assert _fails("avazu", src, tmp_path) == (
        f"{src}: line 6: carriage return (CR) inside the line; expected lines ending in LF or CRLF")


def _reference_ending_problem(data: bytes) -> tuple[int, str] | None:
    """Line by line, the slow obvious way: (line, 'ending' | 'cr') of the first odd line."""
    parts = data.split(b"\n")
    crlf = len(parts) > 1 and parts[0].endswith(b"\r")
    for i, part in enumerate(parts):
        terminated = i < len(parts) - 1
        body = part[:-1] if crlf and terminated and part.endswith(b"\r") else part
        if b"\r" in body[:-1] or (b"\r" in body[-1:] and not (terminated and not crlf)):
            return i + 1, "cr"
        if terminated and (part.endswith(b"\r") != crlf):
            return i + 1, "ending"
    return None


def test_line_ending_scan_agrees_with_a_line_by_line_reference_across_chunk_edges(tmp_path):
    rng = random.Random(13)
    src = tmp_path / "x.txt"
    for trial in range(400):
        data = bytes(rng.choice(b"ab\r\n\n") for _ in range(rng.randrange(0, 14)))
        if trial % 2:  # mostly well-formed CRLF text with one odd spot, the realistic case
            data = b"ab\r\n" * rng.randrange(1, 5) + data + b"cd\r\n" * rng.randrange(0, 3)
        src.write_bytes(data)
        want = _reference_ending_problem(data)
        for chunk in (1, 2, 3, 5, 64):
            got = _line_ending_problem(src, chunk=chunk)
            got = got and (got[0], "cr" if got[1].startswith("carriage") else "ending")
            assert got == want, (data, chunk)


# ------------------------------------------------------------------------------ NUL bytes

@pytest.mark.parametrize("fmt,name,sep,k,line_no,field", [
    ("criteo", CRITEO, "\t", 20, 9, "C7"),
    ("avazu", AVAZU, ",", 6, 9, "site_domain"),  # lines[8] is physical line 9 (header = line 1)
    ("ipinyou", IPY_TRAIN, "\t", 12, 9, "domain"),
])
def test_nul_byte_in_a_field_is_refused(samples_dir, tmp_path, fmt, name, sep, k, line_no, field):
    lines = _lines(samples_dir, name)
    lines[8] = _set(lines[8], sep, k, "ab\0cd")
    src = _write(tmp_path / "bad.txt", lines)
    assert _fails(fmt, src, tmp_path) == (
        f"{src}: line {line_no}: {field}: found a NUL byte (0x00) in 'ab\\x00cd'; "
        "expected text without NUL bytes")


# ------------------------------------------------------------------------------ int64 range

def test_integers_that_fit_int64_are_read_exactly(samples_dir, tmp_path):
    lines = _lines(samples_dir, CRITEO)
    big = ["9000000000000000000", "9223372036854775807", "-9223372036854775808", "+0009"]
    for i, v in enumerate(big):
        lines[i + 2] = _set(lines[i + 2], "\t", 1, v)
    src = _write(tmp_path / "big.txt", lines)
    rows = _table("criteo", src, tmp_path / "c.parquet").to_pylist()
    assert [rows[i + 2]["I1"] for i in range(len(big))] == [int(v) for v in big]
    av = _lines(samples_dir, AVAZU)
    av[4] = _set(av[4], ",", 16, "9000000000000000000")  # C14
    rows = _table("avazu", _write(tmp_path / "big.csv", av), tmp_path / "a.parquet").to_pylist()
    assert rows[3]["C14"] == "9000000000000000000"


@pytest.mark.parametrize("fmt,name,sep,k,value,line_no,field", [
    ("criteo", CRITEO, "\t", 1, "99999999999999999999", 5, "I1"),
    ("criteo", CRITEO, "\t", 13, "-9223372036854775809", 5, "I13"),
    ("avazu", AVAZU, ",", 16, "9223372036854775808", 5, "C14"),
    ("ipinyou", IPY_TRAIN, "\t", 20, "18446744073709551616", 5, "slotprice"),
])
def test_integers_beyond_int64_say_out_of_range(samples_dir, tmp_path, fmt, name, sep, k, value,
                                                line_no, field):
    lines = _lines(samples_dir, name)
    lines[4] = _set(lines[4], sep, k, value)
    src = _write(tmp_path / "bad.txt", lines)
    assert _fails(fmt, src, tmp_path) == (
        f"{src}: line {line_no}: {field}: '{value}' is out of range for int64 {INT64}")


def test_non_integers_still_say_expected_an_integer(samples_dir, tmp_path):
    lines = _lines(samples_dir, CRITEO)
    lines[4] = _set(lines[4], "\t", 2, "12345678901234567890.5")
    src = _write(tmp_path / "bad.txt", lines)
    assert _fails("criteo", src, tmp_path) == (
        f"{src}: line 5: I2: expected an integer or empty, found '12345678901234567890.5'")


# ------------------------------------------------------------------------------ Criteo header

@pytest.mark.parametrize("sep", ["\t", ","])
def test_criteo_header_line_is_refused(samples_dir, tmp_path, sep):
    header = sep.join(["label"] + [f"I{k}" for k in range(1, 14)] + [f"C{k}" for k in range(1, 27)])
    src = _write(tmp_path / "hdr.txt", [header] + _lines(samples_dir, CRITEO))
    assert _fails("criteo", src, tmp_path) == (
        f"{src}: line 1: Criteo files have no header line, found the column names 'label', 'I1', "
        "'I2', 'I3' and 36 more; remove line 1 (expected 40 tab-separated fields: label, I1-I13, "
        "C1-C26)")
