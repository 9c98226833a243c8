"""An outsider enumerating IDs learns nothing: every environment, run, template and version ID answers 404,
including the live event stream and the choice lists of the create form."""
import pytest

from environments.models import Environment, Run, RunEvent, Template, TemplateVersion
from environments.services import environment_create
from tests.conftest import import_fixture_template


@pytest.fixture
def many(developer, project, central, sandbox_version, django_capture_on_commit_callbacks):
    version2 = import_fixture_template(central, project, "fails-on-apply")
    with django_capture_on_commit_callbacks():
        for n in range(3):
            environment_create(developer, project, sandbox_version, f"env-{n}", {"app_name": f"app-{n}"})
        environment_create(developer, project, version2, "env-x", {})
    return version2


def _ids(model):
    """Every existing ID and a few on either side (sequences are not reset between tests, so not 1..max)."""
    pks = list(model.objects.values_list("pk", flat=True))
    assert pks, f"no {model.__name__} to enumerate"
    return range(max(1, min(pks) - 3), max(pks) + 5)


def test_outsider_enumerating_ids_gets_404_everywhere(client, outsider, many):
    client.force_login(outsider)
    for pk in _ids(Environment):
        for url in (f"/environments/{pk}/", f"/environments/{pk}/status/", f"/environments/{pk}/health/"):
            assert client.get(url).status_code == 404, url
        assert client.post(f"/environments/{pk}/destroy/").status_code == 404
    for pk in _ids(Run):
        for url in (f"/runs/{pk}/", f"/runs/{pk}/events.json", f"/runs/{pk}/events"):
            assert client.get(url).status_code == 404, url
    for pk in _ids(Template):
        assert client.get(f"/templates/{pk}/").status_code == 404
        assert client.post(f"/templates/{pk}/", {"project": "team-b"}).status_code == 404
    for pk in _ids(TemplateVersion):
        assert client.get(f"/environments/new/{pk}/").status_code == 404
        assert client.get(f"/environments/new/{pk}/?project=team-a").status_code == 404
        assert client.get(f"/environments/new/{pk}/cost/").status_code == 404
    assert Run.objects.filter(operation=Run.DESTROY).count() == 0


def test_outsider_choice_lists_hold_nothing_of_other_projects(client, outsider, many):
    client.force_login(outsider)
    picker = client.get("/environments/new/").content.decode()
    assert "Hello sandbox" not in picker and "Fails on apply" not in picker
    listing = client.get("/environments/").content.decode()
    assert "env-0" not in listing and "Team A" not in listing
    catalog = client.get("/templates/").content.decode()
    assert "Hello sandbox" not in catalog
    assert RunEvent.objects.exists()  # there was something to leak
