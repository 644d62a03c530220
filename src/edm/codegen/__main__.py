"""``python -m edm.codegen``: regenerate the SDK from the API manifest.

Usage::

    python -m edm.codegen          # rewrite the generated files under src/edm/sdk/ in place
    python -m edm.codegen --check  # exit 1, listing the files that differ, if any would change
"""

from __future__ import annotations

import argparse
import sys

from edm.codegen.sdk import SDK_ROOT, diff, generate, load_manifest, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edm.codegen", description="Generate the SDK from the API manifest."
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 listing the files that differ")
    args = parser.parse_args(argv)
    files = generate(load_manifest())
    if args.check:
        changed = diff(files)
        for name in changed:
            print(f"would change: {SDK_ROOT / name}")
        if changed:
            print(f"{len(changed)} generated file(s) out of date; run: python -m edm.codegen", file=sys.stderr)
        return 1 if changed else 0
    changed = write(files)
    for name in changed:
        print(f"wrote {SDK_ROOT / name}")
    print(f"{len(files)} generated file(s), {len(changed)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
