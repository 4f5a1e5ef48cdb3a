"""Create the three role groups; tapes.roles.sync_role_permissions fills their permissions
after every migrate (see there for why)."""

from django.db import migrations

ROLES = ("Viewers", "Operators", "Administrators")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("tapes", "0002_seed_media_types"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
