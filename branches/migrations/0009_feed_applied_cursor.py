from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("branches", "0008_ingest_mark"),
    ]

    operations = [
        migrations.AddField(
            model_name="branch",
            name="feed_applied_cursor",
            field=models.PositiveBigIntegerField(
                blank=True,
                help_text="the branch applied the change feed up to here (the cursor of its latest pull); null: never pulled",
                null=True,
            ),
        ),
    ]
