"""manage.py saga_types: list the saga types this code defines, with their steps."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from sagas.registry import registry


class Command(BaseCommand):
    help = "List the saga types discovered in the installed apps' sagas.py modules."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    def handle(self, *args: Any, **options: Any) -> None:
        types = [
            {
                "name": saga.name,
                "module": saga.__module__,
                "fingerprint": saga.fingerprint(),
                "steps": [
                    {
                        "name": s.name,
                        "kind": s.kind.value,
                        "compensation": s.has_compensation,
                        "timeout": s.timeout,
                        "atomic": s.atomic,
                    }
                    for s in saga.steps
                ],
            }
            for saga in registry
        ]
        if options["json"]:
            self.stdout.write(json.dumps(types, indent=2))
            return
        if not types:
            self.stdout.write("no saga types defined (add a sagas.py to an installed app)")
        for item in types:
            self.stdout.write(f"{item['name']}  ({item['module']}, {item['fingerprint']})")
            for step in item["steps"]:
                extra = [step["kind"]]
                if step["compensation"]:
                    extra.append("compensated")
                if step["atomic"]:
                    extra.append("atomic")
                if step["timeout"]:
                    extra.append(f"timeout {step['timeout']}s")
                self.stdout.write(f"  - {step['name']}: {', '.join(extra)}")
