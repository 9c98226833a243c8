"""The SCIM filter parser: precedence, case rules, and refusal of everything outside its grammar."""
import pytest
from django.contrib.auth import get_user_model
from scim2_models import InvalidFilterException

from rbac.scim.filters import MAX_FILTER_LENGTH, filter_to_q
from rbac.scim.views import USER_FILTERS

User = get_user_model()


def _names(text):
    q = filter_to_q(text, USER_FILTERS, ["urn:ietf:params:scim:schemas:core:2.0:User"])
    return sorted(User.objects.filter(q).values_list("username", flat=True))


@pytest.fixture
def people(make_user):
    make_user("ann", first_name="Ann", is_active=True)
    make_user("bob", first_name="Bob", is_active=False)
    make_user("abe", first_name="Abe")


def test_and_binds_tighter_than_or(people):
    assert _names('userName eq "bob" or userName sw "a" and name.givenName eq "abe"') == ["abe", "bob"]
    assert _names('(userName eq "bob" or userName sw "a") and name.givenName eq "abe"') == ["abe"]


def test_operators_and_case(people):
    assert _names('userName EQ "ANN"') == ["ann"]
    assert _names('userName co "b"') == ["abe", "bob"]
    assert _names('userName ew "e"') == ["abe"]
    assert _names('userName ne "ann" and active eq true') == ["abe"]
    assert _names("active eq false") == ["bob"]
    assert _names("not (active eq false)") == ["abe", "ann"]
    assert _names("emails pr") == ["abe", "ann", "bob"]
    assert _names('id eq "abc"') == []


@pytest.mark.parametrize("text", [
    'userName eq "x" or 1 eq 1',
    "userName eq 'x'",
    'userName eq "x" or "1" eq "1"',
    'userName eq "x") or (userName pr',
    'userName eq "x" or',
    'userName eq "x" and and userName pr',
    'userName eq "unterminated',
    'userName eq "x"\x00',
    "userName eq \"x\" UNION SELECT password FROM auth_user",
    'password eq "x"',
    'emails[type eq "work"].value eq "x"',
    "userName gt \"a\"",
    "active eq \"yes\"",
    'meta.lastModified gt "yesterday"',
    "",
    "   ",
    "not userName pr",
    'userName eq "' + "a" * MAX_FILTER_LENGTH + '"',
    " or ".join(['userName eq "a"'] * 60),
])
def test_refused_filters(text, db):
    with pytest.raises(InvalidFilterException):
        filter_to_q(text, USER_FILTERS)
