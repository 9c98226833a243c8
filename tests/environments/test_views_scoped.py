"""Pages answer 404 for objects outside the user's projects, by URL or by ID; viewers cannot change things."""
import pytest
from django.urls import reverse

from environments.services import environment_create


@pytest.fixture
def env_run(developer, project, sandbox_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        return environment_create(developer, project, sandbox_version, "mine", {"app_name": "mine-app"})


def _urls(env, run):
    return [
        reverse("environments:detail", args=[env.pk]),
        reverse("environments:status", args=[env.pk]),
        reverse("runs:detail", args=[run.pk]),
        reverse("runs:events_json", args=[run.pk]),
    ]


def test_outsider_gets_404_everywhere(client, outsider, env_run, sandbox_version, project):
    env, run = env_run
    client.force_login(outsider)
    for url in _urls(env, run):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("environments:destroy", args=[env.pk])).status_code == 404
    # The template is not shared with the outsider's project: its form is 404 too, even naming our project.
    assert client.get(reverse("environments:create", args=[sandbox_version.pk])).status_code == 404
    assert client.get(reverse("environments:create", args=[sandbox_version.pk]) +
                      f"?project={project.slug}").status_code == 404
    assert b"mine" not in client.get(reverse("environments:list")).content


def test_members_see_their_environment(client, viewer, env_run):
    env, run = env_run
    client.force_login(viewer)
    for url in _urls(env, run):
        assert client.get(url).status_code == 200, url
    assert b"mine" in client.get(reverse("environments:list")).content


def test_viewer_cannot_destroy(client, viewer, env_run):
    env, run = env_run
    client.force_login(viewer)
    response = client.post(reverse("environments:destroy", args=[env.pk]))
    assert response.status_code == 403
    assert env.runs.count() == 1


def test_anonymous_is_sent_to_login(client, env_run):
    env, run = env_run
    for url in _urls(env, run):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_user_without_any_role_gets_a_page_saying_so(client, make_user):
    client.force_login(make_user("nobody"))
    response = client.get(reverse("environments:list"))
    assert response.status_code == 200 and b"You have no project yet" in response.content


def test_the_json_twin_serves_the_same_cursor(client, developer, project, sandbox_version,
                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        env, run = environment_create(developer, project, sandbox_version, "json", {"app_name": "json-app"})
    client.force_login(developer)
    body = client.get(f"/runs/{run.pk}/events.json?after=0").json()
    assert [e["seq"] for e in body["events"]] == [1] and body["next"] == 1 and body["finished"] is False
    assert client.get(f"/runs/{run.pk}/events.json?after=1").json()["events"] == []
    assert client.get(f"/runs/{run.pk}/events.json?after=x").status_code == 400
