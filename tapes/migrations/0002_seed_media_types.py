"""Seed the LTO media types from reference/tape-devices.md §4.1 (barcode media IDs) and §4.2
(native capacity, native rate, density code). LTO-10 WORM has no media ID in the sources
read, so it is not seeded; add it in the admin once the identifier is known."""

from django.db import migrations

TB, MB = 1000**4, 1000**2

# name, kind, generation, suffix, capacity, speed, density code
MEDIA = [
    ("LTO-5", "data", 5, "L5", 1.5 * TB, 140 * MB, 0x58),
    ("LTO-5 WORM", "worm", 5, "LV", 1.5 * TB, 140 * MB, 0x58),
    ("LTO-6", "data", 6, "L6", 2.5 * TB, 160 * MB, 0x5A),
    ("LTO-6 WORM", "worm", 6, "LW", 2.5 * TB, 160 * MB, 0x5A),
    ("LTO-7", "data", 7, "L7", 6 * TB, 300 * MB, 0x5C),
    ("LTO-7 WORM", "worm", 7, "LX", 6 * TB, 300 * MB, 0x5C),
    ("LTO-7 Type M", "data", 7, "M8", 9 * TB, 300 * MB, 0x5D),
    ("LTO-8", "data", 8, "L8", 12 * TB, 360 * MB, 0x5E),
    ("LTO-8 WORM", "worm", 8, "LY", 12 * TB, 360 * MB, 0x5E),
    ("LTO-9", "data", 9, "L9", 18 * TB, 400 * MB, 0x60),
    ("LTO-9 WORM", "worm", 9, "LZ", 18 * TB, 400 * MB, 0x60),
    ("LTO-10", "data", 10, "LA", 30 * TB, 400 * MB, None),
]


def seed(apps, schema_editor):
    MediaType = apps.get_model("tapes", "MediaType")
    for name, kind, gen, suffix, capacity, speed, density in MEDIA:
        MediaType.objects.update_or_create(
            barcode_suffix=suffix,
            defaults=dict(name=name, kind=kind, generation=gen, native_capacity=int(capacity),
                          native_speed=speed, density_code=density),
        )
    # The universal cleaning cartridge is valid for 50 uses (reference §3.4).
    MediaType.objects.update_or_create(
        barcode_suffix="CU",
        defaults=dict(name="Cleaning (universal)", kind="cleaning", cleaning_uses=50),
    )


class Migration(migrations.Migration):
    dependencies = [("tapes", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
