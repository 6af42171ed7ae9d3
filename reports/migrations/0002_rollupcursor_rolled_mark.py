from django.db import migrations, models


def marks_from_branches(apps, schema_editor):
    """An existing cursor has looked at everything its branch had stored so far: starting its mark at 0 would fold
    every event below it a second time."""
    RollupCursor = apps.get_model("reports", "RollupCursor")
    Branch = apps.get_model("branches", "Branch")
    marks = dict(Branch.objects.values_list("code", "ingest_mark"))
    for cursor in RollupCursor.objects.all():
        cursor.rolled_mark = marks.get(cursor.branch, 0)
        cursor.save(update_fields=["rolled_mark"])


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("branches", "0008_ingest_mark"),
    ]

    operations = [
        migrations.AddField(
            model_name="rollupcursor",
            name="rolled_mark",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunPython(marks_from_branches, migrations.RunPython.noop),
    ]
