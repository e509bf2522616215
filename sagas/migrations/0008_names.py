"""Names that say what they hold: a step attempt is StepAttempt (its saga's `attempts`), and
a saga's step results are `results`. Renames only: every row is kept."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sagas', '0007_hardening'),
    ]

    operations = [
        migrations.RenameModel(old_name='StepExecution', new_name='StepAttempt'),
        migrations.AlterField(
            model_name='stepattempt',
            name='saga',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempts', to='sagas.sagainstance'),
        ),
        migrations.RenameField(model_name='sagainstance', old_name='context', new_name='results'),
    ]
