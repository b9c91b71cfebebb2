"""The one visibility rule (search.visibility), in Python: the same expectations the backend contract
holds every engine's filter to."""

from __future__ import annotations

import pytest

from search.values import Principal, Visibility
from search.visibility import Access, access_allows, grants_for
from tests.search.backends.test_contract import CORPUS, VISIBLE, chunk_access


@pytest.mark.parametrize("who", list(VISIBLE))
def test_the_python_rule_admits_what_the_contract_expects_of_every_engine(who: str) -> None:
    principal, expected = VISIBLE[who]
    assert {c.chunk_id for c, _ in CORPUS if access_allows(chunk_access(c), principal)} == expected


def test_password_protected_content_is_nobodys_and_private_files_only_their_owners() -> None:
    password = Access(visibility=Visibility.GROUPS, group_ids=())
    superuser = Principal(user_id=1, group_ids=frozenset({5}), is_staff=True, is_superuser=True)
    assert not access_allows(password, superuser)
    private = Access(visibility=Visibility.OWNER, owner_id=7)
    assert access_allows(private, Principal(user_id=7))
    assert not access_allows(private, superuser)
    assert not access_allows(private, Principal.anonymous())


def test_grants_of_an_anonymous_visitor_are_public_only() -> None:
    grants = grants_for(Principal.anonymous())
    assert grants.visibilities == {Visibility.PUBLIC}
    assert not grants.any_group and not grants.group_ids and grants.owner_id is None
    assert not access_allows(Access(visibility=Visibility.LOGIN), Principal.anonymous())
