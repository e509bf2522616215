"""The default alert rules, enabled. No destination is made: nothing is sent until an
operator adds one (admin, "Alert destinations")."""

from django.db import migrations

RULES = [
    ("New problem", "new_problem", {}, "A new kind of failure: open the problem, decide."),
    ("Problem regressed", "regression", {}, "A problem marked resolved fails again."),
    ("Failure burst", "failure_burst", {"count": 10, "minutes": 5}, ""),
    ("Compensation rate", "compensation_rate", {"percent": 20, "minutes": 15, "min_sagas": 20}, ""),
    ("Stuck going forward", "stuck", {"seconds": 300, "phase": "forward"}, ""),
    ("Stuck compensating", "stuck", {"seconds": 300, "phase": "compensation"}, ""),
    ("Dead letters", "dead_letters", {"count": 0, "minutes": 60}, "See the Outbox page."),
    ("Backlog", "backlog", {"seconds": 60}, "Sagas wait for a worker: add workers."),
    ("No live worker", "no_live_worker", {"seconds": 60}, "Start a worker: manage.py run_worker."),
]


def seed(apps, schema_editor):
    AlertRule = apps.get_model("sagas", "AlertRule")
    for name, kind, params, note in RULES:
        AlertRule.objects.get_or_create(
            name=name, defaults={"kind": kind, "params": params, "note": note}
        )


def unseed(apps, schema_editor):
    AlertRule = apps.get_model("sagas", "AlertRule")
    AlertRule.objects.filter(name__in=[r[0] for r in RULES], alerts__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("sagas", "0013_alerts")]

    operations = [migrations.RunPython(seed, unseed)]
