"""Parse benchmark: ``python -m hub.hl7.bench_parse``.

Times one ~1 KB IHE PAM France ADT^A01 (invented values) through the hub's
parser, python-hl7 and hl7apy, and prints microseconds per message (best of
several rounds). python-hl7 is a test dependency; it is skipped when absent.
"""

from __future__ import annotations

import argparse
import importlib
import timeit
from collections.abc import Callable

from hub.hl7.ack import build_ack
from hub.hl7.er7 import parse

_FACILITY = "CH-BENCH&1.2.250.1.71.4.2.2.998&ISO"
SAMPLE: bytes = "\r".join(
    [
        "MSH|^~\\&|GAM_BENCH|CH-BENCH|HUB|GRADES-BENCH|20250201101010||ADT^A01^ADT_A01|"
        "BENCH-0001|P|2.5^FRA^2.11|||AL|NE|FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM",
        "EVN||20250201101010||||20250201100500",
        f"PID|1||770011^^^{_FACILITY}^PI~183027511800722^^^ASIP-SANTE-INS-NIR&"
        "1.2.250.1.213.1.4.10&ISO^INS^^20240110||GARNIER^PAUL^PAUL ANDRE^^^^L||19830215|M|||"
        "4 chemin du Puy^^AURILLAC^^15000^FRA^H~^^^^^^BDL^^75118||^PRN^PH^^^^^^^^^0471000000|||"
        f"||||552211^^^{_FACILITY}^AN|||||||||||N||VALI|20250201100000",
        "PD1||||||||||||N",
        f"PV1|1|I|MED^12^2^{_FACILITY}^^N|R|||20202020202^LEROY^MARC^^^^^^ASIP-SANTE-PS&"
        f"1.2.250.1.71.4.2.1&ISO^D^^^RPPS||||||||||||552211^^^{_FACILITY}^VN|||||||||||||||||||"
        "||||||20250201100500",
        f"ZBE|MVT-0101^CH-BENCH^1.2.250.1.71.4.2.2.998^ISO|20250201100500||INSERT|N||"
        f"Medecine^^^^^{_FACILITY}^UF^^^2210",
        "ZFA|ACTIF|20250201101010|||||||INO|20250201101010|IC|20250201101010",
        "ZFD|||Y|N|INSI|20250201||",
    ]
).encode("utf-8")


_PARSED = parse(SAMPLE)


def _ours() -> None:
    parse(SAMPLE)


def _ours_read() -> None:
    message = parse(SAMPLE)
    message.control_id  # noqa: B018
    message.trigger_event  # noqa: B018
    message.patient_key()
    message.get("PID-3[*].5")


def _ack() -> None:
    build_ack(_PARSED, "AA", control_id="HUB-1", timestamp="20250201101011")


def _python_hl7() -> Callable[[], object] | None:
    try:
        hl7 = importlib.import_module("hl7")
    except ImportError:
        return None
    return lambda: hl7.parse(SAMPLE, encoding="utf-8")


def _hl7apy() -> Callable[[], object]:
    parser = importlib.import_module("hl7apy.parser")
    text = SAMPLE.decode("utf-8")
    return lambda: parser.parse_message(text, find_groups=True)


def _time(function: Callable[[], object], number: int, rounds: int) -> float:
    """Best time per call over ``rounds`` rounds, in microseconds."""
    best = min(timeit.repeat(function, number=number, repeat=rounds))
    return best / number * 1e6


def main(argv: list[str] | None = None) -> None:
    """Print microseconds per message for each parser."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    options.add_argument("--scale", type=float, default=1.0, help="multiply iteration counts")
    scale = options.parse_args(argv).scale
    cases: list[tuple[str, Callable[[], object] | None, int]] = [
        ("hub.hl7 parse", _ours, 20000),
        ("hub.hl7 parse + 4 reads", _ours_read, 10000),
        ("hub.hl7 build_ack AA", _ack, 20000),
        ("python-hl7 hl7.parse", _python_hl7(), 5000),
        ("hl7apy parse_message", _hl7apy(), 30),
    ]
    segments = len(SAMPLE.split(b"\r"))
    print(f"message: {len(SAMPLE)} bytes, {segments} segments")
    for name, function, number in cases:
        if function is None:
            print(f"{name:28} not installed")
            continue
        micro = _time(function, max(1, int(number * scale)), rounds=5)
        print(f"{name:28} {micro:12.1f} µs/message")


if __name__ == "__main__":
    main()
