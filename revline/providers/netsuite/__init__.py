"""NetSuite: the adapter Revline acts through, its action handlers, and (in ``sim``) a simulator
that speaks the same wire protocol."""

from revline.providers.netsuite.actions import register
from revline.providers.netsuite.client import NetSuiteAdapter

__all__ = ["NetSuiteAdapter", "register"]
