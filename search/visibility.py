"""Who may retrieve what: the one visibility rule of the product.

A source's `Access` (from Wagtail page privacy, collection privacy or upload ownership) is compared with
what a `Principal` is granted. `grants_for()` states the rule once; `access_allows()` evaluates it in
Python (the database re-check before anything is cited or served), and each search backend compiles the
same `Grants` into its engine's filter (Elasticsearch `bool.should`, a Django `Q`), so the three can never
drift apart: tests/search/test_visibility.py runs one table of cases through all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from search.values import Principal, Visibility


@dataclass(frozen=True, kw_only=True)
class Access:
    """Who may see a source: a visibility, the groups of a group restriction, the owner of a private file."""

    visibility: Visibility
    group_ids: tuple[int, ...] = ()
    owner_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class Grants:
    """What a principal may see: the union of these clauses."""

    visibilities: frozenset[Visibility]  # every source with one of these visibilities
    any_group: bool = False  # every group restriction that names at least one group (superusers)
    group_ids: frozenset[int] = frozenset()  # group restrictions naming one of these groups
    owner_id: int | None = None  # the principal's own private files


def grants_for(principal: Principal) -> Grants:
    """Public for everyone; login-only for any signed-in user; a group restriction for its groups' members;
    a private upload for its owner. Superusers see every group's content but, like everyone, neither a
    group restriction to no group at all (a password-protected page: Wagtail asks superusers for the
    password too, and a chat cannot) nor other users' private files."""
    if principal.is_anonymous:
        return Grants(visibilities=frozenset({Visibility.PUBLIC}))
    return Grants(
        visibilities=frozenset({Visibility.PUBLIC, Visibility.LOGIN}),
        any_group=principal.is_superuser,
        group_ids=frozenset(principal.group_ids),
        owner_id=principal.user_id,
    )


def access_allows(access: Access, principal: Principal) -> bool:
    """The rule evaluated in Python, exactly as the engines' filters compiled from `grants_for()`."""
    grants = grants_for(principal)
    if access.visibility in grants.visibilities:
        return True
    if access.visibility == Visibility.GROUPS:
        return bool(access.group_ids) and (grants.any_group or bool(set(access.group_ids) & grants.group_ids))
    if access.visibility == Visibility.OWNER:
        return grants.owner_id is not None and access.owner_id == grants.owner_id
    return False
