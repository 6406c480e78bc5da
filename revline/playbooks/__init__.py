"""Business playbooks, one package per area (billing/, cash/, spend/, revrec/, activation/).

``default_registry`` is what ``revline serve``, ``revline worker`` and the sandbox run: every
area's ``playbooks()``.
"""

from __future__ import annotations

from revline.core.playbook import PlaybookRegistry


def default_registry() -> PlaybookRegistry:
    from revline.playbooks import billing, cash

    return PlaybookRegistry([*billing.playbooks(), *cash.playbooks()])
