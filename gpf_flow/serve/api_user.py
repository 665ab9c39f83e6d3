"""The user's catalogs: ``/catalogs/communities``, ``/communities/{id}[/users]``,
``/users/me/permissions`` and ``/users/me/documents`` over the local store's one user and community.

The local store grants no permission to its own user and keeps no user documents, so those two
lists are empty; the community is the one the user is a member of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gpf_flow.serve.api_common import ApiError, call, paged_response

if TYPE_CHECKING:
    from gpf_flow.serve.api import RestApi


class UserRoutes:
    """Catalog routes over the store's user document."""

    def __init__(self, api: RestApi) -> None:
        self.api = api

    async def _membership(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        user = dict(await call(self.api.store.user_me))
        return user, [m for m in user.get("communities_member") or [] if isinstance(m.get("community"), dict)]

    @staticmethod
    def _community(user: dict[str, Any], community: dict[str, Any]) -> dict[str, Any]:
        return {
            **community,
            "contact": user.get("email") or "",
            "public": bool(community.get("public", False)),
            "supervisor": {
                "_id": user.get("_id"),
                "email": user.get("email"),
                "last_name": user.get("last_name"),
            },
            "creation": user.get("creation") or None,
        }

    async def communities(self, request: Request) -> Response:
        """``GET /catalogs/communities``."""
        user, members = await self._membership()
        items = [self._community(user, m["community"]) for m in members]
        for item in items:
            item.pop("creation")
            item.pop("supervisor")
        return paged_response(items, 1, max(len(items), 1), len(items))

    async def community(self, request: Request) -> Response:
        """``GET /communities/{id}`` (404 for a community the user is not a member of)."""
        user, members = await self._membership()
        for member in members:
            if member["community"].get("_id") == request.path_params["id"]:
                body = self._community(user, member["community"])
                body.pop("creation")
                return JSONResponse(body)
        raise ApiError(404, f"community {request.path_params['id']} not found")

    async def community_users(self, request: Request) -> Response:
        """``GET /communities/{id}/users``: the members and their rights."""
        user, members = await self._membership()
        for member in members:
            if member["community"].get("_id") == request.path_params["id"]:
                person = {k: user.get(k) for k in ("_id", "email", "first_name", "last_name")}
                items = [{"user": person, "rights": list(member.get("rights") or [])}]
                return paged_response(items, 1, 1, 1)
        raise ApiError(404, f"community {request.path_params['id']} not found")

    async def empty(self, request: Request) -> Response:
        """An empty list (nothing of this kind exists in the local store)."""
        return paged_response([], 1, 1, 0)

    def routes(self) -> list[BaseRoute]:
        """The routes, relative to the ``/api`` mount."""
        return [
            Route("/catalogs/communities", self.communities, methods=["GET"]),
            Route("/catalogs/organizations", self.empty, methods=["GET"]),
            Route("/communities/{id}", self.community, methods=["GET"]),
            Route("/communities/{id}/users", self.community_users, methods=["GET"]),
            Route("/users/me/permissions", self.empty, methods=["GET"]),
            Route("/users/me/documents", self.empty, methods=["GET"]),
        ]
