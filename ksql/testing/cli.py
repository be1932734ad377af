"""``ksql-test-runner``: ksqlDB-compatible single test (-s/-i/-o), QTT (--qtt) and REST QTT (--rqtt) suites."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ksql-test-runner", description="Run ksql query tests.")
    p.add_argument("-s", "--sql-file", help="statements file")
    p.add_argument("-i", "--input-file", help="input records JSON ({\"inputs\": [...]})")
    p.add_argument("-o", "--output-file", help="expected output records JSON ({\"outputs\": [...]})")
    p.add_argument("-e", "--extension-dir",
                   help="folder of Python modules (*.py) that register functions with ksql.functions.registry")
    p.add_argument("--qtt", nargs="+", metavar="PATH", help="query-validation-test files or folders")
    p.add_argument("--rqtt", nargs="+", metavar="PATH", help="REST query-validation-test files or folders")
    p.add_argument("--report", choices=["json", "text"], default="text")
    p.add_argument("--report-file", help="write the report here instead of standard output")
    p.add_argument("-k", "--filter", help="only cases whose name contains this text")
    args = p.parse_args(argv)

    if args.extension_dir:
        try:
            load_extensions(Path(args.extension_dir))
        except Exception as e:  # a broken extension stops the run, as a bad UDF jar does
            print(f"Failed to load extensions from {args.extension_dir}: {e}", file=sys.stderr)
            return 1
    if args.qtt or args.rqtt:
        return _suite(args)
    if not args.sql_file or not args.output_file:
        p.error("either --qtt PATH... or -s statements.sql -o output.json is required")
    return _single(args)


def load_extensions(folder: Path) -> list[str]:
    """Import every ``*.py`` in ``folder`` (sorted by name); importing is how a module registers its
    functions (``register_scalar``/``register_aggregate``/``register_table``). Returns the module names."""
    import importlib.util

    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    loaded: list[str] = []
    for path in sorted(folder.glob("*.py")):
        # a private module name per file, so that extension files cannot shadow real modules
        name = f"ksql_extension_{len(loaded)}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        loaded.append(name)
    return loaded


def _single(args: argparse.Namespace) -> int:
    from ksql.dialect import split_statements
    from ksql.testing.qtt import run_case

    sql = Path(args.sql_file).read_text()
    case: dict[str, Any] = {"name": Path(args.sql_file).name, "statements": split_statements(sql)}
    if args.input_file:
        case["inputs"] = json.loads(Path(args.input_file).read_text()).get("inputs", [])
    case["outputs"] = json.loads(Path(args.output_file).read_text()).get("outputs", [])
    # the stand-alone runner sees only the built-ins and the -e extensions, not ksqlDB's test UDFs
    status, detail = run_case(case, None, test_functions=False)
    if status == "pass":
        print("\t >>> Test passed!")
        return 0
    print(f"\t>>>>> Test failed: {detail}")
    return 1


def _suite(args: argparse.Namespace) -> int:
    from ksql.testing.qtt import CaseResult, run_files

    results: list[CaseResult] = []
    if args.qtt:
        results += run_files([Path(x) for x in args.qtt])
    if args.rqtt:
        from ksql.testing import rqtt

        # each case runs against a real REST server (one per run, a fresh engine per case)
        results += rqtt.run_files([Path(x) for x in args.rqtt], args.filter)
    if args.filter:
        results = [r for r in results if args.filter in r.name]
    totals = Counter(r.status for r in results)
    if args.report == "json":
        out = json.dumps({"cases": [r.to_json() for r in results],
                          "totals": {"total": len(results), **{k: totals.get(k, 0) for k in ("pass", "fail", "error", "skip")}}},
                         indent=1)
    else:
        lines = [f"{r.status.upper():5} {r.file} :: {r.name}" + (f" [{r.format}]" if r.format else "")
                 + (f"\n      {r.detail.splitlines()[0][:300]}" if r.detail and r.status != "pass" else "")
                 for r in results]
        lines.append(f"{totals.get('pass', 0)} passed, {totals.get('fail', 0) + totals.get('error', 0)} failed, "
                     f"{totals.get('skip', 0)} skipped")
        out = "\n".join(lines)
    if args.report_file:
        Path(args.report_file).write_text(out)
    else:
        print(out)
    return 0 if not (totals.get("fail") or totals.get("error")) else 1


if __name__ == "__main__":
    sys.exit(main())
