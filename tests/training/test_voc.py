from pathlib import Path

import pytest

from training.data.voc import VocParseError, parse_voc
from training.inference.boxes import Box

XML = """<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>"""
OBJ = "<object><name>{label}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"


def write(tmp_path: Path, objects: str, w: int = 800, h: int = 600, name: str = "a.JPG") -> Path:
    path = tmp_path / "a.xml"
    path.write_text(XML.format(name=name, w=w, h=h, objects=objects))
    return path


def test_parses_objects_in_order(tmp_path):
    path = write(
        tmp_path,
        OBJ.format(label="Apple", x0=10, y0=20, x1=110, y1=220) + OBJ.format(label="coin", x0=1, y0=2, x1=30, y1=31),
    )
    ann = parse_voc(path)
    assert (ann.filename, ann.width, ann.height) == ("a.JPG", 800, 600)
    assert [o.label for o in ann.objects] == ["apple", "coin"]
    assert ann.objects[0].box == Box(10, 20, 110, 220)


def test_box_spilling_over_border_is_clipped(tmp_path):
    ann = parse_voc(write(tmp_path, OBJ.format(label="apple", x0=-3, y0=5, x1=805, y1=601)))
    assert ann.objects[0].box == Box(0, 5, 800, 600)


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (OBJ.format(label="apple", x0=50, y0=5, x1=50, y1=60), "empty box"),
        (OBJ.format(label="apple", x0=900, y0=5, x1=950, y1=60), "empty box"),
        (OBJ.format(label="apple", x0="ten", y0=5, x1=50, y1=60), "not a number: 'ten'"),
        ("<object><name>apple</name></object>", "bndbox/xmin"),
        (OBJ.format(label="", x0=1, y0=5, x1=50, y1=60), "<name>"),
    ],
)
def test_invalid_objects_name_the_problem(tmp_path, objects, message):
    with pytest.raises(VocParseError, match=r"a\.xml") as info:
        parse_voc(write(tmp_path, objects))
    assert message in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(VocParseError, match="not found"):
        parse_voc(tmp_path / "nope.xml")


def test_malformed_xml(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text("<annotation><size>")
    with pytest.raises(VocParseError, match="not well-formed"):
        parse_voc(path)


def test_non_positive_size(tmp_path):
    with pytest.raises(VocParseError, match="not positive"):
        parse_voc(write(tmp_path, "", w=0))


def test_real_annotation(ecustfd_dir):
    ann = parse_voc(ecustfd_dir / "Annotations" / "apple001S(1).xml")
    assert {o.label for o in ann.objects} == {"apple", "coin"}
    assert all(o.box.width > 0 for o in ann.objects)
