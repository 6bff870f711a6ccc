#!/usr/bin/env python3
"""Writes the benchmarks' policies of 1, 200 and 10,000 rules (bench/user-case.sh and
bench/policy-cost.sh measure the same ones): allows naming a group and a numeric id, per-user
home rules, service directories and denies, in the shapes sudoers-sized sites write. The rule
that grants the benchmark's open (USER may read DATA_DIR/*) is the last one, so nothing is
decided early.

    bench/make-policies.py USER DATA_DIR TEMPLATE     # TEMPLATE holds {count}
"""
import os
import sys

user, data_dir, template = sys.argv[1:]
granting = f'[[allow]]\npath = "{data_dir}/*"\nusers = ["{user}"]\naccess = ["read"]\n'
shapes = [
    lambda i: f'[[allow]]\npath = "/srv/app{i}/**/logs/*.log"\ngroups = ["adm", "{i}"]\naccess = ["read", "append"]\n',
    lambda i: f'[[allow]]\npath = "/home/user{i}/shared/*"\nusers = ["{1000 + i}"]\naccess = ["read", "write"]\n',
    lambda i: f'[[allow]]\npath = "/var/lib/service{i}/*.conf"\ngroups = ["adm"]\naccess = ["read"]\ntypes = ["file"]\n',
    lambda i: f'[[deny]]\npath = "/srv/app{i}/private/**"\n',
]
for count in (1, 200, 10000):
    path = template.format(count=count)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as policy:
        for i in range(count - 1):
            policy.write(shapes[i % len(shapes)](i) + "\n")
        policy.write(granting)
    os.chmod(path, 0o644)
