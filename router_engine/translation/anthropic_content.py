"""Content parts both ways: OpenAI text, ``image_url`` and ``file`` parts ⇄ Anthropic blocks.

OpenAI carries an image as a URL that may be a ``data:`` URL; Anthropic splits the same thing into
a ``base64`` source (media type and data) or a ``url`` source. PDFs travel the same way as
OpenAI ``file`` parts and Anthropic ``document`` blocks.
"""

from __future__ import annotations

from typing import Any

from schemas.errors import InvalidRequest, NotSupported

__all__ = ["image_block", "openai_media_part", "text_parts"]


def text_parts(content: Any, *, param: str) -> list[str]:
    """The non-empty texts of an OpenAI message ``content`` (a string, None or text parts)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"{param} must be a string or a list of text parts.", param=param)
    texts = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("text", "refusal"):
            raise InvalidRequest(f"{param}[{index}] must be a text part.",
                                 param=f"{param}[{index}]")
        text = part.get(kind)
        if not isinstance(text, str):
            raise InvalidRequest(f"{param}[{index}].{kind} must be a string.",
                                 param=f"{param}[{index}].{kind}")
        if text:
            texts.append(text)
    return texts


def image_block(part: dict[str, Any], *, param: str) -> dict[str, Any]:
    """The Anthropic ``image`` or ``document`` block for an OpenAI ``image_url``/``file`` part."""
    if part["type"] == "file":
        return _document_block(part.get("file"), param=param)
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequest(f"{param}.image_url.url must be a string.", param=f"{param}.image_url")
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    media_type, data = _split_data_url(url, param=f"{param}.image_url.url")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _document_block(file: Any, *, param: str) -> dict[str, Any]:
    file_data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(file_data, str):
        raise NotSupported(f"{param}: only files sent inline as file_data are supported.",
                           param=f"{param}.file")
    media_type, data = _split_data_url(file_data, param=f"{param}.file.file_data")
    if media_type != "application/pdf":
        raise NotSupported(f"{param}: only PDF files are supported.", param=f"{param}.file")
    source = {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "document", "source": source}


def _split_data_url(url: str, *, param: str) -> tuple[str, str]:
    # PERF: partition, not a regex: the data part can be megabytes of base64.
    header, comma, data = url.partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise InvalidRequest(f"{param} must be an http(s) URL or a base64 data: URL.", param=param)
    return header[5:-7], data


def openai_media_part(block: dict[str, Any], *, param: str) -> dict[str, Any]:
    """The OpenAI part for an Anthropic ``image`` or ``document`` block (inbound direction)."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise InvalidRequest(f"{param}.source is required.", param=f"{param}.source")
    if source.get("type") == "url" and block["type"] == "image":
        return {"type": "image_url", "image_url": {"url": _string(source, "url", param)}}
    if source.get("type") != "base64":
        raise NotSupported(f"{param}: source type {source.get('type')!r} is not supported.",
                           param=f"{param}.source.type")
    media_type = _string(source, "media_type", param)
    data_url = f"data:{media_type};base64,{_string(source, 'data', param)}"
    if block["type"] == "image":
        return {"type": "image_url", "image_url": {"url": data_url}}
    return {"type": "file", "file": {"file_data": data_url, "filename": "document.pdf"}}


def _string(source: dict[str, Any], key: str, param: str) -> str:
    value = source.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{param}.source.{key} must be a non-empty string.",
                             param=f"{param}.source.{key}")
    return value
