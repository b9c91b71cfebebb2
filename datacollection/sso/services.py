"""Writes of a sign-in: the user's profile, flags and mapped groups follow the provider's claims."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

logger = logging.getLogger(__name__)

# Claim -> user field; each is copied when the provider sends it (truncated to the column).
PROFILE_CLAIMS = {"email": "email", "given_name": "first_name", "family_name": "last_name"}


def claim_groups(claims: Mapping[str, Any]) -> set[str]:
    """The values of the groups claim (a list, or one string as some providers send a single group)."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return {value}
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return {str(item) for item in value}
    return set()


@transaction.atomic
def user_claims_apply(user: Any, *, claims: Mapping[str, Any]) -> Any:
    """Profile fields from the claims; staff / superuser when those settings are set; mapped groups.

    Groups the mapping names are added or removed to match the claim; groups it does not name (given by
    hand in the admin) are left alone. A mapped group that does not exist is logged and skipped: creating
    it would hide a typo in OIDC_GROUP_MAP."""
    values = claim_groups(claims)
    for claim, field in PROFILE_CLAIMS.items():
        if isinstance(claims.get(claim), str):
            max_length = user._meta.get_field(field).max_length
            setattr(user, field, claims[claim][:max_length])
    if settings.OIDC_STAFF_GROUPS:
        user.is_staff = bool(values & set(settings.OIDC_STAFF_GROUPS))
    if settings.OIDC_SUPERUSER_GROUPS:
        user.is_superuser = bool(values & set(settings.OIDC_SUPERUSER_GROUPS))
    user.save()

    mapping: dict[str, str] = settings.OIDC_GROUP_MAP
    managed = set(mapping.values())
    wanted = {mapping[value] for value in values if value in mapping}
    groups = {group.name: group for group in Group.objects.filter(name__in=managed)}
    for name in sorted(wanted - set(groups)):
        logger.warning("OIDC_GROUP_MAP names group %r, which does not exist; not assigned", name)
    user.groups.remove(*[group for name, group in groups.items() if name not in wanted])
    user.groups.add(*[group for name, group in groups.items() if name in wanted])
    return user
