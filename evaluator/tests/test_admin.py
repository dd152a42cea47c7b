from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from evaluator.models import TrainingRun
from evaluator.services import training_run_claim


@pytest.fixture
def staff_client(client, catalog):
    user = User.objects.create_superuser("staff", "staff@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_it_lists_runs_with_their_metrics(staff_client, active_run):
    response = staff_client.get("/admin/evaluator/trainingrun/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{active_run.metrics['grouped']['macro_f1']:.3f}" in html
    assert "Retrain now" in html
    detail = staff_client.get(f"/admin/evaluator/trainingrun/{active_run.pk}/change/")
    assert detail.status_code == 200 and active_run.chosen in detail.content.decode()


def test_it_activates_a_run_from_the_admin(staff_client, active_run):
    other = TrainingRun.objects.create(
        status=TrainingRun.Status.SUCCEEDED, chosen="ridge", artifact=active_run.artifact,
        metrics={"grouped": {"macro_f1": 0.01}},
    )  # fmt: skip
    response = staff_client.post(
        "/admin/evaluator/trainingrun/",
        {"action": "activate_run", "_selected_action": [other.pk]},
        follow=True,
    )
    assert f"Run {other.pk} (ridge) is now active." in response.content.decode()
    other.refresh_from_db()
    active_run.refresh_from_db()
    assert other.is_active and not active_run.is_active  # staff may override the automatic rule


def test_it_refuses_to_activate_a_failed_run(staff_client, active_run):
    failed = TrainingRun.objects.create(status=TrainingRun.Status.FAILED, error="boom")
    response = staff_client.post(
        "/admin/evaluator/trainingrun/", {"action": "activate_run", "_selected_action": [failed.pk]}, follow=True
    )
    assert f"Run {failed.pk} has no trained model to activate." in response.content.decode()
    active_run.refresh_from_db()
    assert active_run.is_active


def test_it_refuses_a_retrain_while_one_runs(staff_client, active_run, django_capture_on_commit_callbacks):
    running = training_run_claim(triggered_by=TrainingRun.Trigger.TEST)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post("/admin/evaluator/trainingrun/retrain/", follow=True)
    assert f"A training run is already in progress (run {running.pk}" in response.content.decode()
    assert callbacks == []  # nothing queued
    assert TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).count() == 1


def test_it_queues_a_retrain_from_the_admin(staff_client, active_run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post("/admin/evaluator/trainingrun/retrain/", follow=True)
    run = TrainingRun.objects.get(status=TrainingRun.Status.RUNNING)
    assert f"Retraining started as run {run.pk}" in response.content.decode()
    assert run.triggered_by == TrainingRun.Trigger.ADMIN
    assert len(callbacks) == 1  # retrain.delay(run.pk) once the claim is committed


def test_it_skips_the_scheduled_retrain_while_one_runs(db, caplog):
    from evaluator.tasks import retrain_scheduled

    training_run_claim(triggered_by=TrainingRun.Trigger.TEST)
    assert retrain_scheduled.apply().get() is None
    assert "Scheduled retrain skipped" in caplog.text
    assert TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).count() == 1


def test_it_retrains_weekly_through_celery_beat(settings):
    import evaluator.tasks  # noqa: F401 - registers the shared tasks
    from animesite.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["evaluator-retrain-weekly"]
    assert entry["task"] == "evaluator.tasks.retrain_scheduled"
    assert "evaluator.tasks.retrain_scheduled" in app.tasks
