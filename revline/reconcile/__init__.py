"""The matching engine: Stripe against NetSuite, in tiers, every match with its reason."""

from revline.reconcile.engine import Matcher, match
from revline.reconcile.entries import Entry, Match, MatchReport, MatchRules, MatchStatus, Tier

__all__ = ["Entry", "Match", "MatchReport", "MatchRules", "MatchStatus", "Matcher", "Tier", "match"]
