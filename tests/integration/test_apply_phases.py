"""A template's staged apply order (terrace.yaml apply_phases) run by the real worker: each targeted phase is
planned and applied in order, then the whole configuration."""
import pytest

from environments.models import Run, StateVersion
from environments.services import environment_create
from tests.conftest import import_fixture_template, wait_for_run

pytestmark = [pytest.mark.worker, pytest.mark.terraform, pytest.mark.django_db(transaction=True)]


def test_phases_apply_in_order_then_the_whole_configuration(live_worker, developer, project, central):
    version = import_fixture_template(central, project, "staged")
    assert [p["name"] for p in version.metadata["apply_phases"]] == ["network", "cluster", "everything"]
    env, run = environment_create(developer, project, version, "staged", {})
    run = wait_for_run(run)
    assert run.status == Run.SUCCEEDED, (run.error, live_worker.output()[-2000:])
    titles = list(run.events.filter(kind="phase").values_list("message", flat=True))
    assert titles == ["Initializing", "Planning phase 1/2: network", "Applying phase 1/2: network",
                      "Planning phase 2/2: cluster", "Applying phase 2/2: cluster",
                      "Planning the whole configuration", "Applying"]
    completed = list(run.events.filter(kind="resource", data__state="completed").values_list("data__addr", flat=True))
    assert completed == ["null_resource.network", "null_resource.cluster", "null_resource.app"]
    assert run.plan_summary == {"add": 1, "change": 0, "remove": 0}, "the whole plan had only the app left"
    env.refresh_from_db()
    assert env.outputs["app_id"]["value"]
    assert StateVersion.objects.filter(environment=env).latest().resource_count == 3
