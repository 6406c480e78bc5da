"""Business playbooks, one package per area (billing/, cash/, spend/, revrec/, activation/).

``default_registry`` is what ``revline serve`` and ``revline worker`` run. Each area adds its
playbooks here as it lands.
"""

from __future__ import annotations

from revline.core.playbook import PlaybookRegistry


def default_registry() -> PlaybookRegistry:
    return PlaybookRegistry([])
