"""Barcode validation: six serial characters plus a known two-character media suffix."""

import pytest
from django.core.exceptions import ValidationError

from tapes.models import MediaType, Tape
from tapes.services import InventoryError, media_type_for_barcode


@pytest.mark.parametrize("barcode,media", [("A00017L8", "LTO-8"), ("ZZ0001LZ", "LTO-9 WORM"),
                                           ("CLN001CU", "Cleaning (universal)")])
def test_good_barcodes_name_their_media_type(db, barcode, media):
    assert media_type_for_barcode(barcode).name == media


@pytest.mark.parametrize("barcode,message", [
    ("A0001L8", "has 7 characters"),
    ("A000017L8", "has 9 characters"),
    ("a00017L8", "capital letters"),
    ("A00017Q9", "ends in Q9, which is no known media type"),
    ("CLN001L8", "cleaning cartridges"),
    ("ABC001CU", "cleaning cartridges"),
])
def test_bad_barcodes_get_one_sentence(db, barcode, message):
    with pytest.raises(InventoryError, match=message):
        media_type_for_barcode(barcode)


def test_model_validation_shows_the_error_beside_the_field(db):
    tape = Tape(barcode="SHORT", media_type=MediaType.objects.get(barcode_suffix="L8"))
    with pytest.raises(ValidationError) as info:
        tape.full_clean()
    assert "barcode" in info.value.message_dict


def test_suffix_must_match_the_media_type(db):
    tape = Tape(barcode="A00017L9", media_type=MediaType.objects.get(barcode_suffix="L8"))
    with pytest.raises(ValidationError) as info:
        tape.full_clean()
    assert "does not match" in info.value.message_dict["media_type"][0]
