"""The class taxonomy: folding, aliases, class_map, facts, and its params section."""

from __future__ import annotations

import pytest

from pcbforge.annotate.yolo import class_map
from pcbforge.config import ClassesParams, Params
from pcbforge.errors import InputError
from pcbforge.taxonomy import ClassInfo, Mount, Symmetry, Taxonomy, UnknownClassError, fold
from pcbforge.vocab import ComponentClass


def test_default_taxonomy_is_the_builtin_catalog_classes_in_order() -> None:
    assert Taxonomy.default().names() == ComponentClass.names()
    # params add the vendored real set's classes after the built-in ones (their indices stay)
    from pcbforge.config import REAL_SET_CLASSES

    assert Params().taxonomy() == Taxonomy((*Taxonomy.default().classes, *REAL_SET_CLASSES))
    assert Params().taxonomy().names()[: len(ComponentClass.names())] == ComponentClass.names()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Heat Sink", "heat_sink"), ("heat-sink", "heat_sink"), ("HEATSINK", "heat_sink"), ("SMD/Capacitor", "smd_capacitor"),
     ("Electrolytic Capacitor", "capacitor"), ("xtal", "crystal_oscillator"), ("SOT-23", "smd_transistor")],
)  # fmt: skip
def test_resolve_folds_names_and_aliases(name: str, expected: str) -> None:
    assert Taxonomy.default().resolve(name) == expected


def test_class_map_wins_over_spelling_so_an_smd_diode_is_not_the_tht_one() -> None:
    tax = Taxonomy.default()
    assert tax.resolve("diode") == "diode"
    assert tax.resolve("Diode", {"diode": "smd_diode"}) == "smd_diode"
    with pytest.raises(ValueError, match="not a class"):
        tax.resolve("diode", {"diode": "zener"})
    with pytest.raises(UnknownClassError):
        tax.resolve("potentiometer")


def test_an_alias_naming_two_classes_is_refused() -> None:
    with pytest.raises(ValueError, match="already names"):
        Taxonomy((ClassInfo("a", aliases=("x",)), ClassInfo("b", aliases=("X",))))


def test_turn_visibility_follows_polarity_and_symmetry() -> None:
    resistor = ClassInfo("resistor", polarised=False, symmetry=Symmetry.HALF)
    square = ClassInfo("heat_sink", polarised=False, symmetry=Symmetry.QUARTER)
    diode = ClassInfo("diode", polarised=True, symmetry=Symmetry.HALF)
    assert not resistor.turn_is_visible(180) and resistor.turn_is_visible(90)
    assert not square.turn_is_visible(90) and not square.turn_is_visible(-270) and square.turn_is_visible(45)
    assert diode.turn_is_visible(180) and not diode.turn_is_visible(360)


def test_unknown_classes_get_conservative_facts() -> None:
    info = Taxonomy.default().facts("potentiometer")
    assert info.polarised and info.symmetry is Symmetry.NONE and info.pads == 0
    assert fold("Potentiometer") == info.name


def test_a_class_added_only_in_params_is_a_class() -> None:
    params = Params.model_validate(
        {
            "classes": {
                "taxonomy": {
                    **{k: v.model_dump() for k, v in ClassesParams().taxonomy.items()},
                    "led": {"mount": "smd", "polarised": True, "symmetry": 180, "pads": 2, "aliases": ["LED-0805"]},
                }
            },
            "split": {"val_classes": ["led"], "test_classes": ["relay"]},
        }
    )
    tax = params.taxonomy()
    assert tax["led"].mount is Mount.SMD and tax["led"].symmetry is Symmetry.HALF
    assert tax.resolve("led 0805") == "led"


@pytest.mark.parametrize(
    ("classes", "split", "message"),
    [
        ({"taxonomy": {"Heat Sink": {}}}, {}, "lower case"),
        ({"taxonomy": {}}, {}, "at least one class"),
        ({"taxonomy": {"a": {"aliases": ["b"]}, "b": {}}}, {"val_classes": ["a"], "test_classes": ["b"]}, "already names"),
        ({}, {"val_classes": ["led"]}, "not in classes.taxonomy"),
        ({"unmapped": "guess"}, {}, "unmapped"),
    ],
)
def test_bad_taxonomies_are_refused_at_load(classes: dict, split: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Params.model_validate({"classes": classes, "split": split})


def test_class_map_error_names_the_file_the_names_and_the_valid_ones() -> None:
    with pytest.raises(InputError) as err:
        class_map(["relay", "IC", "fuse"], Taxonomy.default(), "boards/data.yaml")
    text = str(err.value)
    assert "boards/data.yaml" in text and "1: 'IC'" in text and "2: 'fuse'" in text and "heat_sink" in text
    assert "\n" not in text
