"""OpenAI message content (a string or a list of typed parts) as Gemini ``parts``.

Images, audio and files given inline as ``data:`` URLs become ``inlineData``; images given by
``http(s)`` URL become ``fileData`` (Gemini fetches them). Anything Gemini cannot take is refused
with ``NotSupported`` naming the part, rather than silently dropped.
"""

from __future__ import annotations

from typing import Any

from schemas.errors import InvalidRequest, NotSupported

__all__ = ["content_parts"]

_MIME_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".pdf": "application/pdf",
}
"""MIME types guessed from a URL's suffix (``mimetypes`` would read system files at run time)."""


def content_parts(
    content: str | list[dict[str, Any]] | None, *, param: str
) -> list[dict[str, Any]]:
    """Gemini parts for one message's ``content``; empty text is left out (Gemini refuses it).

    Raises:
        InvalidRequest: a part is malformed (``param`` names it).
        NotSupported: a part type Gemini cannot take.
    """
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for index, part in enumerate(content):
        gemini = _part(part, param=f"{param}.content[{index}]")
        if gemini is not None:
            parts.append(gemini)
    return parts


def _part(part: dict[str, Any], *, param: str) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind in ("text", "refusal"):
        text = part.get(kind)
        return {"text": text} if isinstance(text, str) and text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return _url_part(url, param=f"{param}.image_url.url")
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        mime = f"audio/{audio.get('format', 'wav')}"
        return {"inlineData": {"mimeType": mime, "data": audio.get("data", "")}}
    if kind == "file" and (part.get("file") or {}).get("file_data"):
        return _url_part(part["file"]["file_data"], param=f"{param}.file.file_data")
    raise NotSupported(f"content part {kind!r} cannot be sent to Gemini", param=param)


def _url_part(url: object, *, param: str) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise InvalidRequest("expected a URL string", param=param)
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or not mime:
            raise InvalidRequest("expected data:<mime type>;base64,<data>", param=param)
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(("http://", "https://")):
        file_data: dict[str, str] = {"fileUri": url}
        guessed = _MIME_BY_SUFFIX.get(_suffix(url))
        if guessed is not None:
            file_data["mimeType"] = guessed
        return {"fileData": file_data}
    raise InvalidRequest("expected an http(s) or data: URL", param=param)


def _suffix(url: str) -> str:
    name = url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    return name[name.rfind(".") :].lower() if "." in name else ""
