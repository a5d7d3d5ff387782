#!/usr/bin/env python3
"""Runs scrapinghub/price-parser's own test cases through pricetrack's `parse_price`.

Usage:
    scripts/price-parser-compare.py PRICE_PARSER_REPO [--parser CMD] [--failures] [--json]

PRICE_PARSER_REPO is a checkout of https://github.com/scrapinghub/price-parser, or its bare git
directory (then `tests/test_price_parsing.py` is read from HEAD). Their file is read at run time
and never copied into this repository.

The parser is `cargo run --release -q -p pricetrack-extract --example parse_price_lines` unless
`--parser` names another command that reads one JSON string per line on stdin and prints one JSON
line per input (`{"amount": "12.5", "currency": "EUR"}` or `null`). `--reference` runs
price-parser itself (`pip install price-parser`) on the same texts, for the figure to compare with.

How a case is run: their `Price.fromstring(price_raw, currency_hint)` takes a currency hint
beside the text; `parse_price` takes one text, so the hint is appended to it
(`"<price_raw> <hint>"`). A case without a text (`price_raw` None) runs the hint alone.

What is reported:
* amounts right: every list of theirs that `test_parsing` runs as expected to pass (all but
  `PRICE_PARSING_EXAMPLES_XFAIL` and `PRICE_PARSING_EXAMPLES_XFAIL_CURRENCIES_TO_BE_ADDED`). A
  case is right when the amount equals theirs as a decimal (`29.90` = `29.9`), or both are
  "no price". The headline figure leaves out `PRICE_PARSING_DECIMAL_SEPARATOR_EXAMPLES`, whose
  cases pass a `decimal_separator` argument that `parse_price` does not have (the two
  `$..75,333` cases differ only by it, so no parser without it can pass both); a second figure
  includes them, run without the argument. Also shown: how often a currency was recognised where
  they expect one.
* XFAIL fixed: a case of `PRICE_PARSING_EXAMPLES_XFAIL` counts as fixed when the amount is right
  and, when they expect an amount, a currency is recognised exactly when they expect one.
* to be added: a case of `PRICE_PARSING_EXAMPLES_XFAIL_CURRENCIES_TO_BE_ADDED` counts as
  recognised when `parse_price` returns a currency and their amount. Their cases made of a
  currency alone (`"KShs"`, `"chf"`) expect the amount 1, which no parser can read from them:
  those are run as `"1 <text>"`.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path

TEST_FILE = "tests/test_price_parsing.py"
XFAIL = "PRICE_PARSING_EXAMPLES_XFAIL"
TO_BE_ADDED = "PRICE_PARSING_EXAMPLES_XFAIL_CURRENCIES_TO_BE_ADDED"
WITH_SEPARATOR_ARGUMENT = "PRICE_PARSING_DECIMAL_SEPARATOR_EXAMPLES"
DEFAULT_PARSER = [
    "cargo",
    "run",
    f"--manifest-path={Path(__file__).resolve().parent.parent / 'Cargo.toml'}",
    "--release",
    "-q",
    "-p",
    "pricetrack-extract",
    "--example",
    "parse_price_lines",
]


def read_test_file(repo: Path) -> str:
    checkout = repo / TEST_FILE
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    try:
        return subprocess.run(
            ["git", f"--git-dir={repo}", "show", f"HEAD:{TEST_FILE}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"error: {repo} is neither a checkout nor a git directory of price-parser: {error}")


def literal(node: ast.expr) -> object:
    """A literal argument of `Example(...)`: strings, numbers, None, `Decimal("...")`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Decimal":
        return Decimal(ast.literal_eval(node.args[0]))
    return ast.literal_eval(node)


def load_lists(source: str) -> dict[str, list[dict]]:
    lists: dict[str, list[dict]] = {}
    for statement in ast.parse(source).body:
        if not isinstance(statement, ast.Assign) or not isinstance(statement.value, ast.List):
            continue
        names = [t.id for t in statement.targets if isinstance(t, ast.Name)]
        if not names or not names[0].startswith("PRICE_PARSING_"):
            continue
        cases = []
        for element in statement.value.elts:
            if not (isinstance(element, ast.Call) and getattr(element.func, "id", None) == "Example"):
                continue
            fields = ["currency_raw", "price_raw", "currency", "amount_text", "amount_float", "decimal_separator"]
            case = dict.fromkeys(fields)
            for field, arg in zip(fields, element.args):
                case[field] = literal(arg)
            for keyword in element.keywords:
                case[keyword.arg] = literal(keyword.value)
            amount = case["amount_float"]
            if amount is not None and not isinstance(amount, Decimal):
                # As their `Example` does: through `str`, not through the float's binary value.
                amount = Decimal(str(amount))
            case["amount"] = amount
            cases.append(case)
        lists[names[0]] = cases
    if XFAIL not in lists or TO_BE_ADDED not in lists:
        sys.exit(f"error: {TEST_FILE} no longer has {XFAIL} and {TO_BE_ADDED}; this script needs updating")
    return lists


def input_text(case: dict, list_name: str) -> str:
    text = case["price_raw"] or ""
    if case["currency_raw"]:
        text = f"{text} {case['currency_raw']}" if text else case["currency_raw"]
    if list_name == TO_BE_ADDED and not any(c.isdigit() for c in text):
        text = f"1 {text}"
    return text


