"""Expert and panel pages: one router that gathers the review and arena workflows.

``routes_review`` holds the expert's pages (assigned submissions only, evidence packet, review
form with history and deadline lock); ``routes_panel`` the panelist's (blind battles, answers
generated in the background, vote, identities revealed only afterwards). Both keep the access
rules of ``policy.POLICY``: an expert sees only submissions assigned to them, and a panelist is
never shown which models fought a battle before voting on it.
"""

from __future__ import annotations

from fastapi import APIRouter

from sovereval.web import routes_panel, routes_review

router = APIRouter(include_in_schema=False)
router.include_router(routes_review.router)
router.include_router(routes_panel.router)
