"""Render a template's README (Markdown written by whoever publishes the template) into safe HTML.

Two layers, because a README comes from a Git repository or an uploaded archive the portal does not control:
1. Python-Markdown with its raw-HTML handlers removed, so `<script>` or `<img onerror=...>` in the README
   comes out as visible text, never as markup;
2. nh3 (the Rust ammonia sanitiser) on the result, with an allow-list of tags, attributes and URL schemes,
   so a Markdown link or image such as `[x](javascript:...)` loses its URL.
"""

import markdown as markdown_lib
import nh3
from django.utils.safestring import mark_safe

ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_README_CHARS = 200_000  # a larger README is cut: it is shown in a page, not processed further


class _NoRawHtml(markdown_lib.extensions.Extension):
    """Treat HTML in the Markdown source as text: drop the block and inline raw-HTML handlers."""

    def extendMarkdown(self, md):  # noqa: N802 (Python-Markdown's hook name)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def markdown_render(text):
    """README Markdown -> sanitised HTML, marked safe for templates."""
    source = (text or "")[:MAX_README_CHARS]
    html = markdown_lib.markdown(
        source, extensions=["tables", "fenced_code", "sane_lists", _NoRawHtml()], output_format="html"
    )
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return mark_safe(clean)  # noqa: S308 (sanitised by nh3 just above)