def run_price_parser(texts: list[str]) -> list[dict | None]:
    """The same texts through price-parser itself (`pip install price-parser`), for reference."""
    try:
        from price_parser import Price  # noqa: PLC0415 (only this mode needs it)
    except ImportError:
        sys.exit("error: --reference needs price-parser importable (pip install price-parser)")
    answers: list[dict | None] = []
    for text in texts:
        price = Price.fromstring(text)
        answers.append(None if price.amount is None else {"amount": str(price.amount), "currency": price.currency})
    return answers


def run_parser(command: list[str], texts: list[str]) -> list[dict | None]:
    feed = "".join(json.dumps(t) + "\n" for t in texts)
    result = subprocess.run(command, input=feed, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    lines = result.stdout.splitlines()
    if len(lines) != len(texts):
        sys.exit(f"error: the parser answered {len(lines)} lines for {len(texts)} texts")
    return [json.loads(line) for line in lines]


def amount_of(answer: dict | None) -> Decimal | None:
    if answer is None:
        return None
    try:
        return Decimal(answer["amount"])
    except (InvalidOperation, KeyError, TypeError):
        return None


def amount_right(case: dict, answer: dict | None) -> bool:
    got = amount_of(answer)
    if case["amount"] is None or got is None:
        return case["amount"] is None and got is None
    return got == case["amount"]


def currency_of(answer: dict | None) -> str | None:
    return answer.get("currency") if answer else None


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, help="price-parser checkout or bare git directory")
    parser.add_argument("--parser", help="command reading JSON strings, one a line (default: the example)")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="run price-parser itself (importable in this Python) on the same texts instead",
    )
    parser.add_argument("--failures", action="store_true", help="list every case that is not right")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    lists = load_lists(read_test_file(args.repo))
    rows = [(name, case, input_text(case, name)) for name, cases in lists.items() for case in cases]
    command = args.parser.split() if args.parser else DEFAULT_PARSER
    texts = [text for _, _, text in rows]
    answers = run_price_parser(texts) if args.reference else run_parser(command, texts)

    main_total = main_right = with_currency = currency_found = 0
    xfail_total = xfail_fixed = added_total = added_found = 0
    failures: list[str] = []
    per_list: Counter[str] = Counter()
    per_list_right: Counter[str] = Counter()
    for (name, case, text), answer in zip(rows, answers):
        right = amount_right(case, answer)
        got = f"{answer['amount']} {answer.get('currency')}" if answer else "no price"
        expected = f"{case['amount']} ({case['currency']})" if case["amount"] is not None else "no price"
        if name == XFAIL:
            xfail_total += 1
            # A currency is asked for only with an amount: "no price" is right whatever they
            # expected as currency.
            fixed = right and (
                case["amount"] is None or (currency_of(answer) is not None) == (case["currency"] is not None)
            )
            xfail_fixed += fixed
            if not fixed:
                failures.append(f"[xfail] {text!r}: expected {expected}, got {got}")
        elif name == TO_BE_ADDED:
            added_total += 1
            found = right and currency_of(answer) is not None
            added_found += found
            if not found:
                failures.append(f"[to be added] {text!r}: expected {expected}, got {got}")
        else:
            main_total += 1
            main_right += right
            per_list[name] += 1
            per_list_right[name] += right
            if case["currency"] is not None and case["amount"] is not None:
                with_currency += 1
                currency_found += currency_of(answer) is not None
            if not right:
                failures.append(f"[{name.removeprefix('PRICE_PARSING_')}] {text!r}: expected {expected}, got {got}")

    headline_total = main_total - per_list[WITH_SEPARATOR_ARGUMENT]
    headline_right = main_right - per_list_right[WITH_SEPARATOR_ARGUMENT]
    figures = {
        "amounts_right": headline_right,
        "amounts_total": headline_total,
        "amounts_right_with_separator_cases": main_right,
        "amounts_total_with_separator_cases": main_total,
        "currency_recognised": currency_found,
        "currency_expected": with_currency,
        "xfail_fixed": xfail_fixed,
        "xfail_total": xfail_total,
        "to_be_added_recognised": added_found,
        "to_be_added_total": added_total,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"amounts right (outside the XFAIL lists, without their decimal_separator cases): "
            f"{headline_right}/{headline_total} = {percent(headline_right, headline_total)}"
        )
        print(
            f"amounts right with their decimal_separator cases (run without that argument): "
            f"{main_right}/{main_total} = {percent(main_right, main_total)}"
        )
        for name in per_list:
            print(f"  {name}: {per_list_right[name]}/{per_list[name]}")
        print(
            f"currency recognised where they expect one: {currency_found}/{with_currency} = "
            f"{percent(currency_found, with_currency)}"
        )
        print(f"XFAIL cases fixed: {xfail_fixed}/{xfail_total} = {percent(xfail_fixed, xfail_total)}")
        print(f"'to be added' currencies recognised: {added_found}/{added_total} = {percent(added_found, added_total)}")
    if args.failures:
        print("\n".join(failures))


if __name__ == "__main__":
    main()
