import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from kg_builder.core.errors import ImageError
from kg_builder.generation.images import prepare_image
from kg_builder.generation.llm import extract_json


def _save(path: Path, img: Image.Image, fmt: str, **kw: object) -> Path:
    img.save(path, format=fmt, **kw)
    return path


def _decode(data_url: str) -> Image.Image:
    assert data_url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


def test_downscaled_jpeg_without_metadata_and_orientation_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (400, 200), (10, 200, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    exif[0x010F] = "SecretCam"
    path = _save(tmp_path / "a.jpg", img, "JPEG", exif=exif)
    prepared = prepare_image(path, max_side=100)
    out = _decode(prepared.data_url)
    assert out.size == (50, 100)  # rotated, then fitted into 100x100
    assert not out.getexif() and "exif" not in out.info
    assert prepared.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_gif_first_frame_and_webp(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    gif = tmp_path / "a.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    pixel = _decode(prepare_image(gif).data_url).convert("RGB").getpixel((10, 10))
    assert isinstance(pixel, tuple)
    r, _g, b = pixel
    assert r > 200 and b < 60
    webp = _save(tmp_path / "a.webp", Image.new("RGB", (30, 30)), "WEBP")
    assert prepare_image(webp).width == 30


@pytest.mark.parametrize("kind", ["bomb", "corrupt", "bmp", "missing"])
def test_bad_images_are_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"x.{kind}"
    if kind == "bomb":
        path.write_bytes(b"GIF89a" + (30000).to_bytes(2, "little") * 2 + b"\x00" * 20)
        match = "bomb|over the limit"
    elif kind == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
        match = "not a readable image"
    elif kind == "bmp":
        _save(path, Image.new("RGB", (5, 5)), "BMP")
        match = "format BMP is not one of"
    else:
        match = "cannot be read"
    with pytest.raises(ImageError, match=match):
        prepare_image(path)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": 1}\n```', {"a": 1}),
    ('Sure! {"a": {"b": "}"}} Hope it helps', {"a": {"b": "}"}}),
    ('first {broken then {"a": 2}', {"a": 2}),
])
def test_extract_json(text: str, expected: object) -> None:
    assert extract_json(text) == expected


def test_extract_json_without_object() -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("no json here")
