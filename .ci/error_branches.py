#!/usr/bin/env python3
"""Every error branch of every aggregate has a given/when/then test.

For each `domain/src/<aggregate>/error.rs`, every variant of its error enum
must be named (`XError::Variant`) by that aggregate's `tests.rs` (or a file
under `tests/`). Prints the branches without a test and fails when there
is one.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "domain/src")
missing = []
for error_file in sorted(root.glob("*/error.rs")):
    aggregate = error_file.parent
    source = error_file.read_text()
    tests = "".join(
        p.read_text()
        for p in [aggregate / "tests.rs", *sorted((aggregate / "tests").glob("*.rs"))]
        if p.exists()
    )
    for enum in re.finditer(r"pub enum (\w+Error)\s*\{(.*?)\n\}", source, re.S):
        name, body = enum.group(1), enum.group(2)
        # Variants: identifiers at the start of a line inside the enum, not
        # attributes or doc comments.
        for variant in re.findall(r"^\s{4}([A-Z]\w*)\b", body, re.M):
            if not re.search(rf"\b{name}::{variant}\b", tests):
                missing.append(f"{aggregate.name}: {name}::{variant}")
if missing:
    print("error branches without a given/when/then test:")
    for line in missing:
        print("  " + line)
    sys.exit(1)
print(f"every error branch of {len(list(root.glob('*/error.rs')))} aggregates has a test")
