#!/usr/bin/env python3
"""runbook_schema.py SCHEMA FILE... — validates runbooks (YAML) against the
runbook JSON Schema with the standard jsonschema validator, as an editor or
a CI job would. Prints "FILE: ok" or "FILE: invalid: WHERE: MESSAGE" per
error; exit 1 when any file is invalid.

YAML is read by the YAML 1.2 core schema, as rune reads it: python3-yaml's
default is YAML 1.1, where `yes`, `on` and `off` are booleans and dates are
dates, so those resolvers are replaced by the core schema's.
"""
import json
import re
import sys

import jsonschema
import yaml


class CoreLoader(yaml.SafeLoader):
    pass


CoreLoader.yaml_implicit_resolvers = {}
for first, pattern, tag in [
    ("tTfF", r"^(?:true|True|TRUE|false|False|FALSE)$", "tag:yaml.org,2002:bool"),
    ("~nN", r"^(?:~|null|Null|NULL|)$", "tag:yaml.org,2002:null"),
    ("-+0123456789", r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$", "tag:yaml.org,2002:int"),
    ("-+0123456789.",
     r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$", "tag:yaml.org,2002:float"),
]:
    for c in first or [None]:
        CoreLoader.yaml_implicit_resolvers.setdefault(c, []).append((tag, re.compile(pattern)))
CoreLoader.yaml_implicit_resolvers.setdefault("", []).append(
    ("tag:yaml.org,2002:null", re.compile(r"^$")))


def construct_int(loader, node):
    v = loader.construct_scalar(node)
    if v.startswith("0o"):
        return int(v[2:], 8)
    if v.startswith("0x"):
        return int(v[2:], 16)
    return int(v)


CoreLoader.add_constructor("tag:yaml.org,2002:int", construct_int)


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    bad = 0
    for path in sys.argv[2:]:
        doc = yaml.load(open(path), Loader=CoreLoader)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if not errors:
            print(f"{path}: ok")
            continue
        bad += 1
        for e in errors:
            # the most relevant cause says more than "is not valid under any of the given schemas"
            leaf = jsonschema.exceptions.best_match([e])
            while leaf.context:
                leaf = jsonschema.exceptions.best_match(leaf.context)
            where = "/".join(str(p) for p in leaf.absolute_path) or "(top)"
            print(f"{path}: invalid: {where}: {leaf.message[:300]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
